/*
 * ratelimit_cluster.h -- limits shared by many moongate instances through Redis.
 *
 * `scope: cluster` sends one atomic script per check to Redis (EVALSHA, the same
 * arithmetic as ratelimit_algo.h on Redis' clock) over a per-worker pool of hiredis
 * async connections on the worker's libev loop, with the `redis.timeout` deadline.
 * `scope: cluster_approx` never waits for Redis on the request path: each worker checks
 * a local estimate and a periodic job reconciles it with Redis every sync_interval.
 *
 * When Redis is down, slow or refuses, a check completes with MG_RL_CLUSTER_UNAVAILABLE
 * and the caller applies `redis_failure`; the module logs the outage at most once per
 * few seconds and reconnects by itself.
 */
#ifndef MG_RATELIMIT_CLUSTER_H
#define MG_RATELIMIT_CLUSTER_H

#include "ratelimit_algo.h"

#include <ev.h>

enum { MG_RL_CLUSTER_OK = 0, MG_RL_CLUSTER_UNAVAILABLE = 1 };

/* Called once per check, never from inside mg_rl_cluster_check itself. `status` is
 * MG_RL_CLUSTER_OK with *res filled, or MG_RL_CLUSTER_UNAVAILABLE. */
typedef void (*mg_rl_cluster_cb)(void *arg, int status, const mg_rl_result_t *res);

typedef struct mg_rl_cluster_s mg_rl_cluster_t;

/* Per worker: the client for conf->redis on `loop`. NULL when conf->redis is NULL. The
 * caller destroys it when the generation goes away. */
mg_rl_cluster_t *mg_rl_cluster_create(struct ev_loop *loop, const mg_conf_t *conf);
void mg_rl_cluster_destroy(mg_rl_cluster_t *cl);

/* Starts a check of limiter `c` for `key` (borrowed; copied) costing `cost`. Returns
 * MG_AGAIN and calls cb later; or MG_OK with *res filled at once (cluster_approx);
 * or MG_DECLINED when Redis is known to be unavailable right now (the caller applies
 * redis_failure without waiting). Returns a handle in *handle for cancellation while
 * MG_AGAIN is pending. */
int mg_rl_cluster_check(mg_rl_cluster_t *cl, const mg_rl_conf_t *c, mg_str_t key, double cost,
                        mg_rl_result_t *res, mg_rl_cluster_cb cb, void *arg, void **handle);

/* The request went away: cb will not be called for this handle. */
void mg_rl_cluster_cancel(mg_rl_cluster_t *cl, void *handle);

/* A cluster concurrency slot ends (fire and forget). */
void mg_rl_cluster_release(mg_rl_cluster_t *cl, const mg_rl_conf_t *c, mg_str_t key);

/* Figures for /status. */
typedef struct {
    uint64_t checks, failures, timeouts, fallbacks;
    bool connected;
} mg_rl_cluster_stats_t;
void mg_rl_cluster_stats(const mg_rl_cluster_t *cl, mg_rl_cluster_stats_t *out);

#endif
