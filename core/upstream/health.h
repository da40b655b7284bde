/*
 * health.h -- which upstream nodes may take a request: active health checks, passive
 * outlier ejection, a circuit breaker per node, the upstream's connection limits and
 * its retry budget.
 *
 * Every figure lives in the shared node state (nodestate.h), so all workers see the
 * same picture and it survives reloads. health.c holds the rules (pure functions over
 * one node's or one upstream's state with the time passed in, unit-tested with an
 * injected clock) and the calls the proxy makes; health_probe.c runs the active
 * prober, one per upstream for the whole moongate node, on a worker's libev loop.
 *
 * The proxy's side, per request:
 *
 *   mg_health_request(u)                    once, before the first try
 *   mg_health_filter(u, &ctx)               before each pick: unavailable nodes skipped
 *   mg_health_begin(u, node, &trial)        after the pick (MG_DECLINED: pick again)
 *   mg_health_observe(u, node, outcome, trial)   when the try's outcome is known
 *   mg_health_retry_allowed(u) / mg_health_retry_spend(u)   around a retry
 *
 * and upstream.c counts connections with mg_health_conn_open()/mg_health_conn_closed()
 * (requests waiting at max_connections are the upstream's queue: upstream_queue.h).
 */
#ifndef MG_HEALTH_H
#define MG_HEALTH_H

#include "balancer.h"
#include "conf.h"
#include "mg_core.h"
#include "nodestate.h"

typedef struct mg_health_s mg_health_t; /* the prober of one upstream in one worker */

typedef enum {
    MG_BREAKER_CLOSED = 0, /* requests flow; failures in a row are counted */
    MG_BREAKER_OPEN,       /* no requests until open_time has passed */
    MG_BREAKER_HALF_OPEN,  /* up to half_open_requests trials at once */
} mg_breaker_state_t;

/* What one try told about its node. */
typedef enum {
    MG_HEALTH_OK = 0,  /* an answer below 500 */
    MG_HEALTH_5XX,     /* an answer 500-599 */
    MG_HEALTH_FAILURE, /* connect error or timeout, reset, malformed or missing answer */
    MG_HEALTH_NONE,    /* no verdict (client gone, our own fault): frees a trial slot */
} mg_health_outcome_t;

/* The retry budget's window (s): counts older than this fade out. */
#define MG_RETRY_BUDGET_WINDOW 10.0

/* ---- rules (pure: one state, the conf, the time) ---- */

/* Records one probe result. Returns +1 when the node just came back (healthy_threshold
 * successes in a row while down), -1 when it just went down (unhealthy_threshold
 * failures in a row while up), else 0. Only the prober calls it. */
int mg_health_probe_result(mg_node_state_t *s, const mg_hc_active_conf_t *a, bool ok);

/* The length of the n-th ejection in a row (n >= 1): base x n, capped. */
double mg_health_ejection_time(const mg_hc_passive_conf_t *p, int n);

/* True when one more node may be ejected from an upstream of `nnodes` nodes with
 * `ejected` ejected now: at most max_ejection_percent of the nodes, but at least one
 * when the percentage is above 0 and the upstream has two nodes or more. A single node
 * is never ejected: there is nowhere else to send its traffic. */
bool mg_health_may_eject(const mg_hc_passive_conf_t *p, size_t nnodes, size_t ejected);

/* True while the node is ejected at `now`. */
bool mg_health_is_ejected(const mg_node_state_t *s, double now);

/* Counts one outcome into the passive counters: a success resets both, a failure
 * counts towards both thresholds, a 5xx only towards consecutive_5xx. Returns true
 * when a threshold is reached (the caller then tries mg_health_eject). */
bool mg_health_passive_record(mg_node_state_t *s, const mg_hc_passive_conf_t *p,
                              mg_health_outcome_t o);

/* Ejects the node at `now` unless it already is: the ejection counts in a row unless
 * the node stayed in at least as long as its previous ejection lasted. Resets the
 * consecutive counters. Returns the ejection's length (s), or 0 when another process
 * ejected it first. */
double mg_health_eject(mg_node_state_t *s, const mg_hc_passive_conf_t *p, double now);

/* The breaker's state at `now`, moving open -> half-open once open_time has passed.
 * *changed (may be NULL) is set when this call made that move (log it). */
