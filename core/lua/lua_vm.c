/*
 * lua_vm.c -- LuaJIT states: one per worker per config generation.
 *
 * A state is created with a counting allocator (GC64 LuaJIT takes a custom allocator)
 * so that it never holds more than lua.memory_limit: past it an allocation fails, the
 * plugin that asked gets a "not enough memory" error (a 500 for its request) and the
 * state stays usable once the garbage is collected. The runtime (lua/moongate/)
 * is loaded from the Lua directory; the plugins come from the sources the master read
 * and validated (conf->plugin_srcs), never from the disk again, so every worker runs
 * exactly the code that was checked.
 *
 * CPU budget: LuaJIT's count hook costs the interpreter on every instruction when it
 * is always on, so it is armed only when a phase overruns: the worker's watchdog
 * thread signals the loop thread, whose handler sets a one-instruction hook that
 * raises an error in the running plugin (mg_lua_interrupt). Code spinning inside a
 * compiled trace never reaches a hook; the master's stall watchdog handles that.
 * Loading a state (plugin files' top level, schema checks) runs under its own time
 * limit, with the JIT off (lua_load.c).
 */
#include "lua_int.h"

#include "conf.h"
#include "log.h"
#include "lua_load.h"
#include "ratelimit.h"

#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

mg_lua_t *mg__lua_running;
static volatile sig_atomic_t budget_armed;

const char *mg_lua_phase_name(int phase)
{
    static const char *const names[] = {"rewrite",     "access", "balancer", "header_filter",
                                        "body_filter", "log",    "timer"};
    return phase >= 0 && phase < MG_PHASE_COUNT ? names[phase] : "?";
}

/* ---- allocation ---- */

static void *lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    mg_lua_t *lua = ud;
    if (ptr == NULL) {
        osize = 0;
    }
    if (nsize == 0) {
        free(ptr);
        lua->mem -= osize;
        return NULL;
    }
    /* the limit binds plugin code only (a phase running): the runtime's own bookkeeping
     * between phases must not fail where nothing could catch the error. Once hit, a
     * tenth more is granted until the phase ends, so that the error can be reported. */
    size_t limit = lua->grace ? lua->mem_limit + lua->mem_limit / 10 : lua->mem_limit;
    if (nsize > osize && lua->mem_limit > 0 && mg__lua_running == lua &&
        lua->mem + (nsize - osize) > limit) {
        lua->mem_hits++;
        lua->grace = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p != NULL) {
        lua->mem = lua->mem - osize + nsize;
    }
    return p;
}

/* ---- the CPU budget ---- */

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    lua_sethook(L, NULL, 0, 0);
    if (budget_armed) {
        budget_armed = 0;
        mg__lua_metrics_kill(mg__lua_running, mg__lua_where);
        /* in a hook, level 0 is the Lua function that was running: name its line */
        lua_Debug at;
        if (lua_getstack(L, 0, &at) && lua_getinfo(L, "Sl", &at) && at.currentline > 0) {
            luaL_error(L, "%s:%d: CPU budget exceeded", at.short_src, at.currentline);
        }
        luaL_error(L, "CPU budget exceeded");
    }
}

void mg_lua_interrupt(void)
{
    mg_lua_t *lua = mg__lua_running;
    if (lua != NULL && !budget_armed) {
        budget_armed = 1;
        lua_sethook(lua->L, budget_hook, LUA_MASKCOUNT | LUA_MASKCALL | LUA_MASKRET, 1);
    }
}

void mg__lua_budget_arm(mg_lua_t *lua)
{
    budget_armed = 0;
    mg__lua_running = lua;
}

/* Where plugin code runs now (plugin index * 8 + phase), published for the watchdog
 * thread, which copies it to the shared slot where the master can read it. */
int32_t mg__lua_where = -1;
mg_lua_task_t *mg__lua_task_now;

void mg__lua_budget_disarm(mg_lua_t *lua)
{
    mg__lua_running = NULL;
    if (lua->grace) {
        lua->grace = false;
        lua_gc(lua->L, LUA_GCCOLLECT, 0); /* give back what the failed plugin left */
    }
    if (budget_armed) {
        budget_armed = 0;
        lua_sethook(lua->L, NULL, 0, 0);
    }
}

/* ---- the configuration as Lua sees it ---- */

/* A value as the schema checker wants it: {kind=, value=, plain=, items=, keys=,
 * values=, line=, col=}. */
