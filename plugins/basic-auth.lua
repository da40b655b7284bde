-- basic-auth: HTTP Basic authentication (RFC 7617) against the consumers' credentials.
-- Passwords are stored hashed, never in clear: bcrypt ($2a$, $2b$, $2y$: what
-- `htpasswd -B` writes) or salted SHA-256 in OpenLDAP's {SSHA256} form (base64 of the
-- 32-byte digest of password..salt followed by the salt). A plain-text password is
-- refused when the configuration loads. The consumer found becomes mg.var.consumer; the
-- Authorization header is removed before the request goes upstream unless
-- hide_credentials is false. Missing or wrong credentials get 401 with
-- WWW-Authenticate: Basic realm="...".
local mg = require "moongate"

local sub, find, byte = string.sub, string.find, string.byte

local schema = {
    type = "record",
    fields = {
        realm = {
            type = "string", default = "moongate", pattern = '^[^"\\%c]+$',
            description = "the realm named in WWW-Authenticate",
        },
        hide_credentials = {
            type = "boolean", default = true,
            description = "remove the Authorization header from the request sent upstream",
        },
        anonymous = {
            type = "string",
            description = "consumer name given to requests without credentials instead of a 401",
        },
    },
}

-- "$2b$10$" + 22 characters of salt + 31 of hash, in bcrypt's own base64 alphabet
local BCRYPT = "^%$2[aby]%$(%d%d)%$[./A-Za-z0-9]+$"
local SSHA = "^{SSHA256}([A-Za-z0-9+/]+=*)$"

local function check_password(v)
    local cost = v:match(BCRYPT)
    if cost then
        -- the worker checks bcrypt on its own loop: costs over 14 (seconds per check)
        -- are refused by mg.crypto.bcrypt_verify, so they are refused here, at load
        if #v ~= 60 or tonumber(cost) < 4 or tonumber(cost) > 14 then
            return nil, "a bcrypt hash is 60 characters with a cost from 04 to 14"
        end
        return true
    end
    local b64 = v:match(SSHA)
    if b64 then
        -- 32 bytes of digest and at least 4 of salt: 48 base64 characters or more
        if #b64 % 4 ~= 0 or #b64 < 48 then
            return nil, "{SSHA256} needs base64 of a 32-byte SHA-256 digest followed by a salt of at least 4 bytes"
        end
        return true
    end
    return nil, "expected a bcrypt hash ($2a$, $2b$ or $2y$, as htpasswd -B writes) or "
        .. "{SSHA256}base64(digest || salt); plain-text passwords are not accepted"
end

local credential_schema = {
    type = "record",
    fields = {
        username = {
            type = "string", required = true, min = 1, max = 256, unique = true,
            pattern = "^[^:%c]+$",
            description = "the consumer's user name (no colon), one per consumer",
        },
        password = {
            type = "string", required = true, check = check_password,
            description = "the password's hash: bcrypt or {SSHA256}",
        },
    },
}

local function verify(password, stored)
    if byte(stored, 1) == 36 then -- "$": bcrypt
        local ok, err = mg.crypto.bcrypt_verify(password, stored)
        if ok == nil then
            mg.log(mg.ERR, "basic-auth: cannot check a stored bcrypt hash: ", err)
        end
        return ok == true
    end
    local raw = mg.encode.base64_decode(sub(stored, 10))
    if raw == nil or #raw < 36 then
        return false
    end
    local digest, salt = sub(raw, 1, 32), sub(raw, 33)
    return mg.crypto.equals(mg.crypto.sha256(password .. salt), digest)
end

-- A user name nobody has still costs a password check, so that the answer's time does
-- not tell which names exist: the check runs against the hash last checked for a real
-- consumer (the costs the deployment uses), at first against a bcrypt hash of cost 10.
local decoy = "$2b$10$zFy8nfsvO0gzbo4Y5/xeCuWWzTZo/xgViDsGMA36P1S4ki81jwLpC"

local deny_headers = {}

local function deny(conf, message)
    local h = deny_headers[conf.realm]
    if h == nil then
        h = { ["WWW-Authenticate"] = 'Basic realm="' .. conf.realm .. '", charset="UTF-8"' }
        deny_headers[conf.realm] = h
    end
    return 401, { error = message, status = 401, request_id = mg.var.request_id }, h
end

-- "Basic <base64>" (scheme in any case, spaces around) -> user, password or nil
local function parse(header)
    local s, e = find(header, "^%s*[Bb][Aa][Ss][Ii][Cc] +")
    if s == nil then
        return nil
    end
    local token = header:match("^([A-Za-z0-9+/]+=*)%s*$", e + 1)
    if token == nil then
        return nil
    end
    local raw = mg.encode.base64_decode(token)
    if raw == nil then
        return nil
    end
    local colon = find(raw, ":", 1, true)
    if colon == nil or colon == 1 then
        return nil
    end
    return sub(raw, 1, colon - 1), sub(raw, colon + 1)
end

local function access(conf)
    local header = mg.request.get_header("Authorization")
    -- no header, or another scheme (Bearer...): no Basic credentials were sent
    if header == nil or not find(header, "^%s*[Bb][Aa][Ss][Ii][Cc]%f[%s%z]") then
        if conf.anonymous then
            mg.var.consumer = conf.anonymous
            return
        end
        return deny(conf, "missing credentials")
    end
    local user, password = parse(header)
    if user == nil then
        return deny(conf, "malformed Authorization header")
    end
    local consumer = mg.consumer.find("basic-auth", "username", user)
    if consumer == nil then
        verify(password, decoy)
        return deny(conf, "invalid credentials")
    end
    local stored = consumer.credentials["basic-auth"].password
    decoy = stored
    if not verify(password, stored) then
        return deny(conf, "invalid credentials")
    end
    mg.var.consumer = consumer.name
    if conf.hide_credentials then
        mg.request.clear_header("Authorization")
    end
end

return {
    name = "basic-auth",
    version = "1.0.0",
    priority = 2450,
    description = "HTTP Basic authentication against the consumers' bcrypt or salted SHA-256 passwords",
    schema = schema,
    credential_schema = credential_schema,
    access = access,
}
