-- request-validation: checks the request's JSON body, and optionally its headers and
-- query arguments, against a JSON Schema subset written in the plugin config, before
-- anything goes upstream. A request that fails gets 400 (rejected_code) with a message
-- naming the failing place ($.items[2].price); a body that is not JSON gets 415, one
-- over max_body_size 413. The schemas are checked when the config loads: an unknown
-- keyword, a bad type name or a pattern PCRE2 does not compile is refused with
-- file:line:column and the key path.
local mg = require "moongate"
local json = require "moongate.json"

local type, pairs, ipairs, next, tostring, tonumber, getmetatable, setmetatable, floor = type,
    pairs, ipairs, next, tostring, tonumber, getmetatable, setmetatable, math.floor
local concat, format = table.concat, string.format

local TYPES = { "object", "array", "string", "number", "integer", "boolean", "null" }

-- The JSON Schema subset, as a schema of the plugin machinery (so every keyword gets a
-- line and column). It contains itself: properties' values and items are schemas.
local JS = { type = "record", description = "a JSON Schema (the subset below)" }
JS.fields = {
    type = { type = "string", enum = TYPES, description = "the JSON type" },
    properties = { type = "map", values = JS, description = "an object's members' schemas" },
    required = { type = "array", items = { type = "string" }, description = "members that must be present" },
    additionalProperties = { type = "boolean", description = "false: members not in properties are refused" },
    items = JS,
    enum = { type = "array", items = { type = "any" }, min = 1, description = "the allowed values" },
    const = { type = "any", description = "the one allowed value" },
    minimum = { type = "number" },
    maximum = { type = "number" },
    exclusiveMinimum = { type = "number" },
    exclusiveMaximum = { type = "number" },
    minLength = { type = "integer", min = 0 },
    maxLength = { type = "integer", min = 0 },
    pattern = {
        type = "string",
        description = "a PCRE2 regular expression a string must match (unanchored)",
        check = function(p)
            local ok, err = mg.re.test("", p, "u")
            if ok == nil then
                return nil, err
            end
            return true
        end,
    },
    minItems = { type = "integer", min = 0 },
    maxItems = { type = "integer", min = 0 },
    uniqueItems = { type = "boolean" },
    title = { type = "string" },
    description = { type = "string" },
}
JS.check = function(s)
    for _, pair in ipairs({ { "minimum", "maximum" }, { "minLength", "maxLength" },
        { "minItems", "maxItems" } }) do
        local lo, hi = s[pair[1]], s[pair[2]]
        if lo and hi and lo > hi then
            return nil, pair[1] .. " (" .. lo .. ") is greater than " .. pair[2] .. " (" .. hi
                .. "): nothing can match", pair[1]
        end
    end
    return true
end

local schema = {
    type = "record",
    fields = {
        body_schema = {
            type = "record", fields = JS.fields, check = JS.check,
            description = "the schema the JSON body must satisfy; none: the body is not checked",
        },
        header_schema = {
            type = "record", fields = JS.fields, check = JS.check,
            description = "an object schema over the request headers (names in any case, values as strings, converted for integer/number/boolean properties)",
        },
        query_schema = {
            type = "record", fields = JS.fields, check = JS.check,
            description = "an object schema over the query arguments (a repeated argument is an array)",
        },
        body_required = {
            type = "boolean", default = true,
            description = "with body_schema: an empty body is refused (false: it is let through)",
        },
        max_body_size = {
            type = "integer", default = 1048576, min = 1, max = 1073741824,
            description = "bytes of body read at most; a larger body gets 413",
        },
        rejected_code = {
            type = "integer", default = 400, min = 400, max = 599,
            description = "status of a request that fails a schema",
        },
        rejected_msg = {
            type = "string",
            description = "body sent with rejected_code instead of the JSON error naming the failure",
        },
    },
}

-- ---- checking a value ----

local array_mt, null = json.array_mt, json.null

local function json_type(v)
    local t = type(v)
    if t == "table" then
        if v == null then
            return "null"
        end
        return getmetatable(v) == array_mt and "array" or "object"
    elseif t == "number" then
        return (v == floor(v) and v > -math.huge and v < math.huge) and "integer" or "number"
    end
    return t -- string, boolean
end

local function type_ok(want, v)
    local got = json_type(v)
    return got == want or (want == "number" and got == "integer")
end

-- A canonical text of a JSON value, for enum, const and uniqueItems.
local function canon(v)
    if type(v) == "table" and v ~= null then
        return json.encode(v, { sort_keys = true }) or tostring(v)
    end
    if v == null then
        return "null"
    end
    return type(v) .. ":" .. tostring(v)
