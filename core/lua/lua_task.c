/*
 * lua_task.c -- plugin code at work for one request (or one background job): the
 * phase handlers that run rewrite, access and balancer on a coroutine, their waits on
 * the loop, and the synchronous filters and log handler.
 *
 *   a phase handler ─ task (made once) + coroutine: runtime.run(task, id, phase, route)
 *   │   yields for mg.sleep (timer), mg.http (mg_httpc), a body read (the client side)
 *   │   and is resumed from the loop; each resume is one step()
 *   ├─ returns 0: the phase engine goes on (the handler returns MG_OK, or a resume from
 *   │   the loop calls mg_http_phase_resume), any body bytes read kept for the proxy
 *   ├─ returns status, body: the plugin's answer (headers staged through the FFI)
 *   └─ fails: 500, the runtime has logged plugin, file:line and traceback
 *   header_filter / body_filter: lua_pcall of runtime.filter from the proxy
 *   log: at the end of the request; mg.http there is queued as a background task
 *
 * A task lives in its request's pool; the pool cleanup stops its timer, cancels its
 * HTTP call and drops its coroutine, so a client that leaves mid-wait frees it all.
 * Nothing the loop calls back into runs inside a Lua frame: resumes come from timer
 * and client callbacks only, and a body read sends "100 Continue" and restarts the
 * client side from a 0 s timer. Every call that may end the request (answers, writes,
 * the body resume) posts the request's end: the task stays valid until it runs.
 */
#include "lua_int.h"

#include "clock.h"
#include "conf.h"
#include "gen.h"
#include "http_phase.h"
#include "log.h"
#include "pool.h"
#include "worker.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>

static void step(mg_lua_task_t *t, int nargs);

/* ---- lifetime ---- */

static void coroutine_drop(mg_lua_task_t *t);

static void task_release(mg_lua_task_t *t)
{
    mg_lua_t *lua = t->lua;
    if (t->lua == NULL) {
        return;
    }
    struct ev_loop *loop = lua->w != NULL ? lua->w->loop : NULL;
    if (loop != NULL) {
        ev_timer_stop(loop, &t->timer);
    }
    mg__lua_http_cancel(t);
    mg__lua_redis_cancel(t);
    mg__lua_sockets_release(t);
    free(t->out_buf);
    t->out_buf = NULL;
    coroutine_drop(t);
    if (t->in_tasks) {
        lua_rawgeti(lua->L, LUA_REGISTRYINDEX, lua->finish_ref);
        lua_pushinteger(lua->L, t->id);
        if (lua_pcall(lua->L, 1, 0, 0) != 0) {
            lua_pop(lua->L, 1);
        }
        t->in_tasks = false;
    }
    t->lua = NULL;
}

