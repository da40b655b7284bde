-- mg.crypto and mg.encode micro-benchmarks (build/bench-lua; `make bench-lua`). The
-- keys are made with the openssl command when the cases are set up.
local crypto = require "moongate.crypto"
local encode = require "moongate.encode"

local KIB = string.rep("x", 1024)
local B256 = string.rep("\1\2\3\4", 64)
local MSG = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0"

-- The PEM of a new private key (openssl genpkey args), and its signature over MSG.
local function keypair(alg, args)
    local f = assert(io.popen("openssl genpkey " .. args .. " 2>/dev/null"))
    local pem = f:read("*a")
    f:close()
    local priv = assert(crypto.key(pem))
    local sig = assert(crypto.sign(alg, priv, MSG))
    return pem, sig
end

local function verify_case(name, alg, args)
    local pem, sig
    return {
        name = name, target_ns = 0,
        setup = function()
            pem, sig = keypair(alg, args)
            assert(crypto.verify(alg, pem, MSG, sig) == true)
        end,
        run = function(n)
            local verify = crypto.verify
            for _ = 1, n do
                verify(alg, pem, MSG, sig)
            end
        end,
    }
end

return {
    {
        name = "crypto.hmac_sha256 1 KiB", target_ns = 2000,
        run = function(n)
            local hmac = crypto.hmac_sha256
            for _ = 1, n do
                hmac("secret-key-of-32-bytes-at-least", KIB)
            end
        end,
    },
    {
        name = "crypto.sha256 1 KiB", target_ns = 2000,
        run = function(n)
            local sha256 = crypto.sha256
            for _ = 1, n do
                sha256(KIB)
            end
        end,
    },
    {
        name = "encode.base64url 256 B", target_ns = 1000,
        run = function(n)
            local b64 = encode.base64url
            for _ = 1, n do
                b64(B256)
            end
        end,
    },
    {
        name = "crypto.verify HS256 (JWT-sized)", target_ns = 2000,
        run = function(n)
            local verify, sig = crypto.verify, crypto.hmac_sha256("k", MSG)
            for _ = 1, n do
                verify("HS256", "k", MSG, sig)
            end
        end,
    },
    verify_case("crypto.verify RS256 2048 (cached key)", "RS256",
        "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"),
    verify_case("crypto.verify ES256 (cached key)", "ES256",
        "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"),
    verify_case("crypto.verify EdDSA (cached key)", "EdDSA", "-algorithm ED25519"),
}
