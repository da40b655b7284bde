/*
 * lua_load.c -- the time limit on plugin code that runs while a Lua state loads (see
 * lua_load.h).
 *
 * The count hook costs a clock read every LOAD_HOOK_COUNT instructions, and only while
 * a state loads: the hook is gone and the JIT back on before the first request. Once
 * the limit has passed, the hook raises its error at every instruction, so plugin code
 * that catches errors in a loop (pcall inside `while true`) cannot go on: the error
 * reaches the loader. The first error is kept and reported, since what the runtime
 * makes of it on the way out (its own pcall, its messages) no longer matters.
 */
#include "lua_load.h"

#include "conf.h"

#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOAD_HOOK_COUNT 1000

/* One load at a time in a process: the state being loaded and its deadline. */
static struct {
    double limit;    /* seconds */
    double deadline; /* CLOCK_MONOTONIC seconds */
    bool fired;
    char err[640];
    char *trace; /* mg_lua_load_trace() */
    size_t trace_len;
    bool loading;
    bool want_jit; /* the engine mode plugin code asked for with jit.on() / jit.off() */
} G;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double mg_lua_load_limit(const mg_conf_t *conf)
{
    return conf->lua.stall_timeout / 2;
}

void mg_lua_load_trace(char *buf, size_t len)
{
    G.trace = len > 0 ? buf : NULL;
    G.trace_len = len;
    if (G.trace != NULL) {
        G.trace[0] = '\0';
    }
}

/* "FILE:LINE" of the Lua function `level` frames up, into buf (the file's name in full,
 * not the 60-byte short_src). False when that frame is not Lua code. */
static bool where(lua_State *L, int level, char *buf, size_t len)
{
    lua_Debug ar;
    if (!lua_getstack(L, level, &ar) || !lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) {
        return false;
    }
    const char *src = ar.source != NULL && ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
    snprintf(buf, len, "%s:%d", src, ar.currentline);
    return true;
}

static void hook(lua_State *L, lua_Debug *ar)
{
    if (ar->event == LUA_HOOKCALL) {
        /* armed only with a trace: remember who calls into C, where a hang is out of
         * our reach */
        if (lua_getinfo(L, "S", ar) && ar->what != NULL && ar->what[0] == 'C') {
            where(L, 1, G.trace, G.trace_len);
        }
        return;
    }
    if (!G.fired) {
        if (G.trace != NULL) {
            where(L, 0, G.trace, G.trace_len);
        }
        if (mono() < G.deadline) {
            return;
        }
        char at[512];
        if (!where(L, 0, at, sizeof(at))) {
            snprintf(at, sizeof(at), "?");
        }
        snprintf(G.err, sizeof(G.err),
                 "%s: plugin code did not finish loading within %.1f s (half of "
                 "lua.stall_timeout)",
                 at, G.limit);
        G.fired = true;
        lua_sethook(L, hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, G.err);
    lua_error(L);
}

/* jit.on / jit.off. While a state loads, the engine stays off and a call without a
 * function only notes the mode wanted, which the engine takes when the load ends (a
 * plugin may turn the JIT off for its state at its top level). A call for a function
 * goes through; its `true` ("the calling function") is resolved here, where the caller
 * is one frame further up than the library function would see it. */
static int jit_mode(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        if (G.loading) {
            G.want_jit = lua_toboolean(L, lua_upvalueindex(1));
            return 0;
        }
    } else if (lua_isboolean(L, 1) && lua_toboolean(L, 1)) {
        lua_Debug ar;
        if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "f", &ar)) {
            lua_replace(L, 1);
        }
    }
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(2));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static void jit_wrap(lua_State *L)
{
    static const char *const names[] = {"off", "on"};
    lua_getglobal(L, "jit");
    for (int on = 0; on < 2 && lua_istable(L, -1); on++) {
        lua_pushboolean(L, on);
        lua_getfield(L, -2, names[on]);
        if (!lua_isfunction(L, -1)) {
            lua_pop(L, 2);
            continue;
        }
        lua_pushcclosure(L, jit_mode, 2);
        lua_setfield(L, -2, names[on]);
    }
    lua_pop(L, 1);
}

void mg__lua_load_begin(lua_State *L, double limit)
{
    G.limit = limit;
    G.deadline = mono() + limit;
    G.fired = false;
    G.err[0] = '\0';
    G.loading = true;
    G.want_jit = true;
    jit_wrap(L);
    /* a loop compiled into a trace never reaches a hook */
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_sethook(L, hook, LUA_MASKCOUNT | (G.trace != NULL ? LUA_MASKCALL : 0), LOAD_HOOK_COUNT);
}

const char *mg__lua_load_end(lua_State *L)
{
    lua_sethook(L, NULL, 0, 0);
    G.loading = false;
    luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | (G.want_jit ? LUAJIT_MODE_ON : LUAJIT_MODE_OFF));
    return G.fired ? G.err : NULL;
}
