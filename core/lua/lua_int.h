/*
 * lua_int.h -- what the Lua runtime's C files share: lua_vm.c (states: allocation cap,
 * loading, the CPU-budget hook), lua_task.c (coroutines, waits, the request path) and
 * lua_api.c (the functions Lua calls through the FFI). Not for other modules.
 */
#ifndef MG_LUA_INT_H
#define MG_LUA_INT_H

#include "cidr.h"
#include "http.h"
#include "lua_runtime.h"
#include "worker.h"

#include <ev.h>
#include <lua.h>

struct mg_lua_http_s;
struct mg_lua_redis_pools_s;
struct lredis_s;

#define MG_LUA_CO_POOL 128 /* finished coroutines kept per state */
/* Phases after the coroutine's: the request's Lua state must outlive the run. */
#define MG_LUA_POST_PHASES                                                                         \
    (MG_PHASE_BIT(MG_PHASE_HEADER_FILTER) | MG_PHASE_BIT(MG_PHASE_BODY_FILTER) |                   \
     MG_PHASE_BIT(MG_PHASE_LOG))

struct mg_lua_s {
    lua_State *L;
    const mg_conf_t *conf; /* borrowed from the generation */
    mg_worker_t *w;        /* NULL in a validation-only state */
    uint64_t gen_id;
    size_t mem;             /* bytes allocated by the state */
    size_t mem_limit;       /* conf->lua.memory_limit; 0 while loading */
    size_t mem_hits;        /* allocations refused by the limit */
    bool grace;             /* the limit was hit in this phase: a tenth more for errors */
    int run_ref;            /* runtime.run(task, id, phase, ...) in the registry */
    int filter_ref;         /* runtime.filter(task, id, phase, ...) */
    int finish_ref;         /* runtime.finish(id) */
    int init_worker_ref;    /* runtime.init_worker_jobs() */
    unsigned *route_phases; /* per route: MG_PHASE_BIT set */
    /* per route, rewrite and access: the natives that run instead of Lua, or NULL
     * (lua_native.c); NULL when no route has any */
    struct mg_lua_native_chain_s **native;
    size_t nroutes;
    char **plugin_names;
    char **plugin_versions;
    unsigned *plugin_phases; /* MG_PHASE_BIT of each plugin's phase functions */
    size_t nplugins;
    struct mg_lua_metrics_s *metrics; /* lua_metrics.c; NULL when the config does not count */
    int next_id;                      /* ids of tasks, the Lua side's key */
    /* mg_lua_retire: the generation takes no new requests; its timers run out */
    bool retired;
    struct mg_lua_redis_pools_s *redis;    /* mg.redis clients (lua_redis.c), or NULL */
    struct mg_upstream_kpool_s *http_pool; /* mg.http's idle connections (lua_http.c) */

    /* coroutines whose last run returned cleanly, kept for the next request: a thread
     * that ended without error can be started again, which saves its allocation and
     * its registry slot per request */
    lua_State *co_free[MG_LUA_CO_POOL];
    int co_free_ref[MG_LUA_CO_POOL];
    int nco_free;
};

/* What a task waits for while its coroutine is suspended. */
enum {
    MG_WAIT_NONE = 0,
    MG_WAIT_SLEEP,
    MG_WAIT_HTTP,
    MG_WAIT_BODY,
    MG_WAIT_RL,
    MG_WAIT_REDIS,
    MG_WAIT_SOCKET
};

struct mg_lua_task_s {
    mg_lua_t *lua;
    mg_gen_t *gen;   /* one reference held by background tasks */
    mg_request_t *r; /* NULL for a background task */
    lua_State *co;   /* the coroutine of the current run, or NULL */
    int co_ref;
    int id;
    int phase;       /* phase being run (for the API's checks) */
    unsigned phases; /* the route's phase bits */
    int wait;
    ev_timer timer;
    struct mg_lua_http_s *http;  /* mg.http call in progress (lua_http.c) */
    struct lredis_s *redis;      /* mg.redis call in progress (lua_redis.c) */
    struct mg_lua_sock_s *socks; /* mg.socket sockets the task made (lua_socket.c) */
    bool running;                /* a run is on the C stack */
    bool in_tasks;               /* the Lua side keeps this task's state: forget it at the end */
    int *result_at;              /* while a phase handler is on the stack: where its outcome goes */

    /* request body read for a plugin */
    char *body;
    size_t body_len, body_cap, body_max;
    bool body_reading, body_done, body_too_big, body_replaced;