end

local function same(a, b)
    if type(a) ~= "table" and type(b) ~= "table" then
        return a == b
    end
    return canon(a) == canon(b)
end

local function utf8_len(s)
    local _, cont = s:gsub("[\128-\191]", "")
    return #s - cont
end

local function show(v)
    if type(v) == "string" then
        if #v > 40 then
            v = v:sub(1, 37) .. "..."
        end
        return format("%q", v)
    end
    if type(v) == "table" and v ~= null then
        return "a" .. (json_type(v) == "array" and "n array" or "n object")
    end
    return v == null and "null" or tostring(v)
end

local function member(path, k)
    if k:match("^[%a_][%w_-]*$") then
        return path .. "." .. k
    end
    return path .. "[" .. format("%q", k) .. "]"
end

local validate

local function check_object(s, v, path)
    if s.required then
        for _, k in ipairs(s.required) do
            if v[k] == nil then
                return member(path, k) .. ": required, missing"
            end
        end
    end
    local props = s.properties
    for k, x in pairs(v) do
        local ps = props and props[k]
        if ps then
            local err = validate(ps, x, member(path, tostring(k)))
            if err then
                return err
            end
        elseif s.additionalProperties == false then
            return member(path, tostring(k)) .. ": not an allowed member"
        end
    end
end

local function check_array(s, v, path)
    local n = #v
    if s.minItems and n < s.minItems then
        return path .. ": " .. n .. " items, at least " .. s.minItems .. " expected"
    end
    if s.maxItems and n > s.maxItems then
        return path .. ": " .. n .. " items, at most " .. s.maxItems .. " expected"
    end
    local seen = s.uniqueItems and {}
    for i = 1, n do
        local p = path .. "[" .. (i - 1) .. "]"
        if s.items then
            local err = validate(s.items, v[i], p)
            if err then
                return err
            end
        end
        if seen then
            local c = canon(v[i])
            if seen[c] then
                return p .. ": the same as item " .. (seen[c] - 1) .. " (uniqueItems)"
            end
            seen[c] = i
        end
    end
end

local function check_string(s, v, path)
    if s.minLength or s.maxLength then
        local n = utf8_len(v)
        if s.minLength and n < s.minLength then
            return path .. ": " .. n .. " characters, at least " .. s.minLength .. " expected"
        end
        if s.maxLength and n > s.maxLength then
            return path .. ": " .. n .. " characters, at most " .. s.maxLength .. " expected"
        end
    end
    if s.pattern then
        local ok, err = mg.re.test(v, s.pattern, "u")
        if ok == nil then
            return path .. ": cannot be matched against the pattern (" .. err .. ")"
        end
        if not ok then
            return path .. ": " .. show(v) .. " does not match the pattern " .. format("%q", s.pattern)
        end
    end
end

local function check_number(s, v, path)
    if s.minimum and v < s.minimum then
        return path .. ": " .. v .. " is less than the minimum " .. s.minimum
    end
    if s.maximum and v > s.maximum then
        return path .. ": " .. v .. " is greater than the maximum " .. s.maximum
    end
    if s.exclusiveMinimum and v <= s.exclusiveMinimum then
        return path .. ": " .. v .. " is not greater than " .. s.exclusiveMinimum
    end
    if s.exclusiveMaximum and v >= s.exclusiveMaximum then
        return path .. ": " .. v .. " is not less than " .. s.exclusiveMaximum
    end
end

-- nil when v satisfies s, else "path: what is wrong"
validate = function(s, v, path)
    if s.type and not type_ok(s.type, v) then
        local an = s.type:find("^[aeiou]") and "an " or "a "
        return path .. ": expected " .. an .. s.type .. ", got " .. show(v)
    end
    if s.const ~= nil and not same(s.const, v) then
        return path .. ": must be " .. show(s.const) .. ", got " .. show(v)
    end
    if s.enum then
        local ok = false
        for _, e in ipairs(s.enum) do
            ok = ok or same(e, v)
        end
        if not ok then
            local names = {}
            for i, e in ipairs(s.enum) do
                names[i] = show(e)
            end
            return path .. ": " .. show(v) .. " is not one of " .. concat(names, ", ")
        end
    end
    local t = json_type(v)
    if t == "object" then
        return check_object(s, v, path)
    elseif t == "array" then
        return check_array(s, v, path)
    elseif t == "string" then
        return check_string(s, v, path)
    elseif t == "number" or t == "integer" then
        return check_number(s, v, path)
    end
