-- forward-auth: asks an HTTP(S) authorization service about every request before it
-- goes upstream. The service gets the original method, URI, host, scheme and client
-- address in X-Forwarded-* headers plus the request headers listed in request_headers.
-- A 2xx answer lets the request through, with the service's upstream_headers copied
-- onto it (any the client sent under those names are removed first); any other answer
-- goes back to the client as is: its status, its body and its client_headers. Answers
-- may be cached per cache_key for cache_ttl seconds (in a shared dict or per worker).
-- When the service cannot be reached, failure_mode decides: closed answers 503, open
-- lets the request through and logs a warning.
local mg = require "moongate"

local TOKEN = "^[%w!#$%%&'*+.^_`|~-]+$"

local function header_list(default, what)
    return {
        type = "array", default = default, description = what,
        items = { type = "string", pattern = TOKEN },
    }
end

local schema = {
    type = "record",
    fields = {
        uri = {
            type = "string", required = true, pattern = "^https?://[^%s]+$",
            description = "the authorization service's URL (http:// or https://)",
        },
        method = {
            type = "string", default = "GET", enum = { "GET", "POST", "HEAD" },
            description = "method of the call to the service",
        },
        request_headers = header_list({ "Authorization", "Cookie" },
            "request headers sent to the service as the client sent them"),
        upstream_headers = header_list({},
            "headers of a 2xx answer copied onto the request sent upstream"),
        client_headers = header_list({ "WWW-Authenticate", "Location", "Set-Cookie" },
            "headers of a refusal copied onto the answer to the client"),
        timeout = {
            type = "integer", default = 3000, min = 1, max = 60000,
            description = "milliseconds to wait for the service's answer",
        },
        ssl_verify = {
            type = "boolean", default = true,
            description = "https: verify the service's certificate against the system's CAs",
        },
        failure_mode = {
            type = "string", default = "closed", enum = { "closed", "open" },
            description = "service unreachable: closed answers 503, open lets the request through",
        },
        cache_ttl = {
            type = "integer", default = 0, min = 0, max = 86400,
            description = "seconds an answer is reused for the same cache_key (0: no cache)",
        },
        cache_key = header_list({ "Authorization", "Cookie" },
            "request headers whose values, together, identify a cached answer"),
        cache_denials = {
            type = "boolean", default = false,
            description = "also cache 401 and 403 answers (only 2xx otherwise)",
        },
        shared_dict = {
            type = "string", check = require("moongate.schema").shared_dict_name.check,
            description = "a shared_dicts name to cache in, seen by every worker (default: per worker)",
        },
        cache_size = {
            type = "integer", default = 10000, min = 1, max = 1000000,
            description = "most answers one worker keeps when caching per worker",
        },
        max_body = {
            type = "integer", default = 65536, min = 0, max = 1048576,
            description = "the largest refusal body (bytes) taken from the service",
        },
    },
}

-- ---- the per-worker cache: two generations, the older dropped when the newer is full ----

local lru = { new = {}, old = {}, n = 0 }

local function lru_get(key)
    local e = lru.new[key]
    if e == nil then
        e = lru.old[key]
        if e == nil then
            return nil
        end
    end
    if e.exp < mg.now() then
        return nil
    end
    return e.val
end

local function lru_set(key, val, ttl, cap)
    if lru.new[key] == nil then
        lru.n = lru.n + 1
        if lru.n > cap then
            lru.old, lru.new, lru.n = lru.new, {}, 1
        end
    end
    lru.new[key] = { exp = mg.now() + ttl, val = val }
end

-- ---- answers: { s = status, h = { {name, value}... }, b = body } ----

