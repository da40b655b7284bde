-- moongate.http: mg.http.request, an HTTP/1.1 client on the worker's loop (the plugin
-- yields until the answer is in; the worker goes on serving). In the log phase the
-- call is queued: it runs after the response, and its result goes to `callback`.
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"

if not pcall(ffi.typeof, "struct mg_lua_http_marker") then
    ffi.cdef [[
/* The region "lua/moongate/http.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_http_marker { int unused; };
int mg_lua_http(mg_lua_task_t *t, const char *method, const char *url, const char *headers,
                size_t hlen, const char *body, size_t blen, int has_body, double timeout,
                size_t max_body, int ssl_verify, const char *ssl_server_name, int keepalive,
                double keepalive_timeout, int keepalive_pool, const char **err);
const char *mg_lua_http_error(mg_lua_task_t *t);
int mg_lua_http_status(mg_lua_task_t *t);
int mg_lua_http_body(mg_lua_task_t *t, mg_str_t *out);
int mg_lua_http_header_count(mg_lua_task_t *t);
int mg_lua_http_header_at(mg_lua_task_t *t, int i, mg_str_t *name, mg_str_t *value);
void mg_lua_http_done(mg_lua_task_t *t);
]]
end

local C, s1, s2, str = cffi.C, cffi.s1, cffi.s2, cffi.str
local check = core.check
local CALL = core.phases("rewrite", "access", "balancer", "timer")
local QUEUE = core.phases("log")
local ANYWHERE = core.phases("rewrite", "access", "balancer", "timer", "log")
local errp = ffi.new("const char *[1]")
local type, tostring, lower, concat = type, tostring, string.lower, table.concat

local M = {}

local function header_block(headers)
    if headers == nil then
        return ""
    end
    if type(headers) ~= "table" then
        return nil, "headers must be a table"
    end
    local out, host = {}, nil
    for k, v in pairs(headers) do
        k = tostring(k)
        local vs = type(v) == "table" and v or { v }
        for _, one in ipairs(vs) do
            one = tostring(one)
            if not k:match("^[%w!#$%%&'*+.^_`|~-]+$") or one:find("[%z\r\n]") then
                return nil, "bad header \"" .. k .. "\""
            end
            local lk = lower(k)
            if lk == "host" then
                -- instead of the URL's authority; one value, not empty
                if host ~= nil or not one:find("^[^%s,]+$") then
                    return nil, "bad header \"" .. k .. "\""
                end
                host = one
            elseif lk ~= "content-length" and lk ~= "connection" and lk ~= "transfer-encoding" then
                out[#out + 1] = k .. ": " .. one .. "\r\n"
            end
        end
    end
    -- the C side takes a first "Host:" line as the Host value
    return (host and "Host: " .. host .. "\r\n" or "") .. concat(out)
end

local function call(t, opts)
    local method = opts.method or (opts.body and "POST" or "GET")
    if type(method) ~= "string" or not method:match("^%u+$") then
        return nil, "bad method"
    end
    if type(opts.url) ~= "string" then
        return nil, "url is required"
    end
    local hb, herr = header_block(opts.headers)
    if not hb then
        return nil, herr
    end
    local body = opts.body
    if body ~= nil and type(body) ~= "string" then
        return nil, "body must be a string"
    end
    local timeout = (opts.timeout or 5000) / 1000
    local max_body = opts.max_body or 1048576
    local verify, sni = opts.ssl_verify, opts.ssl_server_name
    if verify ~= nil and type(verify) ~= "boolean" then
        return nil, "ssl_verify must be a boolean"
    end
    if sni ~= nil and (type(sni) ~= "string" or not sni:match("^[%w.:_-]+$")) then
        return nil, "bad ssl_server_name"
    end
    local ka, ka_timeout, ka_pool = opts.keepalive, opts.keepalive_timeout or 60000,
        opts.keepalive_pool or 16
    if ka ~= nil and type(ka) ~= "boolean" then
        return nil, "keepalive must be a boolean"
    end
    if type(ka_timeout) ~= "number" or ka_timeout <= 0 then
        return nil, "keepalive_timeout must be a number of milliseconds > 0"
    end
    if type(ka_pool) ~= "number" or ka_pool < 1 or ka_pool > 256 or ka_pool % 1 ~= 0 then
        return nil, "keepalive_pool must be an integer 1-256"
    end
    local rc = C.mg_lua_http(t, method, opts.url, hb, #hb, body, body and #body or 0,
        (body ~= nil or method == "POST" or method == "PUT" or method == "PATCH") and 1 or 0,
        timeout, max_body, verify == false and 0 or 1, sni, ka == false and 0 or 1,
        ka_timeout / 1000, ka_pool, errp)
    if rc ~= cffi.AGAIN then
        return nil, ffi.string(errp[0])
    end
    core.wait()
    local e = C.mg_lua_http_error(t)
    if e ~= nil then
        local msg = ffi.string(e)
        C.mg_lua_http_done(t)
        return nil, msg
    end
    local res = { status = C.mg_lua_http_status(t), headers = {} }
    C.mg_lua_http_body(t, s1)
    res.body = str(s1[0]) or ""
    for i = 0, C.mg_lua_http_header_count(t) - 1 do
        C.mg_lua_http_header_at(t, i, s1, s2)
        local k, v = lower(str(s1[0])), str(s2[0]) or ""
        local old = res.headers[k]
        if old == nil then
            res.headers[k] = v
        elseif type(old) == "table" then
            old[#old + 1] = v
        else
            res.headers[k] = { old, v }
        end
    end
    C.mg_lua_http_done(t)
    return res
end

-- mg.http.request{ method =, url =, headers =, body =, timeout = ms (5000),
-- max_body = bytes (1 MiB), ssl_verify = true (https: the system's CAs),
-- ssl_server_name = the URL's host (https: SNI and the name checked),
-- keepalive = true (pool the connection), keepalive_timeout = ms idle (60000),
-- keepalive_pool = idle connections kept for this host (16),
-- callback = function(res, err) (log phase) }
-- → res { status, headers (lower-case names), body } or nil, err.
function M.request(opts)
    local t = check("mg.http.request", ANYWHERE)
    if type(opts) ~= "table" then
        error("mg.http.request: expected a table of options, got " .. type(opts), 2)
    end
    if QUEUE[core.cur.phase] then
        local cb = opts.callback
        local spawn = require "moongate.spawn"
        spawn(core.cur.rs.lud, function()
            local res, err = call(core.cur.task, opts)
            if cb then
                cb(res, err)
            elseif not res then
                require("moongate").log(3, "mg.http.request queued from the log phase failed: ",
                    err)
            end
        end)
        return true
    end
    check("mg.http.request", CALL)
    return call(t, opts)
end

return M
