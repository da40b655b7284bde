-- moongate.shared: mg.shared.<name>, the shared dictionaries declared in YAML
-- (`shared_dicts:`), over core/sys/shdict.c. Methods follow ngx.shared.DICT:
-- get, get_stale, set, safe_set, add, safe_add, replace, incr, delete, ttl, expire,
-- get_keys, flush_all, count, capacity, free_space. Errors come back as nil, "message".
local ffi = require "ffi"

if not pcall(ffi.typeof, "mg_shdict_val_t") then
    ffi.cdef [[
/* The region "lua/moongate/shared.lua" of core/lua/lua_ffi.h: change both (make check
   compares them). */
typedef struct mg_shdict_s mg_shdict_t;
typedef struct { int type; double num; size_t len; int stale; } mg_shdict_val_t;
mg_shdict_t *mg_shdict_find(const char *name, size_t len);
int mg_shdict_get(mg_shdict_t *d, const char *key, size_t klen, mg_shdict_val_t *out,
                  char *buf, size_t cap, int stale_ok);
int mg_shdict_store(mg_shdict_t *d, int op, const char *key, size_t klen, int type, double num,
                    const char *str, size_t slen, double ttl, int *forcible);
int mg_shdict_incr(mg_shdict_t *d, const char *key, size_t klen, double delta, int has_init,
                   double init, double init_ttl, double *out, int *forcible);
int mg_shdict_delete(mg_shdict_t *d, const char *key, size_t klen);
int mg_shdict_ttl(mg_shdict_t *d, const char *key, size_t klen, double *out);
int mg_shdict_expire(mg_shdict_t *d, const char *key, size_t klen, double ttl);
long mg_shdict_get_keys(mg_shdict_t *d, size_t max, char *buf, size_t cap, size_t *need);
void mg_shdict_flush_all(mg_shdict_t *d);
size_t mg_shdict_count(mg_shdict_t *d);
size_t mg_shdict_capacity(mg_shdict_t *d);
size_t mg_shdict_free_space(mg_shdict_t *d);
]]
end

local C = ffi.C
local NIL, NUMBER, STRING, BOOLEAN = 0, 1, 2, 3
local SET, ADD, REPLACE, SAFE_SET, SAFE_ADD = 0, 1, 2, 3, 4
local OK, ERROR, DECLINED, NOT_NUMBER = 0, -1, -3, -5

local val = ffi.new("mg_shdict_val_t[1]")
local forcible = ffi.new("int[1]")
local num = ffi.new("double[1]")
local buf_size = 4096
local buf = ffi.new("char[?]", buf_size)
local type, tostring = type, tostring

local Dict = {}
Dict.__index = Dict

local function check_key(key)
    if type(key) == "number" then
        key = tostring(key)
    end
    if type(key) ~= "string" or #key == 0 or #key > 65535 then
        return nil
    end
    return key
end

