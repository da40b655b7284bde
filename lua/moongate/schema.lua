-- moongate.schema: checks plugin configs against the plugin's schema and types them.
--
-- The loader hands over YAML nodes, not values, so that an error names the line and
-- column: { kind = "scalar"|"null"|"list"|"map", value =, plain =, items =, keys =,
-- values =, line =, col = }. A schema is a tree of field definitions:
--   { type = "string"|"integer"|"number"|"boolean"|"array"|"map"|"record"|"any",
--     required =, default =, enum =, min =, max =, pattern =, description =,
--     fields = (record), items = (array), values = (map), check = function(v) }
-- min/max bound numbers, string lengths and item counts; pattern is a Lua pattern.
local M = {}

local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
local sort, format = table.sort, string.format

local TYPES = {
    string = true, integer = true, number = true, boolean = true, array = true, map = true,
    record = true, any = true,
}
local ATTRS = {
    type = true, required = true, default = true, enum = true, min = true, max = true,
    pattern = true, description = true, fields = true, items = true, values = true,
    keys = true, check = true, unique = true,
}
local A_TYPE = {
    string = "a string", integer = "an integer", number = "a number", boolean = "a boolean",
    array = "a list", map = "a mapping", record = "a mapping", any = "a value",
}

local function quote(s)
    s = tostring(s)
    if #s > 40 then
        s = s:sub(1, 37) .. "..."
    end
    return '"' .. s .. '"'
end

local function got(node)
    if node.kind == "scalar" then
        return quote(node.raw or node.value) -- raw: a secret's ${...} as written
    elseif node.kind == "list" then
        return "a list"
    elseif node.kind == "map" then
        return "a mapping"
    end
    return "null"
end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    return keys
end

local function deep_copy(v)
    if type(v) ~= "table" then
        return v
    end
    local c = {}
    for k, x in pairs(v) do
        c[k] = deep_copy(x)
    end
    return setmetatable(c, getmetatable(v))
end

