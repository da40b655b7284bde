-- moongate.core: what every part of the plugin API shares: the run in progress (its
-- task handle, request state and phase), the phase names and the phase checks.
local M = {}

M.REWRITE, M.ACCESS, M.BALANCER = 0, 1, 2
M.HEADER_FILTER, M.BODY_FILTER, M.LOG, M.TIMER = 3, 4, 5, 6
M.NAMES = { [0] = "rewrite", "access", "balancer", "header_filter", "body_filter", "log",
    "timer" }
M.BY_NAME = {}
for n, name in pairs(M.NAMES) do
    M.BY_NAME[name] = n
end

-- The run in progress: set by the runtime on every entry and after every yield.
-- cur.task (cdata handle), cur.rs (the request's state table), cur.phase (number).
M.cur = { task = nil, rs = nil, phase = -1 }
-- Set by the runtime: M.state, the state's handle for the C side (a light userdata),
-- and M.loading, the name of the plugin whose file is running its top level now.
M.state, M.loading = nil, nil

-- A set of phases from names, for the checks below: M.phases("rewrite", "access").
function M.phases(...)
    local set = {}
    for i = 1, select("#", ...) do
        set[M.BY_NAME[select(i, ...)]] = true
    end
    return set
end

M.ANY = M.phases("rewrite", "access", "balancer", "header_filter", "body_filter", "log",
    "timer")
M.REQUEST = M.phases("rewrite", "access", "balancer", "header_filter", "body_filter", "log")

-- Raises "<fname>: not allowed in the <phase> phase" unless the current phase is in
-- `allowed`; returns the current run's task handle. The error points at the plugin's
-- line: `depth` is how many API frames sit between it and check (default 1).
function M.check(fname, allowed, depth)
    local cur = M.cur
    local level = 2 + (depth or 1)
    if cur.task == nil then
        -- most often a call at the top of a plugin file, which runs at load
        error(fname .. ": not allowed outside a request phase (at load, a plugin's top "
            .. "level may not do this: start timers and background work in init_worker)", level)
    end
    if not allowed[cur.phase] then
        error(fname .. ": not allowed in the " .. M.NAMES[cur.phase] .. " phase", level)
    end
    return cur.task
end

-- A header list the C side exposes as count(t) and at(t, i, name, value), as
-- { ["lower-case-name"] = value }; a repeated header becomes a list of its values.
function M.header_table(t, count, at)
    local cffi = require "moongate.ffi"
    local s1, s2, str = cffi.s1, cffi.s2, cffi.str
    local lower = string.lower
    local out = {}
    for i = 0, count(t) - 1 do
        at(t, i, s1, s2)
        local k, v = lower(str(s1[0])), str(s2[0]) or ""
        local old = out[k]
        if old == nil then
            out[k] = v
        elseif type(old) == "table" then
            old[#old + 1] = v
        else
            out[k] = { old, v }
        end
    end
    return out
end

-- One header change (cffi.H_SET, H_ADD or H_CLEAR) through the C setter
-- set(t, name, len, value, vlen, mode), with the checks every header setter makes.
-- Called from the API function the plugin called: errors point at the plugin's line.
function M.change_header(fname, allowed, set, mode, name, value)
    local cffi = require "moongate.ffi"
    local t = M.check(fname, allowed, 2)
    if type(name) ~= "string" then
        error(fname .. ": expected a header name, got " .. type(name), 3)
    end
    if mode ~= cffi.H_CLEAR then
        if type(value) == "number" then
            value = tostring(value)
        elseif type(value) ~= "string" then
            error(fname .. ": expected a string value, got " .. type(value), 3)
        end
    end
    local rc = set(t, name, #name, value, value and #value or 0, mode)
    if rc == cffi.DECLINED then
        error(fname .. ": header \"" .. name .. "\" cannot be set to that value", 3)
    elseif rc ~= 0 then
        error(fname .. ": out of memory", 3)
    end
end

-- Suspends the running phase until the C side resumes it (a sleep, an HTTP call, a body
-- read), then restores the run state that other requests' runs changed meanwhile.
function M.wait()
    local cur = M.cur
    local task, rs, phase = cur.task, cur.rs, cur.phase
    coroutine.yield()
    cur.task, cur.rs, cur.phase = task, rs, phase
end

return M
