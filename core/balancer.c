/*
 * balancer.c -- picks the algorithm an upstream asks for and holds its state.
 *
 * The algorithms themselves live in balancer_<name>.c behind mg_balancer_ops_t, so a
 * new one is a new file plus one line in ops_for().
 */
#include "balancer.h"

#include "conf.h"

static const mg_balancer_ops_t *ops_for(mg_lb_kind_t kind)
{
    switch (kind) {
    case MG_LB_ROUNDROBIN:
        return &mg_balancer_roundrobin;
    }
    return NULL;
}

/* Fills the caller's `b` with the algorithm named by u->balancer and its state for u's
 * nodes (`u` is borrowed and must outlive `b`). MG_OK, or MG_ERROR for an unknown
 * algorithm or when out of memory (then `b` needs no dispose). */
int mg_balancer_init(mg_balancer_t *b, const mg_upstream_conf_t *u)
{
    b->ops = ops_for(u->balancer);
    b->state = NULL;
    if (b->ops == NULL) {
        return MG_ERROR;
    }
    b->state = b->ops->create(u);
    if (b->state == NULL) {
        b->ops = NULL;
        return MG_ERROR;
    }
    return MG_OK;
}

/* Frees the algorithm's state. Safe on a `b` whose init failed or that was disposed. */
void mg_balancer_dispose(mg_balancer_t *b)
{
    if (b->ops != NULL && b->state != NULL) {
        b->ops->destroy(b->state);
    }
    b->ops = NULL;
    b->state = NULL;
}
