/*
 * balancer_roundrobin.c -- smooth weighted round robin, as in nginx.
 *
 * Every pick adds each eligible node's weight to its `current`, takes the node with the
 * largest `current` and subtracts the sum of the eligible weights from it. Over any
 * window of sum(weights) picks each node is chosen exactly `weight` times, and the picks
 * of a heavy node are spread out (5,1,1 gives a a b a c a a, not a a a a a b c).
 *
 * Nodes the request must skip (tried, unavailable) are left out of the round, so
 * a retry does not disturb the spread the other requests see.
 */
#include "balancer.h"

#include <stdlib.h>

#include "conf.h"

typedef struct {
    int64_t current;
    int64_t weight;
} rr_node_t;

typedef struct {
    size_t n;
    rr_node_t nodes[];
} rr_state_t;


static void *rr_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    rr_state_t *s = calloc(1, sizeof(*s) + u->nnodes * sizeof(rr_node_t));
    if (s == NULL) {
        return NULL;
    }
    s->n = u->nnodes;
    for (size_t i = 0; i < u->nnodes; i++) {
        s->nodes[i].weight = u->nodes[i].weight > 0 ? u->nodes[i].weight : 1;
    }
    return s;
}

static int rr_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    rr_state_t *s = state;
    if (s->n == 1) {
        return mg_balancer_skipped(ctx, 0) ? -1 : 0;
    }
    rr_node_t *best = NULL;
    int64_t total = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (mg_balancer_skipped(ctx, i)) {
            continue;
        }
        rr_node_t *nd = &s->nodes[i];
        nd->current += nd->weight;
        total += nd->weight;
        if (best == NULL || nd->current > best->current) {
            best = nd;
        }
    }
    if (best == NULL) {
        return -1;
    }
    best->current -= total;
    return (int)(best - s->nodes);
}

static void rr_destroy(void *state)
{
    free(state);
}

/* Smooth weighted round robin; per-worker state, no locks. */
const mg_balancer_ops_t mg_balancer_roundrobin = {
    .name = "roundrobin",
    .create = rr_create,
    .pick = rr_pick,
    .destroy = rr_destroy,
};
