/*
 * ratelimit_scripts.h -- the Redis side of cluster limits: one Lua script per
 * algorithm, run atomically by EVALSHA on Redis' own clock (TIME), so instances whose
 * clocks differ still agree. Internal to ratelimit_cluster.c / ratelimit_approx.c.
 *
 * Every key is a small hash `<prefix><limiter name>:<key>` with a TTL of about the time
 * after which it would read as fresh (plus 1 s), so idle keys expire by themselves:
 *   token_bucket   tb (tokens, may go negative through cluster_approx debt), ts (stamp)
 *   leaky_bucket   le (excess), ls (stamp)
 *   fixed_window   fw (window number = floor(time / W)), fn (count in it)
 *   sliding_window sw (window number), sc (count in it), sp (count in the one before)
 *   concurrency    cc (in flight); TTL MG__RL_CONC_TTL, refreshed by every take/release
 *
 * Take scripts: KEYS[1] the key; ARGV limit, window, burst, cost, delay (0|1). They
 * answer {allowed, floor(remaining), reset ms, retry-after ms, delay ms} as integers.
 * Sync scripts (cluster_approx): see ratelimit_approx.c.
 */
#ifndef MG_RATELIMIT_SCRIPTS_H
#define MG_RATELIMIT_SCRIPTS_H

#include "redis.h"

#define MG__RL_CONC_TTL 300 /* seconds a concurrency key outlives its last take/release */

enum {
    MG__RL_TAKE_TOKEN = 0,
    MG__RL_TAKE_LEAKY,
    MG__RL_TAKE_FIXED,
    MG__RL_TAKE_SLIDING,
    MG__RL_TAKE_CONC,
    MG__RL_RELEASE_CONC,
    MG__RL_SYNC_TOKEN,
    MG__RL_SYNC_FIXED,
    MG__RL_SYNC_SLIDING,
    MG__RL_NSCRIPTS
};

/* The scripts, with their SHA1 computed on first use. Never NULL. */
const mg_redis_script_t *const *mg__rl_scripts(void);

#endif
