-- moongate.crypto: mg.crypto, digests, HMAC, constant-time compare, random bytes,
-- JWS signatures (verify and sign) with keys from PEM or JWK, AES-GCM and bcrypt, over
-- core/sys/crypto*.c (OpenSSL, libxcrypt). Works in every phase, in timers and at plugin
-- load. Wrong argument types raise an error naming the function; bad data returns
-- nil, err. docs/plugins.md has the reference.
--
--   mg.crypto.sha256(s)                        raw digest (also sha1, sha384, sha512)
--   mg.crypto.hmac("sha256", key, msg)         raw MAC; mg.crypto.hmac_sha256(key, msg)
--   mg.crypto.equals(a, b)                     constant time
--   mg.crypto.random(n)                        n bytes from the CSPRNG
--   mg.crypto.key(pem_or_jwk)                  a key object, or nil, err
--   mg.crypto.verify(alg, key, msg, sig)       true | false, "signature mismatch" | nil, err
--   mg.crypto.sign(alg, key, msg)              the signature, or nil, err
--   mg.crypto.aes_gcm_encrypt(key, iv, plaintext[, aad])        ciphertext, tag
--   mg.crypto.aes_gcm_decrypt(key, iv, ciphertext, tag[, aad])  plaintext | nil, err
--   mg.crypto.bcrypt_verify(password, hash)    true | false | nil, err (slow: see docs)
--   mg.crypto.bcrypt_hash(password[, cost])    "$2b$10$..."
local ffi = require "ffi"
local encode = require "moongate.encode"

