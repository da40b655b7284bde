-- Unit tests of lua/moongate/json.lua (run by t/unit/test_lua_modules.c).
local json = require "moongate.json"

local function eq(a, b, what)
    if a ~= b then
        error(what .. ": expected " .. tostring(b) .. ", got " .. tostring(a), 2)
    end
end

eq(json.encode({ 1, 2, 3 }), "[1,2,3]", "array")
eq(json.encode({ a = 1 }), '{"a":1}', "object")
eq(json.encode({ b = 1, a = { true, false } }, { sort_keys = true }), '{"a":[true,false],"b":1}',
    "sorted keys")
eq(json.encode({}), "{}", "empty table is an object")
eq(json.encode(setmetatable({}, json.array_mt)), "[]", "empty array")
eq(json.encode("a\"b\\c\n\1"), '"a\\"b\\\\c\\n\\u0001"', "escapes")
eq(json.encode(1.5), "1.5", "float")
eq(json.encode(json.null), "null", "null")
eq(json.encode(2 ^ 53), "9007199254740992", "large integer")
local t = {}
t.self = t
local s, err = json.encode(t)
eq(s, nil, "cycle refused")
assert(err:find("itself"), err)
eq(json.encode(0 / 0), nil, "NaN refused")
eq(json.encode(function() end), nil, "function refused")

local v = assert(json.decode('{"a":[1,2,{"b":null}],"c":"\\u00e9\\ud83d\\ude00","d":-1.5e2}'))
eq(v.a[2], 2, "nested array")
eq(v.a[3].b, json.null, "null sentinel")
eq(v.c, "\195\169\240\159\152\128", "unicode and surrogate pair")
eq(v.d, -150, "exponent")
eq(getmetatable(v.a), json.array_mt, "arrays carry array_mt")
eq(json.encode(assert(json.decode("[]"))), "[]", "empty array round trip")

for _, bad in ipairs({ "[1,]", "{\"a\":1,}", "01", "[1 2]", "{a:1}", "\"abc", "tru", "1.",
    "[\"\\x\"]", "\"\\ud800\"", "// c\n1", "1 2", "" }) do
    local r, e = json.decode(bad)
    eq(r, nil, "refused: " .. bad)
    assert(type(e) == "string" and e:find("position"), "error has a position: " .. bad)
end
local deep = string.rep("[", 100) .. string.rep("]", 100)
local r, e = json.decode(deep)
eq(r, nil, "depth limit")
assert(e:find("nesting"), e)
eq(json.decode("null", { null_as_nil = true }), nil, "null as nil")
eq(json.decode(" 42 "), 42, "whitespace around")
