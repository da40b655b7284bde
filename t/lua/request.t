# mg.request: every getter and setter as a plugin sees it, and what the echo upstream
# receives after the changes (method, path, query, headers, body, Host, re-routing).
use Test::Moongate;
use JSON::PP ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

run_tests();

__DATA__

=== TEST 1: getters in access: method, path, query, uri, scheme, host, client, route
--- yaml_config
routes:
  - name: getters
    paths: ["/get/*"]
    plugins: { getters: {} }
--- lua_plugins
>>> getters.lua
local mg = require "moongate"
return {
    name = "getters", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local r = mg.request
        return 200, {
            method = r.get_method(), path = r.get_path(), query = r.get_raw_query(),
            uri = r.get_uri(), scheme = r.get_scheme(), host = r.get_host(),
            remote_addr = r.get_remote_addr(), remote_port = r.get_remote_port(),
            route = r.get_route_name(),
        }
    end,
}
--- request
DELETE /get/a%20b?x=1&y=2
--- more_headers
Host: Shop.Example.com:8080
--- error_code: 200
--- response_headers
Content-Type: application/json
--- check eval
sub {
    my $d = main::echoed($_[0][0]);
    is($d->{method}, 'DELETE', 'get_method');
    is($d->{path}, '/get/a%20b', 'get_path');
    is($d->{query}, 'x=1&y=2', 'get_raw_query');
    is($d->{uri}, '/get/a%20b?x=1&y=2', 'get_uri: the raw target');
    is($d->{scheme}, 'http', 'get_scheme');
    is($d->{host}, 'shop.example.com', 'get_host: lower-case, without the port');
    is($d->{remote_addr}, '127.0.0.1', 'get_remote_addr');
    ok($d->{remote_port} =~ /^\d+$/ && $d->{remote_port} > 0 && $d->{remote_port} < 65536,
       "get_remote_port ($d->{remote_port})");
    is($d->{route}, 'getters', 'get_route_name');
    1;
}



=== TEST 2: getters in rewrite give the same values; an empty query is ""
--- yaml_config
routes:
  - name: rw
    paths: ["/rw"]
    plugins: { getters: {} }
--- lua_plugins
>>> getters.lua
local mg = require "moongate"
return {
    name = "getters", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        local r = mg.request
        return 200, r.get_method() .. " " .. r.get_path() .. " [" .. r.get_raw_query()
            .. "] " .. r.get_route_name() .. " " .. r.get_scheme() .. "\n"
    end,
}
--- request
GET /rw
--- response_body
GET /rw [] rw http



=== TEST 3: set_method, set_path and set_raw_query in rewrite go upstream
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { change: {} }
--- lua_plugins
>>> change.lua
local mg = require "moongate"
return {
    name = "change", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        mg.request.set_method("PUT")
        mg.request.set_path("/new/path")
        mg.request.set_raw_query("a=1&b=two")
        ctx.seen = mg.request.get_method() .. " " .. mg.request.get_path() .. "?"
            .. mg.request.get_raw_query()
    end,
    access = function(conf, ctx)
        mg.request.set_header("X-Seen", ctx.seen)
    end,
}
--- request
GET /old?gone=1
--- error_code: 200
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{method}, 'PUT', 'method');
    is($e->{uri}, '/new/path?a=1&b=two', 'path and query');
    is($e->{headers}{'x-seen'}, 'PUT /new/path?a=1&b=two', 'getters see the new values');
    1;
}



=== TEST 4: the setters work in access and balancer too; an empty query drops the "?"
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { late: {} }
--- lua_plugins
>>> late.lua
local mg = require "moongate"
return {
    name = "late", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_method("PATCH")
        mg.request.set_raw_query("")
        mg.request.set_header("X-From-Access", "1")
    end,
    balancer = function(conf, ctx)
        mg.request.set_path("/from-balancer")
        mg.request.set_header("X-From-Balancer", "2")
    end,
}
--- request
GET /x?q=1
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{method}, 'PATCH', 'set_method in access');
    is($e->{uri}, '/from-balancer', 'set_path in balancer, query emptied in access');
    is($e->{headers}{'x-from-access'}, '1', 'set_header in access');
    is($e->{headers}{'x-from-balancer'}, '2', 'set_header in balancer');
    1;
}



