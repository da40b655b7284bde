-- moongate.ratelimit: mg.ratelimit, the gateway's limiters for plugins' own keys (a
-- plan per consumer, a cost per operation). The same algorithms and zones as a
-- route's `rate_limit:` (core/ratelimit/ratelimit_algo.c, core/ratelimit/ratelimit_zone.c): state shared
-- by every worker, so N workers together allow exactly the limit.
--
--   local lim, err = mg.ratelimit.new{ algorithm = "token_bucket", rate = "10/s" }
--   local ok, info = lim:take(key[, cost])   -- info: limit, remaining, reset,
--                                             -- retry_after, delay
--   lim:release(key)                          -- concurrency limiters
--   mg.ratelimit.headers(info)                -- Retry-After / RateLimit-* for an answer
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"

if not pcall(ffi.typeof, "mg_rl_conf_t") then
    ffi.cdef [[
/* The region "lua/moongate/ratelimit.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
typedef struct {
    const char *name;
    int algorithm;
    double limit;
    double window;
    double burst;
    bool delay;
    const void *key;
    size_t nkey;
    bool missing_reject;
    int scope;
    const char *zone;
    int status;
    bool headers;
    int redis_failure;
    int nodes;
    double sync_interval;
    int index;
} mg_rl_conf_t;
typedef struct {
    bool allowed;
    double limit, remaining, reset, retry_after, delay;
} mg_rl_result_t;
int mg_conf_parse_rate(const char *s, double *limit, double *window);
int mg_conf_parse_duration(const char *s, double *out);
int mg_lua_rl_take(mg_lua_task_t *t, const mg_rl_conf_t *c, const char *key, size_t klen,
                   double cost, mg_rl_result_t *out);
void mg_lua_rl_take_result(mg_lua_task_t *t, mg_rl_result_t *out);
void mg_lua_rl_release(mg_lua_task_t *t, const mg_rl_conf_t *c, const char *key, size_t klen);
size_t mg_lua_rl_sizes(size_t *result_size);
]]
end

local C = cffi.C
local type, tostring, floor, ceil = type, tostring, math.floor, math.ceil

do
    local rsz = ffi.new("size_t[1]")
    local csz = C.mg_lua_rl_sizes(rsz)
    assert(csz == ffi.sizeof("mg_rl_conf_t") and rsz[0] == ffi.sizeof("mg_rl_result_t"),
        "moongate.ratelimit: the FFI declarations do not match core/conf/conf.h")
end

local ALGOS = { token_bucket = 0, leaky_bucket = 1, fixed_window = 2, sliding_window = 3,
    concurrency = 4 }
local SCOPES = { ["local"] = 0, cluster = 1, cluster_approx = 2 }
local FAILURES = { ["local"] = 0, allow = 1, reject = 2 }
local OPTIONS = { name = true, algorithm = true, rate = true, burst = true, delay = true,
    limit = true, scope = true, zone = true, redis_failure = true, nodes = true,
    sync_interval = true }
local TAKE = core.phases("rewrite", "access", "balancer", "header_filter", "body_filter",
    "log", "timer")
local WAIT = core.phases("rewrite", "access")
local SLEEP = core.phases("rewrite", "access", "balancer", "timer")

local num2 = ffi.new("double[2]")
local res = ffi.new("mg_rl_result_t[1]")

local function whole(s)
    return s > 0 and ceil(s - 1e-9) or 0
end

local M = {}
local Limiter = {}
Limiter.__index = Limiter

local function bad(msg)
    return nil, "mg.ratelimit.new: " .. msg
end

local function check_options(o)
    if type(o) ~= "table" then
        return bad("expected a table of options")
    end
    for k in pairs(o) do
        if not OPTIONS[k] then
            return bad("unknown option \"" .. tostring(k) .. "\"")
        end
    end
    local algo = ALGOS[o.algorithm or "token_bucket"]
    if algo == nil then
        return bad("algorithm: expected token_bucket | leaky_bucket | fixed_window | "
            .. "sliding_window | concurrency, got " .. tostring(o.algorithm))
    end
    local conc = algo == 4
    if conc and o.rate ~= nil then
        return bad("rate: concurrency counts requests in flight: use limit")
    end
    if not conc and o.limit ~= nil then
        return bad("limit: is for the concurrency algorithm; " .. o.algorithm .. " takes rate")
    end
    if o.burst ~= nil and algo > 1 then
        return bad("burst: is for token_bucket and leaky_bucket")
    end
    if o.delay ~= nil and algo ~= 1 then
        return bad("delay: is for leaky_bucket only")
    end
    if o.delay ~= nil and type(o.delay) ~= "boolean" then
        return bad("delay: expected a boolean")
    end
    local scope = SCOPES[o.scope or "local"]
    if scope == nil then
        return bad("scope: expected local | cluster | cluster_approx, got " .. tostring(o.scope))
    end
    if scope ~= 0 and not core.has_redis then
        return bad("scope: " .. o.scope .. " needs the top-level `redis` block")
    end
    if scope == 2 and not (algo == 0 or algo == 2 or algo == 3) then
        return bad("scope: cluster_approx works with token_bucket, fixed_window and "
            .. "sliding_window")
    end
    if scope == 0 and (o.redis_failure ~= nil or o.nodes ~= nil) then
        return bad((o.nodes ~= nil and "nodes" or "redis_failure")
            .. ": is for the cluster scopes only")
    end
    if scope ~= 2 and o.sync_interval ~= nil then
        return bad("sync_interval: is for scope cluster_approx only")
    end
    return algo, scope
end

-- mg.ratelimit.new(options): a limiter, or nil and a message. Options as a route's
-- rate_limit item: algorithm, rate ("10/s", "500/10s") or limit (concurrency), burst,
-- delay, scope, zone, redis_failure, nodes, sync_interval, name (the state's key
-- prefix; limiters with the same name share counters).
function M.new(o)
    local algo, scope = check_options(o)
    if not algo then
        return nil, scope
    end
    local c = ffi.new("mg_rl_conf_t")
    c.algorithm, c.scope = algo, scope
    if algo == 4 then
        local n = o.limit
        if type(n) ~= "number" or n < 1 or n % 1 ~= 0 then
            return bad("limit: expected an integer >= 1, got " .. tostring(n))
        end
        c.limit, c.window = n, 1
    else
        if type(o.rate) ~= "string" or C.mg_conf_parse_rate(o.rate, num2, num2 + 1) ~= 0 then
            return bad("rate: expected N/s, N/m, N/h, N/d or N/<duration> (e.g. \"10/s\"), got "
                .. tostring(o.rate))
        end
        c.limit, c.window = num2[0], num2[1]
    end
    if o.burst ~= nil then
        if type(o.burst) ~= "number" or o.burst < (algo == 0 and 1 or 0) then
            return bad("burst: expected a number >= " .. (algo == 0 and 1 or 0))
        end
        c.burst = o.burst
    elseif algo == 0 then
        c.burst = c.limit
    end
    c.delay = o.delay == true
    local zone = o.zone or "default"
    if type(zone) ~= "string" or not (core.rl_zones or {})[zone] then
        return bad("zone: no rate limit zone \"" .. tostring(zone) .. "\" (declare it in "
            .. "rate_limit_zones)")
    end
    if o.redis_failure ~= nil and FAILURES[o.redis_failure] == nil then
        return bad("redis_failure: expected local | allow | reject, got "
            .. tostring(o.redis_failure))
    end
    c.redis_failure = FAILURES[o.redis_failure or "local"]
    local nodes = o.nodes or 1
    if type(nodes) ~= "number" or nodes < 1 or nodes % 1 ~= 0 then
        return bad("nodes: expected an integer >= 1")
    end
    c.nodes = nodes
    c.sync_interval = 0.1
    if o.sync_interval ~= nil then
        local d = tostring(o.sync_interval)
        if C.mg_conf_parse_duration(d, num2) ~= 0 or num2[0] < 0.01 or num2[0] > 60 then
            return bad("sync_interval: expected a duration from 10ms to 60s")
        end
        c.sync_interval = num2[0]
    end
    local name = o.name
    if name == nil then
        -- the same options make the same limiter in every worker
        name = string.format("lua:%s:%s/%s:%s:%s", o.algorithm or "token_bucket",
            tostring(c.limit), tostring(c.window), tostring(c.burst), zone)
    elseif type(name) ~= "string" or #name == 0 then
        return bad("name: expected a non-empty string")
    end
    c.status = 429
    -- the strings the conf points to live as long as the limiter
    c.name, c.zone = name, zone
    return setmetatable({ conf = c, _name = name, _zone = zone, name = name }, Limiter)
end

local function info_of(r)
    return { limit = tonumber(r.limit), remaining = tonumber(r.remaining),
        reset = tonumber(r.reset), retry_after = tonumber(r.retry_after),
        delay = tonumber(r.delay) }
end

-- lim:take(key[, cost]): counts a request of `cost` (default 1) for `key`. Returns
-- allowed (boolean) and info { limit, remaining, reset, retry_after, delay } (seconds).
-- A leaky bucket with delay waits its delay here in rewrite and access (and
-- balancer); cluster scopes wait for Redis in rewrite and access only.
function Limiter:take(key, cost)
    local t = core.check("lim:take", TAKE)
    if type(key) == "number" then
        key = tostring(key)
    end
    if type(key) ~= "string" or #key == 0 then
        error("lim:take: expected a non-empty string key, got " .. tostring(key), 2)
    end
    cost = cost or 1
    if type(cost) ~= "number" or cost <= 0 then
        error("lim:take: expected a cost > 0, got " .. tostring(cost), 2)
    end
    local c = self.conf
    if c.scope ~= 0 and not WAIT[core.cur.phase] then
        error("lim:take: a cluster limiter is not allowed in the "
            .. core.NAMES[core.cur.phase] .. " phase", 2)
    end
    local rc = C.mg_lua_rl_take(t, c, key, #key, cost, res)
    if rc == cffi.AGAIN then
        core.wait()
        C.mg_lua_rl_take_result(t, res)
    elseif rc ~= 0 then
        error("lim:take: zone \"" .. self._zone .. "\" is gone", 2)
    end
    local r = res[0]
    local allowed = r.allowed
    local info = info_of(r)
    if allowed and info.delay > 0 and SLEEP[core.cur.phase] then
        local mg = require "moongate"
        mg.sleep(info.delay * 1000)
    end
    return allowed, info
end

-- lim:release(key): gives back one in-flight slot of a concurrency limiter.
function Limiter:release(key)
    local t = core.check("lim:release", TAKE)
    if type(key) == "number" then
        key = tostring(key)
    end
    if type(key) ~= "string" or #key == 0 then
        error("lim:release: expected a non-empty string key", 2)
    end
    C.mg_lua_rl_release(t, self.conf, key, #key)
end

-- mg.ratelimit.headers(info): the answer headers for a take's info (Retry-After when
-- the take was refused, RateLimit-Limit, -Remaining, -Reset), whole seconds rounded up.
function M.headers(info, rejected)
    local h = {
        ["RateLimit-Limit"] = tostring(floor(info.limit)),
        ["RateLimit-Remaining"] = tostring(floor(info.remaining)),
        ["RateLimit-Reset"] = tostring(whole(info.reset)),
    }
    if rejected ~= false and info.retry_after > 0 then
        h["Retry-After"] = tostring(whole(info.retry_after))
    end
    return h
end

return M
