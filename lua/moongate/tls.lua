-- moongate.tls: mg.tls, what the request's TLS connection negotiated and who the
-- client's certificate names. Every function returns nil over plain HTTP; the client_*
-- ones also when the client sent no certificate (client_verify() then says "NONE").
--
--   mg.tls.version()            "TLSv1.3"
--   mg.tls.cipher()             "TLS_AES_128_GCM_SHA256"
--   mg.tls.sni()                the name the client asked for ("" without)
--   mg.tls.alpn()               "http/1.1" ("" without)
--   mg.tls.resumed()            true when the session was resumed
--   mg.tls.client_verify()      "NONE", "SUCCESS" or "FAILED:<reason>"
--   mg.tls.client_subject()     RFC 2253: "CN=alice,O=Example"
--   mg.tls.client_issuer()
--   mg.tls.client_serial()      hex
--   mg.tls.client_fingerprint() SHA-256 of the certificate, lowercase hex
--   mg.tls.client_san()         "DNS:a.example,URI:spiffe://x/y,email:a@b,IP:10.0.0.1"
--   mg.tls.client_not_after()   "2027-01-31T12:00:00Z"
--   mg.tls.client_cert()        the certificate in PEM
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"

if not pcall(ffi.typeof, "struct mg_lua_tls_marker") then
    ffi.cdef [[
/* The region "lua/moongate/tls.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_tls_marker { int unused; };
int mg_lua_tls_var(mg_lua_task_t *t, int var, char *buf, size_t len);
]]
end

local C, check, REQUEST = cffi.C, core.check, core.REQUEST
local ffi_string = ffi.string

-- sys/tls.h's mg_tls_var_t, in order
local VARS = { "version", "cipher", "sni", "alpn", "resumed", "client_verify",
    "client_subject", "client_issuer", "client_serial", "client_fingerprint", "client_san",
    "client_not_after", "client_cert" }

local SIZE = 512
local buf = ffi.new("char[?]", SIZE)

local function get(t, var)
    local n = C.mg_lua_tls_var(t, var, buf, SIZE)
    if n < 0 then
        return nil
    end
    if n < SIZE then
        return ffi_string(buf, n)
    end
    local big = ffi.new("char[?]", n + 1) -- a certificate in PEM
    n = C.mg_lua_tls_var(t, var, big, n + 1)
    return n >= 0 and ffi_string(big, n) or nil
end

local M = {}

for i, name in ipairs(VARS) do
    local fname, var = "mg.tls." .. name, i - 1
    M[name] = function()
        return get(check(fname, REQUEST), var)
    end
end

function M.resumed()
    local v = get(check("mg.tls.resumed", REQUEST), 4)
    if v == nil then
        return nil
    end
    return v == "1"
end

return M
