-- moongate.native: plugin work done in C (core/lua/lua_native.c). A bundled plugin
-- whose per-request work is a lookup may give, besides its Lua phase functions, a
-- `native(conf)` function returning { rewrite = handle } or { access = handle } for a
-- config (or nil: none for it). A route whose every plugin has a native for each of its
-- phases then runs them from C, without a task or a Lua call; a native that cannot
-- decide (a token cache miss) runs the phase in Lua as usual.
local ffi = require "ffi"

if not pcall(ffi.typeof, "mg_lua_native_t") then
    ffi.cdef [[
/* The region "lua/moongate/native.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
typedef struct mg_lua_native_s mg_lua_native_t;
mg_lua_native_t *mg_lua_native_cidr(const struct mg_lua_cidr_s *allow,
                                    const struct mg_lua_cidr_s *deny, int status,
                                    const char *msg_json, size_t mlen);
mg_lua_native_t *mg_lua_native_token(int cap, const char *from, size_t flen, const char *clear,
                                     size_t clen, int hide);
int mg_lua_native_token_put(mg_lua_native_t *n, const char *tok, size_t tlen, double from,
                            double to, const char *consumer, size_t clen, const char *set,
                            size_t slen, int nset);
void mg_lua_native_token_flush(mg_lua_native_t *n);
void mg_lua_native_token_stats(const mg_lua_native_t *n, double *out);
void mg_lua_native_free(mg_lua_native_t *n);
int mg_lua_native_route(void *state, int route, int phase, mg_lua_native_t **h,
                        const int *cell, int n);
]]
end
local C = ffi.C
local concat = table.concat

local M = {}

-- handles a route runs: a plugin fills its token cache only when it is in use
M.used = setmetatable({}, { __mode = "k" })

local function packed(names)
    if #names == 0 then
        return ""
    end
    return concat(names, "\0") .. "\0"
end

local function own(h)
    if h == nil then
        error("out of memory", 2)
    end
    return ffi.gc(h, C.mg_lua_native_free)
end

-- allow, deny: built matchers (cdata) or nil; message: the refusal's text.
function M.cidr(allow, deny, status, message)
    local msg = require("moongate.json").encode(message)
    return own(C.mg_lua_native_cidr(allow, deny, status, msg, #msg))
end

-- opts: cap, from (header names, in order), clear (header names), hide (boolean)
function M.token_cache(opts)
    local from, clear = packed(opts.from), packed(opts.clear or {})
    return own(C.mg_lua_native_token(opts.cap, from, #from, clear, #clear, opts.hide and 1 or 0))
end

-- headers: { name1, value1, name2, value2, ... }
function M.token_put(h, token, from, to, consumer, headers)
    local set = packed(headers)
    consumer = consumer or ""
    return C.mg_lua_native_token_put(h, token, #token, from, to, consumer, #consumer, set, #set,
        #headers / 2) == 0
end

function M.token_flush(h)
    C.mg_lua_native_token_flush(h)
end

local stats = ffi.new("double[3]")
-- -> hits, misses, entries
function M.token_stats(h)
    C.mg_lua_native_token_stats(h, stats)
    return stats[0], stats[1], stats[2]
end

-- The runtime: route `route` (0-based) runs `handles` for `phase` (0 rewrite, 1 access).
function M.route(state, route, phase, handles, cells)
    local n = #handles
    local h, c = ffi.new("mg_lua_native_t *[?]", n), ffi.new("int[?]", n)
    for i = 1, n do
        h[i - 1], c[i - 1] = handles[i], cells[i]
        M.used[handles[i]] = true
    end
    return C.mg_lua_native_route(state, route, phase, h, c, n) == 0
end

return M
