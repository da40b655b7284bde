-- header-hash-balancer: a balancing policy in Lua. Requests carrying the configured
-- header go to the node chosen by hashing its value (the same value always reaches the
-- same node while the node list is unchanged); requests without it, or when the
-- upstream has no nodes, are left to the upstream's own balancer.
local mg = require "moongate"

local schema = {
    type = "record",
    fields = {
        header = {
            type = "string", required = true,
            description = "request header whose value picks the node (e.g. X-User-Id)",
        },
    },
}

local function balancer(conf, ctx)
    local v = mg.request.get_header(conf.header)
    if v == nil or v == "" then
        return -- the upstream's balancer decides
    end
    local nodes = mg.balancer.nodes()
    if #nodes == 0 then
        return
    end
    local pick = nodes[mg.balancer.hash(v) % #nodes + 1]
    ctx.hash_balancer_node = pick.address
    mg.balancer.set_peer(pick.address)
end

return {
    name = "header-hash-balancer",
    version = "1.0.0",
    priority = 500,
    description = "picks the upstream node by hashing a request header",
    schema = schema,
    balancer = balancer,
}