static void on_pool_cleanup(void *data)
{
    mg_lua_task_t *t = data;
    if (t->r != NULL) {
        t->r->lua = NULL;
    }
    task_release(t);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void task_init(mg_lua_task_t *t, mg_lua_t *lua, mg_request_t *r)
{
    t->lua = lua;
    t->r = r;
    t->id = ++lua->next_id;
    t->co_ref = LUA_NOREF;
    t->peer = -1;
    t->peer_forced = false;
    t->run_phase = -1;
    ev_init(&t->timer, on_timer);
    t->timer.data = t;
}

mg_lua_task_t *mg__lua_task_new(mg_lua_t *lua, mg_request_t *r)
{
    mg_lua_task_t *t = mg_pool_calloc(r->pool, sizeof(*t));
    if (t == NULL || mg_pool_cleanup_add(r->pool, on_pool_cleanup, t) != MG_OK) {
        return NULL;
    }
    task_init(t, lua, r);
    return t;
}

/* ---- plugin time ---- */

void mg__lua_time_enter(mg_lua_task_t *t)
{
    t->run_mark = mg_mono_now();
}

void mg__lua_time_switch(mg_lua_task_t *t, int phase)
{
    double now = mg_mono_now();
    if (t->run_phase >= 0) {
        t->phase_time[t->run_phase] += now - t->run_mark;
        t->phase_last[t->run_phase] = now;
    }
    t->run_mark = now;
    t->run_phase = phase >= 0 && phase < MG_PHASE_TIMER ? phase : -1;
    if (t->run_phase >= 0) {
        if ((t->phases_run & MG_PHASE_BIT(t->run_phase)) == 0) {
            t->phase_first[t->run_phase] = now;
        }
        t->phases_run |= MG_PHASE_BIT(t->run_phase);
    }
}

void mg__lua_time_leave(mg_lua_task_t *t)
{
    mg__lua_time_switch(t, t->run_phase);
    if (t->lua->w != NULL) {
        ev_now_update(t->lua->w->loop);
    }
}

double mg_lua_filter_time(const mg_request_t *r)
{
    double hf = mg_lua_phase_time(r, MG_PHASE_HEADER_FILTER);
    double bf = mg_lua_phase_time(r, MG_PHASE_BODY_FILTER);
    return MG_MAX(hf, 0.) + MG_MAX(bf, 0.);
}

double mg_lua_phase_time(const mg_request_t *r, int phase)
{
    const mg_lua_task_t *t = r->lua;
    if (t == NULL || phase < 0 || phase >= MG_PHASE_TIMER ||
        (t->phases_run & MG_PHASE_BIT(phase)) == 0) {
        return -1;
    }
    return t->phase_time[phase];
}

_Static_assert(MG_LOG_PLUGIN_PHASES == MG_PHASE_LOG - MG_PHASE_REWRITE + 1,
               "the access log shows one plugin time per request phase");

/* ---- coroutines ---- */

/* A coroutine for a run: one that finished cleanly before, or a new one. It stays
 * anchored in the registry under t->co_ref while the task holds it. */
static lua_State *coroutine_get(mg_lua_task_t *t)
{
    mg_lua_t *lua = t->lua;
    if (lua->nco_free > 0) {
        lua->nco_free--;
        t->co = lua->co_free[lua->nco_free];
        t->co_ref = lua->co_free_ref[lua->nco_free];
        return t->co;
    }
    lua_State *co = lua_newthread(lua->L);
    if (co == NULL) {
        return NULL;
    }
    t->co_ref = luaL_ref(lua->L, LUA_REGISTRYINDEX);
    t->co = co;
    return co;
}

/* Keeps a coroutine whose run returned without error for a later run; lets go of it
 * when the pool is full. */
static void coroutine_put(mg_lua_t *lua, lua_State *co, int ref)
{
    lua_settop(co, 0);
    if (lua->nco_free < MG_LUA_CO_POOL) {
        lua->co_free[lua->nco_free] = co;
        lua->co_free_ref[lua->nco_free] = ref;
        lua->nco_free++;
    } else {
        luaL_unref(lua->L, LUA_REGISTRYINDEX, ref);
    }
}

/* Lets go of a coroutine that failed or is suspended: it cannot run again. */
static void coroutine_drop(mg_lua_task_t *t)
{
    if (t->co_ref != LUA_NOREF) {
        luaL_unref(t->lua->L, LUA_REGISTRYINDEX, t->co_ref);
        t->co_ref = LUA_NOREF;
    }
    t->co = NULL;
}

/* Pushes runtime.run and (task, id, phase, route) on a coroutine for the task. */
static lua_State *coroutine_start(mg_lua_task_t *t, int phase)
{
    lua_State *co = coroutine_get(t);
    if (co == NULL) {
        return NULL;
    }
    lua_rawgeti(co, LUA_REGISTRYINDEX, t->lua->run_ref);
    lua_pushlightuserdata(co, t);
    lua_pushinteger(co, t->id);
    lua_pushinteger(co, phase);
    lua_pushinteger(co, t->r != NULL && t->r->match.route != NULL ? t->r->match.route->index : -1);
    return co;
}

/* ---- running Lua ---- */

/* Hands a phase's outcome to the engine: to the handler still on the stack (true), or
 * nobody waits for it there (false: the run resumed from the loop). */
static bool settle(mg_lua_task_t *t, int rc)
{
    if (t->result_at == NULL) {
        return false;
    }
    *t->result_at = rc;
    t->result_at = NULL;
    return true;
}

static void answer_error(mg_lua_task_t *t)
{
    mg_request_t *r = t->r;
    if (r != NULL) {
        settle(t, MG_DONE);
        mg_http_error(r, 500);
    }
}

/* The coroutine returned (code, body, kept): go on, or answer what a plugin decided. */
static void finished(mg_lua_task_t *t, lua_State *co)
{
    mg_request_t *r = t->r;
    int code = (int)lua_tointeger(co, 1);
    size_t blen = 0;
    const char *body = lua_tolstring(co, 2, &blen);
    if (r == NULL) {
        return; /* a background job: nothing to answer */
    }
    t->in_tasks = lua_toboolean(co, 3);
    if (code == 0) {
        r->handler = NULL; /* the producer installs its own and takes the body read */
        if (!settle(t, MG_OK)) {
            mg_http_phase_resume(r, MG_OK);
        }
    } else if (code > 0) {
        /* the body string lives in the coroutine: copy before it is dropped */
        char *copy = body != NULL ? mg__lua_pool_copy(t, body, blen) : NULL;
        settle(t, MG_DONE);
        mg_http_respond_headers(r, code, t->exit_hdrs, t->nexit, copy, copy ? blen : 0);
    } else {
        answer_error(t);
    }
}

static void bg_end(mg_lua_task_t *t);

/* One resume of the task's coroutine, until it yields on a wait or returns. The
 * generation is held across it: answering may end the request, whose reference may be
 * the last one of an old generation and its Lua state. */
static void step(mg_lua_task_t *t, int nargs)
{
    mg_lua_t *lua = t->lua;
    lua_State *co = t->co;
    mg_gen_t *g = mg_gen_retain(t->r != NULL ? t->r->gen : t->gen);
    mg_worker_stats_t *ws = lua->w != NULL ? lua->w->stats : NULL;
    t->running = true;
    mg_worker_lua_enter(ws);
    mg__lua_budget_arm(lua);
    mg__lua_task_now = t;
    mg__lua_time_enter(t);
    int rc = lua_resume(co, nargs);
    mg__lua_time_leave(t);
    mg__lua_budget_disarm(lua);
    mg_worker_lua_leave(ws);
    t->running = false;
    if (rc == LUA_YIELD && t->wait != MG_WAIT_NONE) {
        lua_settop(co, 0);
    } else if (rc == LUA_YIELD || rc != 0) {
        const char *msg =
            rc == LUA_YIELD ? "a plugin yielded outside the mg API" : lua_tostring(co, -1);
        mg_log_err("lua: %s%s%.*s", msg != NULL ? msg : "unknown error",
                   t->r != NULL ? ", request_id: " : "",
                   t->r != NULL ? (int)t->r->request_id.len : 0,
                   t->r != NULL ? t->r->request_id.p : "");
        coroutine_drop(t);
        if (t->r != NULL) {
            answer_error(t);
        } else {
            bg_end(t);
        }
    } else {
        /* the results are on co: keep it anchored until they are used */
        int ref = t->co_ref;
        t->co_ref = LUA_NOREF;
        t->co = NULL;
        bool bg = t->r == NULL;
        finished(t, co); /* an answer posts the request's end: t stays until it runs */
        coroutine_put(lua, co, ref);
        if (bg) {
            bg_end(t);
        }
    }
    mg_gen_release(g);
}

void mg__lua_task_resume(mg_lua_task_t *t)
{
    if (t->co != NULL) {
        step(t, 0);
    }
}

/* ---- waits ---- */

/* A plugin waits for the body: "100 Continue" when the client waits for it, then the
 * body read on, or the plugin resumed once it is there. A client that reset ends the
 * request (its end is posted: the task stays valid until then, and is left alone). */
static void body_wait_step(mg_lua_task_t *t)
{
    mg_request_t *r = t->r;
    if (r == NULL || mg_http_continue(r) != MG_OK) {
        return;
    }
    if (t->body_done || t->body_len >= t->body_max) {
        t->wait = MG_WAIT_NONE;
        step(t, 0);
        return;
    }
    /* reads on (on_lua_body below wakes us); may end the request: t is not used after */
    mg_http_body_resume(r);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    mg_lua_task_t *t = w->data;
    if (t->wait == MG_WAIT_SLEEP) {
        int nargs = t->spawn_nargs;
        t->spawn_nargs = 0;
        t->wait = MG_WAIT_NONE;
        step(t, nargs);
    } else if (t->wait == MG_WAIT_BODY) {
        body_wait_step(t);
    }
}

/* Wakes the task from the loop, never from inside the caller's frame. */
static void wake_soon(mg_lua_task_t *t)
{
    ev_timer_stop(t->lua->w->loop, &t->timer);
    ev_timer_set(&t->timer, 0., 0.);
    ev_timer_start(t->lua->w->loop, &t->timer);
}

static int on_lua_body(mg_request_t *r, const char *data, size_t len)
{
    mg_lua_task_t *t = r->lua;
    if (t == NULL) {
        return MG_OK;
    }
    if (t->body_len + len > t->body_cap) {
        size_t cap = MG_MAX(t->body_cap * 2, t->body_len + len);
        cap = MG_MAX(cap, (size_t)4096);
        char *nb = mg_pool_alloc(r->pool, cap);
        if (nb == NULL) {
            return MG_AGAIN; /* cannot keep more: the read fails as too big */
        }
        if (t->body_len > 0) {
            memcpy(nb, t->body, t->body_len);
        }
        t->body = nb;
        t->body_cap = cap;
    }
    memcpy(t->body + t->body_len, data, len);
    t->body_len += len;
    if (t->wait == MG_WAIT_BODY && t->body_len >= t->body_max) {
        wake_soon(t);
    }
    /* keep reading only while a plugin waits for the body */
    return t->wait == MG_WAIT_BODY && t->body_len < t->body_max ? MG_OK : MG_AGAIN;
}

static void on_lua_body_end(mg_request_t *r)
{
    mg_lua_task_t *t = r->lua;
    if (t != NULL) {
        t->body_done = true;
        if (t->wait == MG_WAIT_BODY) {
            wake_soon(t);
        }
    }
}

/* Ends a run suspended on a wait for good: what it waits on is stopped (its sockets
 * closed) and its coroutine dropped, so that nothing resumes it. */
static void run_abandon(mg_lua_task_t *t)
{
    ev_timer_stop(t->lua->w->loop, &t->timer);
    mg__lua_http_cancel(t);
    mg__lua_redis_cancel(t);
    mg__lua_sockets_release(t);
    t->wait = MG_WAIT_NONE;
    coroutine_drop(t);
}

/* The request is being answered by someone else or the client left. A run suspended
 * on a wait is abandoned now, not when the request's posted end runs: a wake due in
 * the same loop round (a socket or timer event already pending) would resume plugin
 * code for a request that is over. The pool cleanup frees the task. */
static void on_lua_abort(mg_request_t *r)
{
    mg_lua_task_t *t = r->lua;
    if (t != NULL && t->lua != NULL && !t->running && t->co != NULL && t->wait != MG_WAIT_NONE) {
        run_abandon(t);
    }
}

static const mg_http_handler_t lua_handler = {
    .on_body = on_lua_body,
    .on_body_end = on_lua_body_end,
    .on_writable = NULL,
    .on_abort = on_lua_abort,
};

int mg__lua_body_read(mg_lua_task_t *t, size_t max)
{
    mg_request_t *r = t->r;
    if (!r->has_body || t->body_done) {
        return MG_OK;
    }
    if (t->body_len > max) {
        return MG_DECLINED;
    }
    t->body_max = max + 1; /* one byte past the limit tells "too big" */
    t->wait = MG_WAIT_BODY;
    /* "100 Continue" goes out from the timer: a write here, inside the plugin's frame,
     * could end the request and free the task under the caller */
    wake_soon(t);
    return MG_AGAIN;
}

int mg__lua_sleep(mg_lua_task_t *t, double seconds)
{
    if (t->lua->w == NULL) {
        return MG_ERROR;
    }
    t->wait = MG_WAIT_SLEEP;
    /* the plugin may have run for a while in this run: count from now, not from the
     * loop's cached time, or the sleep is short by that much */
    ev_now_update(t->lua->w->loop);
    ev_timer_set(&t->timer, seconds > 0 ? seconds : 0., 0.);
    ev_timer_start(t->lua->w->loop, &t->timer);
    return MG_AGAIN;
}

/* ---- the request path ---- */

/* The request's task, made on the first plugin phase or filter that needs it; NULL
 * when its route runs no plugin (or out of memory: logged). */
static mg_lua_task_t *task_of(mg_request_t *r)
{
    mg_lua_t *lua = r->gen->lua;
    if (r->lua != NULL || lua == NULL || r->match.route == NULL) {
        return r->lua;
    }
    unsigned phases = mg_lua_route_phases(lua, r->match.route->index);
    if (phases == 0) {
        return NULL;
    }
    mg_lua_task_t *t = mg__lua_task_new(lua, r);
    if (t == NULL) {
        mg_log_err("out of memory starting plugins, request_id: %.*s", (int)r->request_id.len,
                   r->request_id.p);
        return NULL;
    }
    t->phases = phases;
    r->lua = t;
    return t;
}

/* One of rewrite, access, balancer on the task's coroutine. Returns what the phase
 * engine expects: MG_OK, MG_DONE (answered), MG_AGAIN (waiting: the engine is resumed
 * from the loop) or 500. */
int mg__lua_run_phase(mg_request_t *r, int phase)
{
    mg_lua_task_t *t = task_of(r);
    if (t == NULL) {
        return 500;
    }
    r->handler = &lua_handler;
    if (coroutine_start(t, phase) == NULL) {
        return 500;
    }
    int rc = MG_AGAIN;
    t->result_at = &rc;
    step(t, 4);
    if (rc == MG_AGAIN) {
        t->result_at = NULL; /* a wait: the outcome comes through mg_http_phase_resume */
    }
    return rc;
}

int mg_lua_rewrite_handler(mg_request_t *r, const void *data)
{
    return mg__lua_run_phase(r, MG_PHASE_REWRITE);
}

int mg_lua_access_handler(mg_request_t *r, const void *data)
{
    return mg__lua_run_phase(r, MG_PHASE_ACCESS);
}

int mg_lua_balancer_handler(mg_request_t *r, const void *data)
{
    return mg__lua_run_phase(r, MG_PHASE_BALANCER);
}

bool mg_lua_take_body(mg_request_t *r, const char **data, size_t *len, bool *done)
{
    mg_lua_task_t *t = r->lua;
    if (t == NULL || (t->body_len == 0 && !t->body_done)) {
        return false;
    }
    *data = t->body;
    *len = t->body_len;
    *done = t->body_done;
    return true;
}

int mg_lua_peer(const mg_request_t *r, bool *forced)
{
    *forced = r->lua != NULL && r->lua->peer_forced;
    return r->lua != NULL ? r->lua->peer : -1;
}

/* runtime.filter(task, id, phase, route) on the main state; no yields allowed. */
static int call_filter(mg_lua_task_t *t, int phase, int nargs, int nres)
{
    mg_lua_t *lua = t->lua;
    lua_State *L = lua->L;
    mg_worker_stats_t *ws = lua->w != NULL ? lua->w->stats : NULL;
    t->phase = phase;
    t->in_tasks = true; /* runtime.filter keeps the state it finds or makes */
    mg_worker_lua_enter(ws);
    mg__lua_budget_arm(lua);
    mg__lua_task_now = t;
    mg__lua_time_enter(t);
    mg__lua_time_switch(t, phase);
    int rc = lua_pcall(L, 4 + nargs, nres, 0);
    mg__lua_time_leave(t);
    mg__lua_budget_disarm(lua);
    mg_worker_lua_leave(ws);
    if (rc != 0) {
        const char *msg = lua_tostring(L, -1);
        mg_log_err("lua: %s, request_id: %.*s", msg != NULL ? msg : "unknown error",
                   t->r != NULL ? (int)t->r->request_id.len : 0,
                   t->r != NULL ? t->r->request_id.p : "");
        lua_pop(L, 1);
        return MG_ERROR;
    }
    return MG_OK;
}

static void push_filter(mg_lua_task_t *t, int phase)
{
    lua_State *L = t->lua->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->lua->filter_ref);
    lua_pushlightuserdata(L, t);
    lua_pushinteger(L, t->id);
    lua_pushinteger(L, phase);
    lua_pushinteger(L, t->r->match.route != NULL ? t->r->match.route->index : -1);
}

