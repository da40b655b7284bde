-- moongate.balancer: mg.balancer, for plugins that pick the upstream node themselves.
local core = require "moongate.core"
local cffi = require "moongate.ffi"

local bit = require "bit"
local ffi = require "ffi"

local C, s1, str = cffi.C, cffi.s1, cffi.str
local load4 = ffi.new("double[4]")
local check = core.check
local PICK = core.phases("balancer")
local READ = core.phases("rewrite", "access", "balancer")

local M = {}

-- FNV-1a, 32 bits, of a string, as a number in [0, 2^32): cheap and well spread for
-- short keys; the same on every worker and across restarts. What hash-based policies
-- (header-hash-balancer, traffic-split's sticky keys) start from.
function M.hash(s)
    local h = 2166136261
    for i = 1, #s do
        h = bit.bxor(h, s:byte(i))
        -- h * 16777619 mod 2^32, with 16777619 = 2^24 + 403 so doubles stay exact
        h = bit.tobit(bit.lshift(h, 24) + h * 403)
    end
    return h % 4294967296
end

local HEALTH = { [0] = "healthy", "unhealthy", "ejected", "gone" }
local BREAKER = { [0] = "closed", "open", "half_open" }
local hcap, hbuf, bbuf, abuf = 0

-- The nodes of the request's upstream (mg.upstream.set's, else the route's) with what
-- every worker sees of them now:
-- { { address = "127.0.0.1:9001", weight = 2, inflight = 0, requests = 10,
--     failures = 0, ewma = 0.0012, health = "healthy", healthy = true,
--     breaker = "closed" }, ... } (ewma in seconds, 0 = not measured yet).
-- health: "healthy", "unhealthy" (active checks hold it down), "ejected" (passive
-- checks took it out for a while) or "gone" (DNS no longer names it); breaker:
-- "closed", "open" or "half_open", nil when the upstream has no circuit breaker.
-- healthy: the balancer may pick the node now (health "healthy" and a breaker that
-- lets a request through); set_peer takes only such nodes unless forced.
function M.nodes()
    local t = check("mg.balancer.nodes", READ)
    local out, w = {}, cffi.i1
    local count = C.mg_lua_upstream_node_count(t)
    if count > hcap then
        hcap = count
        hbuf, bbuf, abuf = ffi.new("int[?]", count), ffi.new("int[?]", count),
            ffi.new("int[?]", count)
    end
    local nh = count > 0 and C.mg_lua_upstream_node_health(t, count, hbuf, bbuf, abuf) or 0
    for i = 0, count - 1 do
        C.mg_lua_upstream_node(t, i, s1, w)
        local n = { address = str(s1[0]), weight = w[0] }
        if C.mg_lua_upstream_node_load(t, i, load4) == 0 then
            n.inflight, n.requests, n.failures, n.ewma =
                tonumber(load4[0]), tonumber(load4[1]), tonumber(load4[2]), tonumber(load4[3])
        end
        if i < nh then
            local h = hbuf[i]
            n.health = HEALTH[h]
            n.breaker = BREAKER[bbuf[i]]
            n.healthy = abuf[i] ~= 0 and h == 0
        end
        out[i + 1] = n
    end
    return out
end

-- Sends the first try to `peer`: a node's address as written in the upstream
-- ("127.0.0.1:9001") or its 1-based index. Retries use the upstream's own balancer.
-- Returns true, or nil, err when the upstream has no such node, or when the node may
-- not take requests now (down, ejected, breaker open: "node ADDR is unhealthy"); the
-- request is then balanced as usual. opts.force = true sends it there all the same
-- (a node DNS took away is never taken).
function M.set_peer(peer, opts)
    local t = check("mg.balancer.set_peer", PICK)
    local force = 0
    if opts ~= nil then
        if type(opts) ~= "table" then
            error("mg.balancer.set_peer: expected an options table, got " .. type(opts), 2)
        end
        force = opts.force and 1 or 0
    end
    local idx
    if type(peer) == "number" then
        idx = peer - 1
    elseif type(peer) == "string" then
        local w = cffi.i1
        for i = 0, C.mg_lua_upstream_node_count(t) - 1 do
            C.mg_lua_upstream_node(t, i, s1, w)
            if str(s1[0]) == peer then
                idx = i
                break
            end
        end
    else
        error("mg.balancer.set_peer: expected an address or a node index, got " .. type(peer), 2)
    end
    local rc = idx ~= nil and C.mg_lua_set_peer(t, idx, force) or cffi.DECLINED
    if rc == cffi.AGAIN then
        C.mg_lua_upstream_node(t, idx, s1, cffi.i1)
        return nil, "node " .. str(s1[0]) .. " is unhealthy"
    elseif rc ~= cffi.OK then
        return nil, "no node " .. tostring(peer) .. " in the route's upstream"
    end
    return true
end

return M