-- Edit distance, for "did you mean".
local function distance(a, b)
    local prev = {}
    for j = 0, #b do
        prev[j] = j
    end
    for i = 1, #a do
        local cur = { [0] = i }
        for j = 1, #b do
            local cost = a:byte(i) == b:byte(j) and 0 or 1
            cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        end
        prev = cur
    end
    return prev[#b]
end

local function suggest(word, names)
    local best, bestd
    for _, k in ipairs(names) do
        local d = distance(word, k)
        if not bestd or d < bestd then
            best, bestd = k, d
        end
    end
    if bestd and bestd <= math.max(1, math.floor(#word / 3)) then
        return " (did you mean " .. quote(best) .. "?)"
    end
    return ""
end

-- ---- scalars ----

local BOOL = { ["true"] = true, ["True"] = true, ["TRUE"] = true, ["false"] = false,
    ["False"] = false, ["FALSE"] = false }

local function parse_integer(s)
    if s:match("^[-+]?%d+$") then
        local v = tonumber(s)
        if v and math.abs(v) <= 2 ^ 53 then
            return v
        end
    end
end

local function parse_number(s)
    if s:match("^[-+]?%d+%.?%d*$") or s:match("^[-+]?%d*%.%d+$")
        or s:match("^[-+]?%d+%.?%d*[eE][-+]?%d+$") or s:match("^[-+]?%d*%.%d+[eE][-+]?%d+$") then
        local v = tonumber(s)
        if v and v == v and v ~= math.huge and v ~= -math.huge then
            return v
        end
    end
end

-- The untyped reading of a node (YAML core schema for plain scalars).
function M.to_value(node)
    if node == nil or node.kind == "null" then
        return nil
    elseif node.kind == "scalar" then
        if not node.plain then
            return node.value
        end
        local b = BOOL[node.value]
        if b ~= nil then
            return b
        end
        return parse_number(node.value) or node.value
    elseif node.kind == "list" then
        local out = {}
        for i, item in ipairs(node.items) do
            out[i] = M.to_value(item)
        end
        return out
    end
    local out = {}
    for i, k in ipairs(node.keys) do
        out[k] = M.to_value(node.values[i])
    end
    return out
end

-- ---- checking nodes ----

local check_node

local function fail(node, path, msg)
    return nil, { path = path, line = node and node.line or 0, col = node and node.col or 0,
        msg = msg }
end

-- A value for a message: the ${...} reference as written when it came from a secret.
local function shown(node, v)
    if node and node.raw then
        return quote(node.raw)
    end
    return type(v) == "string" and quote(v) or tostring(v)
end

-- `msg` with every plain occurrence of `value` replaced by `by`.
local function replace_plain(msg, value, by)
    local out, i = {}, 1
    while true do
        local a, b = string.find(msg, value, i, true)
        if a == nil then
            break
        end
        out[#out + 1] = msg:sub(i, a - 1) .. by
        i = b + 1
    end
    out[#out + 1] = msg:sub(i)
    return table.concat(out)
end

-- A custom check's message with the values that came from secrets (the scalars under
-- node with a raw ${...}) shown as written: a check function is given the expanded
-- value and may well quote it. A quoted value is replaced whatever its length, a bare
-- one from 6 bytes on (shorter ones would hit unrelated words).
local function hide_secrets(msg, node)
    if node == nil then
        return msg
    end
    if node.kind == "scalar" then
        local v = node.raw and tostring(node.value)
        if v and v ~= "" and v ~= node.raw then
            msg = replace_plain(msg, '"' .. v .. '"', '"' .. node.raw .. '"')
            if #v >= 6 then
                msg = replace_plain(msg, v, node.raw)
            end
        end
    else
        for _, child in ipairs(node.items or node.values or {}) do
            msg = hide_secrets(msg, child)
        end
    end
    return msg
end

-- Bounds, enum, pattern and the custom check on a typed value.
local function constrain(def, v, node, path)
    local size, what
    if type(v) == "number" then
        size, what = v, nil
    elseif type(v) == "string" then
        size, what = #v, "length"
    elseif type(v) == "table" and (def.type == "array" or def.type == "map") then
        local n = 0
        for _ in pairs(v) do n = n + 1 end
        size, what = n, "number of items"
    end
    if size and def.min and size < def.min then
        return fail(node, path, (what and what .. " must" or "must") .. " be at least "
            .. def.min .. ", got " .. (what and size or shown(node, v)))
    end
    if size and def.max and size > def.max then
        return fail(node, path, (what and what .. " must" or "must") .. " be at most "
            .. def.max .. ", got " .. (what and size or shown(node, v)))
    end
    if def.enum then
        local ok = false
        for _, e in ipairs(def.enum) do
            if e == v then ok = true break end
        end
        if not ok then
            local names = {}
            for i, e in ipairs(def.enum) do
                names[i] = type(e) == "string" and quote(e) or tostring(e)
            end
            return fail(node, path, "expected one of " .. table.concat(names, ", ") .. ", got "
                .. shown(node, v))
        end
    end
    if def.pattern and type(v) == "string" and not v:find(def.pattern) then
        return fail(node, path, "does not match pattern " .. quote(def.pattern) .. ", got "
            .. shown(node, v))
    end
    if def.check then
        local ok, err, key = def.check(v)
        if not ok then
            -- a record's check may name the field it blames: the error then points there
            if type(key) == "string" and node and node.kind == "map" then
                for i, k in ipairs(node.keys) do
                    if k == key then
                        return fail(node.values[i], path .. "." .. key,
                            hide_secrets(tostring(err or "invalid value"), node))
                    end
                end
            end
            return fail(node, path, hide_secrets(tostring(err or "invalid value"), node))
        end
    end
    return v
end

local function check_scalar(def, node, path)
    local t = def.type
    if node.kind ~= "scalar" then
        return fail(node, path, "expected " .. A_TYPE[t] .. ", got " .. got(node))
    end
    local s = node.value
    local v
    if t == "string" then
        v = s
    elseif t == "integer" then
        v = parse_integer(s)
    elseif t == "number" then
        v = parse_number(s)
    elseif t == "boolean" then
        v = BOOL[s]
    end
    if v == nil then
        return fail(node, path, "expected " .. A_TYPE[t] .. ", got " .. got(node))
    end
    return v
end

-- `where` positions the errors of missing keys when the record was not written at all.
local function check_record(def, node, path, where)
    local out = {}
    local given = {}
    if node and node.kind ~= "null" then
        if node.kind ~= "map" then
            return fail(node, path, "expected a mapping, got " .. got(node))
        end
        local names = sorted_keys(def.fields)
        for i, k in ipairs(node.keys) do
            if def.fields[k] == nil then
                local kp = node.key_pos
                local at = kp and { line = kp[2 * i - 1], col = kp[2 * i] } or node.values[i]
                return fail(at, path .. "." .. k, "unknown key " .. quote(k) .. suggest(k, names))
            end
            given[k] = node.values[i]
        end
    end
    for _, k in ipairs(sorted_keys(def.fields)) do
        local fd = def.fields[k]
        local v, err = check_node(fd, given[k], path .. "." .. k, node or where or false)
        if err then
            return nil, err
        end
        out[k] = v
    end
    return out
end

-- absent records being filled with their defaults (a recursive record stops there)
local expanding = {}

-- `parent` positions the error of a missing required key.
check_node = function(def, node, path, parent)
    if node == nil or node.kind == "null" then
        if def.default ~= nil then
            return deep_copy(def.default)
        end
        if def.required then
            local key = path:match("([^.%[%]]+)$") or path
            local where = parent or node
            return nil, { path = path:gsub("%.[^.]+$", ""), line = where and where.line or 0,
                col = where and where.col or 0, msg = "missing required key " .. quote(key) }
        end
        if def.type == "record" then
            -- an absent record gets its defaults, unless it needs keys nobody gave; a
            -- record that contains itself (a JSON Schema's `items`) is expanded once
            if expanding[def] then
                return nil
            end
            expanding[def] = true
            local v, err = check_record(def, nil, path, node or parent)
            expanding[def] = nil
            if err and parent ~= nil then
                return nil
            end
            return v, err
        end
        return nil
    end
    local t, v, err = def.type
    if t == "record" then
        v, err = check_record(def, node, path)
    elseif t == "array" then
        if node.kind ~= "list" then
            return fail(node, path, "expected a list, got " .. got(node))
        end
        v = {}
        for i, item in ipairs(node.items) do
            local x, e = check_node(def.items, item, path .. "[" .. (i - 1) .. "]", node)
            if e then
                return nil, e
            end
            v[i] = x
        end
    elseif t == "map" then
        if node.kind ~= "map" then
            return fail(node, path, "expected a mapping, got " .. got(node))
        end
        v = {}
        for i, k in ipairs(node.keys) do
            if def.keys then
                local _, e = constrain(def.keys, k, node.values[i], path .. "." .. k)
                if e then
                    return nil, e
                end
            end
            local x, e = check_node(def.values, node.values[i], path .. "." .. k, node)
            if e then
                return nil, e
            end
            v[k] = x
        end
    elseif t == "any" then
        v = M.to_value(node)
    else
        v, err = check_scalar(def, node, path)
    end
    if err then
        return nil, err
    end
    return constrain(def, v, node, path)
end

-- Checks `node` (nil: the plugin was enabled without config) against `def`. Returns the
-- typed value with defaults filled, or nil, { path, line, col, msg }.
function M.check(def, node, path)
    local v, err = check_node(def, node, path or "")
    if err then
        return nil, err
    end
    if v == nil and def.type == "record" then
        v = {}
    end
    return v
end

-- ---- checking values already in Lua ----

local function lua_type_ok(t, v)
    if t == "any" then
        return true
    elseif t == "integer" then
        return type(v) == "number" and v % 1 == 0
    elseif t == "array" or t == "map" or t == "record" then
        return type(v) == "table"
    end
    return type(v) == t
end

local function check_lua(def, v, path)
    if v == nil then
        if def.default ~= nil then
            return deep_copy(def.default)
        end
        if def.required then
            return nil, path .. ": missing required value"
        end
        if def.type ~= "record" then
            return nil
        end
        local out, err = check_lua(def, {}, path)
        if err then
            return nil -- an absent optional record that needs keys stays absent
        end
        return out
    end
    if not lua_type_ok(def.type, v) then
        return nil, path .. ": expected " .. A_TYPE[def.type] .. ", got " .. type(v)
    end
    local out = v
    if def.type == "record" then
        out = {}
        for k in pairs(v) do
            if def.fields[k] == nil then
                return nil, path .. "." .. tostring(k) .. ": unknown key"
            end
        end
        for _, k in ipairs(sorted_keys(def.fields)) do
            local x, err = check_lua(def.fields[k], v[k], path .. "." .. k)
            if err then
                return nil, err
            end
            out[k] = x
        end
    elseif def.type == "array" then
        out = {}
        for i, x in ipairs(v) do
            local y, err = check_lua(def.items, x, path .. "[" .. (i - 1) .. "]")
            if err then
                return nil, err
            end
            out[i] = y
        end
    elseif def.type == "map" then
        out = {}
        for k, x in pairs(v) do
            local y, err = check_lua(def.values, x, path .. "." .. tostring(k))
            if err then
                return nil, err
            end
            out[k] = y
        end
    end
    local ok, err = constrain(def, out, nil, path)
    if ok == nil and err then
        return nil, path .. ": " .. err.msg
    end
    return out
end

-- The same rules on a Lua value: the value with defaults, or nil, "path: message".
function M.check_value(def, value, path)
    return check_lua(def, value, path or "")
end

-- ---- checking definitions ----

-- `seen`: definitions already checked (a definition may contain itself)
local function validate(def, path, seen)
    if type(def) ~= "table" then
        return nil, path .. ": a field definition must be a table"
    end
    if seen[def] then
        return true
    end
    seen[def] = true
    for k in pairs(def) do
        if not ATTRS[k] then
            local names = sorted_keys(ATTRS)
            return nil, path .. ": unknown attribute " .. quote(k)
                .. (type(k) == "string" and suggest(k, names) or "")
        end
    end
    if not TYPES[def.type] then
        return nil, path .. ": unknown type " .. quote(def.type) .. " (string, integer, number, "
            .. "boolean, array, map, record or any)"
    end
    if def.type == "record" then
        if type(def.fields) ~= "table" then
            return nil, path .. ": a record needs `fields`"
        end
        for _, k in ipairs(sorted_keys(def.fields)) do
            local ok, err = validate(def.fields[k], path .. ".fields." .. tostring(k), seen)
            if not ok then
                return nil, err
            end
        end
    elseif def.type == "array" then
        if def.items == nil then
            return nil, path .. ": an array needs `items`"
        end
        local ok, err = validate(def.items, path .. ".items", seen)
        if not ok then
            return nil, err
        end
    elseif def.type == "map" then
        if def.values == nil then
            return nil, path .. ": a map needs `values`"
        end
        local ok, err = validate(def.values, path .. ".values", seen)
        if not ok then
            return nil, err
        end
        if def.keys ~= nil then
            ok, err = validate(def.keys, path .. ".keys", seen)
            if not ok then
                return nil, err
            end
        end
    end
    if def.enum ~= nil and (type(def.enum) ~= "table" or #def.enum == 0) then
        return nil, path .. ": enum must be a non-empty list"
    end
    for _, a in ipairs({ "min", "max" }) do
        if def[a] ~= nil and type(def[a]) ~= "number" then
            return nil, path .. ": " .. a .. " must be a number"
        end
    end
    if def.min and def.max and def.min > def.max then
        return nil, path .. ": min is greater than max"
    end
    if def.pattern ~= nil then
        if type(def.pattern) ~= "string" then
            return nil, path .. ": pattern must be a string"
        end
        local ok = pcall(string.find, "", def.pattern)
        if not ok then
            return nil, path .. ": pattern " .. quote(def.pattern) .. " is not a valid Lua pattern"
        end
    end
    if def.check ~= nil and type(def.check) ~= "function" then
        return nil, path .. ": check must be a function"
    end
    if def.description ~= nil and type(def.description) ~= "string" then
        return nil, path .. ": description must be a string"
    end
    if def.default ~= nil and not lua_type_ok(def.type, def.default) then
        return nil, path .. ": default is not " .. A_TYPE[def.type]
    end
    return true
end

-- true, or nil and a message naming the attribute that is wrong.
function M.validate_def(def, path)
    return validate(def, path or "schema", {})
end

-- ---- field definitions plugins share ----

-- Headers whose meaning the gateway owns (framing, the connection): a config naming
-- them is refused at load instead of failing every request.
local RESERVED_HEADERS = {
    ["content-length"] = true, ["transfer-encoding"] = true, connection = true,
    upgrade = true, expect = true,
}

-- A header name a plugin may change: an HTTP token, not one the gateway owns, and not
-- Host unless host_ok.
function M.header_name(host_ok)
    return {
        type = "string",
        check = function(name)
            if not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
                return nil, "not a valid header name: \"" .. name .. "\""
            end
            local l = name:lower()
            if RESERVED_HEADERS[l] or (not host_ok and l == "host") then
                return nil, "\"" .. name
                    .. "\" is managed by the gateway and cannot be changed here"
            end
            return true
        end,
    }
end

-- A header value: no line break, no NUL.
M.header_value = {
    type = "string",
    check = function(v)
        if v:find("[%z\r\n]") then
            return nil, "a header value may not contain a line break or NUL"
        end
        return true
    end,
}

-- The configuration's names of a kind (a list) -> { list, set }, or nil when not known
-- (a plugin checked outside a configuration load: nothing is refused then).
local function name_set(names)
    if names == nil then
        return nil
    end
    local t = { list = names, set = {} }
    for _, n in ipairs(names) do
        t.set[n] = true
    end
    return t
end

-- A string field naming one of the configuration's `what`s (known by `known()`): an
-- unknown name is refused at load, with the closest one.
local function declared_name(what, known, why)
    return {
        type = "string",
        check = function(name)
            local k = known()
            if k ~= nil and not k.set[name] then
                return nil, "no " .. what .. " \"" .. name .. "\" in the configuration"
                    .. suggest(name, k.list) .. why
            end
            return true
        end,
    }
end

-- The configuration's upstream and shared dict names; runtime.init sets them before
-- any plugin config is checked.
local UPSTREAMS, DICTS
function M.set_upstreams(names)
    UPSTREAMS = name_set(names)
end
function M.set_shared_dicts(names)
    DICTS = name_set(names)
end

-- The name of an upstream (for plugins that send requests to one with mg.upstream.set).
M.upstream_name = declared_name("upstream", function() return UPSTREAMS end, "")
-- The name of a dict of `shared_dicts:` (for plugins that keep state in mg.shared).
M.shared_dict_name = declared_name("shared dict", function() return DICTS end,
    " (declare it under shared_dicts:)")

M._format = format
-- " (did you mean "x"?)" for the closest of `names` (a list) to `word`, or "".
M.suggest = suggest

return M
