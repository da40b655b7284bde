-- hmac-auth: HTTP Message Signatures (RFC 9421). The client lists the components it
-- signed in Signature-Input and sends the signature in Signature; the consumer is found
-- by the `keyid` parameter among the consumers' credentials, and its algorithm and key
-- (an HMAC secret or a public key) verify the signature base rebuilt from this request.
-- required_components must all be covered; `created` (and `expires`) are checked against
-- clock_skew; a Content-Digest header (RFC 9530) is checked against the body; an optional
-- shared dict refuses a replayed nonce. Components may carry the parameters a request
-- can use: "@query-param";name=, a dictionary member by key, and bs.
local mg = require "moongate"

local sub, find, byte, concat = string.sub, string.find, string.byte, table.concat

-- RFC 9421 algorithm names -> how to verify
local ALGS = {
    ["hmac-sha256"] = { hmac = "sha256" },
    ["ed25519"] = { jws = "EdDSA", kty = "OKP" },
    ["ecdsa-p256-sha256"] = { jws = "ES256", kty = "EC" },
    ["ecdsa-p384-sha384"] = { jws = "ES384", kty = "EC" },
    ["rsa-pss-sha512"] = { jws = "PS512", kty = "RSA" },
    ["rsa-v1_5-sha256"] = { jws = "RS256", kty = "RSA" },
}
local ALG_NAMES = { "hmac-sha256", "ed25519", "ecdsa-p256-sha256", "ecdsa-p384-sha384",
    "rsa-pss-sha512", "rsa-v1_5-sha256" }
local DERIVED = { ["@method"] = true, ["@target-uri"] = true, ["@authority"] = true,
    ["@scheme"] = true, ["@request-target"] = true, ["@path"] = true, ["@query"] = true }

local function check_component(v)
    if DERIVED[v] or v:find("^[a-z0-9!#$%%&'*+.^_`|~-]+$") then
        return true
    end
    return nil, "expected a header name in lower case or one of @method, @target-uri, "
        .. "@authority, @scheme, @request-target, @path, @query"
end

local schema = {
    type = "record",
    fields = {
        required_components = {
            type = "array", items = { type = "string", check = check_component },
            default = { "@method", "@authority", "@path" },
            description = "components every signature must cover",
        },
        require_created = {
            type = "boolean", default = true,
            description = "signatures must carry the created parameter",
        },
        clock_skew = {
            type = "integer", default = 300, min = 1, max = 315360000,
            description = "seconds created may differ from now (and expires be past)",
        },
        require_content_digest = {
            type = "boolean", default = false,
            description = "a request with a body must send Content-Digest and cover it",
        },
        max_body = {
            type = "integer", default = 1048576, min = 0, max = 67108864,
            description = "the largest body whose Content-Digest is checked (bytes); larger: 413",
        },
        nonce_dict = {
            type = "string", check = require("moongate.schema").shared_dict_name.check,
            description = "a shared_dicts name remembering nonces for 2 x clock_skew: a replay is refused",
        },
        require_nonce = {
            type = "boolean", default = false, description = "signatures must carry a nonce",
        },
        label = {
            type = "string", pattern = "^[a-z*][a-z0-9_.*-]*$",
            description = "only the signature of this label is checked (default: the first one)",
        },
        hide_credentials = {
            type = "boolean", default = false,
            description = "remove Signature, Signature-Input (or Authorization) from the request sent upstream",
        },
        authorization_scheme = {
            type = "boolean", default = true,
            description = "also accept `Authorization: hmac username=..., algorithm=..., headers=..., signature=...`",
        },
        hmac_algorithms = {
            type = "array", min = 1, default = { "hmac-sha256", "hmac-sha384", "hmac-sha512" },
            items = { type = "string", enum = { "hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512" } },
            description = "Authorization scheme: the algorithms a client may name",
        },
        anonymous = {
            type = "string",
            description = "consumer name given to unsigned requests instead of a 401",
        },
    },
}

local function check_key(v)
    local k, err = mg.crypto.key(v)
    if k == nil then
        return nil, "not a usable public key (PEM or JWK): " .. tostring(err)
    end
    return true
end