    /* answer staged by a plugin (rewrite/access exit) */
    mg_header_t *exit_hdrs;
    size_t nexit, cexit;

    /* header_filter: the response as plugins see it */
    const mg_header_t *resp_in; /* the upstream's headers (borrowed) */
    size_t nresp_in;
    mg_header_t *resp_hdrs; /* a copy once a plugin changes one */
    size_t nresp, cresp;
    int resp_status;

    /* body_filter chunk */
    const char *chunk;
    size_t chunk_len;
    bool chunk_eof;
    char *out_buf; /* what body filters returned for the chunk (malloc'd) */
    size_t out_cap;

    size_t req_hdrs_cap; /* request headers copied into the pool by a change */
    bool req_hdrs_owned;
    int spawn_nargs;        /* a background job's first resume carries its arguments */
    int peer;               /* node picked by mg.balancer.set_peer, -1 */
    bool peer_forced;       /* set_peer(node, {force = true}): even an unavailable one */
    struct mg_lua_rl_s *rl; /* a rate-limit wait in progress (lua_ratelimit.c), or NULL */
    int reroutes;
    /* a background run ended: called instead of freeing the task (its owner's storage,
     * a timer's); NULL for a job queued by the log phase, which frees itself */
    void (*on_end)(mg_lua_task_t *t);

    /* seconds of plugin code per phase, for the access log and mg.var: each run (a
     * resume, a filter call) is timed from its entry, and the Lua side tells where one
     * phase ends and the next begins inside a run (mg_lua_phase_begin) */
    double phase_time[MG_PHASE_TIMER];
    double phase_first[MG_PHASE_TIMER]; /* mg_mono_now() when each phase's plugins first ran */
    double phase_last[MG_PHASE_TIMER];  /* ... and when they last stopped (a trace's span) */
    unsigned phases_run;                /* MG_PHASE_BIT of each phase timed */
    int run_phase;                      /* the phase being timed, -1 for none */
    double run_mark; /* mg_mono_now() when the time of run_phase was last taken */
};

/* lua_vm.c */
/* Runs `ref`'s function with the task's id and phase plus `nargs` values already on
 * L's stack above it... see lua_task.c for the calling convention. */
extern mg_lua_t *mg__lua_running; /* state inside a phase now (for the budget hook) */
extern int32_t mg__lua_where;     /* plugin index * 8 + phase being run, -1 outside */
/* The task whose code is entered now: read by the runtime through the FFI, where a
 * cast of a light userdata would keep the entry out of compiled code. */
extern mg_lua_task_t *mg__lua_task_now;
void mg__lua_budget_arm(mg_lua_t *lua);
void mg__lua_budget_disarm(mg_lua_t *lua);

/* lua_task.c */
mg_lua_task_t *mg__lua_task_new(mg_lua_t *lua, mg_request_t *r);
/* header_filter over (*status, *hdrs, *n); the same contract as the header filter. */
int mg_lua_header_filter(mg_request_t *r, int *status, const void **hdrs, size_t *n);
/* body_filter over one chunk; out and outlen say what to send instead. */
int mg_lua_body_filter(mg_request_t *r, const char *data, size_t len, bool eof, const char **out,
                       size_t *outlen);
/* Keeps the status and a copy of the response headers for body_filter and log plugins. */
void mg_lua_note_response(mg_request_t *r, const void *hdrs, size_t n, int status);
/* Around each run of plugin code: takes the time, and after the run adds it to the
 * phase being timed and brings the loop's clock up to date (a long plugin would leave
 * ev_now() behind, and every stamp after it early). */
void mg__lua_time_enter(mg_lua_task_t *t);
void mg__lua_time_leave(mg_lua_task_t *t);
/* Inside a run: the time so far goes to the phase timed until now, the rest to `phase`
 * (-1: to none). */
void mg__lua_time_switch(mg_lua_task_t *t, int phase);
/* Resumes a task's coroutine after its wait ended. */
void mg__lua_task_resume(mg_lua_task_t *t);
/* Waits: each arms what the task waits on and returns MG_AGAIN (the Lua side then
 * yields), MG_OK when there is nothing to wait for, MG_DECLINED (body over max) or
 * MG_ERROR. They are called from Lua through the FFI and never end the request there:
 * what may end it ("100 Continue", reading on) is done from the task's timer. */
int mg__lua_body_read(mg_lua_task_t *t, size_t max);
int mg__lua_sleep(mg_lua_task_t *t, double seconds);
/* Starts a background job (runtime.run in phase TIMER) with the job value on top of
 * lua->L (popped). The job holds a reference to `gen`. */
