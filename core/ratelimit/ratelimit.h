/*
 * ratelimit.h -- a route's `rate_limit:` list on the request path.
 *
 * Where: the phase engine's limits phase (after rewrite, before access) and its
 * consumer-limits phase (after access, which names the consumer), through one handler,
 * mg_rl_phase(), whether the route has plugins or not.
 *
 * Per request, the state lives in the request's pool: the concurrency slots taken
 * (released by a pool cleanup when the request ends, whatever the ending: answered,
 * upstream error, client gone, plugin answer), the figures for RateLimit-* headers,
 * and a wait in progress (a leaky bucket's delay on an ev_timer, or a cluster check),
 * which the same cleanup cancels.
 */
#ifndef MG_RATELIMIT_H
#define MG_RATELIMIT_H

#include "http.h"
#include "ratelimit_algo.h"

/* Which limits a check covers. */
enum {
    MG_RL_EARLY = 1,    /* limits whose key does not use `consumer` */
    MG_RL_CONSUMER = 2, /* limits keyed on the consumer (after the access phase) */
    MG_RL_ALL = 3,
};

/* The outcome of a check that returned MG_AGAIN: MG_OK to go on, or a status when a
 * limit rejected (the answer is then ready, see mg_rl_answer). Called from the loop,
 * never from inside mg_rl_check, and not at all when the request ends first. */
typedef void (*mg_rl_done_fn)(mg_request_t *r, int rc, void *arg);

/* True when `route` has limits in `stages`. */
bool mg_rl_route_has(const mg_route_conf_t *route, unsigned stages);

/* Checks r's route's limits of `stages` in order; `consumer` (borrowed) is the
 * consumer's name, empty when none is known. Returns MG_OK (all passed), a status > 0
 * (rejected: mg_rl_answer has the answer) or MG_AGAIN (a wait: done(r, rc, arg) comes
 * later). */
int mg_rl_check(mg_request_t *r, unsigned stages, mg_str_t consumer, mg_rl_done_fn done, void *arg);

/* The rejection answer made by the last check of r: headers (Retry-After, RateLimit-*,
 * Content-Type; in r's pool) and a short JSON body. */
void mg_rl_answer(mg_request_t *r, const mg_header_t **hdrs, size_t *nhdrs, const char **body,
                  size_t *len);

/* The phase handler (http_phase.h) of the limits and consumer-limits phases, for every
 * route with limits, with or without plugins: `data` is the stage (MG_RL_EARLY or
 * MG_RL_CONSUMER, as a pointer-sized integer); the consumer is r->consumer. A
 * rejection is answered here (MG_DONE); a wait holds the body and resumes the engine. */
int mg_rl_phase(mg_request_t *r, const void *data);

/* The header filter: RateLimit-Limit/-Remaining/-Reset on every allowed answer when a
 * passed limit has `headers: true` (the most restrictive one's figures). */
int mg_rl_header_filter(mg_request_t *r, mg_http_head_t *h);

/* The value of key part `p` for r (borrowed from r), or an empty view when absent. */
mg_str_t mg_rl_key_part_value(const mg_request_t *r, const mg_rl_key_part_t *p, mg_str_t consumer);

/* ---- metrics: decisions by route and limit ----
 *
 * Every limit the walk reaches decides once per request: rejected (over the limit, a
 * missing key with `missing_key: reject`, Redis down with `redis_failure: reject`),
 * delayed (a leaky bucket's `delay: true` made it wait), or allowed (anything else that
 * let it pass, a missing key included). Limits after a rejecting one are not reached.
 * Limits a plugin makes with mg.ratelimit are not counted here. */
enum { MG_RL_ALLOWED = 0, MG_RL_REJECTED, MG_RL_DELAYED, MG_RL_DECISIONS };

/* The key of the decision series (MG_RL_DECISIONS cells) of limit `limit` of route
 * `route` into buf (cap bytes); "_other" for both names is where a series that found no
 * room counts. */
mg_str_t mg_rl_metrics_key(char *buf, size_t cap, const char *route, const char *limit);

/* Finds this worker's decision series of every route limit of generation g into
 * g->rl_metrics. For a generation that counts, in a worker (after mg_metrics_attach).
 * MG_OK, or MG_ERROR when out of memory. */
int mg_rl_metrics_bind(mg_gen_t *g);

/* Frees g->rl_metrics (not the shared cells). */
void mg_rl_metrics_free(mg_gen_t *g);

#endif
