-- fuzz-crypto: feeds what the client sends to mg.encode and mg.crypto. A JWS in
-- `Authorization: Bearer h.p.s` is checked with the algorithm its header names (HS256
-- with the secret "fuzz", RS256/ES256/EdDSA with the RFC 7515 and RFC 8037 example
-- keys); X-B64, X-B64url and X-Hex are decoded; the body is parsed as a key (PEM or
-- JWK) and, with X-Gcm-Tag, decrypted by AES-GCM; X-Password is checked against a
-- cost-4 bcrypt hash. The answer lists every result, so garbage must come back as
-- nil and an error, never as a crash or a 500.
local mg = require "moongate"
local e, c = mg.encode, mg.crypto

local KEYS = {
    HS256 = "fuzz",
    RS256 = assert(c.key({ kty = "RSA", e = "AQAB",
        n = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJ"
            .. "PMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0"
            .. "LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uD"
            .. "Zlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2"
            .. "PAcDTW9gb54h4FRWyuXpoQ" })),
    ES256 = assert(c.key('{"kty":"EC","crv":"P-256",'
        .. '"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",'
        .. '"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}')),
    EdDSA = assert(c.key({ kty = "OKP", crv = "Ed25519",
        x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" })),
}
local BCRYPT = c.bcrypt_hash("fuzz", 4)
local GCM_KEY = string.rep("k", 32)

local function show(v, err)
    if v == nil then
        return "nil " .. tostring(err)
    end
    return type(v) == "string" and (#v .. " bytes") or tostring(v)
end

local function jws(out, token)
    local h, p, s = token:match("^([^.]*)%.([^.]*)%.([^.]*)$")
    if not h then
        out[#out + 1] = "jws: not three parts"
        return
    end
    local head = e.base64url_decode(h)
    local hdr = head and mg.json.decode(head)
    local alg = type(hdr) == "table" and hdr.alg
    local sig, err = e.base64url_decode(s)
    out[#out + 1] = "jws sig: " .. show(sig, err)
    if type(alg) ~= "string" or sig == nil then
        return
    end
    local key = KEYS[alg] or KEYS.RS256 -- any other name: refused, whatever the key
    out[#out + 1] = "jws " .. alg .. ": " .. show(c.verify(alg, key, h .. "." .. p, sig))
end

return {
    name = "fuzz-crypto", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function()
        local out = {}
        local auth = mg.request.get_header("Authorization")
        if auth then
            jws(out, auth:match("^Bearer (.*)$") or auth)
        end
        for name, f in pairs({ ["X-B64"] = e.base64_decode, ["X-B64url"] = e.base64url_decode,
            ["X-Hex"] = e.hex_decode }) do
            local v = mg.request.get_header(name)
            if v then
                out[#out + 1] = name .. ": " .. show(f(v))
            end
        end
        local pw = mg.request.get_header("X-Password")
        if pw then
            out[#out + 1] = "bcrypt: " .. show(c.bcrypt_verify(pw, BCRYPT))
        end
        local body = mg.request.get_body(65536)
        if body and #body > 0 then
            out[#out + 1] = "key: " .. show(c.key(body))
            local tag = mg.request.get_header("X-Gcm-Tag")
            if tag then
                out[#out + 1] = "gcm: " .. show(c.aes_gcm_decrypt(GCM_KEY, body:sub(1, 12),
                    body:sub(13), e.base64url_decode(tag) or tag))
            end
            out[#out + 1] = "sha256: " .. e.hex(c.sha256(body))
        end
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