=== TEST 5: set_header, add_header, clear_header, set_header(name, nil)
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { hdrs: {} }
--- lua_plugins
>>> hdrs.lua
local mg = require "moongate"
return {
    name = "hdrs", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        local r = mg.request
        r.set_header("X-Replaced", "new")
        r.set_header("X-Number", 42)
        r.add_header("X-Multi", "two")
        r.add_header("X-Added", "a")
        r.clear_header("X-Cleared")
        r.set_header("x-nilled", nil)
        r.set_header("X-Report", (r.get_header("x-replaced") or "nil") .. "|"
            .. tostring(r.get_header("X-Cleared")) .. "|" .. r.get_header("X-Multi", true))
    end,
}
--- request
GET /h
--- more_headers
X-Replaced: old
X-Replaced: older
X-Multi: one
X-Cleared: bye
X-Nilled: bye
X-Kept: yes
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-replaced'}, 'new', 'set_header replaces every value');
    is($h->{'x-number'}, '42', 'a number value is sent as a string');
    is($h->{'x-multi'}, 'one, two', 'add_header keeps the first value');
    is($h->{'x-added'}, 'a', 'add_header of a new header');
    ok(!exists $h->{'x-cleared'}, 'clear_header');
    ok(!exists $h->{'x-nilled'}, 'set_header(name, nil) clears');
    is($h->{'x-kept'}, 'yes', 'other headers kept');
    is($h->{'x-report'}, 'new|nil|one, two', 'get_header sees the changes');
    1;
}



=== TEST 6: get_header (case-insensitive, first or all values) and get_headers
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { hdrs: {} }
--- lua_plugins
>>> hdrs.lua
local mg = require "moongate"
return {
    name = "hdrs", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local r = mg.request
        local all = r.get_headers()
        local upper = false
        for k in pairs(all) do
            if k ~= k:lower() then upper = true end
        end
        return 200, {
            first = r.get_header("x-dup"), joined = r.get_header("X-DUP", true),
            single = r.get_header("X-Single"), missing = r.get_header("X-Missing") == nil,
            list = all["x-dup"], single_in_all = all["x-single"], host = all["host"],
            upper_keys = upper,
        }
    end,
}
--- request
GET /h
--- more_headers
X-Dup: 1
X-Single: only
x-dup: 2
X-DUP: 3
--- check eval
sub {
    my $d = main::echoed($_[0][0]);
    is($d->{first}, '1', 'get_header: the first value');
    is($d->{joined}, '1, 2, 3', 'get_header(name, true): all values');
    is($d->{single}, 'only', 'one value');
    ok($d->{missing}, 'an absent header is nil');
    is_deeply($d->{list}, ['1', '2', '3'], 'get_headers: a repeated header is a list');
    is($d->{single_in_all}, 'only', 'get_headers: one value');
    is($d->{host}, 'localhost', 'get_headers has Host');
    ok(!$d->{upper_keys}, 'get_headers keys are lower-case');
    1;
}



