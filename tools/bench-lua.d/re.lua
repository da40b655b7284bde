-- mg.re micro-benchmarks (build/bench-lua; `make bench-lua`): calls on patterns already
-- in the worker's cache, which is how a plugin's inline patterns run after their first
-- request. The issue's target: a match on a cached pattern within 2 µs.
local re = require "moongate.re"

local PATH = "/users/12345/orders/987"

return {
    {
        name = "re.match cached, 2 captures", target_ns = 2000,
        setup = function()
            local m = assert(re.match(PATH, "^/users/(\\d+)/orders/(\\d+)$"))
            assert(m[1] == "12345" and m[2] == "987")
        end,
        run = function(n)
            local match = re.match
            for _ = 1, n do
                match(PATH, "^/users/(\\d+)/orders/(\\d+)$")
            end
        end,
    },
    {
        name = "re.match cached, 2 named captures", target_ns = 2000,
        setup = function()
            local m = assert(re.match(PATH, "^/users/(?<user>\\d+)/orders/(?<order>\\d+)$"))
            assert(m.user == "12345" and m.order == "987")
        end,
        run = function(n)
            local match = re.match
            for _ = 1, n do
                match(PATH, "^/users/(?<user>\\d+)/orders/(?<order>\\d+)$")
            end
        end,
    },
    {
        name = "re.find cached", target_ns = 2000,
        setup = function()
            assert(select(2, re.find(PATH, "orders")) == 19)
        end,
        run = function(n)
            local find = re.find
            for _ = 1, n do
                find(PATH, "orders")
            end
        end,
    },
    {
        name = "re.test cached, caseless", target_ns = 2000,
        setup = function()
            assert(re.test(PATH, "^/USERS/\\d+", "i") == true)
        end,
        run = function(n)
            local test = re.test
            for _ = 1, n do
                test(PATH, "^/USERS/\\d+", "i")
            end
        end,
    },
    {
        name = "re.gsub cached, 2 substitutions", target_ns = 2000,
        setup = function()
            local s, k = re.gsub(PATH, "\\d+", "{n}")
            assert(s == "/users/{n}/orders/{n}" and k == 2)
        end,
        run = function(n)
            local gsub = re.gsub
            for _ = 1, n do
                gsub(PATH, "\\d+", "{n}")
            end
        end,
    },
}
