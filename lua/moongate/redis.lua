-- moongate.redis: mg.redis, Redis commands on the worker's loop (the plugin yields until
-- the reply is in; the worker goes on serving). Pooled per worker and address, pipelined,
-- replies mapped like lua-resty-redis.
local ffi = require "ffi"
local core = require "moongate.core"
local cffi = require "moongate.ffi"
local json = require "moongate.json"

if not pcall(ffi.typeof, "mg_lua_redis_item_t") then
    ffi.cdef [[
/* The region "lua/moongate/redis.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
/* One value of a reply, flattened: an array is followed by its n elements (each with
 * its own elements after it). type: 0 nil, 1 status, 2 error, 3 integer, 4 string,
 * 5 array. str/len: status, error and string bytes (borrowed from the call's result). */
typedef struct {
    int32_t type;
    int32_t n;
    int64_t integer;
    const char *str;
    size_t len;
} mg_lua_redis_item_t;
typedef struct mg_lua_redis_pool_s mg_lua_redis_pool_t;
/* The worker's pool for an address ("host:port", "[v6]:port", "unix:/path"; NULL: the
 * `redis:` block's server), ACL user and password (NULL: none, or the block's), db
 * (< 0: 0, or the block's) and connections (<= 0: 2, or the block's); made at its
 * first use, kept with the generation. NULL with a static reason in *err. */
mg_lua_redis_pool_t *mg_lua_redis_pool(mg_lua_task_t *t, const char *address,
                                       const char *username, const char *password, int db,
                                       int pool_size, const char **err);
/* Sends ncmds commands (command i: argcs[i] arguments, taken in order from argv/lens)
 * on one connection of p, in one write, with a deadline of `timeout` seconds (<= 0:
 * the pool's). MG_AGAIN (yield; resumed when every reply is in, or its deadline
 * passed) or MG_ERROR with a reason in *err (valid until the next call). */
int mg_lua_redis_send(mg_lua_task_t *t, mg_lua_redis_pool_t *p, int ncmds, const int *argcs,
                      const char **argv, const size_t *lens, double timeout, const char **err);
/* After the resume: command i's reply (MG_OK: *items, *nitems) or its transport error
 * (MG_ERROR: "timeout", "closed", ...). */
int mg_lua_redis_result(mg_lua_task_t *t, int i, const mg_lua_redis_item_t **items,
                        size_t *nitems, const char **err);
/* Drops the call and its replies. */
void mg_lua_redis_done(mg_lua_task_t *t);
]]
end

local C = cffi.C
local check = core.check
local CALL = core.phases("rewrite", "access", "balancer", "timer")
local errp = ffi.new("const char *[1]")
local itemsp = ffi.new("const mg_lua_redis_item_t *[1]")
local np = ffi.new("size_t[1]")
local type, tostring, select, upper, lower = type, tostring, select, string.upper, string.lower
local fstring, floor = ffi.string, math.floor
local setmetatable, rawget = setmetatable, rawget

local M = {}
-- A nil bulk reply, or a nil element of an array (json.null: encodes as null).
M.null = json.null

-- Commands a shared, multiplexed connection cannot carry: they block it, change its
-- state for every request on it, or need it to themselves.
local REFUSED = {
    BLPOP = "blocking", BRPOP = "blocking", BRPOPLPUSH = "blocking", BLMOVE = "blocking",
    BLMPOP = "blocking", BZPOPMIN = "blocking", BZPOPMAX = "blocking", BZMPOP = "blocking",
    WAIT = "blocking", SUBSCRIBE = "blocking", PSUBSCRIBE = "blocking",
    SSUBSCRIBE = "blocking", UNSUBSCRIBE = "blocking", PUNSUBSCRIBE = "blocking",
    SUNSUBSCRIBE = "blocking", MONITOR = "blocking", SYNC = "blocking", PSYNC = "blocking",
    SELECT = "connection state: give db to mg.redis.new",
    AUTH = "connection state: give username and password to mg.redis.new",
    HELLO = "connection state", QUIT = "connection state", RESET = "connection state",
    CLIENT = "connection state", WATCH = "connection state", UNWATCH = "connection state",
}
-- Transactions: only inside a pipeline, which goes out whole on one connection.
local TX = { MULTI = true, EXEC = true, DISCARD = true }

