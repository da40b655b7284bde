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
 * few seconds and reconnects by itself. While the link is known to be bad (no
 * connection up, or the circuit breaker open after failures in a row), checks decline
 * at once (MG_DECLINED) instead of waiting for the timeout.
 *
 * `redis_failure: local` is the caller's: it runs its node-wide local limiter (the
 * shared zone of ratelimit_algo.h) with the conf mg_rl_cluster_local_conf() derives,
 * under the same limiter name and key.
 *
 * cluster_approx applies to token_bucket, fixed_window and sliding_window (the loader
 * refuses it for the other two; a limit that gets here anyway is checked like
 * `scope: cluster`).
 * Keys in Redis: `<redis.prefix><limiter name>:<key>` (ratelimit_scripts.h).
 *
 * One client per worker and config generation; not thread-safe; every callback runs on
 * the client's loop.
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

/* Starts a check of limiter `c` (borrowed; must live as long as the client, i.e. be
 * part of the same generation's conf, or outlive it) for `key` (borrowed; copied)
 * costing `cost`. Returns
 *   MG_AGAIN     cb(arg, ...) will be called exactly once later (OK with the result, or
 *                UNAVAILABLE after the redis.timeout deadline or an error), unless the
 *                check is cancelled; *handle (may be NULL) is set for mg_rl_cluster_cancel;
 *   MG_OK        *res filled at once (cluster_approx), cb never called;
 *   MG_DECLINED  Redis is known to be unavailable right now: cb is never called and the
 *                caller applies redis_failure without waiting. */
int mg_rl_cluster_check(mg_rl_cluster_t *cl, const mg_rl_conf_t *c, mg_str_t key, double cost,
                        mg_rl_result_t *res, mg_rl_cluster_cb cb, void *arg, void **handle);

/* The request went away: cb will not be called for this handle, which is freed. Only
 * for a check that returned MG_AGAIN and whose cb has not run yet. */
void mg_rl_cluster_cancel(mg_rl_cluster_t *cl, void *handle);

/* A cluster concurrency slot taken by a check that answered allowed ends (fire and
 * forget; never calls back). A slot taken by the local fallback is released locally.
 * When Redis cannot be reached the slot stays counted there until the key has been
 * idle for MG__RL_CONC_TTL (300 s). */
void mg_rl_cluster_release(mg_rl_cluster_t *cl, const mg_rl_conf_t *c, mg_str_t key);

/* The limit that stands in for cluster limit `c` on this node while Redis is
 * unavailable and c->redis_failure is local: *out = *c with scope local, limit (and
 * burst) divided by c->nodes, at least 1. Strings stay borrowed from c. The caller
 * keeps its state node-wide (shared zone) under c->name and the same key. */
void mg_rl_cluster_local_conf(const mg_rl_conf_t *c, mg_rl_conf_t *out);

/* Figures for /status, of this worker's client since it was created (cl may be NULL:
 * all zero). checks: calls of mg_rl_cluster_check; failures: Redis commands that failed
 * (connection lost, error reply); timeouts: commands past redis.timeout; fallbacks:
 * checks that ended unavailable (declined or called back so), i.e. where the caller
 * applied redis_failure; connected: at least one connection is up. */
typedef struct {
    uint64_t checks, failures, timeouts, fallbacks;
    bool connected;
} mg_rl_cluster_stats_t;
void mg_rl_cluster_stats(const mg_rl_cluster_t *cl, mg_rl_cluster_stats_t *out);

/* Metrics: every client of a worker also counts its checks and fallbacks (as above)
 * into one series of the worker's metrics region, key MG_RL_CLUSTER_METRICS_KEY, once
 * mg_rl_cluster_metrics_bind() turned counting on (in a worker, after
 * mg_metrics_attach; off again with false). */
enum { MG_RL_CLUSTER_M_CHECKS = 0, MG_RL_CLUSTER_M_FALLBACKS, MG_RL_CLUSTER_M_CELLS };
#define MG_RL_CLUSTER_METRICS_KEY "c\037cluster"
void mg_rl_cluster_metrics_bind(bool on);

#endif
