-- mg.re micro-benchmarks (build/bench-lua; `make bench-lua`): calls on patterns already
-- in the worker's cache, which is how a plugin's inline patterns run after their first
-- request. The issue's target: a match on a cached pattern within 2 µs.
local re = require "moongate.re"

local PATH = "/users/12345/orders/987"

-- A case timing fn(PATH, pattern, flags[, extra]); `check` asserts, once, what one call
-- gives (and puts the pattern in the cache).
local function case(name, fn, pattern, flags, extra, check)
    return {
        name = name, target_ns = 2000,
        setup = function()
            assert(check(fn(PATH, pattern, flags, extra)), name)
        end,
        run = function(n)
            for _ = 1, n do
                fn(PATH, pattern, flags, extra)
            end
        end,
    }
end

local function match(s, p, f)
    return re.match(s, p, f)
end

local function gsub(s, p, f, repl)
    return re.gsub(s, p, repl, f)
end

return {
    case("re.match cached, 2 captures", match, "^/users/(\\d+)/orders/(\\d+)$", nil, nil,
        function(m) return m[1] == "12345" and m[2] == "987" end),
    case("re.match cached, 2 named captures", match,
        "^/users/(?<user>\\d+)/orders/(?<order>\\d+)$", nil, nil,
        function(m) return m.user == "12345" and m.order == "987" end),
    case("re.find cached", re.find, "orders", nil, nil,
        function(from, to) return from == 14 and to == 19 end),
    case("re.test cached, caseless", re.test, "^/USERS/\\d+", "i", nil,
        function(ok) return ok == true end),
    case("re.gsub cached, 2 substitutions", gsub, "\\d+", nil, "{n}",
        function(s, k) return s == "/users/{n}/orders/{n}" and k == 2 end),
}