end

-- Headers and query arguments arrive as text: a property of type integer, number or
-- boolean gets the value converted first (a value that does not convert stays text
-- and fails the type).
local function coerce(ps, v)
    local want = ps and ps.type
    if type(v) ~= "string" then
        return v
    end
    if want == "integer" or want == "number" then
        local n = tonumber(v)
        if n and v:match("^%s*[-+]?[%d.]+[eE]?[-+]?%d*%s*$") then
            return n
        end
    elseif want == "boolean" then
        if v == "true" then
            return true
        elseif v == "false" then
            return false
        end
    end
    return v
end

local function as_object(s, raw, lower_keys)
    local obj = {}
    for k, v in pairs(raw) do
        k = lower_keys and k:lower() or k
        local ps = s.properties and s.properties[k]
        if type(v) == "table" then
            local arr = setmetatable({}, array_mt)
            for i, x in ipairs(v) do
                arr[i] = coerce(ps and ps.items, x)
            end
            -- a header sent twice: one comma-joined value unless its schema wants a list
            if lower_keys and not (ps and ps.type == "array") then
                obj[k] = coerce(ps, concat(v, ", "))
            else
                obj[k] = arr
            end
        elseif v == true then
            obj[k] = ps and ps.type == "boolean" and true or "" -- "?flag" without a value
        else
            obj[k] = coerce(ps, v)
        end
    end
    return obj
end

-- header names are matched in lower case: the config's properties and required too
local function lower_names(s)
    local out = {}
    for k, v in pairs(s) do
        out[k] = v
    end
    if s.properties then
        out.properties = {}
        for k, v in pairs(s.properties) do
            out.properties[k:lower()] = v
        end
    end
    if s.required then
        out.required = {}
        for i, k in ipairs(s.required) do
            out.required[i] = k:lower()
        end
    end
    return out
end

local lowered = setmetatable({}, { __mode = "k" })

local function reject(conf, status, message)
    if status == conf.rejected_code and conf.rejected_msg then
        return status, conf.rejected_msg
    end
    return status, { error = message, status = status, request_id = mg.var.request_id }
end

local function is_json(ct)
    ct = ct and ct:lower() or ""
    local mime = ct:match("^%s*([^;%s]+)") or ""
    return mime == "application/json" or mime:sub(-5) == "+json"
end

-- A schema left out arrives as an empty record (the config checker fills absent
-- records, `items` once more inside): an empty schema checks nothing either way.
local function given(s)
    if s == nil then
        return false
    end
    for k, v in pairs(s) do
        if k ~= "items" or given(v) then
            return true
        end
    end
    return false
end

local function access(conf)
    if given(conf.header_schema) then
        local hs = lowered[conf.header_schema]
        if hs == nil then
            hs = lower_names(conf.header_schema)
            lowered[conf.header_schema] = hs
        end
        local err = validate(hs, as_object(hs, mg.request.get_headers(), true), "header")
        if err then
            return reject(conf, conf.rejected_code, "invalid request " .. err)
        end
    end
    if given(conf.query_schema) then
        local qs = conf.query_schema
        local err = validate(qs, as_object(qs, mg.request.get_query_args(1000), false), "query")
        if err then
            return reject(conf, conf.rejected_code, "invalid request " .. err)
        end
    end
    if not given(conf.body_schema) then
        return
    end
    local body, err = mg.request.get_body(conf.max_body_size)
    if body == nil then
        if err == "body too large" then
            return reject(conf, 413, "request body larger than " .. conf.max_body_size .. " bytes")
        end
        return reject(conf, 400, "cannot read the request body: " .. tostring(err))
    end
    if body == "" then
        if conf.body_required then
            return reject(conf, conf.rejected_code, "a JSON request body is required")
        end
        return
    end
    if not is_json(mg.request.get_header("Content-Type")) then
        return reject(conf, 415, "the request body must be JSON (Content-Type: application/json)")
    end
    local v, jerr = json.decode(body)
    if v == nil and jerr then
        return reject(conf, conf.rejected_code, "the request body is not valid JSON: " .. jerr)
    end
    if v == nil then
        v = null
    end
    err = validate(conf.body_schema, v, "$")
    if err then
        return reject(conf, conf.rejected_code, "invalid request body: " .. err)
    end
end

return {
    name = "request-validation",
    version = "1.0.0",
    priority = 2800,
    description = "checks the JSON body, headers and query arguments against JSON Schemas",
    schema = schema,
    access = access,
}
