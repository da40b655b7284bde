-- fuzz-rewrite: sleeps, reads and replaces the body in the rewrite phase, and may send
-- the request to another path and route again.
local mg = require "moongate"
return {
    name = "fuzz-rewrite", version = "1.0", priority = 1100,
    schema = { type = "record", fields = {
        sleep_ms = { type = "integer", min = 0, default = 0 },
        reroute_to = { type = "string", default = "" },
    } },
    rewrite = function(conf, ctx)
        if conf.sleep_ms > 0 then
            mg.sleep(conf.sleep_ms)
        end
        local body = mg.request.get_body()
        if body and #body > 0 then
            mg.request.set_body("rw:" .. body)
        end
        mg.request.set_header("X-Fuzz-Rewrite", "1")
        if conf.reroute_to ~= "" then
            mg.request.set_path(conf.reroute_to)
            mg.request.reroute()
        end
    end,
}