static void push_value(lua_State *L, const mg_conf_value_t *v)
{
    static const char *const kinds[] = {"null", "scalar", "list", "map"};
    lua_createtable(L, 0, 6);
    lua_pushstring(L, kinds[v->kind]);
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, v->line);
    lua_setfield(L, -2, "line");
    lua_pushinteger(L, v->col);
    lua_setfield(L, -2, "col");
    if (v->kind == MG_CV_SCALAR) {
        lua_pushlstring(L, v->str, v->len);
        lua_setfield(L, -2, "value");
        lua_pushboolean(L, v->plain);
        lua_setfield(L, -2, "plain");
        if (v->raw != NULL) {
            lua_pushstring(L, v->raw); /* a secret: messages quote this instead */
            lua_setfield(L, -2, "raw");
        }
    } else if (v->kind == MG_CV_LIST) {
        lua_createtable(L, (int)v->n, 0);
        for (size_t i = 0; i < v->n; i++) {
            push_value(L, &v->items[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        lua_setfield(L, -2, "items");
    } else if (v->kind == MG_CV_MAP) {
        lua_createtable(L, (int)v->n, 0);
        lua_createtable(L, (int)v->n, 0);
        lua_createtable(L, (int)v->n * 2, 0);
        for (size_t i = 0; i < v->n; i++) {
            lua_pushstring(L, v->keys[i]);
            lua_rawseti(L, -4, (int)i + 1);
            push_value(L, &v->items[i]);
            lua_rawseti(L, -3, (int)i + 1);
            lua_pushinteger(L, v->key_pos[2 * i]);
            lua_rawseti(L, -2, 2 * (int)i + 1);
            lua_pushinteger(L, v->key_pos[2 * i + 1]);
            lua_rawseti(L, -2, 2 * (int)i + 2);
        }
        lua_setfield(L, -4, "key_pos");
        lua_setfield(L, -3, "values");
        lua_setfield(L, -2, "keys");
    }
}

static void push_uses(lua_State *L, const mg_plugin_use_t *u, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, u[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, u[i].path);
        lua_setfield(L, -2, "path");
        push_value(L, u[i].value);
        lua_setfield(L, -2, "node");
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static void set_str(lua_State *L, const char *key, const char *val)
{
    if (val != NULL) {
        lua_pushstring(L, val);
        lua_setfield(L, -2, key);
    }
}

/* A list of sources: { name =, file =, src = } each. */
static void push_srcs(lua_State *L, const mg_plugin_src_t *srcs, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const mg_plugin_src_t *s = &srcs[i];
        lua_createtable(L, 0, 3);
        set_str(L, "name", s->name);
        set_str(L, "file", s->file);
        lua_pushlstring(L, s->src, s->len);
        lua_setfield(L, -2, "src");
        lua_rawseti(L, -2, (int)i + 1);
    }
}

/* The spec runtime.init() builds from: file, routes, global_plugins, consumers,
 * upstreams, sources (plugins), modules and lua_path (shared modules), shared dict
 * names. */
static void push_spec(lua_State *L, const mg_conf_t *conf)
{
    lua_createtable(L, 0, 8);
    set_str(L, "file", conf->file);
    lua_createtable(L, (int)conf->nroutes, 0);
    for (size_t i = 0; i < conf->nroutes; i++) {
        const mg_route_conf_t *r = &conf->routes[i];
        lua_createtable(L, 0, 4);
        set_str(L, "name", r->name);
        set_str(L, "upstream", r->upstream != NULL ? r->upstream->name : NULL);
        lua_pushfstring(L, "routes[%d]", (int)i);
        lua_setfield(L, -2, "path");
        push_uses(L, r->plugins, r->nplugins);
        lua_setfield(L, -2, "plugins");
        /* the rate-limit steps the route's coroutine makes: bit 1 after rewrite, bit 2
         * after access (limits keyed on the consumer) */
        lua_pushinteger(L, (mg_rl_route_has(r, MG_RL_EARLY) ? 1 : 0) |
                               (mg_rl_route_has(r, MG_RL_CONSUMER) ? 2 : 0));
        lua_setfield(L, -2, "rate_limit");
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "routes");
    push_uses(L, conf->global_plugins, conf->nglobal_plugins);
    lua_setfield(L, -2, "global_plugins");
    lua_createtable(L, (int)conf->nconsumers, 0);
    for (size_t i = 0; i < conf->nconsumers; i++) {
        const mg_consumer_conf_t *c = &conf->consumers[i];
        lua_createtable(L, 0, 4);
        set_str(L, "name", c->name);
        set_str(L, "path", c->path);
        push_uses(L, c->credentials, c->ncredentials);
        lua_setfield(L, -2, "credentials");
        push_uses(L, c->plugins, c->nplugins);
        lua_setfield(L, -2, "plugins");
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "consumers");
    push_srcs(L, conf->plugin_srcs, conf->nplugin_srcs);
    lua_setfield(L, -2, "sources");
    push_srcs(L, conf->lua_modules, conf->nlua_modules);
    lua_setfield(L, -2, "modules");
    lua_createtable(L, (int)conf->nlua_path, 0);
    for (size_t i = 0; i < conf->nlua_path; i++) {
        lua_pushstring(L, conf->lua_path[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "lua_path");
    lua_createtable(L, (int)conf->nshdicts, 0);
    for (size_t i = 0; i < conf->nshdicts; i++) {
        lua_pushstring(L, conf->shdicts[i].name);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "shared_dicts");
    lua_createtable(L, (int)conf->nupstreams, 0); /* names, for schema.upstream_name */
    for (size_t i = 0; i < conf->nupstreams; i++) {
        lua_pushstring(L, conf->upstreams[i].name);
        lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "upstreams");
    lua_createtable(L, 0, (int)conf->nrl_zones);
    for (size_t i = 0; i < conf->nrl_zones; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, conf->rl_zones[i].name);
    }
    lua_setfield(L, -2, "rate_limit_zones");
    lua_pushboolean(L, conf->redis != NULL);
    lua_setfield(L, -2, "redis");
}

/* ---- loading ---- */

static int fail(mg_lua_t *lua, char *err, size_t errlen, const char *what)
{
    const char *msg = lua_tostring(lua->L, -1);
    snprintf(err, errlen, "%s%s", what, msg != NULL ? msg : "unknown error");
    return MG_ERROR;
}

/* Copies runtime.init()'s results, on the top of the stack: the per-route phase bits
 * and the plugin list. */
static int take_results(mg_lua_t *lua, char *err, size_t errlen)
{
    lua_State *L = lua->L;
    int top = lua_gettop(L);
    lua->nroutes = lua->conf->nroutes;
    lua->route_phases = calloc(lua->nroutes ? lua->nroutes : 1, sizeof(unsigned));
    size_t np = lua_objlen(L, top);
    lua->plugin_names = calloc(np ? np : 1, sizeof(char *));
    lua->plugin_versions = calloc(np ? np : 1, sizeof(char *));
    lua->plugin_phases = calloc(np ? np : 1, sizeof(unsigned));
    if (lua->route_phases == NULL || lua->plugin_names == NULL || lua->plugin_versions == NULL ||
        lua->plugin_phases == NULL) {
        snprintf(err, errlen, "out of memory");
        return MG_ERROR;
    }
    for (size_t i = 0; i < lua->nroutes; i++) {
        lua_rawgeti(L, top - 1, (int)i + 1);
        lua->route_phases[i] = (unsigned)lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < np; i++) {
        lua_rawgeti(L, top, (int)i + 1);
        lua_getfield(L, -1, "name");
        lua_getfield(L, -2, "version");
        lua_getfield(L, -3, "phases");
        lua->plugin_names[i] = strdup(lua_tostring(L, -3) ? lua_tostring(L, -3) : "?");
        lua->plugin_versions[i] = strdup(lua_tostring(L, -2) ? lua_tostring(L, -2) : "");
        lua->plugin_phases[i] = (unsigned)lua_tointeger(L, -1);
        lua->nplugins = i + 1;
        lua_pop(L, 4);
        if (lua->plugin_names[i] == NULL || lua->plugin_versions[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            return MG_ERROR;
        }
    }
    lua_settop(L, 0);
    return MG_OK;
}

static int load(mg_lua_t *lua, char *err, size_t errlen)
{
    lua_State *L = lua->L;
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", mg_runtime_lua_dir(), mg_runtime_lua_dir());
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_pushcfunction(L, mg__lua_l_spawn);
    lua_setfield(L, -2, "moongate.spawn");
    lua_pop(L, 2);
    mg__lua_timer_open(L);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongate.runtime");
    if (lua_pcall(L, 1, 1, 0) != 0) {
        return fail(lua, err, errlen, "cannot load the Lua runtime: ");
    }
    const char *fns[] = {"run", "filter", "finish", "init_worker_jobs"};
    int *refs[] = {&lua->run_ref, &lua->filter_ref, &lua->finish_ref, &lua->init_worker_ref};
    for (size_t i = 0; i < MG_NELEMS(fns); i++) {
        lua_getfield(L, -1, fns[i]);
        *refs[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_getfield(L, -1, "init");
    push_spec(L, lua->conf);
    lua_pushlightuserdata(L, lua);
    if (lua_pcall(L, 2, 2, 0) != 0) {
        return fail(lua, err, errlen, "");
    }
    if (lua_isnil(L, -2)) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        return MG_ERROR;
    }
    return take_results(lua, err, errlen);
}

mg_lua_t *mg_lua_create(const mg_conf_t *conf, mg_worker_t *w, uint64_t gen_id, char *err,
                        size_t errlen)
{
    mg_lua_t *lua = calloc(1, sizeof(*lua));
    if (lua == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lua->conf = conf;
    lua->w = w;
    lua->gen_id = gen_id;
    lua->run_ref = lua->filter_ref = lua->finish_ref = lua->init_worker_ref = LUA_NOREF;
    lua->L = lua_newstate(lua_alloc, lua);
    if (lua->L == NULL) {
        snprintf(err, errlen, "cannot create a Lua state");
        free(lua);
        return NULL;
    }
    /* plugin code runs while loading: within a time limit, like every phase. After
     * the libraries: opening the jit library turns the JIT on. */
    luaL_openlibs(lua->L);
    mg__lua_re_conf(conf);
    if (mg__lua_metrics_create(lua) != MG_OK) {
        snprintf(err, errlen, "out of memory");
        mg_lua_destroy(lua);
        return NULL;
    }
    mg__lua_load_begin(lua->L, mg_lua_load_limit(conf));
    int rc = load(lua, err, errlen);
    const char *late = mg__lua_load_end(lua->L);
    if (late != NULL) {
        snprintf(err, errlen, "%s", late);
        rc = MG_ERROR;
    }
    if (rc != MG_OK) {
        mg_lua_destroy(lua);
        return NULL;
    }
    lua_settop(lua->L, 0);
    lua_gc(lua->L, LUA_GCCOLLECT, 0);
    /* collect a little sooner than the default 200 %: plugins make short-lived garbage
     * per request, and the limit should be reached by live data, not by litter */
    lua_gc(lua->L, LUA_GCSETPAUSE, 150);
    lua->mem_limit = conf->lua.memory_limit;
    return lua;
}

void mg_lua_destroy(mg_lua_t *lua)
{
    if (lua == NULL) {
        return;
    }
    if (lua->L != NULL) {
        mg__lua_timers_drop(lua);
        lua->mem_limit = 0;
        lua_close(lua->L);
    }
    mg__lua_redis_destroy(lua);
    mg__lua_http_pool_destroy(lua);
    for (size_t i = 0; i < lua->nplugins; i++) {
        free(lua->plugin_names[i]);
        free(lua->plugin_versions[i]);
    }
    free(lua->plugin_names);
    free(lua->plugin_versions);
    free(lua->plugin_phases);
    free(lua->route_phases);
    mg__lua_native_destroy(lua);
    mg__lua_metrics_destroy(lua);
    free(lua);
}

void mg_lua_bind(mg_lua_t *lua, mg_worker_t *w)
{
    lua->w = w;
}

int mg_lua_validate(const mg_conf_t *conf, char *err, size_t errlen)
{
    mg_lua_t *lua = mg_lua_create(conf, NULL, 0, err, errlen);
    if (lua == NULL) {
        return MG_ERROR;
    }
    mg_lua_destroy(lua);
    return MG_OK;
}

unsigned mg_lua_route_phases(const mg_lua_t *lua, int route_index)
{
    return lua != NULL && route_index >= 0 && (size_t)route_index < lua->nroutes
               ? lua->route_phases[route_index]
               : 0;
}

size_t mg_lua_plugin_count(const mg_lua_t *lua)
{
    return lua != NULL ? lua->nplugins : 0;
}

const char *mg_lua_plugin_name(const mg_lua_t *lua, size_t i)
{
    return lua->plugin_names[i];
}

const char *mg_lua_plugin_version(const mg_lua_t *lua, size_t i)
{
    return lua->plugin_versions[i];
}

size_t mg_lua_memory(const mg_lua_t *lua)
{
    return lua != NULL ? lua->mem : 0;
}

const char *mg_runtime_lua_dir(void)
{
    static char dir[PATH_MAX];
    char exe[PATH_MAX], cand[PATH_MAX + 8];
    struct stat st;

    if (dir[0] != '\0') {
        return dir;
    }
    snprintf(dir, sizeof(dir), "%s", MG_LUA_DIR_DEFAULT);
    if (realpath("/proc/self/exe", exe) == NULL) {
        return dir;
    }
    snprintf(cand, sizeof(cand), "%s/../lua", dirname(exe));
    if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode) && realpath(cand, exe) != NULL) {
        snprintf(dir, sizeof(dir), "%s", exe);
    }
    return dir;
}