int mg_lua_header_filter(mg_request_t *r, int *status, const void **hdrs, size_t *n)
{
    mg_lua_task_t *t = r->lua;
    t->resp_in = *hdrs;
    t->nresp_in = *n;
    t->resp_hdrs = NULL;
    t->resp_status = *status;
    push_filter(t, MG_PHASE_HEADER_FILTER);
    int rc = call_filter(t, MG_PHASE_HEADER_FILTER, 0, 1);
    if (rc != MG_OK) {
        return MG_ERROR;
    }
    int code = (int)lua_tointeger(t->lua->L, -1);
    lua_pop(t->lua->L, 1);
    if (code < 0) {
        return MG_ERROR;
    }
    *status = t->resp_status;
    if (t->resp_hdrs != NULL) {
        *hdrs = t->resp_hdrs;
        *n = t->nresp;
    }
    return MG_OK;
}

int mg_lua_header_filter_handler(mg_request_t *r, mg_http_head_t *h)
{
    mg_lua_task_t *t = task_of(r);
    if (t == NULL || t->lua == NULL) {
        return MG_OK;
    }
    const void *hdrs = h->headers;
    size_t n = h->nheaders;
    if ((t->phases & MG_PHASE_BIT(MG_PHASE_HEADER_FILTER)) &&
        mg_lua_header_filter(r, &h->status, &hdrs, &n) != MG_OK) {
        return MG_ERROR;
    }
    h->headers = hdrs;
    h->nheaders = n;
    if (t->phases & (MG_PHASE_BIT(MG_PHASE_BODY_FILTER) | MG_PHASE_BIT(MG_PHASE_LOG))) {
        mg_lua_note_response(r, hdrs, n, h->status);
    }
    bool no_body = h->status == 204 || h->status == 304 || h->status < 200;
    if ((t->phases & MG_PHASE_BIT(MG_PHASE_BODY_FILTER)) && !no_body) {
        /* a HEAD's answer has no body, but a whole one still goes through the filters,
         * so that its length is the one a GET gets */
        r->body_filtered = true;
        if (!r->is_head) {
            h->content_length = -1; /* the filters may change the length */
        }
    }
    return MG_OK;
}

