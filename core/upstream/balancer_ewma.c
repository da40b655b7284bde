/*
 * balancer_ewma.c -- least expected response time: a time-decayed moving average of
 * each node's latency and power-of-two random choices (after the Finagle / Linkerd
 * load balancer).
 *
 * Each node's shared slot (nodestate.h) keeps `ewma`, a moving average of the time from
 * the start of a try to the response head, and `ewma_stamp`, when it was last updated;
 * every worker writes its samples there, so all of them learn from each other's
 * requests. The average is weighted by time, not by count, with a decay constant of
 * MG_EWMA_TAU (10 s, Finagle's and Linkerd's default): a sample taken dt after the
 * previous one gets the weight 1 - exp(-dt / tau), so the estimate follows what a node
 * did over the last seconds whatever the request rate. The first sample of a node is
 * taken as is. Between samples the estimate decays towards zero (read as
 * ewma * exp(-age / tau)), so a node that lost every comparison is tried again after a
 * while and a recovered node is noticed.
 *
 * Unlike Finagle's peak EWMA, a slow answer does not replace the estimate at once: with
 * the gateway's own scheduling jitter in every sample, that made a fast node look slow
 * for seconds after any hiccup and sent traffic to a node 50 times slower (measured with
 * tools/bench-ewma). A failed try, though, counts at once: it raises the estimate to at
 * least MG_EWMA_PENALTY (1 s).
 *
 * A pick draws two distinct nodes at random among those not skipped and takes the one
 * with the lower cost = ewma * (inflight + 1) / weight: latency times the queue the
 * request would join, across all workers. A node never measured costs 0, so new nodes
 * are sampled first. Equal costs go to the shorter queue per weight, then to a coin
 * weighted by the two nodes' weights.
 *
 * Two workers updating the same node at the same instant may lose one of the samples;
 * with many samples per second that does not move the average.
 */
#include "balancer.h"

#include "clock.h"
#include "conf.h"

#include <math.h>
#include <stdlib.h>

#define MG_EWMA_TAU 10.0    /* seconds: the decay constant of the average */
#define MG_EWMA_PENALTY 1.0 /* seconds: what a failed try counts as, at least */

static void *ewma_create(const mg_upstream_conf_t *u, mg_node_state_t *const *states)
{
    return mg__balancer_shared_create(u, states);
}

/* The latency estimate of a node now: the last average, decayed by its age. */
static double estimate(const mg_node_state_t *st, double now)
{
    double e = atomic_load_explicit(&st->ewma, memory_order_relaxed);
    if (e <= 0) {
        return 0;
    }
    double age = now - atomic_load_explicit(&st->ewma_stamp, memory_order_relaxed);
    return age > 0 ? e * exp(-age / MG_EWMA_TAU) : e;
}

/* True when node a is the better choice than node b. */
static bool better(const mg__balancer_shared_t *s, int a, int b, double now)
{
    int64_t qa = mg__balancer_inflight(s->st[a]), qb = mg__balancer_inflight(s->st[b]);
    double ca = estimate(s->st[a], now) * (double)(qa + 1) / s->weights[a];
    double cb = estimate(s->st[b], now) * (double)(qb + 1) / s->weights[b];
    if (ca != cb) {
        return ca < cb;
    }
    /* both unmeasured (or equal): the shorter queue per weight, else a coin weighted by
     * the nodes' weights, so an idle upstream still follows them */
    if (qa * s->weights[b] != qb * s->weights[a]) {
        return qa * s->weights[b] < qb * s->weights[a];
    }
    return mg_balancer_rand() % (uint64_t)(s->weights[a] + s->weights[b]) < (uint64_t)s->weights[a];
}

static int ewma_pick(void *state, const mg_balancer_ctx_t *ctx)
{
    mg__balancer_shared_t *s = state;
    uint16_t avail[MG_BALANCER_MAX_NODES];
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!mg_balancer_skipped(ctx, i)) {
            avail[m++] = (uint16_t)i;
        }
    }
    if (m == 0) {
        return -1;
    }
    if (m == 1) {
        return avail[0];
    }
    size_t x = (size_t)(mg_balancer_rand() % m);
    size_t y = (size_t)(mg_balancer_rand() % (m - 1));
    if (y >= x) {
        y++;
    }
    double now = mg_mono_now();
    return better(s, avail[x], avail[y], now) ? avail[x] : avail[y];
}

static void ewma_observe(void *state, int node, bool failed, double seconds)
{
    mg__balancer_shared_t *s = state;
    if (node < 0 || (size_t)node >= s->n || seconds < 0) {
        return;
    }
    mg_node_state_t *st = s->st[node];
    double rtt = failed ? MG_MAX(seconds, MG_EWMA_PENALTY) : seconds;
    double now = mg_mono_now();
    double prev = atomic_load_explicit(&st->ewma, memory_order_relaxed);
    double next = rtt;
    if (prev > 0) {
        double dt = now - atomic_load_explicit(&st->ewma_stamp, memory_order_relaxed);
        double w = dt > 0 ? exp(-dt / MG_EWMA_TAU) : 1.0;
        double decayed = prev * w;
        next = decayed + rtt * (1 - w);
    }
    if (failed && next < rtt) {
        next = rtt; /* a failing node is avoided from its first failure */
    }
    if (next <= 0) {
        next = 1e-9; /* measured, however fast: 0 means "never measured" */
    }
    atomic_store_explicit(&st->ewma, next, memory_order_relaxed);
    atomic_store_explicit(&st->ewma_stamp, now, memory_order_relaxed);
}

static void ewma_destroy(void *state)
{
    free(state);
}

/* EWMA response time times queue length, power of two choices, shared state. */
const mg_balancer_ops_t mg_balancer_ewma = {
    .name = "ewma",
    .create = ewma_create,
    .pick = ewma_pick,
    .observe = ewma_observe,
    .destroy = ewma_destroy,
};
