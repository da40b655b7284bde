-- moongate.template: "$name" templates in plugin configs (the bundled redirect's target,
-- response-rewrite's headers and body), in the style of nginx variables. A template is
-- checked when the config loads (an unknown name is an error then, not an empty string
-- on every request) and compiled once per worker; expanding it is a concat of its
-- pieces.
--
--   $name or ${name}   a variable (below); ${name} when letters follow it
--   $1 .. $9           a capture of the plugin's regex, when it has one ("" otherwise)
--   $$                 a dollar sign
--
-- Variables: uri (the path, as plugins left it, still percent-encoded), request_uri
-- (the target as the client sent it), args and query_string (the raw query), is_args
-- ("?" when there is a query, else ""), host, scheme, request_method, remote_addr,
-- remote_port, request_id, route, consumer, status and upstream_status (in the filters),
-- and http_NAME: the request header NAME with "_" for "-" ($http_x_user).
local M = {}

local type, concat, tostring = type, table.concat, tostring

local function req() return mg.request end

local VARS = {
    uri = function() return req().get_path() end,
    request_uri = function() return req().get_uri() end,
    args = function() return req().get_raw_query() end,
    query_string = function() return req().get_raw_query() end,
    is_args = function() return req().get_raw_query() ~= "" and "?" or "" end,
    host = function() return req().get_host() end,
    scheme = function() return req().get_scheme() end,
    request_method = function() return req().get_method() end,
    remote_addr = function() return req().get_remote_addr() end,
    remote_port = function() return req().get_remote_port() end,
    request_id = function() return mg.var.request_id end,
    route = function() return mg.var.route end,
    consumer = function() return mg.var.consumer end,
    status = function() return mg.var.status end,
    upstream_status = function() return mg.var.upstream_status end,
}

local function known(name, captures)
    if VARS[name] or name:match("^http_[%w_]+$") then
        return true
    end
    return captures and name:match("^[1-9]$") ~= nil
end

-- Splits a template into literal strings and { name } tables. nil, err for a "$" not
-- followed by a name, an unclosed "${", or (with check) an unknown name.
local function parse(s, captures, check)
    local parts, i, n, lit = {}, 1, #s, {}
    while i <= n do
        local d = s:find("$", i, true)
        if d == nil then
            lit[#lit + 1] = s:sub(i)
            break
        end
        lit[#lit + 1] = s:sub(i, d - 1)
        local name, j
        if s:sub(d + 1, d + 1) == "$" then
            lit[#lit + 1] = "$"
            i = d + 2
        else
            if s:sub(d + 1, d + 1) == "{" then
                local close = s:find("}", d + 2, true)
                if close == nil then
                    return nil, 'unclosed "${" at byte ' .. d
                end
                name, j = s:sub(d + 2, close - 1), close + 1
            else
                name = s:match("^[%w_]+", d + 1)
                if name and name:match("^%d") then
                    name = name:sub(1, 1) -- "$1x" is capture 1 then "x"
                end
                j = d + 1 + #(name or "")
            end
            if name == nil or name == "" then
                return nil, 'a "$" must be followed by a variable name (write "$$" for a dollar) at byte ' .. d
            end
            if check and not known(name, captures) then
                return nil, 'unknown variable "$' .. name .. '"'
                    .. (name:match("^%d") and " (captures are $1 to $9, with a regex)" or "")
            end
            if #lit > 0 then
                parts[#parts + 1] = concat(lit)
                lit = {}
            end
            parts[#parts + 1] = { name = name }
            i = j
        end
    end
    if #lit > 0 then
        parts[#parts + 1] = concat(lit)
    end
    return parts
end

-- For a schema's `check`: true, or nil and why. `captures`: $1..$9 are allowed.
function M.check(s, captures)
    local parts, err = parse(s, captures, true)
    if not parts then
        return nil, err
    end
    return true
end

-- True when the template holds a variable (so it must be expanded per request).
function M.has_vars(s)
    local parts = parse(s)
    if not parts then
        return false
    end
    for _, p in ipairs(parts) do
        if type(p) == "table" then
            return true
        end
    end
    return false
end

local compiled = {}

-- The template expanded for the current request; `caps` is a list (or mg.re captures
-- table) for $1..$9, `esc` (optional) is applied to every variable's value.
function M.expand(s, caps, esc)
    local parts = compiled[s]
    if parts == nil then
        parts = parse(s) or { s }
        compiled[s] = parts
    end
    local out = {}
    for k, p in ipairs(parts) do
        if type(p) == "string" then
            out[k] = p
        else
            local name, v = p.name, nil
            local f = VARS[name]
            if f then
                v = f()
            elseif name:match("^%d$") then
                v = caps and caps[tonumber(name)]
            else
                local h = name:match("^http_(.+)$")
                v = h and req().get_header((h:gsub("_", "-")), true)
            end
            if v == nil or v == false then
                v = ""
            end
            v = tostring(v)
            out[k] = esc and esc(v) or v
        end
    end
    return concat(out)
end

return M