int mg_lua_body_filter_handler(mg_request_t *r, const char **data, size_t *len, bool last)
{
    mg_lua_task_t *t = r->lua;
    if (t == NULL || t->lua == NULL || !(t->phases & MG_PHASE_BIT(MG_PHASE_BODY_FILTER))) {
        return MG_OK;
    }
    return mg_lua_body_filter(r, *data != NULL ? *data : "", *len, last, data, len);
}

int mg_lua_body_filter(mg_request_t *r, const char *data, size_t len, bool eof, const char **out,
                       size_t *outlen)
{
    mg_lua_task_t *t = r->lua;
    lua_State *L = t->lua->L;
    t->chunk = data;
    t->chunk_len = len;
    t->chunk_eof = eof;
    push_filter(t, MG_PHASE_BODY_FILTER);
    if (call_filter(t, MG_PHASE_BODY_FILTER, 0, 2) != MG_OK) {
        return MG_ERROR;
    }
    int code = (int)lua_tointeger(L, -2);
    if (code < 0) {
        lua_pop(L, 2);
        return MG_ERROR;
    }
    if (lua_isstring(L, -1)) {
        size_t l;
        const char *s = lua_tolstring(L, -1, &l);
        /* one buffer per task, reused: the caller writes it (the client side copies what
         * the socket does not take) before the next chunk comes */
        if (l > t->out_cap) {
            char *nb = realloc(t->out_buf, l);
            if (nb == NULL) {
                lua_pop(L, 2);
                return MG_ERROR;
            }
            t->out_buf = nb;
            t->out_cap = l;
        }
        if (l > 0) {
            memcpy(t->out_buf, s, l);
        }
        lua_pop(L, 2);
        *out = t->out_buf;
        *outlen = l;
        return MG_OK;
    }
    lua_pop(L, 2);
    *out = data;
    *outlen = len;
    return MG_OK;
}

