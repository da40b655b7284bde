-- moongate.upstream: mg.upstream, which configured upstream a request goes to.
local core = require "moongate.core"
local cffi = require "moongate.ffi"

local ffi = require "ffi"

if not pcall(ffi.typeof, "struct mg_lua_upstream_marker") then
    ffi.cdef [[
/* The region "lua/moongate/upstream.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_upstream_marker { int unused; };
int mg_lua_upstream_set(mg_lua_task_t *t, const char *name, size_t len);
]]
end

local C, F, s1, get1 = cffi.C, cffi.F, cffi.s1, cffi.get1
local check = core.check
local SET = core.phases("rewrite", "access", "balancer")
local type, tostring = type, tostring

local M = {}

-- Sends this request to the upstream `name` of the configuration instead of the
-- route's: its balancer, health checks, pool, TLS, host, timeouts, retries and queue
-- apply. Returns true, or nil, "no upstream NAME" when none has that name (the request
-- then keeps the upstream it had).
function M.set(name)
    local t = check("mg.upstream.set", SET)
    if type(name) ~= "string" then
        error("mg.upstream.set: expected an upstream name, got " .. type(name), 2)
    end
    local rc = C.mg_lua_upstream_set(t, name, #name)
    if rc == cffi.OK then
        return true
    elseif rc == cffi.DECLINED then
        return nil, "no upstream " .. tostring(name)
    end
    return nil, "the route answers by itself (return:)"
end

-- The name of the upstream the request goes to (or went to): mg.upstream.set's, else
-- the route's; nil on a route without one.
function M.get()
    local t = check("mg.upstream.get", core.REQUEST)
    return get1(C.mg_lua_req_get(t, F.upstream, s1))
end

return M
