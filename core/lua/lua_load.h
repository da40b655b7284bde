/*
 * lua_load.h -- the time limit on plugin code that runs while a Lua state loads: each
 * plugin file's top level and the schema checks (lua_load.c).
 *
 * Loading happens in the master's validation (in a child process, see master.h), in
 * each worker as it starts and in each worker as it switches generation in place; none
 * of them may hang on a plugin that loops. While a state loads, the JIT is off (so no
 * loop hides inside a compiled trace) and a count hook raises an error naming the
 * plugin's file and line once the limit has passed. A C function that blocks (e.g.
 * os.execute("sleep 100")) is out of reach of any hook: the master's validation child
 * is killed from outside then, and the trace below tells which line made that call.
 */
#ifndef MG_LUA_LOAD_H
#define MG_LUA_LOAD_H

#include "mg_core.h"

struct lua_State;

/* Seconds plugin code may run while a state of `conf` loads: half of
 * lua.stall_timeout, so that a worker loading in place fails cleanly before the
 * master's stall watchdog would kill it. */
double mg_lua_load_limit(const mg_conf_t *conf);

/* Makes loads note, in `buf` (`len` bytes, NUL-terminated), "FILE:LINE" of the Lua code
 * that last called a C function (or, between calls, of the code running). Meant for a
 * buffer in memory shared with a watching process; NULL turns it off. Borrowed. */
void mg_lua_load_trace(char *buf, size_t len);

/* lua_vm.c brackets the load of a state: _begin turns the JIT off and arms the hook
 * for `limit` seconds; _end disarms it and turns the JIT back on (unless plugin code
 * called jit.off() meanwhile: jit.on and jit.off are wrapped for that). _end returns the
 * message of the time limit when it fired ("FILE:LINE: plugin code did not finish
 * loading within N s"), which is then the load's error whatever the Lua code made of
 * it, else NULL. The string is static. */
void mg__lua_load_begin(struct lua_State *L, double limit);
const char *mg__lua_load_end(struct lua_State *L);

#endif
