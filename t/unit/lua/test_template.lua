-- Unit tests of lua/moongate/template.lua (run by t/unit/test_lua_modules.c), with a
-- stand-in for the request API.
local headers = { ["x-user"] = "bob", ["x-two-words"] = "a b" }
mg = {
    request = {
        get_path = function() return "/p/q" end,
        get_uri = function() return "/p/q?a=1" end,
        get_raw_query = function() return "a=1" end,
        get_host = function() return "h.example.com" end,
        get_scheme = function() return "http" end,
        get_method = function() return "GET" end,
        get_remote_addr = function() return "10.0.0.1" end,
        get_remote_port = function() return 5000 end,
        get_header = function(n) return headers[n:lower()] end,
    },
    var = { request_id = "rid", route = "r1", status = 502 },
}
local template = require "moongate.template"

local function eq(a, b, what)
    if a ~= b then
        error(what .. ": expected " .. tostring(b) .. ", got " .. tostring(a), 2)
    end
end

-- checks
eq(template.check("plain", false), true, "no variables")
eq(template.check("$uri$is_args$args ${host}x $$ $http_x_a", false), true, "known names")
local ok, err = template.check("/a/$nope", false)
eq(ok, nil, "unknown name refused")
eq(err, 'unknown variable "$nope"', "unknown name message")
ok, err = template.check("/$1", false)
eq(ok, nil, "captures need a regex")
assert(err:find("captures are $1 to $9", 1, true), err)
eq(template.check("/$1/${2}x", true), true, "captures with a regex")
ok, err = template.check("a $ b", false)
eq(ok, nil, "bare dollar refused")
assert(err:find('write "$$" for a dollar', 1, true), err)
ok, err = template.check("${host", false)
eq(err, 'unclosed "${" at byte 1', "unclosed brace")
eq(template.has_vars("a$$b"), false, "$$ is no variable")
eq(template.has_vars("a$uri"), true, "a variable")

-- expansion
eq(template.expand("$scheme://$host$request_uri"), "http://h.example.com/p/q?a=1", "url")
eq(template.expand("${uri}x$is_args$args"), "/p/qx?a=1", "braces and is_args")
eq(template.expand("$$$uri$$"), "$/p/q$", "dollars")
eq(template.expand("u=$http_x_user,$http_x_two_words,$http_absent."), "u=bob,a b,.", "headers")
eq(template.expand("/$1/$2/$3x", { "a", false }), "/a//x", "captures, missing ones empty")
eq(template.expand("$1x", { [1] = "c" }), "cx", "one digit per capture")
eq(template.expand("$status $request_id $route $consumer."), "502 rid r1 .", "mg.var names")
eq(template.expand("$http_x_two_words", nil, function(v) return (v:gsub(" ", "%%20")) end),
    "a%20b", "escaping the values only")