local credential_schema = {
    type = "record",
    fields = {
        key_id = {
            type = "string", required = true, min = 1, unique = true,
            description = "the keyid the consumer's signatures name",
        },
        algorithm = {
            type = "string", default = "hmac-sha256", enum = ALG_NAMES,
            description = "the algorithm of the consumer's signatures",
        },
        secret = { type = "string", min = 1, description = "hmac-sha256: the shared secret" },
        secret_is_base64 = {
            type = "boolean", default = false, description = "secret is written in base64",
        },
        public_key = {
            type = "string", check = check_key,
            description = "the other algorithms: the public key, PEM or JWK",
        },
    },
    check = function(r)
        local a = ALGS[r.algorithm]
        if a.hmac then
            if not r.secret or r.public_key then
                return nil, r.algorithm .. " needs a secret (and no public_key)"
            end
            local s = r.secret_is_base64 and mg.encode.base64_decode(r.secret) or r.secret
            if s == nil or #s < 32 then
                return nil, "secret must be at least 32 bytes"
            end
            return true
        end
        if not r.public_key or r.secret then
            return nil, r.algorithm .. " needs a public_key (and no secret)"
        end
        local k = mg.crypto.key(r.public_key)
        if k and k.kty ~= a.kty then
            return nil, "public_key is a " .. tostring(k.kty) .. " key, which does not fit "
                .. r.algorithm
        end
        return true
    end,
}

-- ---- RFC 8941 structured fields: just what Signature-Input and Signature need ----

local function skip_sp(s, i)
    while true do
        local c = byte(s, i)
        if c ~= 32 and c ~= 9 then
            return i
        end
        i = i + 1
    end
end

local function parse_string(s, i)
    local out, n = {}, 0
    i = i + 1
    while i <= #s do
        local c = byte(s, i)
        if c == 92 then -- backslash
            local d = byte(s, i + 1)
            if d ~= 34 and d ~= 92 then
                return nil
            end
            n = n + 1
            out[n] = string.char(d)
            i = i + 2
        elseif c == 34 then
            return concat(out), i + 1
        elseif c < 32 or c > 126 then
            return nil
        else
            n = n + 1
            out[n] = string.char(c)
            i = i + 1
        end
    end
end

-- a bare item -> value, next index (byte sequences as { bytes = base64 })
local function parse_bare(s, i)
    local c = sub(s, i, i)
    if c == '"' then
        return parse_string(s, i)
    elseif c == ":" then
        local j = find(s, ":", i + 1, true)
        if j == nil then
            return nil
        end
        local b = sub(s, i + 1, j - 1)
        if not b:find("^[A-Za-z0-9+/]*=*$") then
            return nil
        end
        return { bytes = b }, j + 1
    elseif c == "?" then
        local d = sub(s, i + 1, i + 1)
        if d ~= "0" and d ~= "1" then
            return nil
        end
        return d == "1", i + 2
    end
    local num = s:match("^%-?%d+", i)
    if num then
        if #num > 16 or sub(s, i + #num, i + #num) == "." then
            return nil
        end
        return tonumber(num), i + #num
    end
    local tok = s:match("^[%a*][%w_%-%.:%%*/!#$&'+^`|~]*", i)
    if tok then
        return { token = tok }, i + #tok
    end
end