=== TEST 7: get_query_args: repeated, flags, escapes, max; get_query_arg
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { args: {} }
--- lua_plugins
>>> args.lua
local mg = require "moongate"
return {
    name = "args", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local r = mg.request
        local a = r.get_query_args()
        local n = 0
        for _ in pairs(r.get_query_args(2)) do n = n + 1 end
        return 200, {
            a = a.a, b = a.b, flag = a.flag, sp = a.sp, ["k y"] = a["k y"],
            first_a = r.get_query_arg("a"), b1 = r.get_query_arg("b"),
            none = r.get_query_arg("none") == nil, limited = n,
        }
    end,
}
--- request
GET /q?a=1&b=x&a=2&flag&sp=hello+big%20world&k%20y=%2F%3D&a=3
--- check eval
sub {
    my $d = main::echoed($_[0][0]);
    is_deeply($d->{a}, ['1', '2', '3'], 'a repeated argument is a list');
    is($d->{b}, 'x', 'one value');
    is($d->{flag}, JSON::PP::true, 'a flag without "=" is true');
    is($d->{sp}, 'hello big world', '"+" and %20 unescaped');
    is($d->{'k y'}, '/=', 'escaped key and value');
    is($d->{first_a}, '1', 'get_query_arg: the first value');
    is($d->{b1}, 'x', 'get_query_arg');
    ok($d->{none}, 'get_query_arg of an absent argument is nil');
    is($d->{limited}, 2, 'get_query_args(2) reads two arguments');
    1;
}



=== TEST 8: set_query_args encodes a table (sorted, escaped, lists, flags)
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { args: {} }
--- lua_plugins
>>> args.lua
local mg = require "moongate"
return {
    name = "args", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        mg.request.set_query_args({ z = "last", a = { "1", "2" }, sp = "a b&c", f = true,
            n = 5 })
    end,
}
--- request
GET /p?old=1
--- check eval
sub {
    is(main::echoed($_[0][0])->{uri}, '/p?a=1&a=2&f&n=5&sp=a%20b%26c&z=last', 'uri');
}



=== TEST 9: set_query_arg replaces, adds and removes one argument, keeping the others
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { args: {} }
--- lua_plugins
>>> args.lua
local mg = require "moongate"
return {
    name = "args", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        mg.request.set_query_arg("page", 2)
        mg.request.set_query_arg("drop", nil)
        mg.request.set_query_arg("new one", "x/y")
    end,
}
--- request
GET /p?keep=a%2Bb&page=1&drop=1&drop=2&flag
--- check eval
sub {
    is(main::echoed($_[0][0])->{uri}, '/p?keep=a%2Bb&flag&page=2&new%20one=x%2Fy', 'uri');
}



=== TEST 10: get_params and get_param: {name} parameters and the wildcard as "*"
--- yaml_config
routes:
  - name: users
    paths: ["/users/{id}/files/*"]
    plugins: { params: {} }
  - name: plain
    paths: ["/plain"]
    plugins: { params: {} }
--- lua_plugins
>>> params.lua
local mg = require "moongate"
return {
    name = "params", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local p = mg.request.get_params()
        local n = 0
        for _ in pairs(p) do n = n + 1 end
        return 200, mg.request.get_route_name() .. " n=" .. n .. " id="
            .. tostring(mg.request.get_param("id")) .. " star=" .. tostring(p["*"])
            .. " missing=" .. tostring(mg.request.get_param("nope")) .. "\n"
    end,
}
--- request eval
["GET /users/42/files/a/b.txt", "GET /plain"]
--- response_body eval
["users n=2 id=42 star=a/b.txt missing=nil\n", "plain n=0 id=nil star=nil missing=nil\n"]



=== TEST 11: get_body then set_body: the upstream gets the new body and its length
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { body: {} }
--- lua_plugins
>>> body.lua
local mg = require "moongate"
return {
    name = "body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local b = mg.request.get_body()
        mg.request.set_body("[" .. b:upper() .. "] was " .. #b .. " bytes")
    end,
}
--- request
POST /b
hello moongate
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{body}, '[HELLO MOONGATE] was 14 bytes', 'new body');
    is($e->{headers}{'content-length'}, '29', 'its Content-Length');
    1;
}



=== TEST 12: get_body of a chunked body sent in pieces (rewrite waits for it); set_body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { body: {} }
--- lua_plugins
>>> body.lua
local mg = require "moongate"
return {
    name = "body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        local b = assert(mg.request.get_body())
        mg.request.set_body("got<" .. b .. ">")
    end,
}
--- raw_request eval
["POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
 "1\r\n \r\n",
 "5\r\nworld\r\n0\r\n\r\n"]
