/*
 * lua_timer.c -- mg.timer: plugin functions run later on the worker's loop, outside any
 * request (the "timer" phase), once (mg.timer.at) or every interval (mg.timer.every).
 *
 * A timer is a job in the registry (a Lua function lua/moongate/timer.lua makes: it
 * calls the plugin's function with `premature` and its arguments, and logs and counts
 * its errors), an ev_timer for its time, and a task on whose coroutine each run goes
 * (lua_task.c's background runs), so that a run may wait in mg.sleep or
 * mg.http.request as a phase does. Runs of one timer never overlap: an `every` timer
 * is re-armed when its run ends, for `interval` after that run began.
 *
 * Lifetime. A pending timer of the current generation holds no reference to it: a
 * reload must not keep an old generation alive until a timer due in an hour. When the
 * generation retires (mg_lua_retire) each pending timer becomes due at once, with
 * premature = true, and from then until it ends it holds a reference, so that a last
 * flush can finish; a running timer holds one too. So a state that is closed has
 * pending timers at most, which mg_lua_destroy drops (mg__lua_timers_drop), and a
 * worker that exits cancels all (mg_lua_timers_shutdown). All timers of the process
 * sit in one list: a process runs one worker.
 */
#include "lua_int.h"

#include "gen.h"
#include "log.h"
#include "lua_ffi.h"
#include "worker.h"

#include <lauxlib.h>
#include <stdlib.h>

typedef struct lua_timer_s {
    mg_lua_task_t task; /* the run; first, so that its end hook finds the timer */
    ev_timer due;
    struct lua_timer_s *next, **prevp;
    mg_lua_t *lua;
    mg_gen_t *gen;   /* borrowed; one reference while `held` */
    int job_ref;     /* the job, in the registry */
    double interval; /* every: seconds > 0; 0 for once */
    double started;  /* ev_now() when the last run began */
    bool held;       /* holds a reference to gen */
    bool running;    /* a run is in progress */
    bool premature;  /* ran since its generation retired */
} lua_timer_t;

static lua_timer_t *timers;
static uint64_t npending, nrunning, nrefused, nfailed;

/* Copies the counters to the worker's slot, for /status. */
static void publish(mg_lua_t *lua)
{
    mg_worker_stats_t *s = lua->w != NULL ? lua->w->stats : NULL;
    if (s != NULL) {
        __atomic_store_n(&s->timers_pending, npending, __ATOMIC_RELAXED);
        __atomic_store_n(&s->timers_running, nrunning, __ATOMIC_RELAXED);
        __atomic_store_n(&s->timers_refused, nrefused, __ATOMIC_RELAXED);
        __atomic_store_n(&s->timers_failed, nfailed, __ATOMIC_RELAXED);
    }
}

static void hold(lua_timer_t *tm)
{
    if (!tm->held) {
        mg_gen_retain(tm->gen);
        tm->held = true;
    }
}

/* Unlinks and frees a timer that is not running. The generation reference goes last:
 * it may be the last one, and close the state. */
static void timer_free(lua_timer_t *tm)
{
    mg_lua_t *lua = tm->lua;
    ev_timer_stop(lua->w->loop, &tm->due);
    *tm->prevp = tm->next;
    if (tm->next != NULL) {
        tm->next->prevp = tm->prevp;
    }
    npending--;
    publish(lua);
    luaL_unref(lua->L, LUA_REGISTRYINDEX, tm->job_ref);
    mg_gen_t *g = tm->held ? tm->gen : NULL;
    free(tm);
    mg_gen_release(g);
}

/* Arms the timer's next run `after` seconds from now. */
static void arm(lua_timer_t *tm, double after)
{
    struct ev_loop *loop = tm->lua->w->loop;
    ev_timer_stop(loop, &tm->due);
    ev_timer_set(&tm->due, after > 0 ? after : 0., 0.);
    ev_timer_start(loop, &tm->due);
}

/* A run ended (step() is on the stack and holds the generation): re-arm an `every`
 * timer, or free the timer. */
static void on_run_end(mg_lua_task_t *t)
{
    lua_timer_t *tm = (lua_timer_t *)t;
    mg_lua_t *lua = tm->lua;
    mg__lua_task_release(t);
    tm->running = false;
    nrunning--;
    npending++;
    if (tm->interval > 0 && !tm->premature) {
        if (lua->retired) {
            arm(tm, 0); /* once more, premature: it holds the generation until then */
        } else {
            arm(tm, tm->started + tm->interval - ev_now(lua->w->loop));
            mg_gen_t *g = tm->gen;
            tm->held = false;
            mg_gen_release(g);
        }
        publish(lua);
        return;
    }
    timer_free(tm);
}

/* The timer's time came: its job runs on a task of its own, holding the generation. */
static void on_due(struct ev_loop *loop, ev_timer *w, int revents)
{
    lua_timer_t *tm = w->data;
    mg_lua_t *lua = tm->lua;
    lua_State *L = lua->L;
    hold(tm);
    tm->premature = lua->retired;
    tm->started = ev_now(loop);
    memset(&tm->task, 0, sizeof(tm->task));
    tm->task.on_end = on_run_end;
    lua_rawgeti(L, LUA_REGISTRYINDEX, tm->job_ref);
    lua_pushboolean(L, tm->premature);
    if (mg__lua_task_start(&tm->task, lua, tm->gen, L, 2) != MG_OK) {
        mg_log_err("timer: cannot start a run: out of memory");
        timer_free(tm);
        return;
    }
    tm->running = true;
    npending--;
    nrunning++;
    publish(lua);
}

