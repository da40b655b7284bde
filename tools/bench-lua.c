/*
 * bench-lua.c -- micro-benchmarks of the mg API's Lua functions, run in a plain LuaJIT
 * state linked with moongate's core objects (so every module's ffi.C calls resolve),
 * outside any server.
 *
 *   build/bench-lua [-L LUA_DIR] [-t SECONDS] [-s] CASE_FILE...
 *
 * Each case file (a .lua file in tools/bench-lua.d) returns a list of cases:
 *
 *   { name = "hmac_sha256 1 KiB", target_ns = 2000,
 *     setup = function() ... end,               -- optional, run once
 *     run = function(n) for i = 1, n do ... end end }
 *
 * The harness calibrates n so that one run takes about SECONDS (0.5 by default), runs
 * it, and prints one line per case: the name, nanoseconds per operation, the target and
 * "met" or "MISSED". -s makes the exit status 1 when a target is missed. LUA_DIR is
 * where `require "moongate.x"` looks (default: ../lua next to the binary). Build and
 * run: `make bench-lua`.
 */
#include <lauxlib.h>
#include <libgen.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Calls the case's run(n) (on the stack at idx) and returns the seconds it took, or -1
 * after printing its error. */
static double time_run(lua_State *L, int idx, double n, const char *name)
{
    lua_pushvalue(L, idx);
    lua_pushnumber(L, n);
    double t0 = now();
    if (lua_pcall(L, 1, 0, 0) != 0) {
        fprintf(stderr, "bench-lua: %s: %s\n", name, lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return now() - t0;
}

/* Runs the case table on top of the stack: 0 met, 1 missed, -1 failed. */
static int run_case(lua_State *L, double seconds)
{
    lua_getfield(L, -1, "name");
    const char *name = lua_isstring(L, -1) ? lua_tostring(L, -1) : "?";
    lua_getfield(L, -2, "target_ns");
    double target = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : 0;
    lua_getfield(L, -3, "setup");
    if (lua_isfunction(L, -1)) {
        if (lua_pcall(L, 0, 0, 0) != 0) {
            fprintf(stderr, "bench-lua: %s: setup: %s\n", name, lua_tostring(L, -1));
            lua_pop(L, 3);
            return -1;
        }
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, -3, "run");
    int run = lua_gettop(L);
    if (!lua_isfunction(L, run)) {
        fprintf(stderr, "bench-lua: %s: no run function\n", name);
        lua_pop(L, 3);
        return -1;
    }
    double n = 1, t;
    while ((t = time_run(L, run, n, name)) >= 0 && t < seconds / 10 && n < 1e12) {
        n *= t < seconds / 1000 ? 10 : 2; /* warms the JIT up on the way */
    }
    if (t >= 0) {
        n = n * seconds / (t > 0 ? t : 1e-9);
        t = time_run(L, run, n < 1 ? 1 : n, name);
    }
    int rc = -1;
    if (t >= 0) {
        double ns = t * 1e9 / (n < 1 ? 1 : n);
        rc = target > 0 && ns > target;
        if (target > 0) {
            printf("%-40s %12.1f ns/op   target %8.0f ns   %s\n", name, ns, target,
                   rc ? "MISSED" : "met");
        } else {
            printf("%-40s %12.1f ns/op\n", name, ns);
        }
        fflush(stdout);
    }
    lua_pop(L, 3);
    return rc;
}

int main(int argc, char **argv)
{
    char self[PATH_MAX], luadir[PATH_MAX + 8];
    double seconds = 0.5;
    int strict = 0, opt;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    self[n > 0 ? n : 0] = 0;
    snprintf(luadir, sizeof(luadir), "%s/../lua", dirname(self));
    while ((opt = getopt(argc, argv, "L:t:s")) != -1) {
        if (opt == 'L') {
            snprintf(luadir, sizeof(luadir), "%s", optarg);
        } else if (opt == 't') {
            seconds = atof(optarg);
        } else if (opt == 's') {
            strict = 1;
        } else {
            fprintf(stderr, "usage: bench-lua [-L LUA_DIR] [-t SECONDS] [-s] CASE_FILE...\n");
            return 2;
        }
    }
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", luadir, luadir);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    int failed = 0, missed = 0;
    for (int i = optind; i < argc; i++) {
        if (luaL_dofile(L, argv[i]) != 0 || !lua_istable(L, -1)) {
            fprintf(stderr, "bench-lua: %s: %s\n", argv[i],
                    lua_isstring(L, -1) ? lua_tostring(L, -1) : "does not return a list");
            lua_settop(L, 0);
            failed++;
            continue;
        }
        for (int k = 1;; k++) {
            lua_rawgeti(L, -1, k);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            int rc = run_case(L, seconds);
            lua_pop(L, 1);
            failed += rc < 0;
            missed += rc > 0;
        }
        lua_settop(L, 0);
    }
    lua_close(L);
    return failed ? 1 : strict && missed ? 1 : 0;
}