--- raw_request_middle_delay: 0.2
--- error_code: 200
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{body}, 'got<hello world>', 'the whole body, de-chunked, then replaced');
    is($e->{method}, 'POST', 'method');
    1;
}



=== TEST 13: a chunked body unchanged by a plugin that only reads it still goes up
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { body: {} }
--- lua_plugins
>>> body.lua
local mg = require "moongate"
return {
    name = "body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_header("X-Body-Len", #mg.request.get_body())
    end,
}
--- raw_request eval
"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{body}, 'abcdefg', 'body');
    is($e->{headers}{'x-body-len'}, '7', 'length seen by the plugin');
    1;
}



=== TEST 14: get_body with no body is ""; set_body then gives the upstream a body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { body: {} }
--- lua_plugins
>>> body.lua
local mg = require "moongate"
return {
    name = "body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local b = mg.request.get_body()
        mg.request.set_header("X-Empty", tostring(b == ""))
        mg.request.set_method("POST")
        mg.request.set_body("made up")
    end,
}
--- request
GET /nobody
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{headers}{'x-empty'}, 'true', 'get_body is ""');
    is($e->{body}, 'made up', 'set_body');
    is($e->{headers}{'content-length'}, '7', 'Content-Length of the new body');
    1;
}



=== TEST 15: get_body over max: nil, "body too large"
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { body: {} }
--- lua_plugins
>>> body.lua
local mg = require "moongate"
return {
    name = "body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local b, err = mg.request.get_body(10)
        if b == nil then
            return 413, "get_body: " .. tostring(err) .. "\n"
        end
        return 200, "got " .. b .. "\n"
    end,
}
--- request eval
["POST /big\n" . ("x" x 20), "POST /small\nshort", "POST /exact\n0123456789"]
--- error_code eval
[413, 200, 200]
--- response_body eval
["get_body: body too large\n", "got short\n", "got 0123456789\n"]



=== TEST 16: get_body over max for a chunked body
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { body: {} }
--- lua_plugins
>>> body.lua
local mg = require "moongate"
return {
    name = "body", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        local b, err = mg.request.get_body(8)
        return 200, tostring(b) .. " " .. tostring(err) .. "\n"
    end,
}
--- raw_request eval
"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"
--- response_body
nil body too large



=== TEST 17: get_body_data: JSON, form and an unsupported type
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { data: {} }
--- lua_plugins
>>> data.lua
local mg = require "moongate"
return {
    name = "data", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local d, err = mg.request.get_body_data()
        if d == nil then
            return 415, { err = err }
        end
        return 200, { got = d }
    end,
}
--- test_code eval
sub {
    my $t = shift;
    my $j = $t->request("POST /json\n{\"user\":{\"name\":\"ann\",\"tags\":[1,2]},\"ok\":true}",
                        ['Content-Type: application/json; charset=utf-8']);
    is($j && $j->{status}, 200, 'JSON: 200');
    is_deeply(JSON::PP::decode_json($j->{body})->{got},
              { user => { name => 'ann', tags => [1, 2] }, ok => JSON::PP::true },
              'JSON decoded');
    my $f = $t->request("POST /form\nname=a+b&x=%2F&x=2&flag",
                        ['Content-Type: application/x-www-form-urlencoded']);
    is($f && $f->{status}, 200, 'form: 200');
    is_deeply(JSON::PP::decode_json($f->{body})->{got},
              { name => 'a b', x => ['/', '2'], flag => JSON::PP::true }, 'form decoded');
    my $v = $t->request("POST /vnd\n{\"a\":1}", ['Content-Type: application/vnd.api+json']);
    is_deeply($v && JSON::PP::decode_json($v->{body})->{got}, { a => 1 }, '+json decoded');
    my $p = $t->request("POST /text\nplain", ['Content-Type: text/plain']);
    is($p && $p->{status}, 415, 'text: no data');
    like($p ? $p->{body} : '', qr/unsupported content type/, 'text: the error');
}
--- no_error_log
[error]