local function get(self, key, stale_ok)
    key = check_key(key)
    if not key then
        return nil, "bad key"
    end
    local rc = C.mg_shdict_get(self.d, key, #key, val, buf, buf_size, stale_ok)
    if rc ~= OK then
        return nil
    end
    local v = val[0]
    if v.type == STRING then
        if v.len > buf_size then
            while buf_size < v.len do
                buf_size = buf_size * 2
            end
            buf = ffi.new("char[?]", buf_size)
            return get(self, key, stale_ok)
        end
        return ffi.string(buf, v.len), v.stale ~= 0
    elseif v.type == BOOLEAN then
        return v.num ~= 0, v.stale ~= 0
    end
    return tonumber(v.num), v.stale ~= 0
end

function Dict:get(key)
    local v, stale = get(self, key, 0)
    if v == nil and stale ~= nil then
        return nil, stale -- "bad key"
    end
    return v
end

function Dict:get_stale(key)
    return get(self, key, 1)
end

local function store(self, op, key, value, ttl)
    key = check_key(key)
    if not key then
        return nil, "bad key"
    end
    if ttl ~= nil and (type(ttl) ~= "number" or ttl < 0) then
        return nil, "bad ttl"
    end
    local t, n, s = NIL, 0, nil
    local vt = type(value)
    if vt == "number" then
        t, n = NUMBER, value
    elseif vt == "string" then
        t, s = STRING, value
    elseif vt == "boolean" then
        t, n = BOOLEAN, value and 1 or 0
    elseif value ~= nil then
        return nil, "bad value type"
    end
    local rc = C.mg_shdict_store(self.d, op, key, #key, t, n, s, s and #s or 0, ttl or 0,
        forcible)
    if rc == OK then
        return true, nil, forcible[0] ~= 0
    elseif rc == DECLINED then
        return false, (op == REPLACE) and "not found" or "exists", false
    end
    return false, "no memory", forcible[0] ~= 0
end

function Dict:set(key, value, ttl) return store(self, SET, key, value, ttl) end
function Dict:safe_set(key, value, ttl) return store(self, SAFE_SET, key, value, ttl) end
function Dict:add(key, value, ttl) return store(self, ADD, key, value, ttl) end
function Dict:safe_add(key, value, ttl) return store(self, SAFE_ADD, key, value, ttl) end
function Dict:replace(key, value, ttl) return store(self, REPLACE, key, value, ttl) end

function Dict:delete(key)
    key = check_key(key)
    if not key then
        return nil, "bad key"
    end
    C.mg_shdict_delete(self.d, key, #key)
    return true
end

-- incr(key, delta, init?, init_ttl?) → new value, nil, forcible | nil, err
function Dict:incr(key, delta, init, init_ttl)
    key = check_key(key)
    if not key then
        return nil, "bad key"
    end
    if type(delta) ~= "number" or (init ~= nil and type(init) ~= "number") then
        return nil, "not a number"
    end
    local rc = C.mg_shdict_incr(self.d, key, #key, delta, init ~= nil and 1 or 0, init or 0,
        init_ttl or 0, num, forcible)
    if rc == OK then
        return tonumber(num[0]), nil, forcible[0] ~= 0
    elseif rc == DECLINED then
        return nil, "not found"
    elseif rc == NOT_NUMBER then
        return nil, "not a number"
    end
    return nil, "no memory"
end

function Dict:ttl(key)
    key = check_key(key)
    if not key then
        return nil, "bad key"
    end
    if C.mg_shdict_ttl(self.d, key, #key, num) ~= OK then
        return nil, "not found"
    end
    return tonumber(num[0])
end

function Dict:expire(key, ttl)
    key = check_key(key)
    if not key then
        return nil, "bad key"
    end
    if ttl ~= nil and (type(ttl) ~= "number" or ttl < 0) then
        return nil, "bad ttl"
    end
    if C.mg_shdict_expire(self.d, key, #key, ttl or 0) ~= OK then
        return nil, "not found"
    end
    return true
end

-- get_keys(max?) → { key, ... }: up to max (default 1024; 0 = all) live keys, most
-- recently used first. The C side walks the LRU list under the dict's lock and stops at
-- the max-th key, so a big dict costs max, not its size (0 walks everything).
local keys_size = 16384
local keys_buf = ffi.new("char[?]", keys_size)
local need = ffi.new("size_t[1]")

function Dict:get_keys(max)
    if max == nil then
        max = 1024
    elseif type(max) ~= "number" or max < 0 or max ~= math.floor(max) then
        return nil, "bad max"
    end
    local n
    while true do
        n = tonumber(C.mg_shdict_get_keys(self.d, max, keys_buf, keys_size, need))
        if n >= 0 then
            break
        end
        -- too small: grow past what it needed (other workers may add keys meanwhile)
        keys_size = tonumber(need[0]) * 2
        keys_buf = ffi.new("char[?]", keys_size)
    end
    local out, pos = {}, 0
    for i = 1, n do
        local len = keys_buf[pos] % 256 * 256 + keys_buf[pos + 1] % 256
        out[i] = ffi.string(keys_buf + pos + 2, len)
        pos = pos + 2 + len
    end
    return out
end

function Dict:flush_all() C.mg_shdict_flush_all(self.d) end
function Dict:count() return tonumber(C.mg_shdict_count(self.d)) end
function Dict:capacity() return tonumber(C.mg_shdict_capacity(self.d)) end
function Dict:free_space() return tonumber(C.mg_shdict_free_space(self.d)) end

return setmetatable({}, {
    __index = function(t, name)
        if type(name) ~= "string" then
            return nil
        end
        local d = C.mg_shdict_find(name, #name)
        if d == nil then
            return nil
        end
        local obj = setmetatable({ d = d, name = name }, Dict)
        rawset(t, name, obj)
        return obj
    end,
})
