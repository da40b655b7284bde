-- moongate.balancer: mg.balancer, for plugins that pick the upstream node themselves.
local core = require "moongate.core"
local cffi = require "moongate.ffi"

local ffi = require "ffi"

local C, s1, str = cffi.C, cffi.s1, cffi.str
local load4 = ffi.new("double[4]")
local check = core.check
local PICK = core.phases("balancer")
local READ = core.phases("rewrite", "access", "balancer")

local M = {}

-- The route's upstream nodes with what every worker sees of them now:
-- { { address = "127.0.0.1:9001", weight = 2, inflight = 0, requests = 10,
--     failures = 0, ewma = 0.0012 }, ... } (ewma in seconds, 0 = not measured yet).
function M.nodes()
    local t = check("mg.balancer.nodes", READ)
    local out, w = {}, cffi.i1
    for i = 0, C.mg_lua_upstream_node_count(t) - 1 do
        C.mg_lua_upstream_node(t, i, s1, w)
        local n = { address = str(s1[0]), weight = w[0] }
        if C.mg_lua_upstream_node_load(t, i, load4) == 0 then
            n.inflight, n.requests, n.failures, n.ewma =
                tonumber(load4[0]), tonumber(load4[1]), tonumber(load4[2]), tonumber(load4[3])
        end
        out[i + 1] = n
    end
    return out
end

-- Sends the first try to `peer`: a node's address as written in the upstream
-- ("127.0.0.1:9001") or its 1-based index. Retries use the upstream's own balancer.
-- Returns true, or nil, err when the upstream has no such node.
function M.set_peer(peer)
    local t = check("mg.balancer.set_peer", PICK)
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
    if idx == nil or C.mg_lua_set_peer(t, idx) ~= 0 then
        return nil, "no node " .. tostring(peer) .. " in the route's upstream"
    end
    return true
end

return M