=== TEST 18: reroute from rewrite: the new path picks another route and its upstream
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: old
    paths: ["/old/*"]
    return: { status: 410, body: "old route\n" }
    plugins: { move: {} }
  - name: new
    paths: ["/new/{id}"]
    upstream: echo
    plugins: { mark: {} }
--- lua_plugins
>>> move.lua
local mg = require "moongate"
return {
    name = "move", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.from = mg.request.get_route_name()
        mg.request.set_path("/new/" .. mg.request.get_params()["*"])
        mg.request.reroute()
    end,
}
>>> mark.lua
local mg = require "moongate"
return {
    name = "mark", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_header("X-Route", mg.request.get_route_name() .. " from "
            .. tostring(ctx.from) .. " id=" .. mg.request.get_param("id") .. " var="
            .. tostring(mg.var.route))
    end,
}
--- request
GET /old/7?k=v
--- error_code: 200
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{uri}, '/new/7?k=v', 'the new path, the query kept');
    is($e->{headers}{'x-route'}, 'new from old id=7 var=new', 'the new route runs its plugins');
    1;
}



=== TEST 19: reroute to a path no route matches: 404
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200, body: "a\n" }
    plugins: { move: {} }
--- lua_plugins
>>> move.lua
local mg = require "moongate"
return {
    name = "move", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        mg.request.set_path("/nowhere")
        mg.request.reroute()
    end,
}
--- request
GET /a
--- error_code: 404
--- response_headers
Content-Type: application/json
--- response_body_like
no route matched



=== TEST 20: a Host change goes upstream and, with reroute, picks a host's route
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    hosts: ["api.example.com"]
    paths: ["/*"]
    upstream: echo
    plugins: { report: {} }
  - name: default
    paths: ["/*"]
    return: { status: 200, body: "default\n" }
    plugins: { host: {} }
--- lua_plugins
>>> host.lua
local mg = require "moongate"
return {
    name = "host", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        mg.request.set_header("Host", "api.example.com")
        mg.request.reroute()
    end,
}
>>> report.lua
local mg = require "moongate"
return {
    name = "report", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_header("X-Host", mg.request.get_host() .. " " .. mg.var.host)
    end,
}
--- request
GET /h
--- more_headers
Host: www.example.org
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{headers}{host}, 'api.example.com', 'the upstream sees the new Host');
    is($e->{headers}{'x-host'}, 'api.example.com api.example.com', 'get_host and mg.var.host');
    1;
}



=== TEST 21: a Host change without reroute goes upstream on the same route
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { host: {} }
--- lua_plugins
>>> host.lua
local mg = require "moongate"
return {
    name = "host", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_header("host", "backend.internal")
    end,
}
--- request
GET /h
--- check eval
sub {
    is(main::echoed($_[0][0])->{headers}{host}, 'backend.internal', 'Host');
}



