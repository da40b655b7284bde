-- moongate.timer: mg.timer, plugin functions run later on the worker's loop, outside any
-- request (the "timer" phase), once after a delay (at) or every interval (every).
--
--   mg.timer.at(delay, fn, ...)        fn(premature, ...) after `delay` seconds
--   mg.timer.every(interval, fn, ...)  fn(premature, ...) every `interval` seconds
--   mg.timer.pending_count()           timers of this worker waiting for their time
--   mg.timer.running_count()           ... and running now
--
-- Both return true, or nil and "too many timers" (the worker's cap, core/lua/
-- lua_runtime.h's MG_LUA_TIMERS_MAX) or "generation retired". Timers belong to the
-- configuration generation that made them: when a reload (or a stopping worker)
-- retires it, each pending timer runs once at once with premature = true, an every
-- timer stops after that run, and a retired generation may only make timers with a
-- delay of 0 (they run premature). A run may wait like a phase (mg.sleep,
-- mg.http.request); runs of one timer never overlap. An error in fn is logged with
-- the place the timer was made and counted (/status), and reaches no request.
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"

if not pcall(ffi.typeof, "struct mg_lua_timer_marker") then
    ffi.cdef [[
/* The region "lua/moongate/timer.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_timer_marker { int unused; };
int mg_lua_timer_count(mg_lua_task_t *t, int running);
void mg_lua_timer_failed(mg_lua_task_t *t);
]]
end

local C = cffi.C
local start = require "moongate.timer_start" -- core/lua/lua_timer.c
local check, ANY, TIMER = core.check, core.ANY, core.TIMER
local WATCH = C.mg_lua_watch_cell(nil)
local xpcall, traceback, select, unpack, type, tostring = xpcall, debug.traceback, select,
    unpack, type, tostring
local huge = math.huge

local M = {}

-- The job C runs: fn(premature, ...) with its errors logged and counted. The watchdog's
-- cell names the plugin that made the timer, in the timer phase.
local function job_of(fn, where, n, ...)
    local args = n > 0 and { ... } or nil
    local watch = WATCH[0]
    watch = watch >= 0 and watch - watch % 8 + TIMER or -1
    return function(premature)
        WATCH[0] = watch
        local ok, err
        if args then
            ok, err = xpcall(fn, traceback, premature, unpack(args, 1, n))
        else
            ok, err = xpcall(fn, traceback, premature)
        end
        if not ok then
            C.mg_lua_timer_failed(core.cur.task)
            require("moongate").log(4, "timer made at ", where, " failed: ", tostring(err))
        end
    end
end

local function new(fname, delay, interval, fn, ...)
    check(fname, ANY, 2)
    if type(fn) ~= "function" then
        error(fname .. ": expected a function, got " .. type(fn), 3)
    end
    local info = debug.getinfo(3, "Sl")
    local where = info and info.short_src .. ":" .. (info.currentline or 0) or "?"
    return start(core.cur.rs.lud, delay, interval, job_of(fn, where, select("#", ...), ...))
end

-- mg.timer.at(delay, fn, ...): fn(premature, ...) once, `delay` seconds from now (0:
-- as soon as the loop comes round). true, or nil and why.
function M.at(delay, fn, ...)
    if type(delay) ~= "number" or not (delay >= 0) or delay == huge then
        error("mg.timer.at: expected a delay in seconds (a number >= 0), got "
            .. tostring(delay), 2)
    end
    local ok, err = new("mg.timer.at", delay, 0, fn, ...) -- not a tail call: new() names
    return ok, err                                         -- the plugin's line
end

-- mg.timer.every(interval, fn, ...): fn(premature, ...) every `interval` seconds, the
-- first time `interval` from now; the next run comes `interval` after the previous one
-- began, or when it ends if it took longer. true, or nil and why.
function M.every(interval, fn, ...)
    if type(interval) ~= "number" or not (interval > 0) or interval == huge then
        error("mg.timer.every: expected an interval in seconds (a number > 0), got "
            .. tostring(interval), 2)
    end
    local ok, err = new("mg.timer.every", 0, interval, fn, ...)
    return ok, err
end

function M.pending_count()
    return C.mg_lua_timer_count(check("mg.timer.pending_count", ANY), 0)
end

function M.running_count()
    return C.mg_lua_timer_count(check("mg.timer.running_count", ANY), 1)
end

return M
