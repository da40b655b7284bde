-- fault-injection: makes a route misbehave on purpose, to test how clients and the
-- services behind them cope: `delay` holds a share of the requests for a while (a wait
-- on the worker's loop, never blocking it), `abort` answers a share of them with a
-- chosen status instead of the upstream's. A delay comes first, then the abort, as in
-- APISIX. `match` limits the faults to marked requests (header equals value), so one
-- route can serve real traffic and chaos tests at once. It runs in rewrite, before
-- authentication and rate limits, like APISIX's.
local mg = require "moongate"

local percentage = {
    type = "number", default = 100, min = 0, max = 100,
    description = "share of the (matching) requests it applies to, 0 to 100",
}

local schema = {
    type = "record",
    fields = {
        abort = {
            type = "record",
            description = "answer instead of the upstream",
            fields = {
                status = {
                    type = "integer", required = true, min = 200, max = 599,
                    description = "the status answered",
                },
                body = { type = "string", default = "", description = "the body answered" },
                headers = {
                    type = "map", values = { type = "string" },
                    description = "headers of the answer",
                },
                percentage = percentage,
            },
        },
        delay = {
            type = "record",
            description = "hold the request before it goes on",
            fields = {
                duration = {
                    type = "number", required = true, min = 0.001, max = 3600,
                    description = "seconds (fractions allowed) the request is held",
                },
                percentage = percentage,
            },
        },
        match = {
            type = "record",
            description = "faults only for requests that match (every condition)",
            fields = {
                headers = {
                    type = "map", values = { type = "string" },
                    keys = { type = "string", pattern = "^[%w!#$%%&'*+.^_`|~-]+$" },
                    description = "request header name -> the value it must equal",
                },
            },
        },
    },
    check = function(c)
        if c.abort == nil and c.delay == nil then
            return nil, "expected abort, delay or both"
        end
        return true
    end,
}

local random = math.random

-- Each worker draws its own numbers: a state made before the fork would otherwise give
-- every worker the same sequence. Workers start at different microseconds.
local function init_worker()
    math.randomseed(math.floor((mg.now() % 1000) * 1e6) + math.floor(os.clock() * 1e9))
end

-- True for `pct` percent of calls: exactly never at 0 and always at 100.
local function hit(pct)
    if pct >= 100 then
        return true
    end
    if pct <= 0 then
        return false
    end
    return random() * 100 < pct
end

local function matches(m)
    if m == nil or m.headers == nil then
        return true
    end
    for name, want in pairs(m.headers) do
        if mg.request.get_header(name) ~= want then
            return false
        end
    end
    return true
end

local function rewrite(conf)
    if not matches(conf.match) then
        return
    end
    local d = conf.delay
    if d and hit(d.percentage) then
        mg.sleep(d.duration * 1000) -- milliseconds
    end
    local a = conf.abort
    if a and hit(a.percentage) then
        return a.status, a.body, a.headers
    end
end

return {
    name = "fault-injection",
    version = "1.0",
    priority = 11000,
    description = "delays or aborts a share of a route's requests, for resilience tests",
    schema = schema,
    init_worker = init_worker,
    rewrite = rewrite,
}