local Redis = {}
local mt

-- item i of the flattened reply (0-based) → value, index of the next item
local function decode(items, i)
    local it = items[i]
    local ty = it.type
    if ty == 4 or ty == 1 then
        return fstring(it.str, it.len), i + 1
    elseif ty == 3 then
        return tonumber(it.integer), i + 1
    elseif ty == 0 then
        return M.null, i + 1
    elseif ty == 2 then
        return { false, fstring(it.str, it.len) }, i + 1
    end
    local out, n = {}, it.n
    i = i + 1
    for k = 1, n do
        out[k], i = decode(items, i)
    end
    return out, i
end

-- the reply of command i of the call, lua-resty style: an error reply is nil, msg for a
-- single command (`single`) and {false, msg} in a pipeline
local function result(t, i, single)
    if C.mg_lua_redis_result(t, i, itemsp, np, errp) ~= cffi.OK then
        return nil, fstring(errp[0])
    end
    local items = itemsp[0]
    if single and items[0].type == 2 then
        return nil, fstring(items[0].str, items[0].len)
    end
    return (decode(items, 0))
end

-- sends the commands (lists of arguments) and waits; → per command value or nil, err
local function run(self, cmds, fname)
    local t = check(fname, CALL, 3)
    local n, total = #cmds, 0
    for i = 1, n do
        total = total + #cmds[i]
    end
    local argcs = ffi.new("int[?]", n)
    local argv = ffi.new("const char *[?]", total)
    local lens = ffi.new("size_t[?]", total)
    local k = 0
    for i = 1, n do
        local cmd = cmds[i]
        argcs[i - 1] = #cmd
        for j = 1, #cmd do
            local a = cmd[j]
            argv[k], lens[k] = a, #a
            k = k + 1
        end
    end
    local rc = C.mg_lua_redis_send(t, self._pool, n, argcs, argv, lens, self._timeout, errp)
    if rc ~= cffi.AGAIN then
        return nil, fstring(errp[0])
    end
    core.wait()
    return t, n
end

