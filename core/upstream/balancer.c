/*
 * balancer.c -- picks the algorithm an upstream asks for and holds its state, plus the
 * hashing and random helpers the algorithms share.
 *
 * The algorithms themselves live in balancer_<name>.c behind mg_balancer_ops_t, so a
 * new one is a new file plus one line in ops_for().
 */
#include "balancer.h"

#include "conf.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const mg_balancer_ops_t *ops_for(mg_lb_kind_t kind)
{
    switch (kind) {
    case MG_LB_ROUNDROBIN:
        return &mg_balancer_roundrobin;
    case MG_LB_LEAST_CONN:
        return &mg_balancer_least_conn;
    case MG_LB_IP_HASH:
        return &mg_balancer_ip_hash;
    case MG_LB_CHASH:
        return &mg_balancer_chash;
    case MG_LB_EWMA:
        return &mg_balancer_ewma;
    case MG_LB_RANDOM:
        return &mg_balancer_random;
    case MG_LB_STICKY:
        return &mg_balancer_sticky;
    }
    return NULL;
}

/* Private zeroed slots, one allocation: the pointer array, then the slots. */
static mg_node_state_t **private_states(size_t n)
{
    size_t nn = n > 0 ? n : 1;
    mg_node_state_t **v = calloc(1, nn * sizeof(*v) + nn * sizeof(mg_node_state_t));
    if (v == NULL) {
        return NULL;
    }
    mg_node_state_t *slots = (mg_node_state_t *)(v + nn);
    for (size_t i = 0; i < n; i++) {
        v[i] = &slots[i];
    }
    return v;
}

int mg_balancer_init_kind(mg_balancer_t *b, mg_lb_kind_t kind, const mg_upstream_conf_t *u,
                          mg_node_state_t *const *states)
{
    b->ops = ops_for(kind);
    b->state = NULL;
    b->own = NULL;
    if (b->ops == NULL) {
        return MG_ERROR;
    }
    if (states == NULL) {
        b->own = private_states(u->nnodes);
        if (b->own == NULL) {
            b->ops = NULL;
            return MG_ERROR;
        }
        states = b->own;
    }
    b->state = b->ops->create(u, states);
    if (b->state == NULL) {
        free(b->own);
        b->own = NULL;
        b->ops = NULL;
        return MG_ERROR;
    }
    return MG_OK;
}

int mg_balancer_init(mg_balancer_t *b, const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    return mg_balancer_init_kind(b, u->balancer, u, states);
}

void mg_balancer_dispose(mg_balancer_t *b)
{
    if (b->ops != NULL && b->state != NULL) {
        b->ops->destroy(b->state);
    }
    free(b->own);
    b->ops = NULL;
    b->state = NULL;
    b->own = NULL;
}

uint64_t mg_balancer_hash(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    /* FNV alone clusters keys that differ in their last bytes ("key-1", "key-2"):
     * the finaliser spreads them over the whole ring */
    return mg_balancer_mix(h ^ len);
}

uint64_t mg_balancer_rand(void)
{
    static uint64_t s;
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = mg_balancer_mix(((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
                            ((uint64_t)ts.tv_sec << 20)) |
            1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

int mg__balancer_weighted_random(const int *weights, size_t n, const mg_balancer_ctx_t *ctx,
                                 int except)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!mg_balancer_skipped(ctx, i) && (int)i != except) {
            total += (uint64_t)weights[i];
        }
    }
    if (total == 0) {
        return -1;
    }
    uint64_t r = mg_balancer_rand() % total;
    for (size_t i = 0; i < n; i++) {
        if (mg_balancer_skipped(ctx, i) || (int)i == except) {
            continue;
        }
        if (r < (uint64_t)weights[i]) {
            return (int)i;
        }
        r -= (uint64_t)weights[i];
    }
    return -1;
}

mg__balancer_shared_t *mg__balancer_shared_create(const mg_upstream_conf_t *u,
                                                  mg_node_state_t *const *states)
{
    mg__balancer_shared_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->n = MG_MIN(u->nnodes, (size_t)MG_BALANCER_MAX_NODES);
    for (size_t i = 0; i < s->n; i++) {
        s->weights[i] = u->nodes[i].weight > 0 ? u->nodes[i].weight : 1;
        s->st[i] = states[i];
    }
    return s;
}