int mg__lua_spawn(mg_lua_t *lua, mg_gen_t *gen);
/* Starts a background run on `t` (the caller's storage, zeroed or released): the job
 * and its nargs - 1 arguments on top of L are moved to the run's coroutine, which
 * starts from the loop (a 0 s timer) as runtime.run(task, id, TIMER, -1, job, ...).
 * `gen` is borrowed: the caller keeps it alive until the run ends, when t->on_end(t)
 * is called. MG_OK, or MG_ERROR (no loop, out of memory; the values are popped). */
int mg__lua_task_start(mg_lua_task_t *t, mg_lua_t *lua, mg_gen_t *gen, lua_State *L, int nargs);
/* Stops what the task waits on, drops its HTTP call and coroutine and forgets its Lua
 * state; the storage stays the caller's. */
void mg__lua_task_release(mg_lua_task_t *t);
/* The Lua C function behind require "moongate.spawn". */
int mg__lua_l_spawn(lua_State *L);

/* lua_timer.c */
/* Registers the Lua C function behind require "moongate.timer_start" in L. */
void mg__lua_timer_open(lua_State *L);
/* Cancels the pending timers of `lua` (it is being closed: none may hold it). */
void mg__lua_timers_drop(mg_lua_t *lua);

/* lua_metrics.c: made with the state (before its plugins load, which may declare
 * metrics) when its configuration counts, and freed with it; a CPU-budget kill of the
 * plugin at mg__lua_where. */
int mg__lua_metrics_create(mg_lua_t *lua);
void mg__lua_metrics_destroy(mg_lua_t *lua);
void mg__lua_metrics_kill(mg_lua_t *lua, int32_t where);

/* lua_http.c: drops the task's HTTP call, if any (no callback after this). */
void mg__lua_http_cancel(mg_lua_task_t *t);
/* lua_http.c: closes the state's idle keep-alive connections. */
void mg__lua_http_pool_destroy(mg_lua_t *lua);

/* lua_redis.c: drops the task's Redis call, if any (its replies are dropped); closes
 * the state's clients (after lua_close). */
void mg__lua_redis_cancel(mg_lua_task_t *t);
void mg__lua_redis_destroy(mg_lua_t *lua);

/* lua_re.c: the worker's mg.re cache size from conf->lua. */
void mg__lua_re_conf(const mg_conf_t *conf);

/* lua_socket.c: closes every socket the task still holds (their waits stopped, their
 * connections closed, not pooled). */
void mg__lua_sockets_release(mg_lua_task_t *t);

/* lua_http.c: this worker's TLS client context for plugin connections (mg.http,
 * mg.socket), verifying against the system's CA store or not; made at first use, kept
 * for the process. NULL (logged) when OpenSSL cannot make one. */
struct mg_tls_client_s *mg__lua_tls_client(bool verify, mg_worker_stats_t *ws);

/* lua_task.c: one of rewrite, access, balancer in Lua on the request's task (made on
 * first use), as the phase engine's handlers do. */
int mg__lua_run_phase(mg_request_t *r, int phase);

/* lua_cidr.c: whether a built matcher holds `ip` (false before the build). */
struct mg_lua_cidr_s;
bool mg_lua_cidr_match_ip(const struct mg_lua_cidr_s *m, const mg_ip_t *ip);

/* lua_native.c: frees the route chains of the state (after lua_close). */
void mg__lua_native_destroy(mg_lua_t *lua);
/* lua_native.c: what one native decides for r: MG_OK (go on; a token cache hit has
 * changed the headers and the consumer), MG_DECLINED (Lua must run the phase), or the
 * status of a refusal (cidr; not answered yet). */
struct mg_lua_native_s;
int mg__lua_native_run(mg_request_t *r, struct mg_lua_native_s *n);

/* lua_api.c */
/* Header changes: set (replaces every value), add, clear. */
enum { H_SET = 0, H_ADD, H_CLEAR };
/* Applies set/add/clear to a header list that may still be borrowed (*owned false): the
 * first change copies it into the pool with room to grow. MG_OK or MG_ERROR. */
int mg__lua_hchange(mg_pool_t *pool, mg_header_t **arr, size_t *n, size_t *cap, bool *owned,
                    const char *name, size_t nlen, const char *value, size_t vlen, int mode);
/* Copies `s` into the request pool (NULL on failure). */
char *mg__lua_pool_copy(mg_lua_task_t *t, const char *s, size_t len);
/* The functions Lua calls through the FFI (mg_lua_exit_header, which C calls too,
 * among them) are declared in lua_ffi.h. */

#endif