void mg_lua_log_handler(mg_request_t *r)
{
    mg_lua_task_t *t = r->lua;
    if (t == NULL || t->lua == NULL) {
        return;
    }
    if (t->co != NULL) {
        run_abandon(t); /* ended while a plugin waited */
    }
    if (t->phases & MG_PHASE_BIT(MG_PHASE_LOG)) {
        push_filter(t, MG_PHASE_LOG);
        call_filter(t, MG_PHASE_LOG, 0, 0);
    }
    /* the plugins' time per phase, for the access log that runs next, and when each
     * phase ran on the wall clock, for a trace */
    double wall = ev_time() - mg_mono_now();
    for (int i = 0; i < MG_LOG_PLUGIN_PHASES; i++) {
        double v = mg_lua_phase_time(r, MG_PHASE_REWRITE + i);
        if (v >= 0) {
            r->plugin_time[i] = v;
            r->plugin_phases |= 1u << i;
            r->plugin_span[i][0] = t->phase_first[MG_PHASE_REWRITE + i] + wall;
            r->plugin_span[i][1] = t->phase_last[MG_PHASE_REWRITE + i] + wall;
        }
    }
}

/* ---- background jobs (mg.http from the log phase, timers) ---- */

static void bg_free(mg_lua_task_t *t)
{
    mg_gen_t *g = t->gen;
    task_release(t);
    free(t);
    mg_gen_release(g);
}

