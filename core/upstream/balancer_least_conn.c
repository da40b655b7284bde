/*
 * balancer_least_conn.c -- the node with the fewest requests in flight per unit of
 * weight, counted across all workers.
 *
 * The counts are the nodes' shared `inflight` slots (nodestate.h), kept by
 * mg_upstream_try_begin()/mg_upstream_try_end(), so every worker sees what the others
 * sent. Loads are compared as inflight_a * weight_b < inflight_b * weight_a (integers,
 * no division), so a node of weight 2 is given twice the requests in flight of a node
 * of weight 1. Ties, the common case at low load, go round robin (smooth weighted, as
 * in balancer_roundrobin.c) among the tied nodes, so an idle upstream still spreads
 * requests by weight instead of always sending them to the first node.
 */
#include "balancer.h"

#include "conf.h"

#include <stdlib.h>

typedef struct {
    int64_t current; /* smooth round robin among tied nodes */
    int64_t weight;
    mg_node_state_t *st;
} lc_node_t;

typedef struct {
    size_t n;
    lc_node_t nodes[];
} lc_state_t;

static void *lc_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    lc_state_t *s = calloc(1, sizeof(*s) + u->nnodes * sizeof(lc_node_t));
    if (s == NULL) {
        return NULL;
    }
    s->n = u->nnodes;
    for (size_t i = 0; i < u->nnodes; i++) {
        s->nodes[i].weight = u->nodes[i].weight > 0 ? u->nodes[i].weight : 1;
        s->nodes[i].st = states[i];
    }
    return s;
}

static int64_t inflight_of(const lc_node_t *nd)
{
    int64_t v = atomic_load_explicit(&nd->st->inflight, memory_order_relaxed);
    return v > 0 ? v : 0;
}

static int lc_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    lc_state_t *s = state;
    int64_t load[MG_BALANCER_MAX_NODES];
    int best = -1;
    for (size_t i = 0; i < s->n; i++) {
        if (mg_balancer_skipped(ctx, i)) {
            continue;
        }
        load[i] = inflight_of(&s->nodes[i]);
        if (best < 0 || load[i] * s->nodes[best].weight < load[best] * s->nodes[i].weight) {
            best = (int)i;
        }
    }
    if (best < 0) {
        return -1;
    }
    /* smooth round robin over the nodes as loaded as the best one */
    lc_node_t *win = NULL;
    int64_t total = 0;
    for (size_t i = (size_t)best; i < s->n; i++) {
        lc_node_t *nd = &s->nodes[i];
        if (mg_balancer_skipped(ctx, i) ||
            load[i] * s->nodes[best].weight != load[best] * nd->weight) {
            continue;
        }
        nd->current += nd->weight;
        total += nd->weight;
        if (win == NULL || nd->current > win->current) {
            win = nd;
        }
    }
    win->current -= total;
    return (int)(win - s->nodes);
}

static void lc_destroy(void *state)
{
    free(state);
}

/* Least requests in flight per weight, shared across workers; ties round robin. */
const mg_balancer_ops_t mg_balancer_least_conn = {
    .name = "least_conn",
    .create = lc_create,
    .pick = lc_pick,
    .destroy = lc_destroy,
};
