/*
 * ratelimit_approx.h -- `scope: cluster_approx`: a worker-local estimate of a cluster
 * limit, reconciled with Redis in the background. Internal to ratelimit_cluster.c.
 *
 * Each worker keeps, per limiter and key, what Redis said at the last sync ("seen") and
 * what this worker consumed since ("pending", then "in flight" while a sync carries
 * it). A check compares seen + in flight + pending with the limit and never waits.
 * Every sync_interval a timer sends each active entry's pending count to Redis (one
 * script: add it, answer the cluster-wide state) and replaces "seen" with the answer.
 *
 * What a worker misses is what the others consumed since they last pushed plus since
 * it last pulled: at most two sync intervals (plus a round trip) of the other workers'
 * traffic. So, for a key receiving λ requests/s over the whole cluster, the admitted
 * count per window (or per B / rate for a token bucket) exceeds the limit by at most
 * λ × (2 × sync_interval + RTT), and never by more than (workers in the cluster − 1) ×
 * limit. docs/ratelimit-cluster.md derives it and gives measured figures.
 *
 * The table is bounded (MG__RL_APPROX_MAX entries, least recently used evicted; an
 * evicted entry's unsent count is lost) and entries idle past their window are freed.
 */
#ifndef MG_RATELIMIT_APPROX_H
#define MG_RATELIMIT_APPROX_H

#include "ratelimit_algo.h"
#include "redis.h"

#include <ev.h>

#define MG__RL_APPROX_MAX 10000 /* entries per worker */

typedef struct mg__rl_approx_s mg__rl_approx_t;

/* The estimate table of one client; syncs through `redis` (borrowed) every `interval`
 * seconds at most (lowered by mg__rl_approx_take for limiters syncing more often). */
mg__rl_approx_t *mg__rl_approx_create(struct ev_loop *loop, mg_redis_t *redis, double interval);

/* Frees every entry and cancels the syncs in flight. */
void mg__rl_approx_destroy(mg__rl_approx_t *a);

/* Checks limiter `c` (token_bucket, fixed_window or sliding_window; borrowed for as long
 * as its entries live, i.e. the client's generation) for the Redis key `rkey`
 * (borrowed; copied) and consumes `cost` when allowed. Fills *res. Never does I/O. */
void mg__rl_approx_take(mg__rl_approx_t *a, const mg_rl_conf_t *c, mg_str_t rkey, double cost,
                        mg_rl_result_t *res);

/* Entries held now. */
size_t mg__rl_approx_count(const mg__rl_approx_t *a);

#endif
