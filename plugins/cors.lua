-- cors: Cross-Origin Resource Sharing per the Fetch standard. A preflight (OPTIONS with
-- Origin and Access-Control-Request-Method) is answered here and never forwarded: 204
-- with the Access-Control-Allow-* headers when the origin, method and requested headers
-- are allowed, 403 without them otherwise. Other requests go on; their answer gets
-- Access-Control-Allow-Origin (and -Credentials, -Expose-Headers) when the origin is
-- allowed, and `Vary: Origin` whenever the answer depends on the origin.
local mg = require "moongate"

local TOKEN = "^[%w!#$%%&'*+.^_`|~-]+$"

-- "*", "null", "scheme://host[:port]" or "scheme://*.domain[:port]" (one or more labels
-- in place of the star, never the bare domain).
local function origin_ok(o)
    if o == "*" or o == "null" then
        return true
    end
    local scheme, host, port = o:match("^(%a[%w+.-]*)://(%[[%x:.]+%])(.*)$") -- IPv6
    if not scheme then
        scheme, host, port = o:match("^(%a[%w+.-]*)://([^/:?#%s%[]+)(.*)$")
    end
    if not scheme then
        return nil, 'expected "*", "null" or an origin such as "https://app.example.com" '
            .. '(scheme://host[:port], no path), got "' .. o .. '"'
    end
    if port ~= "" and not port:match("^:%d+$") then
        return nil, 'an origin has no path, query or trailing "/": expected scheme://host[:port], got "'
            .. o .. '"'
    end
    local rest = host:match("^%*%.(.+)$") or host
    if host:sub(1, 1) ~= "[" and (not rest:match("^[%w%-%.]+$") or rest:find("*", 1, true)) then
        return nil, 'a wildcard is only allowed as the first label ("https://*.example.com"), got "'
            .. o .. '"'
    end
    return true
end

local function token_list(description, item_check)
    return {
        type = "array", items = { type = "string", check = item_check },
        description = description,
    }
end

local function token_or_star(v)
    if v == "*" or v:match(TOKEN) then
        return true
    end
    return nil, 'expected "*" or an HTTP token, got "' .. v .. '"'
end

local function has_star(list)
    for _, v in ipairs(list or {}) do
        if v == "*" then return true end
    end
    return false
end

-- A credentialed answer may never say "*" (browsers refuse it): such a config is a
-- mistake to report at load, not a policy to apply silently.
local function config_ok(c)
    if not c.credentials then
        return true
    end
    for _, k in ipairs({ "origins", "methods", "headers", "expose_headers" }) do
        if has_star(c[k]) then
            return nil, 'credentials: true cannot be used with "*" in ' .. k
                .. " (browsers refuse a credentialed answer that allows any "
                .. (k == "origins" and "origin" or k == "methods" and "method" or "header")
                .. "): list them", "credentials"
        end
    end
    return true
end

local schema = {
    type = "record",
    check = config_ok,
    fields = {
        origins = {
            type = "array", min = 1, default = { "*" },
            items = { type = "string", check = origin_ok },
            description = 'allowed origins: exact ("https://app.example.com"), a subdomain '
                .. 'pattern ("https://*.example.com"), "null" or "*"',
        },
        methods = token_list("methods a preflight may ask for (\"*\": any)", token_or_star),
        headers = token_list("request headers a preflight may ask for (\"*\": any); absent: "
            .. "the requested ones are allowed and echoed", token_or_star),
        expose_headers = token_list("response headers the page's script may read (\"*\": any)",
            token_or_star),
        credentials = {
            type = "boolean", default = false,
            description = "allow cookies and HTTP authentication (Access-Control-Allow-Credentials)",
        },
        max_age = {
            type = "integer", min = 0, max = 86400,
            description = "seconds a browser may cache a preflight answer (Access-Control-Max-Age)",
        },
        private_network = {
            type = "boolean", default = false,
            description = "answer Private Network Access preflights "
                .. "(Access-Control-Allow-Private-Network)",
        },
    },
}
schema.fields.methods.default = { "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE" }

-- Per config and worker: lookup tables made once.
local compiled_cache = setmetatable({}, { __mode = "k" })

local function lower_set(list)
    local set = {}
    for _, v in ipairs(list or {}) do
        set[v:lower()] = true
    end
    return set
end

