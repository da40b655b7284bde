/*
 * lua_redis.h -- the pure parts of mg.redis (lua_redis.c), for its unit test: a reply
 * flattened for the Lua side, and the addresses a plugin may give.
 */
#ifndef MG_LUA_REDIS_H
#define MG_LUA_REDIS_H

#include "conf.h"
#include "lua_ffi.h"

#include <hiredis.h>

/* The types of mg_lua_redis_item_t (lua_ffi.h). */
enum {
    MG_LUA_REDIS_NIL = 0,
    MG_LUA_REDIS_STATUS,
    MG_LUA_REDIS_ERROR,
    MG_LUA_REDIS_INTEGER,
    MG_LUA_REDIS_STRING,
    MG_LUA_REDIS_ARRAY,
};

/* `rep` flattened into one allocation: its items in pre-order (an array followed by its
 * elements), then the bytes they point at, each NUL-terminated. The caller frees
 * *items. MG_OK or MG_ERROR (out of memory). */
int mg__lua_redis_flatten(const redisReply *rep, mg_lua_redis_item_t **items, size_t *nitems);

/* "host:port", "[v6]:port", "localhost:port" (port 6379 when absent) or "unix:/path"
 * into *out (out->text = text, borrowed). Names other than localhost are refused:
 * resolving them would block the loop. NULL, or why not. */
const char *mg__lua_redis_parse_addr(const char *text, mg_addr_t *out);

#endif
