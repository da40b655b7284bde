-- traffic-split: sends a share of a route's requests, or the requests that match, to
-- other upstreams of the configuration (canary releases, blue/green, A/B tests).
--
-- Rules are tried in order; the first whose `match` passes (every entry of it: a
-- header, cookie or query argument equal to one of `values`; no match: always) picks
-- one of its `weighted_upstreams` by weight, and the request goes there through
-- mg.upstream.set. An entry without `upstream` is the route's own. The pick is a smooth
-- weighted round robin per worker and rule (10 / 90 sends exactly 1 request in 10 of
-- each worker's to the first), or, with `sticky`, a hash of the request's key, so one
-- user stays on one side while the weights stay the same.
local mg = require "moongate"
local types = require "moongate.schema"
local bit = require "bit"

local match_schema = {
    type = "record",
    fields = {
        header = {
            type = "string", pattern = "^[%w!#$%%&'*+.^_`|~-]+$",
            description = "request header to compare (case-insensitive name)",
        },
        cookie = { type = "string", min = 1, description = "cookie to compare" },
        query = { type = "string", min = 1, description = "query argument to compare" },
        values = {
            type = "array", required = true, min = 1, items = { type = "string" },
            description = "the entry passes when the value equals one of these",
        },
    },
    check = function(m)
        local n = (m.header and 1 or 0) + (m.cookie and 1 or 0) + (m.query and 1 or 0)
        if n ~= 1 then
            return nil, "give exactly one of header, cookie or query"
        end
        return true
    end,
}

local weighted_schema = {
    type = "record",
    fields = {
        upstream = {
            type = "string", check = types.upstream_name.check,
            description = "an upstream of the configuration; none: the route's own",
        },
        weight = {
            type = "integer", default = 1, min = 0, max = 1000000,
            description = "share of the rule's requests (relative to the others)",
        },
    },
}

local rule_schema = {
    type = "record",
    fields = {
        match = {
            type = "array", items = match_schema,
            description = "conditions that must all pass for the rule to apply; none: always",
        },
        weighted_upstreams = {
            type = "array", required = true, min = 1, items = weighted_schema,
            description = "where the rule's requests go, by weight",
        },
    },
    check = function(r)
        local total = 0
        for _, w in ipairs(r.weighted_upstreams) do
            total = total + w.weight
        end
        if total == 0 then
            return nil, "the weights of weighted_upstreams add up to 0"
        end
        return true
    end,
}

local schema = {
    type = "record",
    fields = {
        rules = {
            type = "array", required = true, min = 1, items = rule_schema,
            description = "tried in order; the first that matches applies",
        },
        sticky = {
            type = "string",
            check = function(v)
                if v == "remote_addr" or v == "consumer" or v:match("^header:.+$")
                    or v:match("^cookie:.+$") or v:match("^query:.+$") then
                    return true
                end
                return nil, "expected remote_addr, consumer, header:NAME, cookie:NAME "
                    .. "or query:NAME, got \"" .. v .. "\""
            end,
            description = "the key that keeps a client on one side (hashed); none: no stickiness",
        },
    },
}

-- The value of cookie `name` in the request's Cookie header(s), or nil.
local function cookie(name)
    local h = mg.request.get_header("Cookie", true)
    if h == nil then
        return nil
    end
    for pair in h:gmatch("[^;,]+") do
        local k, v = pair:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
        if k == name then
            return v
        end
    end
    return nil
end

local function source_value(src)
    if src == "remote_addr" then
        return mg.var.remote_addr
    elseif src == "consumer" then
        return mg.var.consumer
    end
    local kind, name = src:match("^(%a+):(.+)$")
    if kind == "header" then
        return mg.request.get_header(name)
    elseif kind == "cookie" then
        return cookie(name)
    end
    return mg.request.get_query_arg(name)
end

local function entry_passes(m)
    local v
    if m.header then
        v = mg.request.get_header(m.header)
    elseif m.cookie then
        v = cookie(m.cookie)
    else
        v = mg.request.get_query_arg(m.query)
    end
    if type(v) ~= "string" then
        return false
    end
    for _, want in ipairs(m.values) do
        if v == want then
            return true
        end
    end
    return false
end

local function rule_passes(rule)
    for _, m in ipairs(rule.match or {}) do
        if not entry_passes(m) then
            return false
        end
    end
    return true
end

-- a * b mod 2^32 for a, b in [0, 2^32), exact in doubles.
local function mul32(a, b)
    local lo, hi = a % 65536, (a - a % 65536) / 65536
    return ((hi * b) % 65536 * 65536 + lo * b) % 4294967296
end

-- FNV-1a (mg.balancer.hash) then murmur3's finaliser: keys that differ in one
-- character ("user41", "user42") land far apart, so a hash modulo the total weight
-- splits as the weights say.
local function hash(s)
    local h = mg.balancer.hash(s)
    h = bit.bxor(h, bit.rshift(h, 16)) % 4294967296
    h = mul32(h, 0x85ebca6b)
    h = bit.bxor(h, bit.rshift(h, 13)) % 4294967296
    h = mul32(h, 0xc2b2ae35)
    return bit.bxor(h, bit.rshift(h, 16)) % 4294967296
end

-- Per worker and rule: the smooth weighted round robin's current weights.
local wrr = setmetatable({}, { __mode = "k" })

local function pick_smooth(rule)
    local list = rule.weighted_upstreams
    local cur = wrr[rule]
    if cur == nil then
        cur = {}
        for i = 1, #list do cur[i] = 0 end
        wrr[rule] = cur
    end
    local best, total = nil, 0
    for i, w in ipairs(list) do
        cur[i] = cur[i] + w.weight
        total = total + w.weight
        if w.weight > 0 and (best == nil or cur[i] > cur[best]) then
            best = i
        end
    end
    cur[best] = cur[best] - total
    return list[best]
end

local function pick_hashed(rule, key)
    local total = 0
    for _, w in ipairs(rule.weighted_upstreams) do
        total = total + w.weight
    end
    local at = hash(key) % total
    for _, w in ipairs(rule.weighted_upstreams) do
        if at < w.weight then
            return w
        end
        at = at - w.weight
    end
end

local function access(conf, ctx)
    for _, rule in ipairs(conf.rules) do
        if rule_passes(rule) then
            local key = conf.sticky and source_value(conf.sticky)
            local w
            if type(key) == "string" and key ~= "" then
                w = pick_hashed(rule, key)
            else
                w = pick_smooth(rule)
            end
            if w.upstream then
                local ok, err = mg.upstream.set(w.upstream)
                if not ok then
                    mg.log(mg.ERR, "traffic-split: ", err)
                end
            end
            ctx.traffic_split = w.upstream or mg.upstream.get() or ""
            return
        end
    end
end

return {
    name = "traffic-split",
    version = "1.0.0",
    priority = 966,
    description = "sends a share of a route's requests, or those that match, to other upstreams",
    schema = schema,
    access = access,
}
