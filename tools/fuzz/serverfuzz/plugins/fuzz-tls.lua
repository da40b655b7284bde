-- fuzz-tls: reads everything mg.tls knows about the connection (nil over plain HTTP)
-- and answers it, or, with `proxy`, lets the request go upstream after reading it, so
-- that the client certificate's headers (tls.client_cert_headers) are built too. A
-- path with "sleep" waits 100 ms first: time for the client to reset meanwhile.
local mg = require "moongate"

local CALLS = { "version", "cipher", "sni", "alpn", "resumed", "client_verify",
                "client_subject", "client_issuer", "client_serial", "client_fingerprint",
                "client_san", "client_not_after", "client_cert" }

return {
    name = "fuzz-tls", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {
        proxy = { type = "boolean", default = false },
    } },
    access = function(conf, ctx)
        if mg.request.get_path():find("sleep", 1, true) then
            mg.sleep(100)
        end
        local out = {}
        for _, name in ipairs(CALLS) do
            local v = mg.tls[name]()
            out[#out + 1] = name .. "=" .. (v == nil and "nil" or #tostring(v) > 80
                and (#tostring(v) .. " bytes") or tostring(v))
        end
        if not conf.proxy then
            return 200, table.concat(out, "\n") .. "\n"
        end
    end,
}