mg_breaker_state_t mg_breaker_state(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, double now,
                                    bool *changed);

/* True when the breaker lets a request through at `now` (closed, or half-open with a
 * free trial slot); no slot is taken. */
bool mg_breaker_available(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, double now);

/* Lets one request through: MG_OK (with *trial set when it took a half-open trial
 * slot, to be given back through mg_breaker_record) or MG_DECLINED. */
int mg_breaker_acquire(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, double now, bool *trial);

/* Records one outcome (trial: the request held a trial slot). Returns the state the
 * breaker moved to, or -1 when it did not move. */
int mg_breaker_record(mg_node_state_t *s, const mg_hc_breaker_conf_t *b, mg_health_outcome_t o,
                      bool trial, double now);

/* "closed", "open", "half_open". */
const char *mg_breaker_name(int state);

/* Counts a request into the retry budget's window at `now`. */
void mg_retry_budget_count(mg_upstream_state_t *s, double now);

/* True when the budget allows one more retry: retries + 1 <= max(min_retries,
 * ratio x requests) over the window. */
bool mg_retry_budget_allows(const mg_upstream_state_t *s, const mg_health_conf_t *h);

/* Takes the lease on the upstream's active checks for process `me` until now + ttl:
 * true when `me` holds it afterwards (it was free, expired or already `me`'s). */
bool mg_health_lease(mg_upstream_state_t *s, int64_t me, double now, double ttl);

/* Gives the lease back early when `me` holds it, so another process takes over at
 * its next tick. */
void mg_health_lease_release(mg_upstream_state_t *s, int64_t me);

/* ---- the proxy's calls (upstream runtime of the current worker) ---- */

/* Counts a new request (the retry budget's denominator). */
void mg_health_request(mg_upstream_t *u);

/* Marks in ctx->skip every node that must not be picked now: down (active), ejected
 * (passive), breaker open or half-open without a free trial slot. Returns how many
 * nodes are left. */
size_t mg_health_filter(mg_upstream_t *u, mg_balancer_ctx_t *ctx);

/* The picked node takes the try: MG_OK (*trial: it holds a half-open trial slot, hand
 * it to mg_health_observe), or MG_DECLINED when its breaker has no slot left (a race
 * with another worker: skip it and pick again). Counts the try for /status. */
int mg_health_begin(mg_upstream_t *u, int node, bool *trial);

/* The outcome of a try on `node`: passive counters and ejection, breaker, counters.
 * Logs ejections and breaker changes once (the process that made the change). */
void mg_health_observe(mg_upstream_t *u, int node, mg_health_outcome_t o, bool trial);

/* True when the retry budget (if any) allows a retry now. */
bool mg_health_retry_allowed(mg_upstream_t *u);

/* Counts a retry against the budget. */
void mg_health_retry_spend(mg_upstream_t *u);

/* A connection to `node` is about to be opened: true when the upstream is under
 * max_connections (the connection is then counted), false at the limit. */
bool mg_health_conn_open(mg_upstream_t *u, int node);

/* True when the upstream is at max_connections now (all workers). */
bool mg_health_conn_at_max(const mg_upstream_t *u);

/* A counted connection to `node` was closed. */
void mg_health_conn_closed(mg_upstream_t *u, int node);

/* Writes the "upstreams":[...] member of /status for the generation's upstreams into
 * buf. Returns the length written, or cap when it did not fit. */
/* "healthy", "unhealthy" (active checks) or "ejected" (passive) at mg_mono_now() `now`. */
const char *mg_health_node_state(const mg_upstream_t *u, int node, double now);

size_t mg_health_status_json(const mg_gen_t *g, char *buf, size_t cap);

/* ---- the active prober (health_probe.c) ---- */

/* Starts the prober of `u` on its worker's loop when the upstream has active checks
 * (no-op otherwise, or when u has no loop yet). Its timers never keep a draining loop
 * alive; it stops by itself once its worker drains or u's generation is no longer the
 * worker's current one. */
void mg_health_start(mg_upstream_t *u);

/* Stops the prober of `u` (timers, probe sockets), gives the lease back and frees it.
 * Called when the upstream runtime is destroyed. */
void mg_health_stop(mg_upstream_t *u);

#endif
