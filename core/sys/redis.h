/*
 * redis.h -- a small asynchronous Redis client for one worker: a pool of hiredis async
 * connections on the worker's libev loop, Lua scripts run by EVALSHA, a deadline per
 * command and a circuit breaker.
 *
 * hiredis 0.14 has no command timeout, so every command carries its own ev_timer: when
 * it fires the command completes with MG_REDIS_TIMEOUT and the late reply, whenever it
 * comes, is dropped. A connection with too many such replies outstanding is closed and
 * opened again. Connections (re)connect by themselves with a backoff of 100 ms doubling
 * to 2 s, send AUTH / SELECT / SCRIPT LOAD on connect, and read Redis' clock (TIME).
 *
 * While the link is known to be bad -- no connection is up, or the breaker is open
 * after MG_REDIS_BREAKER_FAILS failures in a row -- mg_redis_eval() declines at once
 * instead of letting each command wait for its deadline. An open breaker lets one trial
 * command through after a short pause (250 ms doubling to 2 s); its success closes it.
 * The outage is logged as one error line at most every MG_REDIS_LOG_EVERY seconds and
 * its end as one notice.
 */
#ifndef MG_REDIS_H
#define MG_REDIS_H

#include "conf.h"
#include "mg_core.h"

#include <ev.h>
#include <hiredis.h>

#define MG_REDIS_BREAKER_FAILS 3  /* failures in a row that open the breaker */
#define MG_REDIS_MAX_STALE 8      /* timed-out replies a connection may owe */
#define MG_REDIS_LOG_EVERY 5.0    /* seconds between two outage lines */

typedef struct mg_redis_s mg_redis_t;
typedef struct mg_redis_req_s mg_redis_req_t;

/* How a command ended. */
enum { MG_REDIS_OK = 0, MG_REDIS_ERROR, MG_REDIS_TIMEOUT };

/* Completion of a command: `status` MG_REDIS_OK with the reply (borrowed for the call;
 * it may be an error reply, e.g. a script error), or MG_REDIS_ERROR / MG_REDIS_TIMEOUT
 * with reply NULL. Never called from inside mg_redis_eval(). */
typedef void (*mg_redis_cb)(void *arg, int status, const redisReply *reply);

/* A Lua script, known to every connection of a client. */
typedef struct {
    const char *src;
    char sha[41]; /* SHA1 of src in hex, filled by mg_redis_script_init */
} mg_redis_script_t;

/* Computes s->sha for `src` (borrowed: must outlive every client using the script). */
void mg_redis_script_init(mg_redis_script_t *s, const char *src);

/* A client for `conf` on `loop`, connecting at once. `scripts` (borrowed, nscripts of
 * them) are loaded on every connection. `consequence` (borrowed, may be NULL) ends the
 * outage line ("...; cluster limits use redis_failure=local"). NULL on out of memory. */
mg_redis_t *mg_redis_create(struct ev_loop *loop, const mg_redis_conf_t *conf,
                            const mg_redis_script_t *const *scripts, size_t nscripts,
                            const char *consequence);

/* Closes every connection. Pending commands are dropped without their callbacks being
 * called. Must not be called from inside a callback of this client. */
void mg_redis_destroy(mg_redis_t *r);

/* True when a command sent now may succeed: a connection is up and the breaker does
 * not refuse. Cheap; for paths that must not wait (cluster_approx). */
bool mg_redis_available(const mg_redis_t *r);

/* Runs `script` with `nkeys` keys followed by the other arguments (args[i] of lens[i]
 * bytes; copied) on one of the connections, with the client's deadline. Returns MG_OK
 * (cb will be called exactly once, unless the command is cancelled) and the command's
 * handle in *req (may be NULL when not wanted), or MG_DECLINED when Redis is known to
 * be unavailable right now (cb is never called). */
int mg_redis_eval(mg_redis_t *r, const mg_redis_script_t *script, int nkeys, int nargs,
                  const char *const *args, const size_t *lens, mg_redis_cb cb, void *arg,
                  mg_redis_req_t **req);

/* Flags of mg_redis_command(). */
#define MG_REDIS_WAIT 1u /* no connection is up yet but one is being opened: the command
                          * waits for it (within its deadline) instead of being declined */
#define MG_REDIS_SAME 2u /* on the connection of the previous command (a pipeline: the
                          * commands go out in one write and their replies come together) */

/* Sends any command (argv[i] of lens[i] bytes; copied) on one of the connections, with
 * a deadline of `timeout` seconds (<= 0: the client's). Returns as mg_redis_eval(). An
 * error reply is not a failure of the link: it reaches cb with MG_REDIS_OK. */
int mg_redis_command(mg_redis_t *r, int argc, const char *const *argv, const size_t *lens,
                     double timeout, unsigned flags, mg_redis_cb cb, void *arg,
                     mg_redis_req_t **req);

/* Why commands fail now: why the last connection went down or could not come up
 * ("connection refused", a handshake's error reply), "closed" when it did not say, or
 * the breaker being open. Static or the client's text, valid until its next event. */
const char *mg_redis_unavailable_reason(const mg_redis_t *r);

/* The command's owner is gone: its callback will not be called. */
void mg_redis_cancel(mg_redis_req_t *req);

/* Redis' clock minus ev_time() in seconds, as last read (0 before the first read). */
double mg_redis_clock_offset(const mg_redis_t *r);

/* Figures since creation. */
typedef struct {
    uint64_t commands;  /* sent */
    uint64_t failures;  /* ended with an error (connection lost, error reply) */
    uint64_t timeouts;  /* ended by their deadline */
    uint64_t declined;  /* refused at once because Redis was unavailable */
    int connected;      /* connections up now */
} mg_redis_stats_t;
void mg_redis_stats(const mg_redis_t *r, mg_redis_stats_t *out);

/* "host:port" as configured (for messages). */
const char *mg_redis_name(const mg_redis_t *r);

/* ---- metrics ----
 *
 * Every client of a worker counts into one series of the worker's metrics region
 * (sys/metrics_store.h), key MG_REDIS_METRICS_KEY, with the same meanings as
 * mg_redis_stats_t (so /status and /metrics agree), plus the reconnection attempts and a
 * histogram of the time from sending a command to its reply (error replies included,
 * deadlines not). */
enum {
    MG_REDIS_M_COMMANDS = 0, /* sent */
    MG_REDIS_M_FAILURES,     /* connection lost, error reply */
    MG_REDIS_M_TIMEOUTS,     /* ended by their deadline */
    MG_REDIS_M_DECLINED,     /* refused at once: Redis known unavailable */
    MG_REDIS_M_RECONNECTS,   /* connection attempts after a loss or a failed attempt */
    MG_REDIS_M_HIST,         /* MG_METRICS_HIST_CELLS(nbounds): reply time */
};
#define MG_REDIS_METRICS_KEY "R\037redis"

/* Cells of the series for histogram bounds `nbounds`. */
uint32_t mg_redis_metrics_cells(uint32_t nbounds);

/* Turns counting on (in a worker, after mg_metrics_attach: the series is found or added)
 * or off, for every client of the process. `bounds` (copied) are the latency
 * histogram's upper bounds in seconds, increasing. */
void mg_redis_metrics_bind(bool on, const double *bounds, uint32_t nbounds);

#endif