local function compile(conf)
    local c = compiled_cache[conf]
    if c then
        return c
    end
    c = { exact = {}, patterns = {}, any = false, methods = {}, any_method = false }
    for _, o in ipairs(conf.origins) do
        if o == "*" then
            c.any = true
        else
            o = o:lower()
            local scheme, suffix = o:match("^([^:]+://)%*(%..+)$")
            if scheme then
                c.patterns[#c.patterns + 1] = { scheme, suffix }
            else
                c.exact[o] = true
            end
        end
    end
    -- the answer names the origin unless it is "*" for everyone
    c.varies = not (c.any and not conf.credentials)
    for _, m in ipairs(conf.methods) do
        if m == "*" then c.any_method = true end
        c.methods[m:upper()] = true
    end
    c.methods_text = table.concat(conf.methods, ", ")
    if conf.headers then
        c.headers = lower_set(conf.headers)
        c.any_header = c.headers["*"] or false
        c.headers_text = table.concat(conf.headers, ", ")
    end
    if conf.expose_headers and #conf.expose_headers > 0 then
        c.expose_text = table.concat(conf.expose_headers, ", ")
    end
    compiled_cache[conf] = c
    return c
end

-- The value of Access-Control-Allow-Origin for `origin`, or nil when it is not allowed.
local function allow_origin(conf, c, origin)
    if origin == nil or origin == "" then
        return nil
    end
    local o = origin:lower()
    if c.exact[o] then
        return origin
    end
    if o ~= "null" then
        for _, p in ipairs(c.patterns) do
            local scheme, suffix = p[1], p[2]
            if #o > #scheme + #suffix and o:sub(1, #scheme) == scheme
                and o:sub(-#suffix) == suffix then
                local label = o:sub(#scheme + 1, #o - #suffix)
                if label:match("^[%w%-%.]+$") and not label:find("..", 1, true)
                    and label:sub(1, 1) ~= "." and label:sub(-1) ~= "." then
                    return origin
                end
            end
        end
    end
    if c.any then
        return conf.credentials and origin or "*"
    end
    return nil
end

-- Adds `names` (a list) to the Vary header the answer already has, once each.
local function add_vary(names)
    local cur = mg.response.get_headers()["vary"]
    if type(cur) == "table" then
        cur = table.concat(cur, ", ")
    end
    cur = cur or ""
    if cur:match("^%s*%*%s*$") then
        return
    end
    local have = {}
    for tok in cur:gmatch("[^,%s]+") do
        have[tok:lower()] = true
    end
    local out = cur
    for _, n in ipairs(names) do
        if not have[n:lower()] then
            out = out == "" and n or out .. ", " .. n
            have[n:lower()] = true
        end
    end
    if out ~= cur then
        mg.response.set_header("Vary", out)
    end
end

local function refuse(why, vary)
    return 403, { error = "CORS preflight refused: " .. why, status = 403,
        request_id = mg.var.request_id }, { Vary = vary }
end

local function preflight(conf, c, origin, method)
    local vary = c.varies and "Origin" or nil
    local acao = allow_origin(conf, c, origin)
    if not acao then
        return refuse("origin not allowed", vary)
    end
    if not (c.any_method or c.methods[method:upper()]) then
        return refuse("method not allowed", vary)
    end
    local h = {
        ["Access-Control-Allow-Origin"] = acao,
        ["Access-Control-Allow-Methods"] = (c.any_method and not conf.credentials) and "*"
            or c.methods_text,
    }
    local requested = mg.request.get_header("Access-Control-Request-Headers", true)
    if requested and requested ~= "" then
        local names = {}
        for name in requested:gmatch("[^,%s]+") do
            if not name:match(TOKEN) then
                return refuse("bad Access-Control-Request-Headers", vary)
            end
            if c.headers and not c.any_header and not c.headers[name:lower()] then
                return refuse('header "' .. name .. '" not allowed', vary)
            end
            names[#names + 1] = name:lower()
        end
        if not c.headers then
            h["Access-Control-Allow-Headers"] = table.concat(names, ", ")
            vary = vary and vary .. ", Access-Control-Request-Headers"
                or "Access-Control-Request-Headers"
        elseif c.any_header then
            h["Access-Control-Allow-Headers"] = "*"
        else
            h["Access-Control-Allow-Headers"] = c.headers_text
        end
    end
    if conf.credentials then
        h["Access-Control-Allow-Credentials"] = "true"
    end
    if conf.max_age then
        h["Access-Control-Max-Age"] = tostring(conf.max_age)
    end
    if conf.private_network
        and (mg.request.get_header("Access-Control-Request-Private-Network") or ""):lower() == "true" then
        h["Access-Control-Allow-Private-Network"] = "true"
    end
    h.Vary = vary
    return 204, nil, h
end

local function rewrite(conf, ctx)
    local origin = mg.request.get_header("Origin")
    if origin == nil then
        return
    end
    local method = mg.request.get_header("Access-Control-Request-Method")
    if mg.request.get_method() == "OPTIONS" and method ~= nil then
        ctx.cors_preflight = true
        return preflight(conf, compile(conf), origin, method)
    end
end

local function header_filter(conf, ctx)
    if ctx.cors_preflight then
        return
    end
    local c = compile(conf)
    local resp = mg.response
    local acao = allow_origin(conf, c, mg.request.get_header("Origin"))
    if acao then
        resp.set_header("Access-Control-Allow-Origin", acao)
        if conf.credentials then
            resp.set_header("Access-Control-Allow-Credentials", "true")
        else
            resp.clear_header("Access-Control-Allow-Credentials")
        end
        if c.expose_text then
            resp.set_header("Access-Control-Expose-Headers", c.expose_text)
        end
    else
        -- the gateway owns the policy: an upstream's own grant does not leak through
        resp.clear_header("Access-Control-Allow-Origin")
        resp.clear_header("Access-Control-Allow-Credentials")
        resp.clear_header("Access-Control-Expose-Headers")
    end
    if c.varies then
        add_vary({ "Origin" })
    end
end

return {
    name = "cors",
    version = "1.0.0",
    priority = 2900,
    description = "answers CORS preflights and adds the CORS headers to answers",
    schema = schema,
    rewrite = rewrite,
    header_filter = header_filter,
}
