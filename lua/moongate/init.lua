-- moongate: the plugin API. `local mg = require "moongate"` (plugins also see it as the
-- global `mg`). Each function checks the phase it is called in; see the README's
-- plugin guide for the list.
local core = require "moongate.core"
local cffi = require "moongate.ffi"

local C, F, N = cffi.C, cffi.F, cffi.N
local s1, get1 = cffi.s1, cffi.get1
local check, ANY = core.check, core.ANY
local SLEEP = core.phases("rewrite", "access", "balancer", "timer")
local SET_CONSUMER = core.phases("rewrite", "access")
local select, tostring, concat = select, tostring, table.concat

local mg = {
    request = require "moongate.request",
    response = require "moongate.response",
    balancer = require "moongate.balancer",
    phase = core,
}
-- loaded on first use: a state whose plugins never call them does not pay for them
local LAZY = { http = "moongate.http", shared = "moongate.shared", json = "moongate.json",
    ratelimit = "moongate.ratelimit", tls = "moongate.tls", timer = "moongate.timer",
    metrics = "moongate.metrics", re = "moongate.re", encode = "moongate.encode",
    crypto = "moongate.crypto", upstream = "moongate.upstream" }
LAZY.redis = "moongate.redis"
LAZY.socket = "moongate.socket"

mg.DEBUG, mg.INFO, mg.NOTICE, mg.WARN, mg.ERR, mg.CRIT, mg.ALERT = 0, 1, 2, 3, 4, 5, 6
local LEVELS = { debug = 0, info = 1, notice = 2, warn = 3, error = 4, err = 4, crit = 5,
    alert = 6 }

-- mg.log(level, ...): one error-log line from the arguments (tostring'ed, joined), with
-- the client and request id when called for a request. level: mg.INFO ... or "info".
function mg.log(level, ...)
    local lv = type(level) == "string" and LEVELS[level] or level
    if type(lv) ~= "number" then
        error("mg.log: unknown level " .. tostring(level), 2)
    end
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do
        parts[i] = tostring((select(i, ...)))
    end
    local msg = concat(parts)
    C.mg_lua_log(core.cur.task, lv, msg, #msg)
end

-- Seconds since the epoch, now (microseconds precision): it moves while a plugin runs.
function mg.now()
    return C.mg_lua_now(core.cur.task)
end

-- Suspends this plugin for `ms` milliseconds without blocking the worker.
function mg.sleep(ms)
    local t = check("mg.sleep", SLEEP)
    if type(ms) ~= "number" or ms < 0 then
        error("mg.sleep: expected milliseconds (a number >= 0), got " .. tostring(ms), 2)
    end
    if C.mg_lua_sleep(t, ms / 1000) ~= cffi.AGAIN then
        error("mg.sleep: cannot sleep here", 2)
    end
    core.wait()
end

-- mg.ctx: a table per request, shared by every plugin and phase of it.
-- mg.var: facts about the request (read-only but for `consumer`).
local var_get = {
    request_id = function(t) return get1(C.mg_lua_req_get(t, F.request_id, s1)) end,
    trace_id = function(t) return get1(C.mg_lua_req_get(t, F.trace_id, s1)) end,
    route = function(t) return get1(C.mg_lua_req_get(t, F.route, s1)) end,
    upstream = function(t) return get1(C.mg_lua_req_get(t, F.upstream, s1)) end,
    upstream_addr = function(t) return get1(C.mg_lua_req_get(t, F.upstream_addr, s1)) end,
    remote_addr = function(t) return get1(C.mg_lua_req_get(t, F.remote_addr, s1)) end,
    peer_addr = function(t) return get1(C.mg_lua_req_get(t, F.peer_addr, s1)) end,
    method = function(t) return get1(C.mg_lua_req_get(t, F.method, s1)) end,
    uri = function(t) return get1(C.mg_lua_req_get(t, F.uri, s1)) end,
    host = function(t) return get1(C.mg_lua_req_get(t, F.host, s1)) end,
    start_time = function(t) return C.mg_lua_req_num(t, N.start) end,
    request_time = function(t) return C.mg_lua_req_num(t, N.elapsed) end,
    upstream_time = function(t)
        local v = C.mg_lua_req_num(t, N.upstream_time)
        return v >= 0 and v or nil
    end,
    upstream_connect_time = function(t)
        local v = C.mg_lua_req_num(t, N.upstream_connect_time)
        return v >= 0 and v or nil
    end,
    upstream_header_time = function(t)
        local v = C.mg_lua_req_num(t, N.upstream_header_time)
        return v >= 0 and v or nil
    end,
    status = function(t)
        local v = C.mg_lua_req_num(t, N.status)
        return v > 0 and v or nil
    end,
    upstream_status = function(t)
        local v = C.mg_lua_req_num(t, N.upstream_status)
        return v > 0 and v or nil
    end,
    bytes_sent = function(t) return C.mg_lua_req_num(t, N.bytes_sent) end,
    phase = function() return core.NAMES[core.cur.phase] end,
}
-- plugin_rewrite_time ... plugin_log_time: seconds of plugin code in that phase so far
for ph = core.REWRITE, core.LOG do
    local what = N.plugin_time + ph
    var_get["plugin_" .. core.NAMES[ph] .. "_time"] = function(t)
        local v = C.mg_lua_req_num(t, what)
        return v >= 0 and v or nil
    end
end

mg.var = setmetatable({}, {
    __index = function(_, k)
        local cur = core.cur
        if cur.task == nil then
            error("mg.var." .. tostring(k) .. ": not allowed outside a request phase", 2)
        end
        if k == "consumer" then
            return cur.rs.consumer and cur.rs.consumer.name
        end
        local f = var_get[k]
        if f == nil then
            return nil
        end
        if cur.rs.job and k ~= "phase" then
            error("mg.var." .. tostring(k) .. ": not allowed in the timer phase", 2)
        end
        return f(cur.task)
    end,
    __newindex = function(_, k, v)
        if k ~= "consumer" then
            error("mg.var." .. tostring(k) .. " is read-only", 2)
        end
        check("mg.var.consumer", SET_CONSUMER)
        local rs = core.cur.rs
        if v == nil then
            rs.consumer = nil
            C.mg_lua_req_set_consumer(rs.task, nil, 0)
            return
        end
        local c = core.consumers and core.consumers[v]
        if c == nil then
            error("mg.var.consumer: no consumer named \"" .. tostring(v) .. "\"", 2)
        end
        rs.consumer = c
        rs.chain_dirty = true
        -- the consumer-limits phase (in C) keys on it
        C.mg_lua_req_set_consumer(rs.task, c.name, #c.name)
    end,
})

-- mg.consumer.find(plugin, field, value): the consumer whose credentials for `plugin`
-- have `field` == value, as { name =, credentials =, plugins = }, or nil.
mg.consumer = {}
function mg.consumer.find(plugin, field, value)
    local idx = core.consumer_index
    if idx == nil or core.cur.rs == nil then
        return nil
    end
    return idx(plugin, field, value)
end

setmetatable(mg, {
    __index = function(t, k)
        local mod = LAZY[k]
        if mod then
            local m = require(mod)
            rawset(t, k, m)
            return m
        end
        if k == "ctx" then
            local rs = core.cur.rs
            if rs == nil then
                error("mg.ctx: not allowed outside a request phase", 2)
            end
            return rs.ctx or require("moongate.runtime").ctx(rs)
        end
    end,
})

return mg
