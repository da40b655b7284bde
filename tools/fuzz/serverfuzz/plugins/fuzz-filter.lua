-- fuzz-filter: touches the answer in every filter phase and queues a call in log.
local mg = require "moongate"
return {
    name = "fuzz-filter", version = "1.0", priority = 900,
    schema = { type = "record", fields = {
        audit_url = { type = "string", required = true },
    } },
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Fuzz-Filter", tostring(mg.response.get_status()))
    end,
    body_filter = function(conf, ctx)
        local chunk, eof = mg.response.get_body_chunk()
        if chunk and #chunk > 0 then
            mg.response.set_body_chunk(chunk:upper())
        end
    end,
    log = function(conf, ctx)
        if mg.request.get_path():find("audit", 1, true) then
            mg.http.request({ method = "POST", url = conf.audit_url, body = "x", timeout = 300 })
        end
    end,
}