-- parameters -> { key = value, [1..n] = the keys in order }, next index
local function parse_params(s, i)
    local params = {}
    while sub(s, i, i) == ";" do
        i = skip_sp(s, i + 1)
        local key = s:match("^[a-z*][a-z0-9_%-%.*]*", i)
        if key == nil then
            return nil
        end
        i = i + #key
        local v = true
        if sub(s, i, i) == "=" then
            v, i = parse_bare(s, i + 1)
            if i == nil then
                return nil
            end
        end
        if params[key] == nil then
            params[#params + 1] = key
        end
        params[key] = v
    end
    return params, i
end

-- ---- RFC 8941 serialization, for the component identifiers and values rebuilt ----

local function ser_bare(v)
    local t = type(v)
    if t == "string" then
        return '"' .. v:gsub('[\\"]', "\\%0") .. '"'
    elseif t == "number" then
        return string.format("%d", v)
    elseif t == "boolean" then
        return v and "?1" or "?0"
    elseif v.token then
        return v.token
    end
    return ":" .. v.bytes .. ":"
end

local function ser_params(params)
    local out = {}
    for i, key in ipairs(params) do
        local v = params[key]
        out[i] = v == true and ";" .. key or ";" .. key .. "=" .. ser_bare(v)
    end
    return concat(out)
end

-- a dictionary member or inner-list item as parse_dict gives it -> its serialization
local function ser_member(m)
    local v = m.value
    if type(v) == "table" and not v.token and not v.bytes then
        local items = {}
        for i, it in ipairs(v) do
            items[i] = type(it) == "table" and it.params and ser_bare(it.name) .. ser_params(it.params)
                or ser_bare(it)
        end
        return "(" .. concat(items, " ") .. ")" .. ser_params(m.params)
    end
    return ser_bare(v) .. ser_params(m.params)
end

-- a dictionary -> { label -> { value, params, raw } }, order; nil when malformed
local function parse_dict(s)
    local out, order = {}, {}
    local i, n = skip_sp(s, 1), #s
    while i <= n do
        local key = s:match("^[a-z*][a-z0-9_%-%.*]*", i)
        if key == nil then
            return nil
        end
        i = i + #key
        if sub(s, i, i) ~= "=" then
            return nil
        end
        i = i + 1
        local start, value = i, nil
        if sub(s, i, i) == "(" then
            value = {}
            i = i + 1
            while true do
                i = skip_sp(s, i)
                if sub(s, i, i) == ")" then
                    i = i + 1
                    break
                end
                local item
                item, i = parse_bare(s, i)
                if i == nil then
                    return nil
                end
                local ip
                ip, i = parse_params(s, i)
                if ip == nil then
                    return nil
                end
                if next(ip) ~= nil then
                    item = { name = item, params = ip }
                end
                value[#value + 1] = item
                local c = sub(s, i, i)
                if c ~= " " and c ~= ")" then
                    return nil
                end
            end
        else
            value, i = parse_bare(s, i)
            if i == nil then
                return nil
            end
        end
        local params
        params, i = parse_params(s, i)
        if params == nil then
            return nil
        end
        if out[key] == nil then
            order[#order + 1] = key
        end
        out[key] = { value = value, params = params, raw = sub(s, start, i - 1) }
        i = skip_sp(s, i)
        if i > n then
            break
        end
        if sub(s, i, i) ~= "," then
            return nil
        end
        i = skip_sp(s, i + 1)
        if i > n then
            return nil -- a trailing comma
        end
    end
    return out, order
end

-- ---- components ----

local function target()
    local uri = mg.request.get_uri()
    local q = find(uri, "?", 1, true)
    if q then
        return uri, sub(uri, 1, q - 1), sub(uri, q)
    end
    return uri, uri, "?"
end

-- the value of one covered component, or nil, why
local function component(name)
    if name == "@method" then
        return mg.request.get_method()
    elseif name == "@authority" then
        local h = mg.request.get_header("Host")
        return h and h:lower() or nil, "no Host header"
    elseif name == "@scheme" then
        return mg.request.get_scheme()
    elseif name == "@request-target" then
        return (target())
    elseif name == "@path" then
        local _, p = target()
        return p
    elseif name == "@query" then
        local _, _, q = target()
        return q
    elseif name == "@target-uri" then
        local h = mg.request.get_header("Host")
        if h == nil then
            return nil, "no Host header"
        end
        return mg.request.get_scheme() .. "://" .. h:lower() .. (target())
    elseif name == "@query-param" then
        return nil, "@query-param needs a name, alone"
    elseif byte(name, 1) == 64 then
        return nil, "unsupported component " .. name
    end
    local v = mg.request.get_header(name, true)
    if v == nil then
        return nil, "covered header " .. name .. " is absent"
    end
    return (v:gsub("^[ \t]+", ""):gsub("[ \t]+$", ""))
end

-- A query name or value, decoded as a form does (mg.request.unescape: "+" a space, %XX
-- a byte), encoded again as RFC 9421 signs it: every byte but ALPHA, DIGIT, "*", "-",
-- "." and "_" as %XX in upper case, a space too (not "+")
local function form_encode(v)
    return (v:gsub("[^%w%*%-%._]", function(c) return string.format("%%%02X", byte(c)) end))
end

-- "@query-param";name="...": the value of the query parameter of that (encoded) name;
-- absent, or named more than once (RFC 9421 2.2.8), is an error
local function query_param(name)
    local _, _, q = target()
    local found
    for pair in q:sub(2):gmatch("[^&]+") do
        local eq = find(pair, "=", 1, true)
        local n = eq and sub(pair, 1, eq - 1) or pair
        if form_encode(mg.request.unescape(n)) == name then
            if found ~= nil then
                return nil, "query parameter " .. name .. " is sent more than once"
            end
            found = form_encode(mg.request.unescape(eq and sub(pair, eq + 1) or ""))
        end
    end
    if found == nil then
        return nil, "covered query parameter " .. name .. " is absent"
    end
    return found
end

-- a component given with parameters (item: { name, params }) -> its value, or nil, why.
-- Understood: "@query-param";name; on a header, bs (each field line as a byte sequence)
-- or key (one member of a dictionary field, serialized). Others, sf among them, are
-- refused, as RFC 9421 asks of parameters a verifier does not understand.
local function component_with(item)
    local name, params = item.name, item.params
    if type(name) ~= "string" then
        return nil, "malformed Signature-Input or Signature"
    end
    for _, key in ipairs(params) do
        if key ~= "name" and key ~= "bs" and key ~= "key" then
            return nil, "unsupported component parameter " .. key
        end
    end
    if name == "@query-param" then
        if #params ~= 1 or type(params.name) ~= "string" then
            return nil, "@query-param needs a name, alone"
        end
        return query_param(params.name)
    elseif byte(name, 1) == 64 or params.name ~= nil then
        return nil, "unsupported component parameters on " .. name
    end
    local lines = mg.request.get_headers()[name]
    if lines == nil then
        return nil, "covered header " .. name .. " is absent"
    end
    if params.bs then
        if params.key ~= nil or params.bs ~= true then
            return nil, "bs goes alone"
        end
        lines = type(lines) == "table" and lines or { lines }
        local out = {}
        for i, v in ipairs(lines) do
            out[i] = ":" .. mg.encode.base64((v:gsub("^[ \t]+", ""):gsub("[ \t]+$", ""))) .. ":"
        end
        return concat(out, ", ")
    end
    if type(params.key) ~= "string" then
        return nil, "malformed key parameter"
    end
    local dict = parse_dict(type(lines) == "table" and concat(lines, ", ") or lines)
    if dict == nil then
        return nil, "covered header " .. name .. " is not a dictionary"
    end
    local m = dict[params.key]
    if m == nil then
        return nil, "covered dictionary member " .. params.key .. " is absent"
    end
    return ser_member(m)
end

-- ---- answers ----

local CHALLENGE = { ["WWW-Authenticate"] = 'Signature realm="moongate"' }

local function deny(message, status)
    status = status or 401
    return status, { error = message, status = status, request_id = mg.var.request_id },
        status == 401 and CHALLENGE or nil
end

local DIGESTS = { ["sha-256"] = "sha256", ["sha-512"] = "sha512" }

-- -> nil, or the refusal
local function check_digest(conf, header)
    local body, err = mg.request.get_body(conf.max_body)
    if body == nil then
        if err == "body too large" then
            return "body too large for its Content-Digest to be checked", 413
        end
        return "body not received", 400
    end
    local d = parse_dict(header)
    if d == nil then
        return "malformed Content-Digest"
    end
    local checked = false
    for name, fn in pairs(DIGESTS) do
        local m = d[name]
        if m then
            if type(m.value) ~= "table" or not m.value.bytes then
                return "malformed Content-Digest"
            end
            local want = mg.encode.base64_decode(m.value.bytes)
            if want == nil or not mg.crypto.equals(mg.crypto[fn](body), want) then
                return "Content-Digest does not match the body"
            end
            checked = true
        end
    end
    if not checked then
        return "Content-Digest names no supported algorithm (sha-256, sha-512)"
    end
end

local KEYS = {}

local function verify(cred, base, sig)
    local a = ALGS[cred.algorithm]
    if a.hmac then
        local secret = cred.secret
        if cred.secret_is_base64 then
            secret = mg.encode.base64_decode(secret)
        end
        return mg.crypto.equals(mg.crypto.hmac(a.hmac, secret, base), sig)
    end
    local k = KEYS[cred.public_key]
    if k == nil then
        k = mg.crypto.key(cred.public_key)
        KEYS[cred.public_key] = k
    end
    return k ~= nil and mg.crypto.verify(a.jws, k, base, sig) == true
end

-- ---- the Authorization: hmac scheme (draft-cavage, as Kong and APISIX take it) ----

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8,
    Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

-- "Tue, 20 Apr 2021 02:07:55 GMT" -> seconds since the epoch, or nil
local function http_date(v)
    local d, mon, y, hh, mm, ss = v:match(
        "^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    local m = MONTHS[mon]
    if d == nil or m == nil then
        return nil
    end
    y, d = tonumber(y), tonumber(d)
    -- days from the civil date (H. Hinnant's algorithm)
    if m <= 2 then
        y = y - 1
    end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    local days = era * 146097 + doe - 719468
    return days * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

local CAVAGE_HASH = { ["hmac-sha1"] = "sha1", ["hmac-sha256"] = "sha256",
    ["hmac-sha384"] = "sha384", ["hmac-sha512"] = "sha512" }

local function hmac_scheme(conf, header)
    local rest = header:match("^%s*[Hh][Mm][Aa][Cc]%s+(.*)$")
    local p = {}
    for k, v in rest:gmatch("%s*([%a_]+)%s*=%s*\"([^\"]*)\"") do
        if p[k] ~= nil then
            return deny("malformed Authorization header")
        end
        p[k] = v
    end
    if not (p.username and p.signature and p.algorithm) then
        return deny("malformed Authorization header")
    end
    local hash = CAVAGE_HASH[p.algorithm]
    local allowed = false
    for _, a in ipairs(conf.hmac_algorithms) do
        allowed = allowed or a == p.algorithm
    end
    if not hash or not allowed then
        return deny("algorithm not allowed")
    end
    local consumer = mg.consumer.find("hmac-auth", "key_id", p.username)
    if consumer == nil then
        return deny("unknown keyid")
    end
    local cred = consumer.credentials["hmac-auth"]
    if not ALGS[cred.algorithm].hmac then
        return deny("algorithm not allowed")
    end
    local sig = mg.encode.base64_decode(p.signature)
    if sig == nil or sig == "" then
        return deny("malformed Authorization header")
    end
    local names = p.headers or "date"
    local lines, covered = {}, {}
    for name in names:gmatch("%S+") do
        name = name:lower()
        if covered[name] then
            return deny("component " .. name .. " covered twice")
        end
        covered[name] = true
        local v, why
        if name == "@request-target" or name == "(request-target)" then
            v = mg.request.get_method():lower() .. " " .. mg.request.get_uri()
        elseif byte(name, 1) == 64 or byte(name, 1) == 40 then
            return deny("unsupported component " .. name)
        else
            v, why = component(name)
            if v == nil then
                return deny(why)
            end
        end
        lines[#lines + 1] = name .. ": " .. v
    end
    local dname = covered["x-date"] and "X-Date" or "Date"
    if not covered[dname:lower()] then
        return deny("the signature does not cover date")
    end
    local when = http_date(mg.request.get_header(dname) or "")
    if when == nil then
        return deny("malformed " .. dname)
    end
    if math.abs(mg.now() - when) > conf.clock_skew then
        return deny(dname .. " is outside the allowed clock skew")
    end
    local secret = cred.secret
    if cred.secret_is_base64 then
        secret = mg.encode.base64_decode(secret)
    end
    if not mg.crypto.equals(mg.crypto.hmac(hash, secret, concat(lines, "\n")), sig) then
        return deny("invalid signature")
    end
    local digest = mg.request.get_header("Content-Digest", true)
    if digest ~= nil then
        local why, status = check_digest(conf, digest)
        if why then
            return deny(why, status)
        end
    end
    mg.var.consumer = consumer.name
    if conf.hide_credentials then
        mg.request.clear_header("Authorization")
    end
end

local function access(conf)
    local input = mg.request.get_header("Signature-Input", true)
    local sigs = mg.request.get_header("Signature", true)
    if input == nil and sigs == nil and conf.authorization_scheme then
        local a = mg.request.get_header("Authorization")
        if a and find(a, "^%s*[Hh][Mm][Aa][Cc]%s") then
            return hmac_scheme(conf, a)
        end
    end
    if input == nil and sigs == nil then
        if conf.anonymous then
            mg.var.consumer = conf.anonymous
            return
        end
        return deny("missing signature")
    end
    if input == nil or sigs == nil then
        return deny("Signature and Signature-Input must both be sent")
    end
    local inputs, order = parse_dict(input)
    local sigd = parse_dict(sigs)
    if inputs == nil or sigd == nil then
        return deny("malformed Signature-Input or Signature")
    end
    local label = conf.label or order[1]
    local si, sv = inputs[label], sigd[label]
    if si == nil or sv == nil then
        return deny("no signature labelled " .. tostring(label))
    end
    if type(si.value) ~= "table" or si.value.bytes or si.value.token
        or type(sv.value) ~= "table" or not sv.value.bytes then
        return deny("malformed Signature-Input or Signature")
    end
    local sig = mg.encode.base64_decode(sv.value.bytes)
    if sig == nil or sig == "" then
        return deny("malformed Signature-Input or Signature")
    end
    local p = si.params
    -- the key
    if type(p.keyid) ~= "string" then
        return deny("the signature has no keyid")
    end
    local consumer = mg.consumer.find("hmac-auth", "key_id", p.keyid)
    if consumer == nil then
        return deny("unknown keyid")
    end
    local cred = consumer.credentials["hmac-auth"]
    if p.alg ~= nil and p.alg ~= cred.algorithm then
        return deny("algorithm not allowed")
    end
    -- time and replay
    local now = mg.now()
    if p.created ~= nil then
        if type(p.created) ~= "number" then
            return deny("malformed created")
        end
        if math.abs(now - p.created) > conf.clock_skew then
            return deny("created is outside the allowed clock skew")
        end
    elseif conf.require_created then
        return deny("the signature has no created")
    end
    if p.expires ~= nil then
        if type(p.expires) ~= "number" then
            return deny("malformed expires")
        end
        if now > p.expires + conf.clock_skew then
            return deny("signature expired")
        end
    end
    if p.nonce ~= nil and type(p.nonce) ~= "string" then
        return deny("malformed nonce")
    end
    if conf.require_nonce and p.nonce == nil then
        return deny("the signature has no nonce")
    end
    -- the components
    local covered, lines = {}, {}
    for i, item in ipairs(si.value) do
        local id, v, why
        if type(item) == "string" then
            id = ser_bare(item)
            v, why = component(item)
        elseif type(item) == "table" and item.params then
            id = ser_bare(item.name) .. ser_params(item.params)
            v, why = component_with(item)
        else
            return deny("malformed Signature-Input or Signature")
        end
        if covered[id] then
            return deny("component " .. id .. " covered twice")
        end
        covered[id] = true
        if v == nil then
            return deny(why)
        end
        if find(v, "[\r\n]") then
            return deny("malformed component value")
        end
        lines[i] = id .. ": " .. v
    end
    for _, name in ipairs(conf.required_components) do
        if not covered['"' .. name .. '"'] then
            return deny("the signature does not cover " .. name)
        end
    end
    local digest = mg.request.get_header("Content-Digest", true)
    if conf.require_content_digest and not covered['"content-digest"'] then
        local len = mg.request.get_header("Content-Length")
        if digest ~= nil or (len and len ~= "0") or mg.request.get_header("Transfer-Encoding") then
            return deny("the signature does not cover content-digest")
        end
    end
    lines[#lines + 1] = '"@signature-params": ' .. si.raw
    if not verify(cred, concat(lines, "\n"), sig) then
        return deny("invalid signature")
    end
    if digest ~= nil then
        local why, status = check_digest(conf, digest)
        if why then
            return deny(why, status)
        end
    end
    if p.nonce ~= nil and conf.nonce_dict then
        local d = mg.shared[conf.nonce_dict]
        if d == nil then
            error("hmac-auth: nonce_dict " .. conf.nonce_dict .. " is not a declared shared dict")
        end
        local ok, err = d:add("hmac-auth:" .. p.keyid .. ":" .. p.nonce, true, 2 * conf.clock_skew)
        if not ok and err == "exists" then
            return deny("nonce already used")
        end
    end
    mg.var.consumer = consumer.name
    if conf.hide_credentials then
        mg.request.clear_header("Signature")
        mg.request.clear_header("Signature-Input")
    end
end

return {
    name = "hmac-auth",
    version = "1.0.0",
    priority = 2440,
    description = "HTTP Message Signatures (RFC 9421) against the consumers' secrets and public keys",
    schema = schema,
    credential_schema = credential_schema,
    access = access,
}
