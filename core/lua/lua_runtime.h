/*
 * lua_runtime.h -- the Lua plugin runtime as the rest of the core sees it.
 *
 * One LuaJIT state per worker per config generation (mg_gen_t owns it), built from the
 * plugin sources the master validated. A request whose route has plugins gets a task:
 * a coroutine that runs the rewrite, access and balancer phases (it may yield to the
 * loop for mg.sleep, mg.http and body reads), then the proxy calls the header and body
 * filters synchronously, and the log phase runs when the request ends. A route with no
 * plugins never touches any of this.
 */
#ifndef MG_LUA_RUNTIME_H
#define MG_LUA_RUNTIME_H

#include "http.h"
#include "mg_core.h"

/* Phases, also bits of mg_lua_route_phases(). */
enum {
    MG_PHASE_REWRITE = 0,
    MG_PHASE_ACCESS,
    MG_PHASE_BALANCER,
    MG_PHASE_HEADER_FILTER,
    MG_PHASE_BODY_FILTER,
    MG_PHASE_LOG,
    MG_PHASE_TIMER, /* background work queued by the log phase */
    MG_PHASE_COUNT
};

#define MG_PHASE_BIT(ph) (1u << (ph))

/* "rewrite", "access" ... ("?" out of range). */
const char *mg_lua_phase_name(int phase);

/* Builds the Lua state of a generation: loads the runtime from the Lua directory,
 * compiles every plugin in conf->plugin_srcs, checks every plugin config against its
 * schema and orders each route's plugins. `w` is NULL for a validation-only state (the
 * master's scratch check) and may be bound later with mg_lua_bind(). `conf` is borrowed
 * and must outlive the state. Returns NULL with a message ("file:line:column: key:
 * what was expected" for config errors) in err. */
mg_lua_t *mg_lua_create(const mg_conf_t *conf, mg_worker_t *w, uint64_t gen_id, char *err,
                        size_t errlen);

/* Closes the state. Only when no task of it is alive (the generation's refcount sees
 * to that). NULL is a no-op. */
void mg_lua_destroy(mg_lua_t *lua);

/* Attaches a state created before its worker existed. */
void mg_lua_bind(mg_lua_t *lua, mg_worker_t *w);

/* Directory of the Lua side of the runtime: <dir of the real executable>/../lua when it
 * exists (a source tree: build/moongate next to lua/), else the install location
 * MG_LUA_DIR_DEFAULT. The string is static. */
const char *mg_runtime_lua_dir(void);

/* Creates and closes a scratch state: MG_OK when conf and every plugin it uses load. */
int mg_lua_validate(const mg_conf_t *conf, char *err, size_t errlen);

/* Phases (MG_PHASE_BIT) in which route `route_index` runs plugin code; 0 = none. */
unsigned mg_lua_route_phases(const mg_lua_t *lua, int route_index);

/* Name and version of loaded plugin i (i < count), for /status. */
size_t mg_lua_plugin_count(const mg_lua_t *lua);
const char *mg_lua_plugin_name(const mg_lua_t *lua, size_t i);
const char *mg_lua_plugin_version(const mg_lua_t *lua, size_t i);
/* Bytes the state holds now. */
size_t mg_lua_memory(const mg_lua_t *lua);

/* ---- the request path: the runtime's slots in the http layer ---- */

/* Phase handlers (http_phase.h) of a route whose plugins run in that phase: one phase
 * per call, on the request's task (made by the first). They may wait (mg.sleep,
 * mg.http, a body read) and resume the engine from the loop, or answer what a plugin
 * decided. */
int mg_lua_rewrite_handler(mg_request_t *r, const void *data);
int mg_lua_access_handler(mg_request_t *r, const void *data);
int mg_lua_balancer_handler(mg_request_t *r, const void *data);

/* Plugin work a route does in C (lua_native.c): the chain of natives that stands for
 * the route's plugins in `phase` (MG_PHASE_REWRITE or MG_PHASE_ACCESS), or NULL. Its
 * handler takes the chain as data; a native that cannot decide runs the phase in Lua. */
typedef struct mg_lua_native_chain_s mg_lua_native_chain_t;
const mg_lua_native_chain_t *mg_lua_route_native(const mg_lua_t *lua, int route, int phase);
int mg_lua_native_handler(mg_request_t *r, const void *data);

/* The header filter (runs header_filter plugins, keeps the response for body_filter and
 * log plugins, and asks for the body filters when the route has body_filter plugins),
 * the body filter, and the log handler (the log phase, then the task is released). */
int mg_lua_header_filter_handler(mg_request_t *r, mg_http_head_t *h);
int mg_lua_body_filter_handler(mg_request_t *r, const char **data, size_t *len, bool last);
void mg_lua_log_handler(mg_request_t *r);

/* Body bytes plugins read before the proxy took over: true with the bytes in
 * data and len (borrowed from the request pool) and *done when the body is complete. */
bool mg_lua_take_body(mg_request_t *r, const char **data, size_t *len, bool *done);

/* The node a balancer plugin chose for the first try (index in the request's upstream,
 * mg_request_upstream()), or -1. *forced: the plugin wants it even when it is down,
 * ejected or its breaker is open; otherwise the proxy checks it again at the pick. */
int mg_lua_peer(const mg_request_t *r, bool *forced);

/* Seconds the request's plugins of `phase` (rewrite ... log) ran so far, waits (sleeps,
 * HTTP calls, body reads) not counted; -1 when none of that phase ran. */
