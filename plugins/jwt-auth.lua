-- jwt-auth: JSON Web Tokens (RFC 7519) signed with HS256/384/512, RS256/384/512,
-- PS256/384/512, ES256/384 or EdDSA. The key comes from the consumer the token names
-- (its `key_claim_name` claim, `iss` by default, matched against the consumers'
-- credentials `key`), else from the route's config: a shared `secret`, a `public_key`
-- (PEM or JWK) or a `jwks_uri` whose keys are fetched in the background, cached,
-- refreshed periodically and on an unknown `kid` (rate-capped). The token's `alg` must be
-- the one configured for its key: `none` and algorithm confusion (an RS256 key used as an
-- HMAC secret) are refused. `exp`/`nbf` are checked with `leeway`, then `issuers`,
-- `audiences`, `required_claims` and `maximum_expiration`; `claims_to_headers` copies
-- claims onto the upstream request after removing whatever the client sent under those
-- names. Verified tokens are remembered per worker (signature only: the time and claim
-- checks run on every request).
local mg = require "moongate"
local native = require "moongate.native"

local sub, find, byte, type, tostring, tonumber = string.sub, string.find, string.byte,
    type, tostring, tonumber
local pairs, ipairs = pairs, ipairs

local HMAC_HASH = { HS256 = "sha256", HS384 = "sha384", HS512 = "sha512" }
-- the JWK key type (and curve) each asymmetric algorithm needs
local KTY = {
    RS256 = "RSA", RS384 = "RSA", RS512 = "RSA", PS256 = "RSA", PS384 = "RSA", PS512 = "RSA",
    ES256 = "EC", ES384 = "EC", EdDSA = "OKP",
}
local CRV = { ES256 = "P-256", ES384 = "P-384", EdDSA = "Ed25519" }
local ALGS = { "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "EdDSA" }
local ASYM_ALGS = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA" }
local TOKEN_NAME = "^[%w!#$%%&'*+.^_`|~-]+$"

-- ---- keys: parsed once per worker, by their text ----

local KEYS = {} -- PEM or JWK text -> key object

local function key_object(text)
    local k = KEYS[text]
    if k == nil then
        local err
        k, err = mg.crypto.key(text)
        if k == nil then
            return nil, err
        end
        KEYS[text] = k
    end
    return k
end

local SECRETS = {} -- base64 text -> bytes

local function secret_bytes(secret, is_b64)
    if not is_b64 then
        return secret
    end
    local s = SECRETS[secret]
    if s == nil then
        s = mg.encode.base64_decode(secret)
        SECRETS[secret] = s
    end
    return s
end

local function check_key_text(v)
    local k, err = mg.crypto.key(v)
    if k == nil then
        return nil, "not a usable public key (PEM or JWK): " .. tostring(err)
    end
    return true
end

local function check_b64(v)
    local s = mg.encode.base64_decode(v)
    if s == nil or s == "" then
        return nil, "not valid base64"
    end
    return true
end

-- a record holding `algorithm`, `secret`, `public_key`: they must fit together. A
-- refusal names the key it blames (the schema checker then points at its line).
local function check_key_material(r)
    local alg = r.algorithm
    if r.secret and r.public_key then
        return nil, "give either secret or public_key, not both", "public_key"
    end
    if r.secret then
        if not HMAC_HASH[alg] then
            return nil, "secret is for HS256, HS384 or HS512; algorithm is " .. alg, "secret"
        end
        local s = secret_bytes(r.secret, r.secret_is_base64)
        if s == nil or #s < 32 then
            return nil, "secret must be at least 32 bytes (256 bits)", "secret"
        end
    elseif r.public_key then
        if HMAC_HASH[alg] then
            return nil, "public_key needs an asymmetric algorithm (RS*, PS*, ES*, EdDSA); algorithm is "
                .. alg, "public_key"
        end
        local k = mg.crypto.key(r.public_key)
        if k and (k.kty ~= KTY[alg] or (CRV[alg] and k.crv ~= CRV[alg])) then
            return nil, "public_key is a " .. tostring(k.kty)
                .. (k.crv and (" " .. tostring(k.crv)) or "") .. " key, which does not fit " .. alg,
                "public_key"
        end
    end
    return true
end

local schema = {
    type = "record",
    fields = {
        algorithm = {
            type = "string", default = "HS256", enum = ALGS,
            description = "the algorithm of `secret` or `public_key`",
        },
        secret = {
            type = "string", min = 1,
            description = "HS*: the shared secret (at least 32 bytes)",
        },
        secret_is_base64 = {
            type = "boolean", default = false, description = "secret is written in base64",
        },
        public_key = {
            type = "string", check = check_key_text,
            description = "RS*, PS*, ES*, EdDSA: the public key, PEM or JWK",
        },
        jwks_uri = {
            type = "string",
            check = function(v)
                if not v:find("^https?://[^%s/?#]+[^%s]*$") then
                    return nil, 'expected an http:// or https:// URL, got "' .. v .. '"'
                end
                return true
            end,
            description = "a JWK Set URL whose keys verify tokens (chosen by kid and alg)",
        },
        algorithms = {
            type = "array", items = { type = "string", enum = ASYM_ALGS }, min = 1,
            default = ASYM_ALGS,
            description = "jwks_uri: the algorithms a token may use",
        },
        jwks_cache_ttl = {
            type = "integer", default = 300, min = 1, max = 86400,
            description = "seconds the key set is used before a background refresh, when the answer has no max-age",
        },
        jwks_min_ttl = {
            type = "integer", default = 60, min = 1, max = 86400,
            description = "the least a Cache-Control max-age may keep the key set",
        },
        jwks_max_ttl = {
            type = "integer", default = 86400, min = 1, max = 604800,
            description = "the most a Cache-Control max-age may keep the key set",
        },
        jwks_refetch_interval = {
            type = "integer", default = 10, min = 1, max = 3600,
            description = "an unknown kid refetches the key set at most once per this many seconds",
        },
        jwks_timeout = {
            type = "integer", default = 5000, min = 1, max = 60000,
            description = "milliseconds a key set fetch may take",
        },
        jwks_ssl_verify = {
            type = "boolean", default = true,
            description = "https: verify the key server's certificate",
        },
        jwks_shared_dict = {
            type = "string", check = require("moongate.schema").shared_dict_name.check,
            description = "a shared_dicts name where workers share the fetched key set and the refetch cap",
        },
        header_names = {
            type = "array", items = { type = "string", pattern = TOKEN_NAME },
            default = { "Authorization" },
            description = "headers carrying the token (Authorization: the Bearer scheme)",
        },
        cookie_names = {
            type = "array", items = { type = "string", pattern = TOKEN_NAME }, default = {},
            description = "cookies carrying the token",
        },
        uri_param_names = {
            type = "array", items = { type = "string", min = 1 }, default = {},
            description = "query arguments carrying the token",
        },
        key_claim_name = {
            type = "string", default = "iss", min = 1,
            description = "the claim (or header field) matched against the consumers' credential key",
        },
        leeway = {
            type = "integer", default = 0, min = 0, max = 3600,
            description = "seconds of clock skew allowed for exp and nbf",
        },
        maximum_expiration = {
            type = "integer", default = 0, min = 0,
            description = "seconds a token may still be valid for (needs exp); 0: no limit",
        },
        required_claims = {
            type = "array", items = { type = "string", min = 1 }, default = {},
            description = "claims every token must carry (exp, sub...)",
        },
        issuers = {
            type = "array", items = { type = "string" }, default = {},
            description = "accepted iss values (empty: any)",
        },
        audiences = {
            type = "array", items = { type = "string" }, default = {},
            description = "accepted aud values: the token must name one (empty: any)",
        },
        claims_to_headers = {
            type = "map", default = {},
            keys = { type = "string", min = 1 },
            values = { type = "string", pattern = TOKEN_NAME },
            description = "claim -> request header set upstream (the client's copies always removed)",
        },
        hide_credentials = {
            type = "boolean", default = false,
            description = "remove the token from the request sent upstream",
        },
        anonymous = {
            type = "string",
            description = "consumer name given to requests without a token instead of a 401",
        },
        realm = {
            type = "string", default = "moongate", pattern = '^[^"\\%c]+$',
            description = "the realm named in WWW-Authenticate",
        },
        cache_size = {
            type = "integer", default = 4096, min = 0, max = 1000000,
            description = "verified tokens remembered per worker (0: verify every time)",
        },
    },
    check = function(r)
        local ok, err, key = check_key_material(r)
        if not ok then
            return nil, err, key
        end
        if r.jwks_min_ttl > r.jwks_max_ttl then
            return nil, "jwks_min_ttl must not exceed jwks_max_ttl", "jwks_min_ttl"
        end
        return true
    end,
}

local credential_schema = {
    type = "record",
    fields = {
        key = {
            type = "string", required = true, min = 1, unique = true,
            description = "the value of the token's key claim (iss by default) naming this consumer",
        },
        algorithm = {
            type = "string", default = "HS256", enum = ALGS,
            description = "the algorithm of this consumer's tokens",
        },
        secret = {
            type = "string", min = 1, description = "HS*: the consumer's shared secret",
        },
        secret_is_base64 = {
            type = "boolean", default = false, description = "secret is written in base64",
        },
        public_key = {
            type = "string", check = check_key_text,
            description = "RS*, PS*, ES*, EdDSA: the consumer's public key, PEM or JWK",
        },
    },
    check = check_key_material,
}

-- ---- answers ----

local HDR = {} -- realm -> { missing, invalid } header tables

-- conf -> its native token cache (moongate.native), when the config has one
local TOKENS = setmetatable({}, { __mode = "k" })

local function deny(conf, message, status)
    local h = HDR[conf.realm]
    if h == nil then
        h = {
            { ["WWW-Authenticate"] = 'Bearer realm="' .. conf.realm .. '"' },
            { ["WWW-Authenticate"] = 'Bearer realm="' .. conf.realm .. '", error="invalid_token"' },
        }
        HDR[conf.realm] = h
    end
    status = status or 401
    return status, { error = message, status = status, request_id = mg.var.request_id },
        status == 401 and (message == "missing token" and h[1] or h[2]) or nil
end

-- ---- the token: found once, its parts decoded once ----

local function bearer(v)
    -- the usual form, "Bearer <token>", without patterns (they stop LuaJIT's JIT)
    if sub(v, 1, 7) == "Bearer " and byte(v, 8) ~= 32 and not find(v, " ", 8, true) then
        return #v > 7 and sub(v, 8) or nil
    end
    local s, e = find(v, "^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+")
    if s == nil then
        return nil
    end
    return (v:match("^(%S+)%s*$", e + 1))
end

local function cookie_value(cookies, name)
    for part in cookies:gmatch("[^;]+") do
        local k, v = part:match("^%s*([^=%s]+)%s*=%s*(.-)%s*$")
        if k == name then
            return v
        end
    end
end

-- -> token, how (a function removing it from the request) or nil
-- what access needs of a conf, in arrays (pairs() and lower() cost every request)
local PLANS = setmetatable({}, { __mode = "k" })

local function plan_of(conf)
    local p = PLANS[conf]
    if p == nil then
        p = { auth = {}, claims = {}, headers = {} }
        for i, name in ipairs(conf.header_names) do
            p.auth[i] = name:lower() == "authorization"
        end
        for claim, hname in pairs(conf.claims_to_headers) do
            p.claims[#p.claims + 1] = claim
            p.headers[#p.headers + 1] = hname
        end
        PLANS[conf] = p
    end
    return p
end

local function find_token(conf, plan)
    local get_header = mg.request.get_header
    for i, name in ipairs(conf.header_names) do
        local v = get_header(name)
        if v ~= nil then
            local t = bearer(v)
            if t == nil and not plan.auth[i] then
                t = v:match("^%s*(%S+)%s*$")
            end
            if t ~= nil then
                return t, function() mg.request.clear_header(name) end, true
            end
        end
    end
    if #conf.cookie_names > 0 then
        local cookies = mg.request.get_header("Cookie", true)
        if cookies then
            for _, name in ipairs(conf.cookie_names) do
                local v = cookie_value(cookies, name)
                if v and v ~= "" then
                    return v, function()
                        local kept = {}
                        for part in cookies:gmatch("[^;]+") do
                            local k = part:match("^%s*([^=%s]+)")
                            if k ~= name then
                                kept[#kept + 1] = part:match("^%s*(.-)%s*$")
                            end
                        end
                        mg.request.set_header("Cookie", #kept > 0 and table.concat(kept, "; ") or nil)
                    end
                end
            end
        end
    end
    for _, name in ipairs(conf.uri_param_names) do
        local v = mg.request.get_query_arg(name)
        if type(v) == "string" and v ~= "" then
            return v, function() mg.request.set_query_arg(name, nil) end
        end
    end
end

local function decode_object(seg)
    local raw = mg.encode.base64url_decode(seg)
    if raw == nil or byte(raw, 1) ~= 123 then -- "{"
        return nil
    end
    local v = mg.json.decode(raw)
    if type(v) ~= "table" or getmetatable(v) == mg.json.array_mt then
        return nil
    end
    return v
end

local HEADERS, HEADERS_N = {}, 0 -- header segment -> decoded header (few distinct ones)

local function decode_header(seg)
    local h = HEADERS[seg]
    if h == nil then
        h = decode_object(seg)
        if h == nil then
            return nil
        end
        if HEADERS_N >= 256 then
            HEADERS, HEADERS_N = {}, 0
        end
        HEADERS[seg], HEADERS_N = h, HEADERS_N + 1
    end
    return h
end

-- ---- JWKS: per worker, per URL ----

local JWKS = {} -- uri -> { keys = { kid -> entry } | nil, list, exp, last, busy, version }

local function jwk_entry(jwk)
    if type(jwk) ~= "table" or type(jwk.kty) ~= "string" then
        return nil
    end
    if jwk.use ~= nil and jwk.use ~= "sig" then
        return nil
    end
    if jwk.kty == "oct" then
        return nil -- shared secrets are never taken from a key set
    end
    local k = mg.crypto.key(jwk)
    if k == nil then
        return nil
    end
    return { key = k, kid = type(jwk.kid) == "string" and jwk.kid or nil,
        alg = type(jwk.alg) == "string" and jwk.alg or nil, kty = jwk.kty, crv = jwk.crv }
end

-- -> keys (kid -> entry), list, or nil, why
local function parse_jwks(body)
    local set = mg.json.decode(body)
    if type(set) ~= "table" or type(set.keys) ~= "table" then
        return nil, "not a JWK Set (no keys list)"
    end
    local keys, list = {}, {}
    for _, jwk in ipairs(set.keys) do
        local e = jwk_entry(jwk)
        if e then
            list[#list + 1] = e
            if e.kid then
                keys[e.kid] = e
            end
        end
    end
    if #list == 0 then
        return nil, "no usable signing key in the set"
    end
    return keys, list
end

local function max_age(res)
    local cc = res.headers["cache-control"]
    if type(cc) == "table" then
        cc = table.concat(cc, ",")
    end
    if type(cc) ~= "string" then
        return nil
    end
    cc = cc:lower()
    if find(cc, "no-store", 1, true) or find(cc, "no-cache", 1, true) then
        return 0
    end
    return tonumber(cc:match("max%-age%s*=%s*(%d+)"))
end

local function jwks_install(conf, st, body, ttl)
    local keys, list = parse_jwks(body)
    if keys == nil then
        return nil, list
    end
    st.keys, st.list, st.version = keys, list, st.version + 1
    st.exp = mg.now() + ttl
    local h = TOKENS[conf]
    if h then
        native.token_flush(h) -- tokens verified with the old keys are checked again
    end
    return true
end

local function jwks_ttl(conf, res)
    local age = max_age(res)
    if age == nil then
        return conf.jwks_cache_ttl
    end
    if age < conf.jwks_min_ttl then
        return conf.jwks_min_ttl
    end
    if age > conf.jwks_max_ttl then
        return conf.jwks_max_ttl
    end
    return age
end

-- Fetches the key set (in a request or a timer: it waits on mg.http). One fetch per URL
-- at a time in a worker: others wait for it. -> true, or nil, why
local function jwks_fetch(conf, st)
    if st.busy then
        local deadline = mg.now() + conf.jwks_timeout / 1000
        while st.busy and mg.now() < deadline do
            mg.sleep(5)
        end
        return st.keys ~= nil
    end
    local dict = conf.jwks_shared_dict and mg.shared[conf.jwks_shared_dict]
    local dkey = "jwt-auth:jwks:" .. st.id
    if dict then
        -- another worker's fresh copy is as good as a fetch
        local body = dict:get(dkey)
        local ttl = body and dict:ttl(dkey)
        if body and (st.fetched_body ~= body) and ttl and ttl > 0 then
            st.fetched_body = body
            st.last = mg.now()
            return jwks_install(conf, st, body, ttl)
        end
    end
    st.busy, st.last = true, mg.now()
    local res, err = mg.http.request({
        url = conf.jwks_uri, timeout = conf.jwks_timeout, ssl_verify = conf.jwks_ssl_verify,
        headers = { Accept = "application/jwk-set+json, application/json" }, max_body = 1048576,
    })
    st.busy = false
    if res == nil or res.status ~= 200 then
        err = err or ("status " .. tostring(res.status))
        mg.log(mg.ERR, "jwt-auth: fetching ", conf.jwks_uri, " failed: ", err)
        st.exp = mg.now() + conf.jwks_refetch_interval -- retry later, keep the old keys
        return nil, err
    end
    local ttl = jwks_ttl(conf, res)
    local ok, perr = jwks_install(conf, st, res.body, ttl)
    if not ok then
        mg.log(mg.ERR, "jwt-auth: ", conf.jwks_uri, ": ", perr)
        st.exp = mg.now() + conf.jwks_refetch_interval
        return nil, perr
    end
    st.fetched_body = res.body
    if dict then
        dict:set(dkey, res.body, ttl)
    end
    return true
end

-- keys fetched without certificate verification never serve a conf that asks for it
local function jwks_state(conf)
    local id = conf.jwks_ssl_verify and conf.jwks_uri or (conf.jwks_uri .. " (not verified)")
    local st = JWKS[id]
    if st == nil then
        st = { exp = 0, last = -1e9, busy = false, version = 0, id = id }
        JWKS[id] = st
    end
    return st
end

-- may this worker refetch for an unknown kid now? (per worker, and across workers
-- with jwks_shared_dict)
local function refetch_allowed(conf, st)
    if mg.now() - st.last < conf.jwks_refetch_interval then
        return false
    end
    local dict = conf.jwks_shared_dict and mg.shared[conf.jwks_shared_dict]
    if dict then
        local ok = dict:add("jwt-auth:refetch:" .. st.id, true, conf.jwks_refetch_interval)
        if not ok then
            st.last = mg.now() -- someone else fetched: read their copy next time
            local body = dict:get("jwt-auth:jwks:" .. st.id)
            local ttl = body and dict:ttl("jwt-auth:jwks:" .. st.id)
            if body and body ~= st.fetched_body and ttl and ttl > 0 then
                st.fetched_body = body
                jwks_install(conf, st, body, ttl)
            end
            return false
        end
    end
    return true
end

local function jwks_pick(st, kid, alg, allowed)
    local cands
    if kid ~= nil then
        local e = st.keys[kid]
        cands = e and { e } or {}
    else
        cands = st.list
    end
    for _, e in ipairs(cands) do
        if (e.alg == nil or e.alg == alg) and e.kty == KTY[alg]
            and (CRV[alg] == nil or e.crv == CRV[alg]) and allowed[alg] then
            return e
        end
    end
end

local ALLOWED = setmetatable({}, { __mode = "k" }) -- conf -> set of algorithms

-- -> key entry, or nil, message, status
local function jwks_key(conf, kid, alg)
    local allowed = ALLOWED[conf]
    if allowed == nil then
        allowed = {}
        for _, a in ipairs(conf.algorithms) do
            allowed[a] = true
        end
        ALLOWED[conf] = allowed
    end
    if not allowed[alg] then
        return nil, "algorithm not allowed"
    end
    if kid ~= nil and type(kid) ~= "string" then
        return nil, "malformed token"
    end
    local st = jwks_state(conf)
    if st.keys == nil then
        jwks_fetch(conf, st)
        if st.keys == nil then
            return nil, "signing keys unavailable", 503
        end
    elseif mg.now() > st.exp and not st.busy and not st.refreshing then
        st.refreshing = true
        local ok = mg.timer.at(0, function(premature)
            if not premature then
                jwks_fetch(conf, st)
            end
            st.refreshing = false
        end)
        if not ok then
            st.refreshing = false
        end
    end
    local e = jwks_pick(st, kid, alg, allowed)
    if e == nil and kid ~= nil and st.keys[kid] == nil and refetch_allowed(conf, st) then
        jwks_fetch(conf, st)
        e = jwks_pick(st, kid, alg, allowed)
    end
    if e == nil then
        if kid ~= nil and st.keys[kid] == nil then
            return nil, "unknown key id"
        end
        return nil, "no key for this algorithm"
    end
    return e, st.version
end

-- ---- verification ----

local function verify_sig(alg, material, input, sig)
    local hash = HMAC_HASH[alg]
    if hash then
        return mg.crypto.equals(mg.crypto.hmac(hash, material, input), sig)
    end
    return mg.crypto.verify(alg, material, input, sig) == true
end

-- the verified-token cache: per conf, two generations
local VCACHE = setmetatable({}, { __mode = "k" })

local function vcache(conf)
    local c = VCACHE[conf]
    if c == nil then
        c = { new = {}, old = {}, n = 0 }
        VCACHE[conf] = c
    end
    return c
end

local function vcache_get(c, token)
    local e = c.new[token]
    if e == nil then
        e = c.old[token]
    end
    return e
end

local function vcache_put(c, token, e, cap)
    if c.n >= cap then
        c.old, c.new, c.n = c.new, {}, 0
    end
    c.new[token], c.n = e, c.n + 1
end

local function has(list, v)
    for _, x in ipairs(list) do
        if x == v then
            return true
        end
    end
    return false
end

-- the claim checks, on every request -> nil, or the refusal's message
local function check_claims(conf, claims, now)
    local exp, nbf = claims.exp, claims.nbf
    if exp ~= nil then
        if type(exp) ~= "number" then
            return "exp must be a number"
        end
        if now > exp + conf.leeway then
            return "token expired"
        end
    end
    if nbf ~= nil then
        if type(nbf) ~= "number" then
            return "nbf must be a number"
        end
        if now + conf.leeway < nbf then
            return "token not valid yet"
        end
    end
    if conf.maximum_expiration > 0 then
        if exp == nil then
            return "token has no exp"
        end
        if exp - now > conf.maximum_expiration then
            return "token exp too far in the future"
        end
    end
    for _, name in ipairs(conf.required_claims) do
        if claims[name] == nil then
            return "token has no " .. name .. " claim"
        end
    end
    if #conf.issuers > 0 and not has(conf.issuers, claims.iss) then
        return "issuer not accepted"
    end
    if #conf.audiences > 0 then
        local aud, ok = claims.aud, false
        if type(aud) == "string" then
            ok = has(conf.audiences, aud)
        elseif type(aud) == "table" then
            for _, a in ipairs(aud) do
                if has(conf.audiences, a) then
                    ok = true
                    break
                end
            end
        end
        if not ok then
            return "audience not accepted"
        end
    end
end

local SEG = "^([%w_-]+)%.([%w_-]+)%.([%w_-]*)$"

-- -> entry { header, claims, consumer } or nil, message, status
local function verify_token(conf, token)
    if #token > 16384 then
        return nil, "malformed token"
    end
    local hseg, pseg, sseg = token:match(SEG)
    if hseg == nil then
        return nil, "malformed token"
    end
    local header = decode_header(hseg)
    if header == nil or type(header.alg) ~= "string" then
        return nil, "malformed token"
    end
    local alg = header.alg
    if alg == "none" or alg:lower() == "none" or sseg == "" then
        return nil, "unsigned token (alg none) refused"
    end
    if header.crit ~= nil then
        return nil, "unsupported critical header parameters"
    end
    local claims = decode_object(pseg)
    if claims == nil then
        return nil, "malformed token"
    end
    local sig = mg.encode.base64url_decode(sseg)
    if sig == nil then
        return nil, "malformed token"
    end
    -- whose key: the consumer the key claim names, else the route's
    local consumer
    local kv = claims[conf.key_claim_name]
    if kv == nil then
        kv = header[conf.key_claim_name]
    end
    if type(kv) == "string" then
        consumer = mg.consumer.find("jwt-auth", "key", kv)
    end
    local cred = consumer and consumer.credentials["jwt-auth"]
    local material, want, version
    if cred and (cred.secret or cred.public_key) then
        want = cred.algorithm
        if cred.secret then
            material = secret_bytes(cred.secret, cred.secret_is_base64)
        else
            material = key_object(cred.public_key)
        end
    elseif conf.secret then
        want, material = conf.algorithm, secret_bytes(conf.secret, conf.secret_is_base64)
    elseif conf.public_key then
        want, material = conf.algorithm, key_object(conf.public_key)
    elseif conf.jwks_uri then
        local e, why, status = jwks_key(conf, header.kid, alg)
        if e == nil then
            return nil, why, status
        end
        want, material, version = alg, e.key, why
    else
        return nil, consumer and "no key for this consumer" or "no consumer for this token"
    end
    if alg ~= want then
        return nil, "algorithm not allowed"
    end
    if material == nil then
        return nil, "no key for this token"
    end
    local input = sub(token, 1, #hseg + 1 + #pseg)
    if not verify_sig(alg, material, input, sig) then
        return nil, "invalid signature"
    end
    return { header = header, claims = claims, consumer = consumer, version = version,
        until_ = mg.now() + 300 }
end

-- Sets the claim headers; returns them as { name1, value1, ... } for the native cache.
local function set_claim_headers(plan, claims)
    local headers, set = plan.headers, {}
    for i, claim in ipairs(plan.claims) do
        local v = claims[claim]
        local tv = type(v)
        if tv == "number" then
            v = mg.json.number_text(v) -- every digit of an id, not 1.2345678901234e+14
        elseif tv == "boolean" then
            v = tostring(v)
        elseif tv == "table" and v ~= mg.json.null then
            v = mg.json.encode(v)
        elseif tv ~= "string" then
            v = nil
        end
        if v ~= nil then
            mg.request.set_header(headers[i], v)
            set[#set + 1], set[#set + 2] = headers[i], v
        end
    end
    return set
end

-- The wall-clock times between which check_claims passes for these claims (its time
-- checks; the others do not change), within the entry's own lifetime.
local function valid_window(conf, claims, until_)
    local lo, hi = -math.huge, until_
    local exp, nbf = claims.exp, claims.nbf
    if exp ~= nil then
        hi = math.min(hi, exp + conf.leeway)
    end
    if nbf ~= nil then
        lo = nbf - conf.leeway
    end
    if conf.maximum_expiration > 0 and exp ~= nil then
        lo = math.max(lo, exp - conf.maximum_expiration)
    end
    return lo, hi
end

local function access(conf)
    local plan = plan_of(conf)
    -- whatever the client sent under the claim headers' names is never trusted
    for _, hname in ipairs(plan.headers) do
        mg.request.clear_header(hname)
    end
    local token, remove, in_header = find_token(conf, plan)
    if token == nil then
        if conf.anonymous then
            mg.var.consumer = conf.anonymous
            return
        end
        return deny(conf, "missing token")
    end
    local e
    local now = mg.now()
    local cache = conf.cache_size > 0 and vcache(conf)
    if cache then
        e = vcache_get(cache, token)
        if e and (e.until_ < now or
            (e.version and e.version ~= jwks_state(conf).version)) then
            e = nil
        end
    end
    if e == nil then
        local why, status
        e, why, status = verify_token(conf, token)
        if e == nil then
            return deny(conf, why, status)
        end
        if cache then
            vcache_put(cache, token, e, conf.cache_size)
        end
    end
    local why = check_claims(conf, e.claims, now)
    if why then
        return deny(conf, why)
    end
    if e.consumer then
        mg.var.consumer = e.consumer.name
    end
    mg.ctx["jwt-auth"] = e
    local set = set_claim_headers(plan, e.claims)
    if conf.hide_credentials then
        remove()
    end
    -- a route that runs the native cache comes here on its misses: fill it
    local h = TOKENS[conf]
    if h and in_header and native.used[h] and
        (e.consumer == nil or next(e.consumer.plugins or {}) == nil) then
        local lo, hi = valid_window(conf, e.claims, e.until_)
        native.token_put(h, token, lo, hi, e.consumer and e.consumer.name, set)
    end
end

-- The verified-token cache in C (moongate.native): a route whose plugins all run
-- natively answers a cached token without entering Lua.
local function native_of(conf)
    if conf.cache_size == 0 or #conf.header_names == 0 then
        return nil
    end
    local h = native.token_cache { cap = conf.cache_size, from = conf.header_names,
        clear = plan_of(conf).headers, hide = conf.hide_credentials }
    TOKENS[conf] = h
    return { access = h }
end

return {
    name = "jwt-auth",
    version = "1.0.0",
    priority = 2460,
    description = "JSON Web Token authentication: HMAC, RSA, RSA-PSS, ECDSA and EdDSA keys, JWKS",
    schema = schema,
    credential_schema = credential_schema,
    access = access,
    native = native_of,
}
