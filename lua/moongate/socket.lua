-- moongate.socket: mg.socket.tcp(), a cosocket in the style of OpenResty's
-- ngx.socket.tcp over core/lua/lua_socket.c: connect (addresses, names through the
-- worker's resolver, unix:/path), TLS, send, receive by line, by size, until close or
-- until a delimiter, timeouts and a per-worker keep-alive pool. Every wait yields the
-- plugin's coroutine; the worker goes on serving meanwhile.
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"

if not pcall(ffi.typeof, "struct mg_lua_socket_marker") then
    ffi.cdef [[
/* The region "lua/moongate/socket.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
struct mg_lua_socket_marker { int unused; };
int mg_lua_sock_new(mg_lua_task_t *t, const char **err);
int mg_lua_sock_timeouts(mg_lua_task_t *t, int h, double connect, double send, double read);
int mg_lua_sock_connect(mg_lua_task_t *t, int h, const char *host, int port, const char *pool,
                        int pool_size, const char **err);
int mg_lua_sock_tls(mg_lua_task_t *t, int h, const char *server_name, int verify,
                    const char **err);
int mg_lua_sock_send(mg_lua_task_t *t, int h, const char *data, size_t len, const char **err);
int mg_lua_sock_receive(mg_lua_task_t *t, int h, int mode, size_t size, const char *pat,
                        size_t plen, int inclusive, mg_str_t *out, const char **err);
int mg_lua_sock_keepalive(mg_lua_task_t *t, int h, double idle, int size, const char **err);
int mg_lua_sock_close(mg_lua_task_t *t, int h, const char **err);
int mg_lua_sock_reused(mg_lua_task_t *t, int h);
int mg_lua_sock_setoption(mg_lua_task_t *t, int h, int opt, int value, const char **err);
int mg_lua_sock_count(mg_lua_task_t *t, int pooled);
]]
end

local C, str = cffi.C, cffi.str
local check = core.check
local CALL = core.phases("rewrite", "access", "balancer", "timer")
local AGAIN, DONE = cffi.AGAIN, -4
local LINE, ALL, SIZE, UNTIL = 0, 1, 2, 3
local errp = ffi.new("const char *[1]")
local out = ffi.new("mg_str_t[1]")
local type, tostring, tonumber, concat = type, tostring, tonumber, table.concat
local setmetatable, error, floor = setmetatable, error, math.floor
local FOREIGN = "socket used outside the request or timer that made it"

local S = {}
S.__index = S

local M = {}

-- The C side's reason; raised when the socket is another run's (a plugin bug).
local function failure(fname)
    local e = ffi.string(errp[0])
    if e == FOREIGN then
        error(fname .. ": " .. e, 3)
    end
    return e
end

local function ms(fname, v, what)
    if type(v) ~= "number" or v <= 0 or v ~= v then
        error(fname .. ": expected " .. what .. " in milliseconds (a number > 0), got "
            .. tostring(v), 3)
    end
    return v / 1000
end

-- mg.socket.tcp() -> a socket, or nil, err (the worker's cap of open sockets).
function M.tcp()
    local t = check("mg.socket.tcp", CALL)
    local h = C.mg_lua_sock_new(t, errp)
    if h == 0 then
        return nil, ffi.string(errp[0])
    end
    return setmetatable({ h = h }, S)
end

-- mg.socket.count() -> sockets open in this worker, connections idle in its pools.
function M.count()
    return C.mg_lua_sock_count(nil, 0), C.mg_lua_sock_count(nil, 1)
end

local function timeouts(self, fname, c, s, r)
    local t = check(fname, CALL, 2)
    local rc = C.mg_lua_sock_timeouts(t, self.h, c, s, r)
    if rc == cffi.DECLINED then
        error(fname .. ": " .. FOREIGN, 3)
    end
end

-- sock:settimeout(ms): the connect, send and read timeouts at once (60 s each before).
function S:settimeout(v)
    local s = ms("sock:settimeout", v, "a timeout")
    timeouts(self, "sock:settimeout", s, s, s)
end

-- sock:settimeouts(connect_ms, send_ms, read_ms); nil leaves one as it is.
function S:settimeouts(c, s, r)
    local f = "sock:settimeouts"
    timeouts(self, f, c == nil and -1 or ms(f, c, "a connect timeout"),
        s == nil and -1 or ms(f, s, "a send timeout"), r == nil and -1 or ms(f, r, "a read timeout"))
end

-- sock:connect(host, port[, opts]) or sock:connect("unix:/path"[, opts]) -> 1 or nil, err.
-- opts: pool (name, default "host:port"), pool_size (cap of that pool, default 30).
function S:connect(host, port, opts)
    local f = "sock:connect"
    local t = check(f, CALL)
    if type(host) ~= "string" or host == "" then
        error(f .. ": expected a host, got " .. tostring(host), 2)
    end
    local unix = host:sub(1, 5) == "unix:"
    if unix and (type(port) == "table" or port == nil) then
        opts, port = port, 0
    elseif not unix then
        local p = tonumber(port)
        if p == nil or p ~= floor(p) or p < 1 or p > 65535 then
            error(f .. ": expected a port (1-65535), got " .. tostring(port), 2)
        end
        port = p
        host = host:match("^%[(.*)%]$") or host
    end
    local pool, psize = nil, 0
    if opts ~= nil then
        if type(opts) ~= "table" then
            error(f .. ": expected a table of options, got " .. type(opts), 2)
        end
        pool, psize = opts.pool, opts.pool_size or 0
        if pool ~= nil and (type(pool) ~= "string" or pool == "") then
            error(f .. ": opts.pool must be a non-empty string", 2)
        end
        if type(psize) ~= "number" or psize < 0 or psize ~= floor(psize) then
            error(f .. ": opts.pool_size must be an integer > 0", 2)
        end
        if opts.backlog ~= nil then
            error(f .. ": opts.backlog is not supported (connects past the pool never wait)", 2)
        end
    end
    while true do
        local rc = C.mg_lua_sock_connect(t, self.h, host, port, pool, psize, errp)
        if rc == 0 then
            return 1
        elseif rc ~= AGAIN then
            return nil, failure(f)
        end
        core.wait()
    end
end

-- sock:sslhandshake(reused_session, server_name, verify) -> true or nil, err.
-- server_name (default: the host connected to) is sent (SNI) and checked; verify
-- (default true) checks the certificate against the system's CA store.
function S:sslhandshake(_, server_name, verify)
    local f = "sock:sslhandshake"
    local t = check(f, CALL)
    if server_name ~= nil and type(server_name) ~= "string" then
        error(f .. ": server_name must be a string", 2)
    end
    if verify ~= nil and type(verify) ~= "boolean" then
        error(f .. ": verify must be a boolean", 2)
    end
    while true do
        local rc = C.mg_lua_sock_tls(t, self.h, server_name, verify == false and 0 or 1, errp)
        if rc == 0 then
            return true
        elseif rc ~= AGAIN then
            return nil, failure(f)
        end
        core.wait()
    end
end

local function flatten(f, v, parts, depth)
    if depth > 32 then
        error(f .. ": tables nested too deep", depth + 2)
    end
    for i = 1, #v do
        local x = v[i]
        local tx = type(x)
        if tx == "string" then
            parts[#parts + 1] = x
        elseif tx == "number" then
            parts[#parts + 1] = tostring(x)
        elseif tx == "table" then
            flatten(f, x, parts, depth + 1)
        else
            error(f .. ": expected strings or numbers in the table, got " .. tx, depth + 2)
        end
    end
end

-- sock:send(data) -> bytes sent or nil, err. data: a string, a number, or an array of
-- them (nested arrays too), sent whole.
function S:send(data)
    local f = "sock:send"
    local t = check(f, CALL)
    local td = type(data)
    if td == "table" then
        local parts = {}
        flatten(f, data, parts, 1)
        data = concat(parts)
    elseif td == "number" then
        data = tostring(data)
    elseif td ~= "string" then
        error(f .. ": expected a string or a table of strings, got " .. td, 2)
    end
    while true do
        local rc = C.mg_lua_sock_send(t, self.h, data, #data, errp)
        if rc >= 0 then
            return rc
        elseif rc ~= AGAIN then
            return nil, failure(f)
        end
        core.wait()
    end
end

-- One receive to its end: data, done (the delimiter was reached), or nil, err, partial.
local function recv(self, f, mode, size, pat, incl)
    local t = check(f, CALL, 2)
    local plen = pat and #pat or 0
    while true do
        local rc = C.mg_lua_sock_receive(t, self.h, mode, size, pat, plen, incl or 0, out, errp)
        if rc >= 0 or rc == DONE then
            return str(out[0]) or "", rc == DONE
        elseif rc ~= AGAIN then
            local e = failure(f)
            return nil, e, str(out[0]) or ""
        end
        core.wait()
    end
end

-- sock:receive(pattern) -> data or nil, err, partial. pattern: "*l"/"l" (default) a
-- line without its CR LF, "*a"/"a" everything until the peer closes, n bytes.
function S:receive(pattern)
    local f = "sock:receive"
    local mode, n = SIZE, nil
    if pattern == nil or pattern == "*l" or pattern == "l" then
        mode, n = LINE, 0
    elseif pattern == "*a" or pattern == "a" then
        mode, n = ALL, 0
    end
    if mode == SIZE then
        n = tonumber(pattern)
        if n == nil or n < 0 or n ~= floor(n) then
            error(f .. ": expected \"*l\", \"*a\" or a byte count, got " .. tostring(pattern), 2)
        end
        if n == 0 then
            check(f, CALL)
            return ""
        end
    end
    local data, err, partial = recv(self, f, mode, n)
    if data then
        return data
    end
    return nil, err, partial
end

-- sock:receiveuntil(pattern[, { inclusive = bool }]) -> iterator. iter() returns the
-- data before the next delimiter (consumed; kept with inclusive); iter(size) returns it
-- in chunks of at most size bytes, then nil once the delimiter is reached. Errors:
-- nil, err, partial.
function S:receiveuntil(pattern, opts)
    local f = "sock:receiveuntil"
    check(f, CALL)
    if type(pattern) ~= "string" or pattern == "" then
        error(f .. ": expected a non-empty string, got " .. tostring(pattern), 2)
    end
    if opts ~= nil and type(opts) ~= "table" then
        error(f .. ": expected a table of options, got " .. type(opts), 2)
    end
    local incl = opts ~= nil and opts.inclusive and 1 or 0
    local ended = false
    return function(size)
        if size ~= nil and (type(size) ~= "number" or size < 1 or size ~= floor(size)) then
            error("receiveuntil iterator: expected a size > 0, got " .. tostring(size), 2)
        end
        if ended then
            ended = false
            return nil
        end
        local data, done, partial = recv(self, f, UNTIL, size or 0, pattern, incl)
        if data == nil then
            return nil, done, partial
        end
        if size ~= nil and done then
            if data == "" then
                return nil
            end
            ended = true
        end
        return data
    end
end

-- sock:setkeepalive([idle_ms[, pool_size]]) -> 1 or nil, err: the connection goes to
-- the pool of its connect (idle_ms: 60000 by default, 0 for no limit).
function S:setkeepalive(idle, size)
    local f = "sock:setkeepalive"
    local t = check(f, CALL)
    if idle ~= nil and (type(idle) ~= "number" or idle < 0) then
        error(f .. ": expected an idle timeout in milliseconds (>= 0), got " .. tostring(idle), 2)
    end
    if size ~= nil and (type(size) ~= "number" or size < 1 or size ~= floor(size)) then
        error(f .. ": expected a pool size > 0, got " .. tostring(size), 2)
    end
    if C.mg_lua_sock_keepalive(t, self.h, (idle or 60000) / 1000, size or 0, errp) ~= 0 then
        return nil, failure(f)
    end
    return 1
end

-- sock:close() -> 1 or nil, err.
function S:close()
    local t = check("sock:close", CALL)
    if C.mg_lua_sock_close(t, self.h, errp) ~= 0 then
        return nil, failure("sock:close")
    end
    return 1
end

-- sock:getreusedtimes() -> times the connection came from the pool, or nil, "closed".
function S:getreusedtimes()
    local t = check("sock:getreusedtimes", CALL)
    local n = C.mg_lua_sock_reused(t, self.h)
    if n < 0 then
        return nil, "closed"
    end
    return n
end

local OPTIONS = { keepalive = 0, ["tcp-nodelay"] = 1, sndbuf = 2, rcvbuf = 3 }

-- sock:setoption(name, value) -> true or nil, err. "keepalive", "tcp-nodelay" (booleans),
-- "sndbuf", "rcvbuf" (bytes).
function S:setoption(name, value)
    local f = "sock:setoption"
    local t = check(f, CALL)
    local opt = OPTIONS[name]
    if opt == nil then
        error(f .. ": unknown option " .. tostring(name), 2)
    end
    local v
    if opt <= 1 then
        if type(value) ~= "boolean" then
            error(f .. ": " .. name .. " expects a boolean", 2)
        end
        v = value and 1 or 0
    else
        if type(value) ~= "number" or value < 1 or value > 2147483647 then
            error(f .. ": " .. name .. " expects a size in bytes", 2)
        end
        v = floor(value)
    end
    if C.mg_lua_sock_setoption(t, self.h, opt, v, errp) ~= 0 then
        return nil, failure(f)
    end
    return true
end

return M
