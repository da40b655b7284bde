-- fuzz-body: reads the whole request body in the access phase, then lets the request
-- go on (pass), replaces the body (set) or answers with its length (answer).
local mg = require "moongate"
return {
    name = "fuzz-body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {
        mode = { type = "string", enum = { "pass", "set", "answer" }, default = "pass" },
        max = { type = "integer", min = 0, default = 0 },
    } },
    access = function(conf, ctx)
        local body, err
        if conf.max > 0 then
            body, err = mg.request.get_body(conf.max)
        else
            body, err = mg.request.get_body()
        end
        if conf.mode == "answer" then
            return 200, "read " .. (body and #body or tostring(err)) .. "\n"
        end
        if conf.mode == "set" and body then
            mg.request.set_body(body:upper())
        end
    end,
}
