/*
 * balancer_random.c -- power of two random choices.
 *
 * Two distinct candidates are drawn at random, each with probability proportional to
 * its weight, and the one with fewer requests in flight per unit of weight (across all
 * workers, nodestate.h) wins; on a tie the first draw does. With nothing in flight this
 * is weighted random; under load it avoids the busier node of each pair, which keeps
 * the worst queue short without the herding a global "least loaded" choice causes when
 * many workers pick from slightly stale counts at once.
 */
#include "balancer.h"

#include "conf.h"

#include <stdlib.h>

typedef struct {
    size_t n;
    int weights[MG_BALANCER_MAX_NODES];
    mg_node_state_t *st[MG_BALANCER_MAX_NODES];
} rnd_state_t;

static void *rnd_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    rnd_state_t *s = calloc(1, sizeof(*s));
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

static int64_t inflight_of(const mg_node_state_t *st)
{
    int64_t v = atomic_load_explicit(&st->inflight, memory_order_relaxed);
    return v > 0 ? v : 0;
}

static int rnd_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    rnd_state_t *s = state;
    int a = mg__balancer_weighted_random(s->weights, s->n, ctx, -1);
    if (a < 0) {
        return -1;
    }
    int b = mg__balancer_weighted_random(s->weights, s->n, ctx, a);
    if (b < 0) {
        return a;
    }
    int64_t qa = inflight_of(s->st[a]), qb = inflight_of(s->st[b]);
    return qb * s->weights[a] < qa * s->weights[b] ? b : a;
}

static void rnd_destroy(void *state)
{
    free(state);
}

/* Two weighted random candidates, the less loaded one wins. */
const mg_balancer_ops_t mg_balancer_random = {
    .name = "random",
    .create = rnd_create,
    .pick = rnd_pick,
    .destroy = rnd_destroy,
};
