/*
 * http_phase.h -- the phase engine: the one place where the order of a request's phases
 * is written (nginx's core_run_phases is the model).
 *
 * Each route gets a handler chain when its generation is assembled (server/): at most
 * one handler per phase, in this order,
 *
 *   rewrite (Lua) -> limits -> access (Lua) -> consumer limits -> balancer (Lua)
 *   -> content (proxy | return | admin; later tunnel, cache)
 *
 * and the engine walks it from r->phase. The layers above plug their handlers in; the
 * http layer never calls them by name. A handler returns:
 *
 *   MG_OK       go on with the next phase
 *   MG_AGAIN    wait: the handler calls mg_http_phase_resume() later, from the loop
 *   MG_DONE     the request was answered, or the content handler took it over
 *   MG_ERROR    answer 500
 *   a status    (> 0) answer it with the gateway's error page
 *
 * A handler may change the route (a rewrite that re-routes): the engine reads the
 * chain of r->chain, which the handler then updates, at every step.
 */
#ifndef MG_HTTP_PHASE_H
#define MG_HTTP_PHASE_H

#include "mg_core.h"

typedef enum {
    MG_HTTP_PHASE_REWRITE = 0,
    MG_HTTP_PHASE_LIMITS,          /* rate limits not keyed on the consumer */
    MG_HTTP_PHASE_ACCESS,          /* authentication and authorisation */
    MG_HTTP_PHASE_CONSUMER_LIMITS, /* rate limits keyed on the consumer access named */
    MG_HTTP_PHASE_BALANCER,        /* a plugin chooses the node */
    MG_HTTP_PHASE_CONTENT,         /* the one producer of the answer */
    MG_HTTP_PHASE_COUNT
} mg_http_phase_t;

/* One phase's handler. `data` is the handler's own, fixed when the chain is built
 * (e.g. a route's `return:` block, a limit stage). */
typedef int (*mg_http_handler_fn)(mg_request_t *r, const void *data);

typedef struct {
    mg_http_handler_fn run; /* NULL: nothing runs at this phase */
    const void *data;
} mg_http_phase_handler_t;

/* A route's chain, built once per generation; immutable afterwards. */
struct mg_http_chain_s {
    mg_http_phase_handler_t h[MG_HTTP_PHASE_COUNT];
    uint8_t next[MG_HTTP_PHASE_COUNT + 1]; /* the first phase >= i with a handler, or
                                            * MG_HTTP_PHASE_COUNT (kept by _set) */
};

/* Sets handler `fn` (with `data`) at `phase` of chain `ch`. */
void mg_http_chain_set(mg_http_chain_t *ch, mg_http_phase_t phase, mg_http_handler_fn fn,
                       const void *data);

/* Runs r->chain from r->phase (0 for a new request) until a handler waits, answers or
 * takes the request over. */
void mg_http_run_phases(mg_request_t *r);

/* Called by a handler that returned MG_AGAIN, once it is done, with what it would have
 * returned (MG_OK, MG_DONE, MG_ERROR or a status): acts on it and goes on. Call it from
 * the loop (a timer, a socket event, a Lua wake-up), never from inside the handler. */
void mg_http_phase_resume(mg_request_t *r, int rc);

/* The name of a phase ("rewrite" ... "content"), for logs. */
const char *mg_http_phase_name(int phase);

#endif
