-- request-transformer: changes the request before it goes upstream: headers and query
-- arguments removed, renamed, replaced or added (in that order), and the path rewritten
-- from a template using route params ($param_NAME, $wildcard) or, with `path_regex`,
-- the regex captures ($1 ...). Runs in the rewrite phase, so a rewritten path can be
-- routed again (`reroute: true`).
local mg = require "moongate"

local types = require "moongate.schema"
local header_name, header_value = types.header_name, types.header_value

-- A Lua pattern is only parsed as far as a subject lets it, so a broken one would fail
-- on some request later: check its structure (escapes, sets, captures) now.
local function pattern_ok(p)
    local depth, i, n = 0, 1, #p
    while i <= n do
        local c = p:sub(i, i)
        if c == "%" then
            local e = p:sub(i + 1, i + 1)
            if e == "" then
                return nil, "pattern ends with '%'"
            elseif e == "b" then
                if #p < i + 3 then
                    return nil, "missing the two characters after %b"
                end
                i = i + 3
            elseif e == "f" then
                if p:sub(i + 2, i + 2) ~= "[" then
                    return nil, "missing '[' after %f"
                end
                i = i + 1
            else
                i = i + 1
            end
        elseif c == "[" then
            local j = i + 1
            if p:sub(j, j) == "^" then j = j + 1 end
            if p:sub(j, j) == "]" then j = j + 1 end
            while j <= n and p:sub(j, j) ~= "]" do
                j = j + (p:sub(j, j) == "%" and 2 or 1)
            end
            if j > n then
                return nil, "unfinished set ('[' without ']')"
            end
            i = j
        elseif c == "(" then
            depth = depth + 1
        elseif c == ")" then
            depth = depth - 1
            if depth < 0 then
                return nil, "')' without '('"
            end
        end
        i = i + 1
    end
    if depth ~= 0 then
        return nil, "unfinished capture ('(' without ')')"
    end
    return pcall(string.find, "", p) or nil, "not a valid Lua pattern"
end

local strmap = { type = "map", values = { type = "string" }, default = {} }
local function copy(t, description)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    c.description = description
    return c
end

local schema = {
    type = "record",
    fields = {
        remove_headers = {
            type = "array", items = header_name(false), default = {},
            description = "headers to remove",
        },
        rename_headers = {
            type = "map", keys = header_name(false), values = header_name(false), default = {},
            description = "headers to rename: { Old-Name: New-Name }",
        },
        set_headers = {
            type = "map", keys = header_name(true), values = header_value, default = {},
            description = "headers to set, replacing any value the client sent (Host too)",
        },
        add_headers = {
            type = "map", keys = header_name(false), values = header_value, default = {},
            description = "headers to add, after those the client sent",
        },
        remove_query = {
            type = "array", items = { type = "string" }, default = {},
            description = "query arguments to remove",
        },
        rename_query = copy(strmap, "query arguments to rename: { old: new }"),
        set_query = copy(strmap, "query arguments to set"),
        path = {
            type = "string", pattern = "^/",
            description = "new path: $param_NAME, $wildcard and $1..$9 (with path_regex) "
                .. "are replaced",
        },
        path_regex = {
            type = "string",
            check = function(p) return pattern_ok(p) end,
            description = "a Lua pattern matched against the path; its captures are $1..$9",
        },
        method = {
            type = "string", pattern = "^%u+$",
            description = "new method (e.g. POST)",
        },
        reroute = {
            type = "boolean", default = false,
            description = "route the request again after the path or method changed",
        },
    },
}

local function new_path(conf)
    local caps
    if conf.path_regex then
        caps = { mg.request.get_path():match(conf.path_regex) }
        if #caps == 0 then
            return nil -- no match: the path stays
        end
    end
    local params = mg.request.get_params()
    return (conf.path:gsub("%$([%w_]+)", function(name)
        local n = tonumber(name)
        if n then
            return caps and caps[n] or ""
        end
        if name == "wildcard" then
            return params["*"] or ""
        end
        local p = name:match("^param_(.+)$")
        if p then
            return params[p] or ""
        end
    end))
end

local function rewrite(conf)
    local req = mg.request
    for _, h in ipairs(conf.remove_headers) do
        req.clear_header(h)
    end
    for old, new in pairs(conf.rename_headers) do
        local v = req.get_header(old, true)
        if v ~= nil then
            req.clear_header(old)
            req.set_header(new, v)
        end
    end
    for k, v in pairs(conf.set_headers) do
        req.set_header(k, v)
    end
    for k, v in pairs(conf.add_headers) do
        req.add_header(k, v)
    end
    if #conf.remove_query > 0 or next(conf.rename_query) or next(conf.set_query) then
        local args = req.get_query_args()
        for _, k in ipairs(conf.remove_query) do
            args[k] = nil
        end
        for old, new in pairs(conf.rename_query) do
            if args[old] ~= nil then
                args[new], args[old] = args[old], nil
            end
        end
        for k, v in pairs(conf.set_query) do
            args[k] = v
        end
        req.set_query_args(args)
    end
    local changed = false
    if conf.path then
        local p = new_path(conf)
        if p and p ~= req.get_path() then
            req.set_path(p)
            changed = true
        end
    end
    if conf.method and conf.method ~= req.get_method() then
        req.set_method(conf.method)
        changed = true
    end
    if changed and conf.reroute then
        req.reroute()
    end
end

return {
    name = "request-transformer",
    version = "1.0.0",
    priority = 2000,
    description = "rewrites headers, query arguments, path and method of the request",
    schema = schema,
    rewrite = rewrite,
}
