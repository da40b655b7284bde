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

static void *rnd_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    return mg__balancer_shared_create(u, states);
}

static int rnd_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    mg__balancer_shared_t *s = state;
    int a = mg__balancer_weighted_random(s->weights, s->n, ctx, -1);
    if (a < 0) {
        return -1;
    }
    int b = mg__balancer_weighted_random(s->weights, s->n, ctx, a);
    if (b < 0) {
        return a;
    }
    int64_t qa = mg__balancer_inflight(s->st[a]), qb = mg__balancer_inflight(s->st[b]);
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