-- the arguments of a command as strings: {NAME, ...}
local function args(name, ...)
    local cmd = { name }
    local n = select("#", ...)
    for i = 1, n do
        local a = select(i, ...)
        local ta = type(a)
        if ta == "table" and name == "HMSET" and i == 2 and n == 2 then
            -- (lua-resty) hmset(key, { field = value, ... })
            for f, v in pairs(a) do
                cmd[#cmd + 1] = tostring(f)
                cmd[#cmd + 1] = tostring(v)
            end
        elseif ta == "string" then
            cmd[#cmd + 1] = a
        elseif ta == "number" then
            cmd[#cmd + 1] = (a == floor(a) and a >= -2^53 and a <= 2^53)
                and string.format("%d", a) or string.format("%.17g", a)
        elseif ta == "boolean" then
            cmd[#cmd + 1] = a and "1" or "0"
        else
            return nil, "bad argument #" .. i .. " to " .. lower(name) .. " (a " .. ta .. ")"
        end
    end
    return cmd
end

-- red:call("CMD", ...) → value or nil, err; queued while a pipeline is open.
function Redis.call(self, name, ...)
    if type(name) ~= "string" or not name:match("^[%a][%w_.|-]*$") then
        error("mg.redis: bad command name " .. tostring(name), 2)
    end
    name = upper(name)
    local why = REFUSED[name]
    if why then
        return nil, lower(name) .. " is not allowed on a shared connection (" .. why .. ")"
    end
    local cmd, err = args(name, ...)
    if not cmd then
        return nil, err
    end
    local pipe = rawget(self, "_pipe")
    if pipe then
        pipe[#pipe + 1] = cmd
        return true
    end
    if TX[name] then
        return nil, lower(name) .. " needs a pipeline (init_pipeline ... commit_pipeline)"
    end
    local t, e = run(self, { cmd }, "red:" .. lower(name))
    if not t then
        return nil, e
    end
    local v, rerr = result(t, 0, true)
    C.mg_lua_redis_done(t)
    return v, rerr
end

function Redis.init_pipeline(self, n)
    self._pipe = {}
    return true
end

function Redis.cancel_pipeline(self)
    self._pipe = nil
    return true
end

-- → { result or {false, "ERR ..."} per command } or nil, err (a transport error, which
-- then applies to every command)
function Redis.commit_pipeline(self)
    local pipe = rawget(self, "_pipe")
    if not pipe then
        return nil, "no pipeline"
    end
    self._pipe = nil
    if #pipe == 0 then
        return {}
    end
    local t, e = run(self, pipe, "red:commit_pipeline")
    if not t then
        return nil, e
    end
    local out = {}
    for i = 1, e do
        local v, err = result(t, i - 1, false)
        if v == nil then
            C.mg_lua_redis_done(t)
            return nil, err
        end
        out[i] = v
    end
    C.mg_lua_redis_done(t)
    return out
end

-- lua-resty-redis compatibility: the timeout of the next commands (ms)
function Redis.set_timeout(self, ms)
    if type(ms) ~= "number" or ms <= 0 then
        error("red:set_timeout: expected milliseconds > 0", 2)
    end
    self._timeout = ms / 1000
    return true
end

-- lua-resty-redis compatibility: connections are pooled by the worker already
function Redis.set_keepalive()
    return 1
end

function Redis.close()
    return 1
end

mt = {
    __index = function(self, name)
        local f = Redis[name]
        if f == nil and type(name) == "string" and name:sub(1, 1) ~= "_" then
            local cmd = name
            f = function(red, ...)
                return red:call(cmd, ...)
            end
            -- kept for the next call: command names, not whatever a plugin indexes
            if #name <= 32 and name:match("^%l[%l%d_]*$") then
                Redis[name] = f
            end
        end
        return f
    end,
}

local function opt(opts, k, want)
    local v = opts[k]
    if v ~= nil and type(v) ~= want then
        error("mg.redis.new: " .. k .. " must be a " .. want .. ", got " .. type(v), 3)
    end
    return v
end

-- mg.redis.new(opts) → red, or nil, err. opts nil / {}: the `redis:` block; else
-- { address =, username =, password =, db =, timeout = ms, pool_size = }.
function M.new(opts)
    local t = check("mg.redis.new", CALL)
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        error("mg.redis.new: expected a table of options, got " .. type(opts), 2)
    end
    local address = opt(opts, "address", "string")
    local username = opt(opts, "username", "string")
    local password = opt(opts, "password", "string")
    local db = opt(opts, "db", "number")
    local timeout = opt(opts, "timeout", "number")
    local pool_size = opt(opts, "pool_size", "number")
    if db ~= nil and (db < 0 or db > 65535 or db ~= floor(db)) then
        error("mg.redis.new: db must be an integer 0-65535", 2)
    end
    if timeout ~= nil and timeout <= 0 then
        error("mg.redis.new: timeout must be > 0 (milliseconds)", 2)
    end
    if pool_size ~= nil and (pool_size < 1 or pool_size > 16 or pool_size ~= floor(pool_size)) then
        error("mg.redis.new: pool_size must be an integer 1-16", 2)
    end
    local pool = C.mg_lua_redis_pool(t, address, username, password, db or -1, pool_size or 0,
        errp)
    if pool == nil then
        return nil, fstring(errp[0])
    end
    return setmetatable({ _pool = pool, _timeout = timeout and timeout / 1000 or 0 }, mt)
end

return M
