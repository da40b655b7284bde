-- fuzz-call: asks the upstream from the access phase and answers with what it said.
local mg = require "moongate"
return {
    name = "fuzz-call", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {
        url = { type = "string", required = true },
    } },
    access = function(conf, ctx)
        local body = mg.request.get_body(4096)
        -- the client's X-Call-Host, when sent, becomes the call's Host (mutated: empty,
        -- blanks, commas, odd bytes)
        local host = mg.request.get_header("X-Call-Host")
        local res, err = mg.http.request({ url = conf.url, timeout = 500,
                                           method = body and #body > 0 and "POST" or "GET",
                                           headers = host and { Host = host } or nil,
                                           body = body and #body > 0 and body or nil })
        if not res then
            return 502, { error = tostring(err) }
        end
        return 200, "upstream said " .. res.status .. " with " .. #res.body .. " bytes\n"
    end,
}
