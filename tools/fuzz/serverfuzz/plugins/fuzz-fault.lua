-- fuzz-fault: misbehaves in the access phase by words in the path: error, spin (runs
-- into the CPU budget), sleep (300 ms: time for the client to leave), exit, body-error
-- (reads the body, then fails), big (a large answer), gc (a lot of garbage).
local mg = require "moongate"
local jit = require "jit"

-- interpreted, so that the CPU budget's hook fires (a compiled loop would stall the
-- worker until the watchdog kills it, which is the designed outcome, not a finding)
local function spin(n)
    local x = 0
    for i = 1, n do x = x + i % 7 end
    return x
end
jit.off(spin, true)

return {
    name = "fuzz-fault", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local path = mg.request.get_path()
        if path:find("sleep", 1, true) then
            mg.sleep(300)
        end
        if path:find("body-error", 1, true) then
            mg.request.get_body()
            error("failing after the body")
        end
        if path:find("error", 1, true) then
            error("failing on purpose")
        end
        if path:find("spin", 1, true) then
            return 200, tostring(spin(3e7))
        end
        if path:find("exit", 1, true) then
            mg.response.exit(403, { error = "no" })
        end
        if path:find("big", 1, true) then
            return 200, string.rep("b", 200000)
        end
        if path:find("gc", 1, true) then
            local t = {}
            for i = 1, 20000 do t[i] = { i, tostring(i) } end
            ctx.keep = t
        end
    end,
}
