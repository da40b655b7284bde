-- tls-auth: lets a request through only with a client certificate that verified
-- against the listener's `client_ca` and that a consumer's credential names, by the
-- certificate's SHA-256 fingerprint, its subject (RFC 2253, "CN=alice,O=Example") or
-- one of its subjectAltNames ("spiffe://example.org/svc", "alice.example.com"). The
-- consumer found becomes mg.var.consumer (its plugin configs then apply). A missing,
-- unverified or unknown certificate is answered 401 with a JSON error, unless
-- `anonymous` names a consumer for requests without a certificate.
--
-- Needs `client_verify: optional` (this plugin then decides) or `required` (the
-- handshake already refused clients without a good certificate) on the certificate
-- entry serving the route's host names.
local mg = require "moongate"

local schema = {
    type = "record",
    fields = {
        anonymous = {
            type = "string",
            description = "consumer name given to requests without a certificate instead of a 401",
        },
    },
}

local credential_schema = {
    type = "record",
    fields = {
        fingerprint = {
            type = "string", pattern = "^[0-9a-f]+$", unique = true,
            description = "SHA-256 of the certificate (DER) in lowercase hex without colons: `openssl x509 -noout -fingerprint -sha256 | tr -d : | tr A-F a-f`",
        },
        subject = {
            type = "string", unique = true,
            description = "the certificate's subject, RFC 2253 (`openssl x509 -noout -subject -nameopt RFC2253`)",
        },
        san = {
            type = "string", unique = true,
            description = "one subjectAltName value of the certificate (DNS name, URI, email or IP)",
        },
    },
}

local function deny(message)
    return 401, { error = message, status = 401, request_id = mg.var.request_id }
end

-- "DNS:a.example,URI:spiffe://x/y" -> each value after its "KIND:"
local function sans(list)
    local out = {}
    for item in string.gmatch(list or "", "[^,]+") do
        out[#out + 1] = item:match("^%a+:(.*)$") or item
    end
    return out
end

local function find_consumer()
    local fp = mg.tls.client_fingerprint()
    local c = fp and mg.consumer.find("tls-auth", "fingerprint", fp)
    if c then
        return c
    end
    local subject = mg.tls.client_subject()
    c = subject and mg.consumer.find("tls-auth", "subject", subject)
    if c then
        return c
    end
    for _, v in ipairs(sans(mg.tls.client_san())) do
        c = mg.consumer.find("tls-auth", "san", v)
        if c then
            return c
        end
    end
    return nil
end

local function access(conf)
    local verify = mg.tls.client_verify()
    if verify == nil or verify == "NONE" then
        if conf.anonymous then
            mg.var.consumer = conf.anonymous
            return
        end
        return deny(verify == nil and "a TLS client certificate is required (plain HTTP)"
            or "missing client certificate")
    end
    if verify ~= "SUCCESS" then
        mg.log(mg.INFO, "tls-auth: client certificate refused: ", verify)
        return deny("client certificate not verified")
    end
    local consumer = find_consumer()
    if consumer == nil then
        return deny("unknown client certificate")
    end
    mg.var.consumer = consumer.name
end

return {
    name = "tls-auth",
    version = "1.0.0",
    priority = 2600,
    description = "client-certificate authentication: a verified certificate names a consumer",
    schema = schema,
    credential_schema = credential_schema,
    access = access,
}