/* A timer of generation `g` in `lua` whose job (the function on the top of L, popped)
 * runs after `delay` seconds, then every `interval` seconds when > 0. NULL on success,
 * else why not (a static string; the job is popped then too). */
static const char *timer_new(lua_State *L, mg_lua_t *lua, mg_gen_t *g, double delay,
                             double interval)
{
    const char *why = NULL;
    lua_timer_t *tm = NULL;
    if (lua->w == NULL || g == NULL) {
        why = "no event loop";
    } else if (lua->retired && (delay > 0 || interval > 0)) {
        why = "generation retired";
    } else if (npending + nrunning >= MG_LUA_TIMERS_MAX) {
        nrefused++;
        publish(lua);
        why = "too many timers";
    } else if ((tm = calloc(1, sizeof(*tm))) == NULL) {
        why = "out of memory";
    }
    if (why != NULL) {
        lua_pop(L, 1);
        return why;
    }
    tm->job_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    tm->lua = lua;
    tm->gen = g;
    tm->interval = interval > 0 ? interval : 0;
    tm->next = timers;
    tm->prevp = &timers;
    if (timers != NULL) {
        timers->prevp = &tm->next;
    }
    timers = tm;
    if (lua->retired) {
        hold(tm); /* due at once: its generation must outlive the run */
    }
    ev_init(&tm->due, on_due);
    tm->due.data = tm;
    /* the plugin may have run for a while: count from now, not the loop's cached time */
    ev_now_update(lua->w->loop);
    arm(tm, interval > 0 ? interval : delay);
    npending++;
    publish(lua);
    return NULL;
}

/* moongate.timer_start(task, delay, interval, job) -> true, or nil and why: a timer
 * whose job runs after `delay` seconds, then every `interval` seconds when > 0. Lua C
 * API; the phase and the arguments were checked by lua/moongate/timer.lua. */
static int l_timer_start(lua_State *L)
{
    mg_lua_task_t *t = lua_touserdata(L, 1);
    double delay = luaL_checknumber(L, 2);
    double interval = luaL_checknumber(L, 3);
    luaL_checktype(L, 4, LUA_TFUNCTION);
    if (t == NULL || t->lua == NULL) {
        return luaL_error(L, "no task");
    }
    lua_settop(L, 4);
    const char *why = timer_new(L, t->lua, t->r != NULL ? t->r->gen : t->gen, delay, interval);
    if (why != NULL) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void mg_lua_init_worker(mg_lua_t *lua, mg_gen_t *gen)
{
    if (lua == NULL || lua->w == NULL || lua->init_worker_ref == LUA_NOREF) {
        return;
    }
    lua_State *L = lua->L;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lua->init_worker_ref);
    if (lua_pcall(L, 0, 1, 0) != 0) {
        mg_log_err("init_worker: %s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_settop(L, top);
        return;
    }
    size_t n = lua_objlen(L, -1);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (int)i);
        lua_getfield(L, -1, "job");
        const char *why = timer_new(L, lua, gen, 0, 0);
        if (why != NULL) {
            lua_getfield(L, -1, "name");
            mg_log_err("plugin \"%s\": init_worker not run: %s",
                       lua_tostring(L, -1) ? lua_tostring(L, -1) : "?", why);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
}

void mg__lua_timer_open(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushcfunction(L, l_timer_start);
    lua_setfield(L, -2, "moongate.timer_start");
    lua_pop(L, 2);
}

void mg_lua_retire(mg_lua_t *lua)
{
    if (lua == NULL || lua->retired) {
        return;
    }
    lua->retired = true;
    for (lua_timer_t *tm = timers; tm != NULL; tm = tm->next) {
        if (tm->lua == lua && !tm->running) {
            hold(tm);
            arm(tm, 0);
        }
    }
}

size_t mg_lua_timers_busy(void)
{
    size_t n = 0;
    for (lua_timer_t *tm = timers; tm != NULL; tm = tm->next) {
        n += tm->held;
    }
    return n;
}

void mg__lua_timers_drop(mg_lua_t *lua)
{
    lua_timer_t **pp = &timers;
    while (*pp != NULL) {
        lua_timer_t *tm = *pp;
        if (tm->lua != lua) {
            pp = &tm->next;
            continue;
        }
        /* pending, holding nothing: the state closes next, with its registry */
        if (lua->w != NULL) {
            ev_timer_stop(lua->w->loop, &tm->due);
        }
        *pp = tm->next;
        if (tm->next != NULL) {
            tm->next->prevp = pp;
        }
        npending--;
        publish(lua);
        free(tm);
    }
}

void mg_lua_timers_shutdown(void)
{
    size_t cancelled = 0;
    while (timers != NULL) {
        lua_timer_t *tm = timers;
        if (tm->running) {
            mg__lua_task_release(&tm->task);
            tm->running = false;
            nrunning--;
            npending++;
            cancelled++;
        }
        /* may close a state, which drops its other timers from the list */
        timer_free(tm);
    }
    if (cancelled > 0) {
        mg_log_warn("timers: %zu run(s) cancelled, the worker is leaving", cancelled);
    }
}

/* ---- through the FFI (lua/moongate/timer.lua) ---- */

int mg_lua_timer_count(mg_lua_task_t *t, int running)
{
    return (int)(running ? nrunning : npending);
}

void mg_lua_timer_failed(mg_lua_task_t *t)
{
    nfailed++;
    if (t != NULL && t->lua != NULL) {
        publish(t->lua);
    }
}
