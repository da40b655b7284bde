-- redirect: answers with a redirect instead of forwarding. One of: `http_to_https`
-- (a plain-HTTP request goes to the same host and target over HTTPS), `uri` (a
-- template: "https://new.example.com$request_uri", "/v2$uri"), or `regex_uri` (a PCRE2
-- pattern matched on the path and a replacement template with $1.. captures; a path that
-- does not match is not redirected). The Location is checked for control characters.
local mg = require "moongate"
local template = require "moongate.template"

local STATUSES = { 301, 302, 303, 307, 308 }

local function pattern_ok(p)
    local ok, err = mg.re.find("", p)
    if ok == nil and err then
        return nil, "not a valid regex: " .. err
    end
    return true
end

local function regex_uri_ok(v)
    if #v ~= 2 then
        return nil, "expected [pattern, replacement], got " .. #v .. " item(s)"
    end
    local ok, err = pattern_ok(v[1])
    if not ok then
        return nil, err
    end
    return template.check(v[2], true)
end

local function one_of(c)
    local n = (c.http_to_https and 1 or 0) + (c.uri and 1 or 0) + (c.regex_uri and 1 or 0)
    if n == 0 then
        return nil, "needs one of http_to_https: true, uri or regex_uri"
    end
    if n > 1 then
        local blame = c.regex_uri and "regex_uri" or "uri"
        return nil, "http_to_https, uri and regex_uri exclude each other: give one", blame
    end
    return true
end

local schema = {
    type = "record",
    check = one_of,
    fields = {
        http_to_https = {
            type = "boolean", default = false,
            description = "redirect plain-HTTP requests to https://host[:https_port] with the same target",
        },
        trust_forwarded_proto = {
            type = "boolean", default = false,
            description = "with http_to_https: a request whose X-Forwarded-Proto is https (a TLS "
                .. "balancer in front) is not redirected; only when clients cannot reach the "
                .. "gateway but through that balancer",
        },
        https_port = {
            type = "integer", min = 1, max = 65535, default = 443,
            description = "the HTTPS port of http_to_https (left out of the URL when 443)",
        },
        uri = {
            type = "string", min = 1,
            check = function(s) return template.check(s, false) end,
            description = "the target: a URL or a path, with $variables",
        },
        regex_uri = {
            type = "array", items = { type = "string" }, check = regex_uri_ok,
            description = "[pattern, replacement]: the path matched by the PCRE2 pattern, the "
                .. "target made from the replacement with $1..$9",
        },
        status = {
            type = "integer", enum = STATUSES,
            description = "301, 302, 303, 307 or 308; default 302 for uri and regex_uri, and "
                .. "for http_to_https 301 (GET, HEAD) or 308 (other methods, which keep their body)",
        },
        append_query_string = {
            type = "boolean", default = false,
            description = "add the request's query to the target (after its own, with \"&\")",
        },
        encode_uri = {
            type = "boolean", default = false,
            description = "percent-encode what may not appear in a URI (spaces, non-ASCII, quotes)",
        },
    },
}

-- What RFC 3986 allows in a URI, "%" included (already-encoded stays as it is).
local function encode(s)
    return (s:gsub("[^%w%-%._~:/%?#%[%]@!%$&'%(%)%*%+,;=%%]", function(c)
        return string.format("%%%02X", c:byte())
    end))
end

local function target(conf)
    local req = mg.request
    if conf.http_to_https then
        if req.get_scheme() ~= "http" then
            return nil
        end
        if conf.trust_forwarded_proto
            and (req.get_header("X-Forwarded-Proto") or ""):lower() == "https" then
            return nil
        end
        local host = req.get_host()
        if host == "" then
            return false, "no Host to redirect to"
        end
        local port = conf.https_port ~= 443 and ":" .. conf.https_port or ""
        if host:find(":", 1, true) and host:sub(1, 1) ~= "[" then
            host = "[" .. host .. "]" -- an IPv6 literal
        end
        return "https://" .. host .. port .. req.get_uri()
    end
    local to
    if conf.regex_uri then
        local caps = mg.re.match(req.get_path(), conf.regex_uri[1])
        if not caps then
            return nil
        end
        to = template.expand(conf.regex_uri[2], caps)
    else
        to = template.expand(conf.uri)
    end
    if conf.append_query_string then
        local q = req.get_raw_query()
        if q ~= "" then
            to = to .. (to:find("?", 1, true) and "&" or "?") .. q
        end
    end
    return to
end

local function rewrite(conf)
    local to, why = target(conf)
    if to == nil then
        return
    end
    if to == false then
        return 400, { error = why, status = 400, request_id = mg.var.request_id }
    end
    if conf.encode_uri then
        to = encode(to)
    end
    if to == "" or to:find("[%z\1-\31\127]") then
        mg.log(mg.WARN, "redirect: refused a target with a control character or empty")
        return 400, { error = "bad redirect target", status = 400, request_id = mg.var.request_id }
    end
    local status = conf.status
    if status == nil then
        if conf.http_to_https then
            local m = mg.request.get_method()
            status = (m == "GET" or m == "HEAD") and 301 or 308
        else
            status = 302
        end
    end
    return status, nil, { Location = to }
end

return {
    name = "redirect",
    version = "1.0.0",
    priority = 2800,
    description = "answers with a redirect: http to https, a URI template or a regex rewrite",
    schema = schema,
    rewrite = rewrite,
}