if not pcall(ffi.typeof, "mg_crypto_key_t") then
    ffi.cdef [[
/* The region "lua/moongate/crypto.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
typedef struct mg_crypto_key_s mg_crypto_key_t;
int mg_lua_crypto_digest(int md, const char *s, size_t n, unsigned char *out);
int mg_lua_crypto_hmac(int md, const char *key, size_t klen, const char *msg, size_t mlen,
                       unsigned char *out);
int mg_lua_crypto_equals(const char *a, size_t alen, const char *b, size_t blen);
int mg_lua_crypto_random(unsigned char *buf, size_t n);
mg_crypto_key_t *mg_lua_crypto_key_pem(const char *pem, size_t len, const char **err);
mg_crypto_key_t *mg_lua_crypto_key_jwk(int kty, const char *crv, size_t crvlen,
                                       const char **parts, const size_t *lens,
                                       const char **err);
void mg_lua_crypto_key_free(mg_crypto_key_t *k);
void mg_lua_crypto_key_info(mg_crypto_key_t *k, int *info);
int mg_lua_crypto_verify(int alg, mg_crypto_key_t *k, const char *msg, size_t mlen,
                         const char *sig, size_t slen, const char **err);
int mg_lua_crypto_sign(int alg, mg_crypto_key_t *k, const char *msg, size_t mlen,
                       unsigned char *out, size_t cap, const char **err);
int mg_lua_crypto_aes_gcm(int enc, const char *key, size_t klen, const char *iv, size_t ivlen,
                          const char *aad, size_t alen, const char *in, size_t n,
                          unsigned char *out, unsigned char *tag, size_t taglen,
                          const char **err);
int mg_lua_crypto_bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen,
                                const char **err);
int mg_lua_crypto_bcrypt_hash(const char *pw, size_t pwlen, int cost, char *out, size_t cap,
                              const char **err);
]]
end

local C = ffi.C
local ffi_string, type, tostring, setmetatable, getmetatable, error, floor =
    ffi.string, type, tostring, setmetatable, getmetatable, error, math.floor
local find, sub = string.find, string.sub
local b64url_decode = encode.base64url_decode

local OK, DECLINED = 0, -3
local MD = { sha1 = 0, sha256 = 1, sha384 = 2, sha512 = 3 }
-- sys/crypto.h's MG_ALG_* numbers
local ALG = { RS256 = 0, RS384 = 1, RS512 = 2, PS256 = 3, PS384 = 4, PS512 = 5, ES256 = 6,
    ES384 = 7, EdDSA = 8 }
local HS = { HS256 = 1, HS384 = 2, HS512 = 3 } -- the MD number of each
-- what each algorithm needs of a key
local NEED_KTY = { RS256 = "RSA", RS384 = "RSA", RS512 = "RSA", PS256 = "RSA", PS384 = "RSA",
    PS512 = "RSA", ES256 = "EC", ES384 = "EC", EdDSA = "OKP" }
local NEED_CRV = { ES256 = "P-256", ES384 = "P-384", EdDSA = "Ed25519" }
local KTY = { "RSA", "EC", "OKP" }
local KTY_NUM = { RSA = 1, EC = 2, OKP = 3 }
local CRV_OF_BITS = { [256] = "P-256", [384] = "P-384", [255] = "Ed25519" }

local out = ffi.new("unsigned char[64]")
local out_p = ffi.cast("const char *", out) -- the same bytes, as verify compares them
local errp = ffi.new("const char *[1]")
local info = ffi.new("int[4]")
local KEEP = 65536
local scratch, scap = ffi.new("unsigned char[?]", 1024), 1024

local function buf(n)
    if n <= scap then
        return scratch
    end
    if n > KEEP then
        return ffi.new("unsigned char[?]", n)
    end
    scap = KEEP
    scratch = ffi.new("unsigned char[?]", scap)
    return scratch
end

-- Raises "fname: expected what, got <type>" at the caller of the API function (level:
-- how far up that is from argerr's caller; 3 when the API function calls argerr).
local function argerr(fname, what, v, level)
    error(fname .. ": expected " .. what .. ", got " .. type(v), level or 3)
end

local M = {}

-- ---- digests, HMAC, compare, random ----

for name, md in pairs(MD) do
    local fname = "mg.crypto." .. name
    M[name] = function(s)
        if type(s) ~= "string" then
            argerr(fname, "a string", s)
        end
        return ffi_string(out, C.mg_lua_crypto_digest(md, s, #s, out))
    end
end

function M.hmac(alg, key, msg)
    local md = MD[alg]
    if md == nil then
        if type(alg) ~= "string" then
            argerr("mg.crypto.hmac", "an algorithm name", alg)
        end
        error("mg.crypto.hmac: unknown algorithm \"" .. alg .. "\" (sha1, sha256, sha384, "
            .. "sha512)", 2)
    end
    if type(key) ~= "string" then
        argerr("mg.crypto.hmac", "a string key", key)
    end
    if type(msg) ~= "string" then
        argerr("mg.crypto.hmac", "a string message", msg)
    end
    return ffi_string(out, C.mg_lua_crypto_hmac(md, key, #key, msg, #msg, out))
end

function M.hmac_sha256(key, msg)
    if type(key) ~= "string" then
        argerr("mg.crypto.hmac_sha256", "a string key", key)
    end
    if type(msg) ~= "string" then
        argerr("mg.crypto.hmac_sha256", "a string message", msg)
    end
    return ffi_string(out, C.mg_lua_crypto_hmac(1, key, #key, msg, #msg, out))
end

function M.equals(a, b)
    if type(a) ~= "string" then
        argerr("mg.crypto.equals", "a string", a)
    end
    if type(b) ~= "string" then
        argerr("mg.crypto.equals", "a string", b)
    end
    return C.mg_lua_crypto_equals(a, #a, b, #b) == 1
end

local MAX_RANDOM = 1048576

function M.random(n)
    if type(n) ~= "number" or n < 0 or n > MAX_RANDOM or n ~= floor(n) then
        error("mg.crypto.random: expected a byte count (an integer 0.." .. MAX_RANDOM
            .. "), got " .. tostring(n), 2)
    end
    local b = buf(n)
    if C.mg_lua_crypto_random(b, n) ~= OK then
        error("mg.crypto.random: the random generator failed", 2)
    end
    return ffi_string(b, n)
end

-- ---- keys ----

-- A key object: kty ("RSA", "EC", "OKP" or "oct"), bits, crv (EC, OKP), private
-- (true when it can sign), alg (the JWK's "alg", if it had one); _k the C key (freed
-- with the object), _secret an "oct" key's bytes.
local Key = {}
Key.__index = Key
Key.__tostring = function(k)
    return "mg.crypto key (" .. k.kty .. (k.crv and " " .. k.crv or "")
        .. (k.bits and " " .. k.bits .. " bits" or "") .. (k.private and ", private" or "")
        .. ")"
end
Key.__metatable = "mg.crypto key"

local function wrap(p, alg)
    p = ffi.gc(p, C.mg_lua_crypto_key_free)
    C.mg_lua_crypto_key_info(p, info)
    local kty = KTY[info[0]]
    return setmetatable({ kty = kty, bits = info[1], crv = kty ~= "RSA" and CRV_OF_BITS[info[1]]
        or nil, private = info[2] == 1, alg = alg, _k = p, _sig = info[3] }, Key)
end

local JWK_PARTS = { "n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y" }
local parts = ffi.new("const char *[10]")
local lens = ffi.new("size_t[10]")

-- A key from a JWK table: nil, err for a member that is not base64url text.
local function from_jwk(t)
    local kty = t.kty
    if type(kty) ~= "string" then
        return nil, "a JWK needs \"kty\""
    end
    local alg = t.alg
    if alg ~= nil and type(alg) ~= "string" then
        return nil, "the JWK's \"alg\" must be a string"
    end
    if kty == "oct" then
        local k = type(t.k) == "string" and b64url_decode(t.k)
        if not k or k == "" then
            return nil, "an oct JWK needs \"k\" (base64url, not empty)"
        end
        return setmetatable({ kty = "oct", bits = #k * 8, private = true, alg = alg,
            _secret = k }, Key)
    end
    local num = KTY_NUM[kty]
    if num == nil then
        return nil, "unsupported JWK \"kty\" " .. kty .. " (RSA, EC, OKP, oct are)"
    end
    local keep = {} -- the decoded strings stay alive through the call
    for i, name in ipairs(JWK_PARTS) do
        local v = t[name]
        if v == nil then
            parts[i - 1] = nil
        else
            local d = type(v) == "string" and b64url_decode(v)
            if not d then
                return nil, "the JWK member \"" .. name .. "\" is not base64url"
            end
            keep[i] = d
            parts[i - 1], lens[i - 1] = d, #d
        end
    end
    local crv = t.crv
    if crv ~= nil and type(crv) ~= "string" then
        return nil, "the JWK's \"crv\" must be a string"
    end
    local p = C.mg_lua_crypto_key_jwk(num, crv, crv and #crv or 0, parts, lens, errp)
    keep = nil
    if p == nil then
        return nil, ffi_string(errp[0])
    end
    return wrap(p, alg)
end

local json

local function parse(s)
    local at = find(s, "%S")
    if at and sub(s, at, at + 9) == "-----BEGIN" then
        local p = C.mg_lua_crypto_key_pem(s, #s, errp)
        if p == nil then
            return nil, ffi_string(errp[0])
        end
        return wrap(p)
    end
    if at and sub(s, at, at) == "{" then
        json = json or require "moongate.json"
        local t, err = json.decode(s)
        if type(t) ~= "table" then
            return nil, "invalid JWK: " .. tostring(err or "not an object")
        end
        return from_jwk(t)
    end
    return nil, "not a PEM or JWK key"
end

-- Keys given as strings are parsed once: cache[string] = key object, or false with the
-- reason in bad[string]. Bounded: at MAX_CACHED entries the cache starts over.
local MAX_CACHED = 256
local cache, bad, ncached = {}, {}, 0
local by_table = setmetatable({}, { __mode = "k" })

local function cached(s)
    local k = cache[s]
    if k ~= nil then
        return k or nil, bad[s]
    end
    local err
    k, err = parse(s)
    if ncached >= MAX_CACHED then
        cache, bad, ncached = {}, {}, 0
    end
    cache[s], bad[s], ncached = k or false, err, ncached + 1
    return k, err
end

-- The key object that `key` (a key, a PEM or JWK string, a JWK table; the callers
-- checked the type) stands for.
local function to_key(key)
    local tk = type(key)
    if tk == "string" then
        return cached(key)
    end
    if tk == "table" then
        if getmetatable(key) == "mg.crypto key" then
            return key
        end
        local k = by_table[key]
        if k == nil then
            local err
            k, err = from_jwk(key)
            if k == nil then
                return nil, err
            end
            by_table[key] = k
        end
        return k
    end
end

function M.key(pem_or_jwk)
    local t = type(pem_or_jwk)
    if t ~= "string" and t ~= "table" then
        argerr("mg.crypto.key", "a PEM or JWK string or a JWK table", pem_or_jwk)
    end
    if t == "string" then
        return parse(pem_or_jwk)
    end
    return to_key(pem_or_jwk)
end

-- ---- signatures ----

-- The secret of an HS* algorithm: a string (never PEM text), or an "oct" key.
local function hs_secret(alg, key)
    local k = key
    if type(key) == "string" then
        local at = find(key, "%S")
        if at and sub(key, at, at + 9) == "-----BEGIN" then
            return nil, "a PEM key does not fit " .. alg
        end
        if key == "" then
            return nil, "an empty secret does not fit " .. alg
        end
        return key
    end
    local err
    k, err = to_key(key)
    if k == nil then
        return nil, err
    end
    if k.kty ~= "oct" then
        return nil, "key type " .. k.kty .. " does not fit " .. alg
    end
    if k.alg and k.alg ~= alg then
        return nil, "the key is for " .. k.alg .. ", not " .. alg
    end
    return k._secret
end

-- The key object for an asymmetric alg, checked against it: nil, err otherwise.
local function sig_key(alg, key)
    local k, err = to_key(key)
    if k == nil then
        return nil, err
    end
    local need = NEED_KTY[alg]
    if k.kty ~= need then
        return nil, "key type " .. k.kty .. " does not fit " .. alg
    end
    local crv = NEED_CRV[alg]
    if crv and k.crv ~= crv then
        return nil, "key curve " .. tostring(k.crv) .. " does not fit " .. alg
    end
    if need == "RSA" and k.bits < 2048 then
        return nil, "an RSA key of " .. k.bits .. " bits is too small for " .. alg
            .. " (2048 at least)"
    end
    if k.alg and k.alg ~= alg then
        return nil, "the key is for " .. k.alg .. ", not " .. alg
    end
    return k
end

-- Checks what verify and sign share (types raise, at their caller) and finds the key:
-- for HS*, the digest number and the secret; otherwise false and the key object; nil,
-- err for an unknown algorithm or a key that is bad or does not fit it.
local function sig_args(fname, alg, key, msg)
    if type(alg) ~= "string" then
        argerr(fname, "an algorithm name", alg, 4)
    end
    local tk = type(key)
    if tk ~= "string" and tk ~= "table" then
        argerr(fname, "a key (a key object, PEM or JWK)", key, 4)
    end
    if type(msg) ~= "string" then
        argerr(fname, "a string message", msg, 4)
    end
    local md = HS[alg]
    if md then
        local secret, err = hs_secret(alg, key)
        if secret == nil then
            return nil, err
        end
        return md, secret
    end
    if ALG[alg] == nil then
        return nil, "unknown algorithm " .. alg
    end
    local k, err = sig_key(alg, key)
    if k == nil then
        return nil, err
    end
    return false, k
end

function M.verify(alg, key, msg, sig)
    if type(sig) ~= "string" then
        argerr("mg.crypto.verify", "a string signature", sig)
    end
    local md, k = sig_args("mg.crypto.verify", alg, key, msg)
    if md == nil then
        return nil, k
    end
    if md then
        local n = C.mg_lua_crypto_hmac(md, k, #k, msg, #msg, out)
        if C.mg_lua_crypto_equals(out_p, n, sig, #sig) == 1 then
            return true
        end
        return false, "signature mismatch"
    end
    local rc = C.mg_lua_crypto_verify(ALG[alg], k._k, msg, #msg, sig, #sig, errp)
    if rc == OK then
        return true
    end
    if rc == DECLINED then
        return false, "signature mismatch"
    end
    return nil, ffi_string(errp[0])
end

function M.sign(alg, key, msg)
    local md, k = sig_args("mg.crypto.sign", alg, key, msg)
    if md == nil then
        return nil, k
    end
    if md then
        return ffi_string(out, C.mg_lua_crypto_hmac(md, k, #k, msg, #msg, out))
    end
    if not k.private then
        return nil, "a public key cannot sign"
    end
    local b = buf(k._sig)
    local n = C.mg_lua_crypto_sign(ALG[alg], k._k, msg, #msg, b, k._sig, errp)
    if n < 0 then
        return nil, ffi_string(errp[0])
    end
    return ffi_string(b, n)
end

-- ---- AES-GCM ----

local tag = ffi.new("unsigned char[16]")

local function gcm_args(fname, key, iv, data, aad)
    if type(key) ~= "string" then
        argerr(fname, "a string key", key, 4)
    end
    if type(iv) ~= "string" then
        argerr(fname, "a string iv", iv, 4)
    end
    if type(data) ~= "string" then
        argerr(fname, "a string", data, 4)
    end
    if aad ~= nil and type(aad) ~= "string" then
        argerr(fname, "a string aad (or nil)", aad, 4)
    end
end

function M.aes_gcm_encrypt(key, iv, plaintext, aad)
    gcm_args("mg.crypto.aes_gcm_encrypt", key, iv, plaintext, aad)
    local n = #plaintext
    local b = buf(n)
    local rc = C.mg_lua_crypto_aes_gcm(1, key, #key, iv, #iv, aad, aad and #aad or 0, plaintext,
        n, b, tag, 16, errp)
    if rc ~= OK then
        return nil, ffi_string(errp[0])
    end
    return ffi_string(b, n), ffi_string(tag, 16)
end

function M.aes_gcm_decrypt(key, iv, ciphertext, tg, aad)
    gcm_args("mg.crypto.aes_gcm_decrypt", key, iv, ciphertext, aad)
    if type(tg) ~= "string" then
        argerr("mg.crypto.aes_gcm_decrypt", "a string tag", tg)
    end
    local n = #ciphertext
    local b = buf(n)
    ffi.copy(tag, tg, #tg < 16 and #tg or 16)
    local rc = C.mg_lua_crypto_aes_gcm(0, key, #key, iv, #iv, aad, aad and #aad or 0,
        ciphertext, n, b, tag, #tg, errp)
    if rc == OK then
        return ffi_string(b, n)
    end
    if rc == DECLINED then
        return nil, "authentication failed"
    end
    return nil, ffi_string(errp[0])
end

-- ---- bcrypt ----

function M.bcrypt_verify(password, hash)
    if type(password) ~= "string" then
        argerr("mg.crypto.bcrypt_verify", "a string password", password)
    end
    if type(hash) ~= "string" then
        argerr("mg.crypto.bcrypt_verify", "a string hash", hash)
    end
    local rc = C.mg_lua_crypto_bcrypt_verify(password, #password, hash, #hash, errp)
    if rc == OK then
        return true
    end
    if rc == DECLINED then
        return false
    end
    return nil, ffi_string(errp[0])
end

local hashbuf = ffi.new("char[128]")

function M.bcrypt_hash(password, cost)
    if type(password) ~= "string" then
        argerr("mg.crypto.bcrypt_hash", "a string password", password)
    end
    cost = cost or 10
    if type(cost) ~= "number" or cost ~= floor(cost) or cost < 4 or cost > 14 then
        error("mg.crypto.bcrypt_hash: expected a cost (an integer 4..14), got "
            .. tostring(cost), 2)
    end
    local n = C.mg_lua_crypto_bcrypt_hash(password, #password, cost, hashbuf, 128, errp)
    if n < 0 then
        return nil, ffi_string(errp[0])
    end
    return ffi_string(hashbuf, n)
end

return M