/* A background run ended: its owner's hook (a timer), or the job's own task freed. */
static void bg_end(mg_lua_task_t *t)
{
    if (t->on_end != NULL) {
        t->on_end(t);
    } else {
        bg_free(t);
    }
}

void mg__lua_task_release(mg_lua_task_t *t)
{
    task_release(t);
}

int mg__lua_task_start(mg_lua_task_t *t, mg_lua_t *lua, mg_gen_t *gen, lua_State *L, int nargs)
{
    if (lua->w == NULL || gen == NULL) {
        lua_pop(L, nargs);
        return MG_ERROR;
    }
    task_init(t, lua, NULL);
    t->gen = gen;
    t->phase = MG_PHASE_TIMER;
    lua_State *co = coroutine_start(t, MG_PHASE_TIMER);
    if (co == NULL) {
        t->lua = NULL;
        lua_pop(L, nargs);
        return MG_ERROR;
    }
    lua_xmove(L, co, nargs); /* the job and its arguments */
    /* started from the loop, not inside the phase that asked */
    t->wait = MG_WAIT_SLEEP;
    ev_timer_set(&t->timer, 0., 0.);
    ev_timer_start(lua->w->loop, &t->timer);
    t->spawn_nargs = 4 + nargs;
    return MG_OK;
}

