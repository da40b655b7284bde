-- Unit tests of the declaration checks of lua/moongate/metrics.lua (run by
-- t/unit/test_lua_modules.c). A plain LuaJIT state has no C side: only declarations the
-- module refuses before it calls C are tried here; t/lua/metrics.t does the rest.
local core = require "moongate.core"
local metrics = require "moongate.metrics"

local function refused(pattern, f, ...)
    local ok, err = pcall(f, ...)
    if ok then
        error("accepted, expected: " .. pattern, 2)
    end
    if not tostring(err):find(pattern, 1, true) then
        error("error \"" .. tostring(err) .. "\" does not say: " .. pattern, 2)
    end
end

-- outside a plugin's load
refused("declare metrics when the plugin loads", metrics.counter, "a_total", "A.")

core.loading = "p"
local C, G, H = metrics.counter, metrics.gauge, metrics.histogram
refused('invalid metric name "a-b"', C, "a-b", "A.")
refused('invalid metric name "1a"', G, "1a", "A.")
refused('invalid metric name "__a"', G, "__a", "A.")
refused('invalid metric name ""', G, "", "A.")
refused("invalid metric name", G, ("x"):rep(101), "A.")
refused('ends with "_total", a suffix', G, "items_total", "A.")
refused('ends with "_bucket"', H, "x_bucket", "A.")
refused('ends with "_count" before _total', C, "x_count_total", "A.")
refused("help must be a string", G, "g", nil)
refused("help must be a string", G, "g", ("h"):rep(1025))
refused("labels must be a list of names", G, "g", "G.", "zone")
refused('label name "plugin" is reserved', G, "g", "G.", { "plugin" })
refused('label name "le" is reserved', H, "h", "H.", { "le" })
refused('invalid label name "a b"', G, "g", "G.", { "a b" })
refused('label "a" given twice', G, "g", "G.", { "a", "a" })
refused("at most 8 labels", G, "g", "G.", { "a", "b", "c", "d", "e", "f", "g", "h", "i" })
refused("buckets must be a list of 1 to 40", H, "h", "H.", {}, {})
refused("buckets must be finite numbers in increasing order, got 1 at 2", H, "h", "H.", {},
    { 1, 1 })
refused("buckets must be finite numbers in increasing order, got inf", H, "h", "H.", {},
    { 1, math.huge })
refused('unknown option "max"', G, "g", "G.", {}, { max = 1 })
refused("max_series must be an integer from 1 to 10000", G, "g", "G.", {}, { max_series = 1.5 })
refused("max_series must be an integer from 1 to 10000", G, "g", "G.", {},
    { max_series = 10001 })
core.loading = nil
