-- fuzz-upstream: lets the fuzzed request choose, by its headers, the upstream
-- (mg.upstream.set: X-Upstream, in access) and the node (mg.balancer.set_peer: X-Peer,
-- forced with X-Force, in balancer), and reads every node's health on the way, so
-- unknown names, odd bytes, nodes ejected or gone and routes without an upstream of
-- their own meet the proxy.
local mg = require "moongate"
return {
    name = "fuzz-upstream", version = "1.0", priority = 1050,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local name = mg.request.get_header("X-Upstream")
        if name then
            local ok, err = mg.upstream.set(name)
            ctx.fuzz_upstream = ok and mg.upstream.get() or err
        end
    end,
    balancer = function(conf, ctx)
        local n = 0
        for _, node in ipairs(mg.balancer.nodes()) do
            n = n + (node.healthy and 1 or 0) + #node.health + (node.breaker and 1 or 0)
        end
        local peer = mg.request.get_header("X-Peer")
        if peer then
            local force = mg.request.get_header("X-Force") ~= nil
            mg.balancer.set_peer(tonumber(peer) or peer, { force = force })
        end
        ctx.fuzz_nodes = n
    end,
    header_filter = function(conf, ctx)
        if ctx.fuzz_upstream then
            mg.response.set_header("X-Fuzz-Upstream", ctx.fuzz_upstream)
        end
    end,
}
