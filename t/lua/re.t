# mg.re: PCRE2 regular expressions for plugins through real requests: match (captures,
# named groups, unmatched groups), find, test, gmatch, sub/gsub (templates and
# functions), split, the flags, bad patterns and flags, UTF-8, and a catastrophic
# pattern that hits the match limit: an error for the plugin, and the worker goes on.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: match: [0], numbered and named groups, unmatched groups false, no match nil
--- yaml_config
routes:
  - { name: r, paths: ["/*"], plugins: { t: {} } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local m = mg.re.match("/users/42/orders", "^/users/(?<id>[0-9]+)/(orders|x)(z)?")
        local none, err = mg.re.match("/users/x", "^/users/(\\d+)")
        local from3 = mg.re.match("abcabc", "abc", nil, 2)
        local neg = mg.re.match("a1b2", "\\d", nil, -1)
        return 200, table.concat({ m[0], m[1], m.id, m[2], tostring(m[3]), tostring(none),
            tostring(err), tostring(from3 and from3[0]), neg[0] }, "|") .. "\n"
    end,
}
--- request
GET /t
--- response_body
/users/42/orders|42|42|orders|false|nil|nil|abc|2



=== TEST 2: find, test, gmatch
--- yaml_config
routes:
  - { name: r, paths: ["/*"], plugins: { t: {} } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local out = {}
        local a, b = mg.re.find("hello world", "o w")
        out[#out + 1] = a .. "-" .. b
        a, b = mg.re.find("hello world", "(o) (w)", nil, nil, 2)
        out[#out + 1] = a .. "-" .. b
        a, b = mg.re.find("hello world", "o", nil, 6)
        out[#out + 1] = a .. "-" .. b
        out[#out + 1] = tostring(mg.re.find("hello", "z"))
        out[#out + 1] = tostring(mg.re.test("ABC", "abc", "i")) .. tostring(mg.re.test("ABC", "abc"))
        for m in mg.re.gmatch("k1=v1; k2=v2;k3=", "(\\w+)=(\\w*)") do
            out[#out + 1] = m[1] .. ":" .. m[2]
        end
        local n = 0
        for m in mg.re.gmatch("abc", "") do n = n + 1 end
        out[#out + 1] = "empty matches " .. n
        return 200, table.concat(out, "|") .. "\n"
    end,
}
--- request
GET /t
--- response_body
5-7|7-7|8-8|nil|truefalse|k1:v1|k2:v2|k3:|empty matches 4



=== TEST 3: sub and gsub with templates and functions; split
--- yaml_config
routes:
  - { name: r, paths: ["/*"], plugins: { t: {} } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local out = {}
        local function add(s, n) out[#out + 1] = s .. "#" .. tostring(n) end
        add(mg.re.gsub("a1b22c333", "[0-9]+", "<$0>"))
        add(mg.re.gsub("a1b22c333", "(?<d>[0-9]+)", function(m) return "[" .. m.d .. "]" end))
        add(mg.re.sub("a1b22", "[0-9]+", "${0}$$"))
        add(mg.re.gsub("john smith", "(\\w+) (\\w+)", "$2, $1"))
        add(mg.re.gsub("abc", "", "-"))
        add(mg.re.gsub("abc", "x", "-"))
        add(mg.re.gsub("a.b", "\\.", "%"))
        local r, err = mg.re.gsub("abc", "b", "$9")
        out[#out + 1] = tostring(r) .. " " .. tostring(err)
        r, err = mg.re.gsub("abc", "(b)", "${nope}")
        out[#out + 1] = tostring(r) .. " " .. tostring(err)
        add(mg.re.gsub("ab", "(x)?b", "[$1]"))
        out[#out + 1] = table.concat(mg.re.split("a,b,,c", ","), "/")
        out[#out + 1] = table.concat(mg.re.split("a, b ,c", "\\s*,\\s*", nil, 2), "/")
        out[#out + 1] = table.concat(mg.re.split("abc", ""), "/")
        return 200, table.concat(out, "|") .. "\n"
    end,
}
--- request
GET /t
--- response_body
a<1>b<22>c<333>#3|a[1]b[22]c[333]#3|a1$b22#1|smith, john#1|-a-b-c-#4|abc#0|a%b#1|nil the replacement names group 9, and the pattern has 0|nil the replacement names group "nope", which the pattern does not have|a[]#1|a/b//c|a/b ,c|a/b/c



=== TEST 4: flags: i m s x u a, o and j accepted; an unknown flag is an error naming it
--- yaml_config
routes:
  - { name: r, paths: ["/*"], plugins: { t: {} } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local t = mg.re.test
        local out = {
            tostring(t("ABC", "abc", "i")), tostring(t("a\nb", "^b$")), tostring(t("a\nb", "^b$", "m")),
            tostring(t("a\nb", "a.b")), tostring(t("a\nb", "a.b", "s")),
            tostring(t("ab", "a b # c", "x")), tostring(t("xab", "ab", "a")),
            tostring(t("ab", "ab", "a")), tostring(t("ABC", "abc", "ijo")),
            tostring(#mg.re.match("é", ".", "u")[0]), tostring(#mg.re.match("é", ".")[0]),
        }
        local ok, err = pcall(mg.re.match, "x", "x", "iq")
        out[#out + 1] = err:match("mg%.re%.match: .*")
        return 200, table.concat(out, " ") .. "\n"
    end,
}
--- request
GET /t
--- response_body
true false true false true true false true true 2 1 mg.re.match: unknown flag "q" in "iq" (expected some of i m s x u a D J o j)



=== TEST 5: a bad pattern, bad UTF-8 under "u": nil and an error; the plugin goes on
--- yaml_config
routes:
  - { name: r, paths: ["/*"], plugins: { t: {} } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local out = {}
        local function add(a, b) out[#out + 1] = tostring(a) .. " " .. tostring(b) end
        add(mg.re.match("x", "a(b"))
        add(mg.re.find("x", "[z-a]"))
        add(mg.re.gsub("x", "(?<n", "y"))
        add(mg.re.match("\xff", ".", "u"))
        local m = mg.re.match("héllo", "^h(.)l", "u")
        add(m[1], #m[1])
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /t
--- response_body
nil bad regex "a(b": missing closing parenthesis at offset 3
nil bad regex "[z-a]": range out of order in character class at offset 3
nil bad regex "(?<n": syntax error in subpattern name (missing terminator?) at offset 4
nil UTF-8 error: illegal byte (0xfe or 0xff)
é 2



=== TEST 6: a catastrophic pattern hits the match limit: an error, and the worker keeps serving
--- yaml_config
worker_processes: 1
lua: { regex_match_limit: 100000 }
routes:
  - { name: r, paths: ["/slow"], plugins: { t: {} } }
  - { name: ok, paths: ["/ok"], return: { status: 200, body: "ok\n" } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local s = string.rep("a", 40) .. "b"
        local t0 = mg.now()
        local m, err = mg.re.match(s, "^(a|aa)+$")
        local quick = mg.now() - t0 < 0.5
        return 200, tostring(m) .. " " .. tostring(err) .. " " .. tostring(quick) .. "\n"
    end,
}
--- request eval
["GET /slow", "GET /ok", "GET /slow", "GET /ok"]
--- response_body eval
["nil match limit exceeded true\n", "ok\n", "nil match limit exceeded true\n", "ok\n"]
--- no_error_log
[error]



=== TEST 7: patterns are cached per worker, bounded by lua.regex_cache_size
--- yaml_config
lua: { regex_cache_size: 4 }
routes:
  - { name: r, paths: ["/*"], plugins: { t: {} } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local ok = true
        for i = 1, 50 do
            local m = mg.re.match("x" .. i % 9, "^x(" .. i % 9 .. ")$")
            ok = ok and m ~= nil and m[1] == tostring(i % 9)
        end
        return 200, tostring(ok) .. " " .. mg.re.cache_count() .. "\n"
    end,
}
--- request
GET /t
--- response_body
true 4



=== TEST 8: gsub with a function that uses other patterns (evicting its own) stays right
--- yaml_config
lua: { regex_cache_size: 1 }
routes:
  - { name: r, paths: ["/*"], plugins: { t: {} } }
--- lua_plugins
>>> t.lua
local mg = require "moongate"
return {
    name = "t", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function()
        local s, n = mg.re.gsub("a-1 b-22 c-333", "(\\w)-(\\d+)", function(m)
            return mg.re.gsub(m[2], "\\d", "#") .. m[1]
        end)
        return 200, s .. " " .. n .. "\n"
    end,
}
--- request
GET /t
--- response_body
#a ##b ###c 3
