-- ip-restriction: lets a request through only from allowed client addresses. `allow`
-- and `deny` are lists of IPv4/IPv6 CIDR ranges (or single addresses); the client is
-- the address after trusted_proxies (mg.request.get_remote_addr()). A client in `deny`
-- is refused; with `allow` given, a client outside it is refused too. The ranges are
-- parsed and merged by C (core/lua/lua_cidr.c over base/cidr.c) once per config and
-- worker, and matched with one binary search: 10,000 ranges cost ~14 comparisons.
local mg = require "moongate"
local ffi = require "ffi"
local native = require "moongate.native"

if not pcall(ffi.typeof, "mg_lua_cidr_t") then
    ffi.cdef [[
typedef struct mg_lua_cidr_s mg_lua_cidr_t;
mg_lua_cidr_t *mg_lua_cidr_new(void);
void mg_lua_cidr_free(mg_lua_cidr_t *m);
int mg_lua_cidr_parse(const char *s, size_t len, const char **why);
int mg_lua_cidr_add(mg_lua_cidr_t *m, const char *s, size_t len, const char **why);
int mg_lua_cidr_build(mg_lua_cidr_t *m);
int mg_lua_cidr_match(const mg_lua_cidr_t *m, const char *addr, size_t len);
int mg_lua_cidr_count(const mg_lua_cidr_t *m);
]]
end
local C = ffi.C
local why = ffi.new("const char *[1]")

local function cidr_ok(s)
    if C.mg_lua_cidr_parse(s, #s, why) ~= 0 then
        return nil, ffi.string(why[0]) .. ', got "' .. s .. '"'
    end
    return true
end

local cidr_list = {
    type = "array", items = { type = "string", check = cidr_ok }, max = 1000000,
}
local function list(description, min)
    local c = { description = description, min = min }
    for k, v in pairs(cidr_list) do c[k] = v end
    return c
end

-- A config that restricts nothing is a mistake, and an empty allow list would refuse
-- everyone: both are refused at load.
local function config_ok(c)
    if c.allow == nil and (c.deny == nil or #c.deny == 0) then
        return nil, "needs allow or a non-empty deny"
    end
    return true
end

local schema = {
    type = "record",
    check = config_ok,
    fields = {
        allow = list("client ranges let through; when given, every other client is refused", 1),
        deny = list("client ranges refused (wins over allow)"),
        status = {
            type = "integer", min = 400, max = 599, default = 403,
            description = "status of the refusal",
        },
        message = {
            type = "string", default = "your IP address is not allowed",
            description = "the refusal's `error` text",
        },
    },
}

-- One matcher per list of a config, per worker: the config table is made once per
-- generation and shared by all requests, so it keys a weak cache.
local matchers = setmetatable({}, { __mode = "k" })

local function build(ranges)
    if ranges == nil or #ranges == 0 then
        return false
    end
    local m = C.mg_lua_cidr_new()
    if m == nil then
        error("ip-restriction: out of memory")
    end
    m = ffi.gc(m, C.mg_lua_cidr_free)
    for _, r in ipairs(ranges) do
        if C.mg_lua_cidr_add(m, r, #r, why) ~= 0 then
            error("ip-restriction: " .. ffi.string(why[0]) .. ": " .. r)
        end
    end
    if C.mg_lua_cidr_build(m) ~= 0 then
        error("ip-restriction: out of memory")
    end
    return m
end

local function compiled(conf)
    local c = matchers[conf]
    if c == nil then
        c = { allow = build(conf.allow), deny = build(conf.deny) }
        matchers[conf] = c
    end
    return c
end

local function refuse(conf)
    return conf.status, { error = conf.message, status = conf.status,
        request_id = mg.var.request_id }
end

local function rewrite(conf)
    local m = compiled(conf)
    if not m.allow and not m.deny then
        return
    end
    local addr = mg.request.get_remote_addr() or ""
    if m.deny then
        local r = C.mg_lua_cidr_match(m.deny, addr, #addr)
        if r ~= 0 then
            -- in the list, or an address that does not parse (a unix socket client):
            -- refused rather than let through unchecked
            return refuse(conf)
        end
    end
    if m.allow and C.mg_lua_cidr_match(m.allow, addr, #addr) ~= 1 then
        return refuse(conf)
    end
end

-- The same check in C (moongate.native): a route whose plugins all have one runs it
-- without entering Lua.
local function native_of(conf)
    local m = compiled(conf)
    return { rewrite = native.cidr(m.allow or nil, m.deny or nil, conf.status, conf.message) }
end

return {
    name = "ip-restriction",
    version = "1.0.0",
    priority = 3000,
    description = "allows or denies clients by IPv4/IPv6 CIDR ranges",
    schema = schema,
    rewrite = rewrite,
    native = native_of,
}
