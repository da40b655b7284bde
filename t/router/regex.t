# path_regex routes: a PCRE2 pattern over the normalised path, its named groups as the
# route's params, the precedence against pattern routes (exact and {param} first, then
# regex routes by priority and file order, then "/*" wildcards), hosts and methods, and
# the patterns refused at load (syntax errors, patterns that can never match a path).
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: named groups become the route's params
--- yaml_config
routes:
  - name: orders
    path_regex: "^/users/(?<id>[0-9]+)/orders(?:/(?<order>[a-z0-9-]+))?$"
    plugins: { params: {} }
--- lua_plugins
>>> params.lua
local mg = require "moongate"
return {
    name = "params", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local p = mg.request.get_params()
        local keys = {}
        for k, v in pairs(p) do keys[#keys + 1] = k .. "=" .. v end
        table.sort(keys)
        return 200, mg.var.route .. " " .. table.concat(keys, ",") .. "\n"
    end,
}
--- request eval
["GET /users/42/orders", "GET /users/42/orders/a-7", "GET /users/x/orders", "GET /users/42/orders/", "GET /users/42/orders?x=1"]
--- error_code eval
[200, 200, 404, 404, 200]
--- response_body_like eval
["^orders id=42\n\$", "^orders id=42,order=a-7\n\$", "404", "404", "^orders id=42\n\$"]



=== TEST 2: precedence: exact and {param} patterns, then regex routes, then "/*" wildcards
--- yaml_config
routes:
  - { name: exact, paths: ["/v1/users/me"], return: { status: 200, body: "exact\n" } }
  - { name: param, paths: ["/v1/users/{id}"], return: { status: 200, body: "param\n" } }
  - { name: wild, paths: ["/*"], return: { status: 200, body: "wild\n" } }
  - { name: rx, path_regex: "^/v1/users/", return: { status: 200, body: "rx\n" } }
  - { name: rx2, path_regex: "\\.(css|js)$", return: { status: 200, body: "rx2\n" } }
--- request eval
["GET /v1/users/me", "GET /v1/users/42", "GET /v1/users/42/orders", "GET /a/b.css", "GET /other"]
--- response_body eval
["exact\n", "param\n", "rx\n", "rx2\n", "wild\n"]



=== TEST 3: regex routes by priority, then file order; methods and hosts filter them
--- yaml_config
routes:
  - { name: first, path_regex: "^/a", return: { status: 200, body: "first\n" } }
  - { name: second, path_regex: "^/a/b", return: { status: 200, body: "second\n" } }
  - { name: urgent, path_regex: "^/a/b/c", priority: 5, return: { status: 200, body: "urgent\n" } }
  - { name: posts, path_regex: "^/p", methods: [POST], return: { status: 200, body: "posts\n" } }
  - { name: hosted, path_regex: "^/h", hosts: ["*.example.com"], return: { status: 200, body: "hosted\n" } }
--- request eval
["GET /a/b", "GET /a/b/c", "GET /p", "POST /p", "GET /h"]
--- error_code eval
[200, 200, 404, 200, 404]
--- response_body_like eval
["^first\n\$", "^urgent\n\$", "404", "^posts\n\$", "404"]



=== TEST 4: a regex route matches on the wildcard host it names
--- yaml_config
routes:
  - { name: hosted, path_regex: "^/h", hosts: ["*.example.com"], return: { status: 200, body: "hosted\n" } }
--- request
GET /h/1
--- more_headers
Host: api.Example.com
--- response_body
hosted



=== TEST 5: the regex sees the normalised path (dot segments resolved, unreserved %XX decoded)
--- yaml_config
routes:
  - { name: rx, path_regex: "^/files/(?<name>[^/]+)$", plugins: { params: {} } }
--- lua_plugins
>>> params.lua
local mg = require "moongate"
return {
    name = "params", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        return 200, "name=" .. tostring(mg.request.get_param("name")) .. "\n"
    end,
}
--- request eval
["GET /files/a%20b", "GET /x/../files/c", "GET /files/%61%62", "GET /files//d"]
--- error_code eval
[200, 200, 200, 404]
--- response_body_like eval
["^name=a%20b\n\$", "^name=c\n\$", "^name=ab\n\$", "404"]



=== TEST 6: a route with both paths and path_regex matches by either
--- yaml_config
routes:
  - { name: both, paths: ["/exact"], path_regex: "^/re-[0-9]+$", return: { status: 200, body: "both\n" } }
--- request eval
["GET /exact", "GET /re-12", "GET /re-x"]
--- error_code eval
[200, 200, 404]



=== TEST 7: a bad pattern is refused at load with the place, the key and PCRE2's message
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    path_regex: "^/users/(?<id>[0-9+/orders$"
    return: { status: 200 }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:17: routes\[0\]\.path_regex: bad regular expression "\^/users/\(\?<id>\[0-9\+/orders\$": missing terminating \] for character class at offset 27}]



=== TEST 8: a pattern that compiles but can never match a path is refused
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: a, path_regex: "^users/(?<id>[0-9]+)$", return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:\d+: routes\[0\]\.path_regex: regular expression "\^users/\(\?<id>\[0-9\]\+\)\$" can never match a path: it is anchored at the start and its first character is not '/'}]



=== TEST 9: (*FAIL) after a prefix is refused
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: a, path_regex: "/a(*FAIL)", return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{routes\[0\]\.path_regex: regular expression "/a\(\*FAIL\)" can never match a path: no path can match it}]



=== TEST 10: a start that cannot be '/' is refused
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: a, path_regex: "^[^/]", return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{routes\[0\]\.path_regex: regular expression "\^\[\^/\]" can never match a path}]



=== TEST 15: a contradiction ($ before more text) is refused
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: a, path_regex: "^/api$/v2", return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{routes\[0\]\.path_regex: regular expression "\^/api./v2" can never match a path: no path can match it}]



=== TEST 11: every match longer than any path
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: a, path_regex: "/x{2000000}", return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{routes\[0\]\.path_regex: .*(can never match a path: every match is longer than the longest path accepted|number too big)}]



=== TEST 12: a route needs paths or path_regex
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: a, return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:5: routes\[0\]: missing "paths" \(path patterns\) or "path_regex"}]



=== TEST 13: too many named groups
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: a
    path_regex: "^/(?<a>.)(?<b>.)(?<c>.)(?<d>.)(?<e>.)(?<f>.)(?<g>.)(?<h>.)(?<i>.)(?<j>.)(?<k>.)(?<l>.)(?<m>.)(?<n>.)(?<o>.)(?<p>.)(?<q>.)"
    return: { status: 200 }
--- must_die: 1
--- error_log eval
[qr{routes\[0\]\.path_regex: regular expression .* has 17 named groups \(at most 16: each becomes a route param\)}]



=== TEST 14: a path on which the regex hits the match limit does not match it; the worker goes on
--- yaml_config
lua: { regex_match_limit: 1000 }
routes:
  - { name: slow, path_regex: "^/(a|aa)+$", return: { status: 200, body: "slow\n" } }
  - { name: fast, paths: ["/ok"], return: { status: 200, body: "ok\n" } }
--- request eval
["GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "GET /aaaa", "GET /ok"]
--- error_code eval
[404, 200, 200]
