-- header-hash-balancer: a balancing policy in Lua. Requests carrying the configured
-- header go to the node chosen by hashing its value (the same value always reaches the
-- same node while the node list is unchanged); requests without it, or when the
-- upstream has no nodes, are left to the upstream's own balancer.
local mg = require "moongate"
local bit = require "bit"

local schema = {
    type = "record",
    fields = {
        header = {
            type = "string", required = true,
            description = "request header whose value picks the node (e.g. X-User-Id)",
        },
    },
}

-- FNV-1a, 32 bits: cheap and well spread for short keys.
local function fnv1a(s)
    local h = 2166136261
    for i = 1, #s do
        h = bit.bxor(h, s:byte(i))
        -- h * 16777619 mod 2^32, with 16777619 = 2^24 + 403 so doubles stay exact
        h = bit.tobit(bit.lshift(h, 24) + h * 403)
    end
    return h % 4294967296
end

local function balancer(conf, ctx)
    local v = mg.request.get_header(conf.header)
    if v == nil or v == "" then
        return -- the upstream's balancer decides
    end
    local nodes = mg.balancer.nodes()
    if #nodes == 0 then
        return
    end
    local pick = nodes[fnv1a(v) % #nodes + 1]
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
