-- Unit tests of lua/moongate/schema.lua (run by t/unit/test_lua_modules.c).
local schema = require "moongate.schema"

local function eq(a, b, what)
    if a ~= b then
        error(what .. ": expected " .. tostring(b) .. ", got " .. tostring(a), 2)
    end
end

local function ok(v, e)
    if v == nil then
        error(type(e) == "table" and (e.path .. ": " .. e.msg) or tostring(e), 2)
    end
    return v
end

local function S(v, plain, line, col)
    return { kind = "scalar", value = v, plain = plain ~= false, line = line or 1, col = col or 1 }
end
local function MAP(keys, values, line)
    return { kind = "map", keys = keys, values = values, line = line or 1, col = 1 }
end
local function LIST(items)
    return { kind = "list", items = items, line = 1, col = 1 }
end

local def = {
    type = "record",
    fields = {
        header = { type = "string", default = "apikey", description = "d" },
        status = { type = "integer", min = 100, max = 599, default = 401 },
        ratio = { type = "number" },
        on = { type = "boolean", default = true },
        mode = { type = "string", enum = { "header", "query" } },
        names = { type = "array", items = { type = "string", pattern = "^%w+$" }, min = 1 },
        add = { type = "map", values = { type = "string" } },
        nested = { type = "record", fields = { key = { type = "string", required = true } } },
        anything = { type = "any" },
    },
}
ok(schema.validate_def(def))

-- defaults on an empty config, and a nil node
local v = ok(schema.check(def, nil, "p"))
eq(v.header, "apikey", "default string")
eq(v.status, 401, "default integer")
eq(v.on, true, "default boolean")

-- typed scalars; "007" stays a string
v = ok(schema.check(def, MAP({ "header", "status", "ratio", "on" },
    { S("007"), S("404"), S("0.5"), S("false") }), "p"))
eq(v.header, "007", "string kept as written")
eq(v.status, 404, "integer")
eq(v.ratio, 0.5, "number")
eq(v.on, false, "boolean")

-- errors name the path, the position and what was expected
local _, err = schema.check(def, MAP({ "status" }, { S("abc", true, 3, 9) }), "routes[0].plugins.x")
eq(err.path, "routes[0].plugins.x.status", "path")
eq(err.line, 3, "line")
eq(err.col, 9, "col")
eq(err.msg, 'expected an integer, got "abc"', "integer message")

_, err = schema.check(def, MAP({ "status" }, { S("42") }), "p")
eq(err.msg, "must be at least 100, got 42", "min message")
_, err = schema.check(def, MAP({ "status" }, { S("1.5") }), "p")
eq(err.msg, 'expected an integer, got "1.5"', "no fractions")
_, err = schema.check(def, MAP({ "mode" }, { S("cookie") }), "p")
eq(err.msg, 'expected one of "header", "query", got "cookie"', "enum message")
_, err = schema.check(def, MAP({ "hedaer" }, { S("x") }), "p")
eq(err.msg, 'unknown key "hedaer" (did you mean "header"?)', "unknown key message")
_, err = schema.check(def, MAP({ "names" }, { LIST({ S("ok"), S("not ok") }) }), "p")
eq(err.path, "p.names[1]", "array item path")
_, err = schema.check(def, MAP({ "names" }, { LIST({}) }), "p")
eq(err.msg, "number of items must be at least 1, got 0", "array min")
_, err = schema.check(def, MAP({ "nested" }, { MAP({}, {}, 7) }), "p")
eq(err.msg, 'missing required key "key"', "required message")
eq(err.line, 7, "required error at the enclosing map")
_, err = schema.check(def, MAP({ "on" }, { S("yes") }), "p")
eq(err.msg, 'expected a boolean, got "yes"', "boolean message")
_, err = schema.check(def, MAP({ "add" }, { LIST({}) }), "p")
eq(err.msg, "expected a mapping, got a list", "map message")

-- any: the YAML core rules; quoted scalars stay strings
v = ok(schema.check(def, MAP({ "anything" }, { MAP({ "a", "b", "c" },
    { S("1"), S("true"), S("1", false) }) }), "p"))
eq(v.anything.a, 1, "any number")
eq(v.anything.b, true, "any boolean")
eq(v.anything.c, "1", "any quoted")

-- check_value on Lua values
local cv = ok(schema.check_value(def, { status = 500 }, "conf"))
eq(cv.header, "apikey", "check_value default")
local _, e2 = schema.check_value(def, { status = "x" }, "conf")
eq(e2, "conf.status: expected an integer, got string", "check_value message")

-- definitions
local ok, e3 = schema.validate_def({ type = "record", fields = { a = { type = "string", maxx = 1 } } })
eq(ok, nil, "bad attribute refused")
assert(e3:find('unknown attribute "maxx"', 1, true), e3)
ok, e3 = schema.validate_def({ type = "record" })
assert(not ok and e3:find("needs `fields`", 1, true), e3)
ok, e3 = schema.validate_def({ type = "array" })
assert(not ok and e3:find("needs `items`", 1, true), e3)
ok, e3 = schema.validate_def({ type = "integer", min = 5, max = 1 })
assert(not ok and e3:find("min is greater than max", 1, true), e3)
ok, e3 = schema.validate_def({ type = "strin" })
assert(not ok and e3:find('unknown type "strin"', 1, true), e3)

-- custom check
local cdef = { type = "record", fields = { n = { type = "integer",
    check = function(x) return x % 2 == 0, "must be even" end } } }
_, err = schema.check(cdef, MAP({ "n" }, { S("3") }), "p")
eq(err.msg, "must be even", "custom check")

-- a record's check blaming one of its fields: the error is on that key and its position
local rdef = { type = "record",
    check = function(c)
        if c.a and c.b then return nil, "a and b exclude each other", "b" end
        if c.a == false then return nil, "no field named", "zz" end
        return true
    end,
    fields = { a = { type = "boolean" }, b = { type = "string" } } }
_, err = schema.check(rdef, MAP({ "a", "b" }, { S("true", true, 3, 5), S("x", true, 4, 9) }, 2), "p")
eq(err.path, "p.b", "blamed field's path")
eq(err.msg, "a and b exclude each other", "record check message")
eq(err.line, 4, "blamed field's line")
eq(err.col, 9, "blamed field's column")
_, err = schema.check(rdef, MAP({ "a" }, { S("false", true, 3, 5) }, 2), "p")
eq(err.path, "p", "a field not written: the record is blamed")
eq(err.line, 2, "the record's line")