=== TEST 22: framing headers cannot be set (Lua errors), other headers still go up
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { framing: {} }
--- lua_plugins
>>> framing.lua
local mg = require "moongate"
return {
    name = "framing", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, h in ipairs({ "Content-Length", "transfer-encoding", "Connection", "Upgrade",
                             "Expect" }) do
            local ok, err = pcall(mg.request.set_header, h, "1")
            local ok2 = pcall(mg.request.add_header, h, "1")
            local ok3 = pcall(mg.request.clear_header, h)
            out[#out + 1] = h .. "=" .. tostring(ok) .. "/" .. tostring(ok2) .. "/"
                .. tostring(ok3)
            if not ok then out[#out + 1] = tostring(err) end
        end
        mg.request.set_header("X-Framing", table.concat(out, ";"))
    end,
}
--- request
POST /f
body
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    my $r = $e->{headers}{'x-framing'} // '';
    for my $h (qw(Content-Length transfer-encoding Connection Upgrade Expect)) {
        like($r, qr/(?:^|;)\Q$h\E=false\/false\/false(?:;|$)/, "$h cannot be set, added or cleared");
    }
    like($r, qr/mg\.request\.set_header: header "Content-Length" cannot be set/, 'the error');
    is($e->{body}, 'body', 'body intact');
    is($e->{headers}{'content-length'}, '4', 'Content-Length intact');
    ok(!exists $e->{headers}{upgrade} && !exists $e->{headers}{expect}, 'nothing added');
    1;
}



=== TEST 23: an invalid method, path or value type is a Lua error: 500
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { bad: {} }
--- lua_plugins
>>> bad.lua
local mg = require "moongate"
return {
    name = "bad", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, c in ipairs({
            { mg.request.set_method, "GE T" }, { mg.request.set_method, "" },
            { mg.request.set_path, "no-slash" }, { mg.request.set_path, "/a\r\nX: y" },
            { mg.request.set_method, 7 }, { mg.request.set_header, "X-Bad", {} },
            { mg.request.set_header, "Bad Name", "v" }, { mg.request.set_header, "X-V", "a\nb" },
        }) do
            local ok, err = pcall(c[1], c[2], c[3])
            out[#out + 1] = ok and "accepted" or (tostring(err):gsub("[\r\n]", " "))
        end
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /x
--- check eval
sub {
    my @l = split /\n/, $_[0][0]{body};
    is(scalar @l, 8, 'eight answers') or diag($_[0][0]{body});
    like($l[0], qr/set_method: invalid method "GE T"/, 'method with a space');
    like($l[1], qr/set_method: invalid method ""/, 'empty method');
    like($l[2], qr/set_path: invalid path "no-slash"/, 'path without /');
    like($l[3], qr/set_path: invalid path/, 'path with CR LF');
    like($l[4], qr/set_method: expected a string, got number/, 'method not a string');
    like($l[5], qr/set_header: expected a string value, got table/, 'value a table');
    like($l[6], qr/set_header: header "Bad Name" cannot be set/, 'bad header name');
    like($l[7], qr/set_header: header "X-V" cannot be set/, 'value with LF');
    1;
}



=== TEST 24: set_body before get_body on a request with a body is a Lua error: 500
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { early: {} }
--- lua_plugins
>>> early.lua
local mg = require "moongate"
return {
    name = "early", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_body("replacement")
    end,
}
--- request
POST /e
original
--- error_code: 500
--- error_log eval
[qr/plugin "early" failed in access: .*early\.lua:\d+: mg\.request\.set_body: read the client's body with mg\.request\.get_body\(\) first/]



=== TEST 25: get_body twice (rewrite, then access) gives the same body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { twice: {} }
--- lua_plugins
>>> twice.lua
local mg = require "moongate"
return {
    name = "twice", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.first = mg.request.get_body()
    end,
    access = function(conf, ctx)
        local again = mg.request.get_body()
        mg.request.set_header("X-Same", tostring(again == ctx.first) .. " " .. #again)
    end,
}
--- request
PUT /t
0123456789abcdef
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{headers}{'x-same'}, 'true 16', 'the same body both times');
    is($e->{body}, '0123456789abcdef', 'and it still goes up');
    1;
}



=== TEST 26: the wildcard of a route may be empty: "*" is then ""
--- yaml_config
routes:
  - name: w
    paths: ["/w/*"]
    plugins: { params: {} }
--- lua_plugins
>>> params.lua
local mg = require "moongate"
return {
    name = "params", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        return 200, "[" .. tostring(mg.request.get_param("*")) .. "]\n"
    end,
}
--- request eval
["GET /w/", "GET /w/x/y"]
--- response_body eval
["[]\n", "[x/y]\n"]