static int mg__lua_spawn_from(lua_State *L, mg_lua_t *lua, mg_gen_t *gen)
{
    mg_lua_task_t *t = calloc(1, sizeof(*t));
    if (t == NULL || lua->w == NULL || gen == NULL) {
        free(t);
        lua_pop(L, 1);
        return MG_ERROR;
    }
    if (mg__lua_task_start(t, lua, mg_gen_retain(gen), L, 1) != MG_OK) {
        mg_gen_release(gen);
        free(t);
        return MG_ERROR;
    }
    return MG_OK;
}

int mg__lua_spawn(mg_lua_t *lua, mg_gen_t *gen)
{
    return mg__lua_spawn_from(lua->L, lua, gen);
}

/* moongate.spawn(task, job): queues job (a function) to run as a background task once
 * the current phase is over. Lua C API: called from the log phase only. */
int mg__lua_l_spawn(lua_State *L)
{
    mg_lua_task_t *t = lua_touserdata(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (t == NULL || t->lua == NULL) {
        return luaL_error(L, "no task");
    }
    mg_gen_t *g = t->r != NULL ? t->r->gen : t->gen;
    lua_settop(L, 2);
    if (mg__lua_spawn_from(L, t->lua, g) != MG_OK) {
        return luaL_error(L, "cannot queue the job");
    }
    return 0;
}
