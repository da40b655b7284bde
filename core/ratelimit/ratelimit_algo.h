/*
 * ratelimit_algo.h -- the limiter arithmetic, with no I/O, no locks and no clock of its
 * own, so that the local zone, the cluster fallback and the unit tests share one
 * implementation and the Redis scripts mirror it line for line.
 *
 * A limiter's state is 32 bytes that the caller keeps (in a shared zone entry, under
 * the zone lock, or in a worker-local table). `now` is in seconds: the monotonic clock
 * for local state, the wall clock for windows that must line up across machines.
 *
 * Semantics, for `limit` L per `window` W (rate r = L / W):
 *   token_bucket   bucket of `burst` B tokens (default L), refilled at r, starts full;
 *                  a request takes `cost` tokens or is rejected.
 *   leaky_bucket   the nginx limit_req model: `excess` drains at r; a request adds 1;
 *                  over B + 1 it is rejected; with `delay` a request within the burst
 *                  waits (excess - 1) / r seconds, otherwise it passes at once.
 *   fixed_window   counter per window [k*W, (k+1)*W); over L rejected.
 *   sliding_window count = previous * (1 - elapsed/W) + current; over L rejected.
 *   concurrency    in-flight counter; over L rejected; released by the caller.
 * Rejected requests consume nothing.
 *
 * The figures of mg_rl_result_t, as ratelimit_algo.c computes them (the headers round
 * seconds up to whole ones):
 *   token_bucket   limit B; remaining floor(tokens); reset (B - tokens) / r;
 *                  retry_after (cost - tokens) / r.
 *   leaky_bucket   limit B + 1; remaining floor(B + 1 - excess); reset excess / r;
 *                  retry_after (excess + cost - (B + 1)) / r; delay (excess - 1) / r.
 *   fixed_window   limit L; remaining L - count; reset and retry_after: the window's end.
 *   sliding_window limit L; remaining floor(L - weighted count); reset: until both
 *                  windows are empty; retry_after: until the weighted count leaves room.
 *   concurrency    limit L; remaining L - in flight; reset 0; retry_after 1.
 * State fields: a = tokens / excess / current count / in flight, b = the previous
 * window's count, stamp = the last update (buckets) or the current window's start.
 */
#ifndef MG_RATELIMIT_ALGO_H
#define MG_RATELIMIT_ALGO_H

#include "conf.h"
#include "mg_core.h"

typedef struct {
    double a;       /* tokens / excess / current count / in flight */
    double b;       /* previous window's count (sliding window) */
    double stamp;   /* last update, or the current window's start */
    double spare;
} mg_rl_state_t;

/* The outcome of one check, and what the RateLimit-* headers say. */
typedef struct {
    bool allowed;
    double limit;       /* RateLimit-Limit */
    double remaining;   /* RateLimit-Remaining (>= 0) */
    double reset;       /* RateLimit-Reset: seconds until the limit is fully available */
    double retry_after; /* seconds until this request would pass (rejections) */
    double delay;       /* leaky bucket with delay: wait this long, then proceed */
} mg_rl_result_t;

/* Initialises a fresh state (a new key) for `c` at `now`. */
void mg_rl_state_init(mg_rl_state_t *s, const mg_rl_conf_t *c, double now);

/* Checks and, when allowed, consumes `cost` (usually 1) from `s`. */
void mg_rl_take(mg_rl_state_t *s, const mg_rl_conf_t *c, double now, double cost,
                mg_rl_result_t *out);

/* Gives back one in-flight slot of a concurrency limiter (never below zero). */
void mg_rl_release(mg_rl_state_t *s);

/* Seconds after which an untouched state is the same as a fresh one (entries older
 * than that may be dropped first). */
double mg_rl_idle_ttl(const mg_rl_conf_t *c);

#endif