local function pick(headers, names)
    local out = {}
    for _, name in ipairs(names) do
        local v = headers[name:lower()]
        if type(v) == "table" then
            for _, x in ipairs(v) do
                out[#out + 1] = { name, x }
            end
        elseif v ~= nil then
            out[#out + 1] = { name, v }
        end
    end
    return out
end

local function answer_of(conf, res)
    if res.status >= 200 and res.status < 300 then
        return { s = res.status, h = pick(res.headers, conf.upstream_headers) }
    end
    local h = pick(res.headers, conf.client_headers)
    local body = res.body or ""
    if body ~= "" then
        local ct = res.headers["content-type"]
        if type(ct) == "table" then
            ct = ct[1]
        end
        h[#h + 1] = { "Content-Type", ct or "text/plain; charset=utf-8" }
    end
    return { s = res.status, h = h, b = body }
end

local function cache_key(conf)
    local parts = { conf.uri }
    for i, name in ipairs(conf.cache_key) do
        parts[i + 1] = mg.request.get_header(name, true) or ""
    end
    local k = table.concat(parts, "\0")
    if mg.crypto and mg.crypto.sha256 then
        k = mg.crypto.sha256(k)
    end
    return "fwa:" .. k
end

local function cache_get(conf, key)
    if conf.shared_dict then
        local d = mg.shared[conf.shared_dict]
        local v = d and d:get(key)
        return v and mg.json.decode(v)
    end
    return lru_get(key)
end

local function cache_put(conf, key, a)
    if conf.shared_dict then
        local d = mg.shared[conf.shared_dict]
        if d then
            d:set(key, mg.json.encode(a), conf.cache_ttl)
        end
        return
    end
    lru_set(key, a, conf.cache_ttl, conf.cache_size)
end

local function ask(conf)
    local h = {
        ["X-Forwarded-Method"] = mg.request.get_method(),
        ["X-Forwarded-Proto"] = mg.request.get_scheme(),
        ["X-Forwarded-Host"] = mg.request.get_header("Host") or "",
        ["X-Forwarded-Uri"] = mg.request.get_uri(),
        ["X-Forwarded-For"] = mg.request.get_remote_addr(),
    }
    for _, name in ipairs(conf.request_headers) do
        local v = mg.request.get_header(name, true)
        if v ~= nil then
            h[name] = v
        end
    end
    return mg.http.request({
        url = conf.uri, method = conf.method, headers = h, timeout = conf.timeout,
        ssl_verify = conf.ssl_verify, max_body = conf.max_body,
    })
end

local function access(conf)
    -- whatever the client sent under the names the service sets is never trusted
    for _, name in ipairs(conf.upstream_headers) do
        mg.request.clear_header(name)
    end
    local key, a
    if conf.cache_ttl > 0 then
        key = cache_key(conf)
        a = cache_get(conf, key)
    end
    if a == nil then
        local res, err = ask(conf)
        if res == nil then
            if conf.failure_mode == "open" then
                mg.log(mg.WARN, "forward-auth: ", conf.uri, ": ", err,
                    "; letting the request through (failure_mode open)")
                return
            end
            mg.log(mg.ERR, "forward-auth: ", conf.uri, ": ", err)
            return 503, { error = "authorization service unavailable", status = 503,
                request_id = mg.var.request_id }
        end
        a = answer_of(conf, res)
        if key and (a.s < 300 or (conf.cache_denials and (a.s == 401 or a.s == 403))) then
            cache_put(conf, key, a)
        end
    end
    if a.s >= 200 and a.s < 300 then
        for _, p in ipairs(a.h) do
            mg.request.add_header(p[1], p[2])
        end
        return
    end
    local status = a.s
    if status < 200 or status > 599 then
        status = 502
    end
    local headers = {}
    for _, p in ipairs(a.h) do
        local old = headers[p[1]]
        if old == nil then
            headers[p[1]] = p[2]
        elseif type(old) == "table" then
            old[#old + 1] = p[2]
        else
            headers[p[1]] = { old, p[2] }
        end
    end
    return status, a.b or "", headers
end

return {
    name = "forward-auth",
    version = "1.0.0",
    priority = 2400,
    description = "asks an external HTTP service whether a request may go on",
    schema = schema,
    access = access,
}