double mg_lua_phase_time(const mg_request_t *r, int phase);

/* Seconds the request's header_filter and body_filter plugins ran so far, 0 for none:
 * the proxy leaves them out of the upstream's time. */
double mg_lua_filter_time(const mg_request_t *r);

/* ---- timers (mg.timer) ---- */

/* Most timers (pending and running) one worker keeps; mg.timer.at/every past it are
 * refused and counted. */
#define MG_LUA_TIMERS_MAX 1024

/* The generation of `lua` takes no more new requests (a reload switched to a newer
 * one, or the worker drains). Its timers run out: each pending one runs once now with
 * premature = true, an `every` timer running now does so once more when its run ends,
 * none is re-armed, and new timers with a delay are refused (a delay of 0 still runs,
 * premature). Due and running timers hold a reference to the generation until they
 * end. NULL is a no-op. */
void mg_lua_retire(mg_lua_t *lua);

/* The generation `gen` (whose state is `lua`) begins to serve in this worker: at the
 * worker's start and after each reload. Each plugin's init_worker function is started
 * as a timer of delay 0 (runtime.lua says what it is called with); one that cannot be
 * (the worker's timer cap) is logged. `gen` is borrowed: it is the worker's current
 * one. NULL lua is a no-op. */
void mg_lua_init_worker(mg_lua_t *lua, mg_gen_t *gen);

/* Timers of this worker that hold a generation (running, or due after a retirement):
 * a draining worker waits for them, within its drain timeout. */
size_t mg_lua_timers_busy(void);

/* The worker leaves: every timer is cancelled now, running ones too (their waits and
 * HTTP calls dropped, logged), and the generation references they held are released. */
void mg_lua_timers_shutdown(void);

/* ---- cosockets (mg.socket, lua_socket.c) ---- */

/* Sockets (made by mg.socket.tcp, not released yet) plus pooled connections, per
 * worker: mg.socket.tcp() past it answers nil, "too many open sockets". */
#define MG_LUA_SOCKETS_MAX 4096

/* The worker leaves: the connections idle in mg.socket's keep-alive pools are closed
 * (sockets held by requests and timers were closed with them). */
void mg_lua_sockets_shutdown(void);

/* ---- metrics (lua_metrics.c) ---- */

/* Cells of a plugin's series per phase: calls, errors (the plugin failed: the request
 * got a 500), then a histogram of the seconds its code ran (waits not counted) with the
 * bounds of conf->metrics. */
enum { MG_LUA_PM_CALLS = 0, MG_LUA_PM_ERRORS, MG_LUA_PM_HIST };

/* The key of plugin `plugin`'s series for `phase` (MG_PHASE_REWRITE .. MG_PHASE_LOG),
 * or of its CPU-budget kills (one cell) for phase -1, into buf (cap bytes). */
mg_str_t mg_lua_metrics_plugin_key(char *buf, size_t cap, const char *plugin, int phase);
/* Cells of a per-phase series under conf. */
uint32_t mg_lua_metrics_plugin_cells(const mg_conf_t *conf);

/* Finds this worker's per-plugin series of a state whose configuration counts
 * (mg_conf_metrics_on), once bound to its worker (after mg_metrics_attach). A no-op
 * otherwise. MG_OK, or MG_ERROR when out of memory. */
int mg_lua_metrics_bind(mg_lua_t *lua);

/* Phases (MG_PHASE_BIT) in which loaded plugin i has a function. */
unsigned mg_lua_plugin_phases(const mg_lua_t *lua, size_t i);

/* The master killed a worker stuck in `plugin` (NULL: outside plugin code): counted as
 * one of its CPU-budget kills, in the master's region, when `conf` counts. */
void mg_lua_metrics_stall_kill(const mg_conf_t *conf, const char *plugin);

/* Metrics plugins declared with mg.metrics (when the state counts). Every label value
 * of a series is one of the plugin's, or "_other" for all of them once the metric had
 * its bound of series in a worker. Cells are doubles: a counter's and a gauge's value
 * in cell 0; a histogram's counts per bucket (non-cumulative, the last above every
 * bound), then the sum of the values observed. */
enum { MG_LUA_METRIC_COUNTER = 0, MG_LUA_METRIC_GAUGE, MG_LUA_METRIC_HISTOGRAM };
typedef struct {
    char *plugin, *name, *help; /* name as declared (a counter's ends with _total) */
    int type;
    char **labels; /* label names */
    size_t nlabels;
    double *bounds; /* histogram upper bounds, increasing */
    uint32_t nbounds;
    uint32_t ncells;
    mg_str_t prefix; /* of the keys of its series: the label values follow, joined by
                      * MG_METRICS_SEP (nothing follows for no labels) */
} mg_lua_metric_info_t;

size_t mg_lua_metric_count(const mg_lua_t *lua);
const mg_lua_metric_info_t *mg_lua_metric_at(const mg_lua_t *lua, size_t i);
/* The key of a metric's per-worker bookkeeping (two cells: series added, observations
 * folded into "_other") into buf. */
mg_str_t mg_lua_metric_meta_key(const mg_lua_metric_info_t *info, char *buf, size_t cap);

/* ---- the CPU budget ---- */

/* Called from a signal handler when the current phase ran past its budget: makes the
 * running Lua code stop at its next hook point. Async-signal-safe. */
void mg_lua_interrupt(void);

#endif
