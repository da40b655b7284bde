-- moongate.request: mg.request, the client's request as plugins see and change it.
local core = require "moongate.core"
local cffi = require "moongate.ffi"

local C, F, N = cffi.C, cffi.F, cffi.N
local s1, s2, get1, str = cffi.s1, cffi.s2, cffi.get1, cffi.str
local check, REQUEST = core.check, core.REQUEST
local CHANGE = core.phases("rewrite", "access", "balancer")
local BODY = core.phases("rewrite", "access")
local REWRITE = core.phases("rewrite")
local type, tostring, tonumber = type, tostring, tonumber
local byte, char, gsub, sub, find = string.byte, string.char, string.gsub, string.sub, string.find
local concat, lower = table.concat, string.lower

local M = {}

local function field(fname, f)
    return function()
        local t = check(fname, REQUEST)
        return get1(C.mg_lua_req_get(t, f, s1)) or ""
    end
end

local function setter(fname, f, what)
    return function(v)
        local t = check(fname, CHANGE)
        if type(v) ~= "string" then
            error(fname .. ": expected a string, got " .. type(v), 2)
        end
        local rc = C.mg_lua_req_set(t, f, v, #v)
        if rc == cffi.DECLINED then
            error(fname .. ": invalid " .. what .. " \"" .. v .. "\"", 2)
        elseif rc ~= 0 then
            error(fname .. ": out of memory", 2)
        end
    end
end

M.get_method = field("mg.request.get_method", F.method)
M.get_path = field("mg.request.get_path", F.path)
M.get_raw_query = field("mg.request.get_raw_query", F.query)
M.get_host = field("mg.request.get_host", F.host)
M.get_remote_addr = field("mg.request.get_remote_addr", F.remote_addr)
M.get_peer_addr = field("mg.request.get_peer_addr", F.peer_addr)
M.get_route_name = field("mg.request.get_route_name", F.route)
M.get_uri = field("mg.request.get_uri", F.uri)
M.get_scheme = field("mg.request.get_scheme", F.scheme)

function M.get_remote_port()
    return C.mg_lua_req_num(check("mg.request.get_remote_port", REQUEST), N.remote_port)
end

M.set_method = setter("mg.request.set_method", F.method, "method")
M.set_path = setter("mg.request.set_path", F.path, "path")
M.set_raw_query = setter("mg.request.set_raw_query", F.query, "query")

-- ---- query arguments ----

local function unescape(s)
    s = gsub(s, "+", " ")
    return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local function escape(s)
    return (gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", byte(c)) end))
end
M.escape, M.unescape = escape, unescape

-- Parses "a=1&b=2&a=3" into { a = { "1", "3" }, b = "2" } (flags without '=' are true).
local function parse_args(q, max)
    local args, n = {}, 0
    for pair in string.gmatch(q, "[^&]+") do
        n = n + 1
        if max and n > max then
            break
        end
        local eq = find(pair, "=", 1, true)
        local k, v
        if eq then
            k, v = unescape(sub(pair, 1, eq - 1)), unescape(sub(pair, eq + 1))
        else
            k, v = unescape(pair), true
        end
        local old = args[k]
        if old == nil then
            args[k] = v
        elseif type(old) == "table" then
            old[#old + 1] = v
        else
            args[k] = { old, v }
        end
    end
    return args
end
M.parse_args = parse_args

-- Encodes { a = "1", b = { "2", "3" }, c = true } as a query string (keys sorted).
local function encode_args(args)
    local keys = {}
    for k in pairs(args) do
        keys[#keys + 1] = tostring(k)
    end
    table.sort(keys)
    local out = {}
    for _, k in ipairs(keys) do
        local v = args[k]
        local vs = type(v) == "table" and v or { v }
        for _, one in ipairs(vs) do
            if one == true then
                out[#out + 1] = escape(k)
            elseif one ~= false then
                out[#out + 1] = escape(k) .. "=" .. escape(tostring(one))
            end
        end
    end
    return concat(out, "&")
end
M.encode_args = encode_args

function M.get_query_args(max)
    local t = check("mg.request.get_query_args", REQUEST)
    return parse_args(get1(C.mg_lua_req_get(t, F.query, s1)) or "", max or 100)
end

function M.get_query_arg(name)
    check("mg.request.get_query_arg", REQUEST)
    local v = M.get_query_args()[name]
    if type(v) == "table" then
        return v[1]
    end
    return v
end

function M.set_query_args(args)
    check("mg.request.set_query_args", CHANGE)
    if type(args) ~= "table" then
        error("mg.request.set_query_args: expected a table, got " .. type(args), 2)
    end
    M.set_raw_query(encode_args(args))
end

-- Sets (or with nil removes) one argument, keeping the others as they were sent.
function M.set_query_arg(name, value)
    local t = check("mg.request.set_query_arg", CHANGE)
    local q = get1(C.mg_lua_req_get(t, F.query, s1)) or ""
    local out = {}
    for pair in string.gmatch(q, "[^&]+") do
        local eq = find(pair, "=", 1, true)
        local k = unescape(eq and sub(pair, 1, eq - 1) or pair)
        if k ~= name then
            out[#out + 1] = pair
        end
    end
    if value ~= nil then
        out[#out + 1] = escape(name) .. "=" .. escape(tostring(value))
    end
    local nq = concat(out, "&")
    C.mg_lua_req_set(t, F.query, nq, #nq)
end

-- ---- headers ----

-- The first value of header `name` (case-insensitive), or nil. With `all`, every value
-- joined by ", ".
function M.get_header(name, all)
    local t = check("mg.request.get_header", REQUEST)
    if type(name) ~= "string" then
        error("mg.request.get_header: expected a header name, got " .. type(name), 2)
    end
    if C.mg_lua_req_header(t, name, #name, 0, s1) ~= 0 then
        return nil
    end
    local v = str(s1[0])
    if not all then
        return v
    end
    local vals, i = { v }, 1
    while C.mg_lua_req_header(t, name, #name, i, s1) == 0 do
        i = i + 1
        vals[i] = str(s1[0])
    end
    return concat(vals, ", ")
end

-- Every header as { ["lower-case-name"] = value } (repeated headers become a list).
function M.get_headers()
    local t = check("mg.request.get_headers", REQUEST)
    return core.header_table(t, C.mg_lua_req_header_count, C.mg_lua_req_header_at)
end

local SET_HEADER = C.mg_lua_req_header_set

function M.set_header(name, value)
    if value == nil then
        -- not a tail call: error levels count this frame
        core.change_header("mg.request.set_header", CHANGE, SET_HEADER, cffi.H_CLEAR, name)
        return
    end
    core.change_header("mg.request.set_header", CHANGE, SET_HEADER, cffi.H_SET, name, value)
end

function M.add_header(name, value)
    core.change_header("mg.request.add_header", CHANGE, SET_HEADER, cffi.H_ADD, name, value)
end

function M.clear_header(name)
    core.change_header("mg.request.clear_header", CHANGE, SET_HEADER, cffi.H_CLEAR, name)
end

-- ---- route ----

-- The route's {params} as a table, with the "/*" wildcard under "*".
function M.get_params()
    local t = check("mg.request.get_params", REQUEST)
    local out = {}
    for i = 0, C.mg_lua_req_param_count(t) - 1 do
        if C.mg_lua_req_param_at(t, i, s1, s2) == 0 then
            out[str(s1[0])] = str(s2[0]) or ""
        end
    end
    return out
end

function M.get_param(name)
    check("mg.request.get_param", REQUEST)
    return M.get_params()[name]
end

-- Asks for the request to be routed again once this rewrite plugin returns (after
-- set_path, set_method or a Host change).
function M.reroute()
    check("mg.request.reroute", REWRITE)
    core.cur.rs.reroute = true
end

-- ---- body ----

local DEFAULT_MAX = 1024 * 1024

-- The whole body as a string (waits for it), "" when there is none; nil, "body too
-- large" when it is longer than max bytes (default 1 MiB).
function M.get_body(max)
    local t = check("mg.request.get_body", BODY)
    max = max or DEFAULT_MAX
    while true do
        local rc = C.mg_lua_req_body_read(t, max)
        if rc == cffi.AGAIN then
            core.wait()
        elseif rc == cffi.DECLINED then
            return nil, "body too large"
        elseif rc ~= 0 then
            return nil, "client gone"
        else
            break
        end
    end
    local rc = C.mg_lua_req_body(t, s1)
    if rc == cffi.DECLINED then
        return ""
    end
    local v = s1[0]
    if v.len > max then
        return nil, "body too large"
    end
    return str(v) or ""
end

-- The body parsed by its Content-Type: JSON to a table, form (x-www-form-urlencoded)
-- to args; nil, err otherwise.
function M.get_body_data(max)
    check("mg.request.get_body_data", BODY)
    local body, err = M.get_body(max)
    if not body then
        return nil, err
    end
    local ct = lower(M.get_header("Content-Type") or "")
    if find(ct, "application/json", 1, true) or find(ct, "+json", 1, true) then
        return require("moongate.json").decode(body)
    elseif find(ct, "application/x-www-form-urlencoded", 1, true) then
        return parse_args(body, 1000)
    end
    return nil, "unsupported content type \"" .. ct .. "\""
end

-- Replaces the body sent upstream (read it first with get_body when the client sent one).
function M.set_body(s)
    local t = check("mg.request.set_body", BODY)
    if type(s) ~= "string" then
        error("mg.request.set_body: expected a string, got " .. type(s), 2)
    end
    local rc = C.mg_lua_req_body_set(t, s, #s)
    if rc == cffi.DECLINED then
        error("mg.request.set_body: read the client's body with mg.request.get_body() first", 2)
    elseif rc ~= 0 then
        error("mg.request.set_body: out of memory", 2)
    end
end

return M
