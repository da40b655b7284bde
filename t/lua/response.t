# mg.response: a plugin's own answer (exit, or status/body/headers returned from a
# phase), header_filter and body_filter changing the upstream's answer, and what the
# log phase reads back.
use Test::Moongate;
use JSON::PP ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

run_tests();

__DATA__

=== TEST 1: mg.response.exit with a string body and headers
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { stop: {} }
--- lua_plugins
>>> stop.lua
local mg = require "moongate"
return {
    name = "stop", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.response.exit(403, "go away\n", { ["X-Reason"] = "test", ["X-Multi"] = { "a", "b" } })
        error("not reached")
    end,
}
--- request
GET /x
--- error_code: 403
--- response_body
go away
--- response_headers
X-Reason: test
X-Multi: a, b
Content-Type: text/plain; charset=utf-8
Content-Length: 8
!X-Echo-Port
--- no_error_log
[error]



=== TEST 2: mg.response.exit with a table body: JSON, and a Content-Type of our own wins
--- yaml_config
routes:
  - name: json
    paths: ["/json"]
    plugins: { stop: {} }
  - name: typed
    paths: ["/typed"]
    plugins: { stop: {} }
--- lua_plugins
>>> stop.lua
local mg = require "moongate"
return {
    name = "stop", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        local body = { ok = false, items = { 1, 2, 3 }, nested = { k = "v" } }
        if mg.request.get_path() == "/typed" then
            mg.response.exit(422, body, { ["content-type"] = "application/problem+json" })
        end
        mg.response.exit(400, body)
    end,
}
--- request eval
["GET /json", "GET /typed"]
--- error_code eval
[400, 422]
--- response_headers_like eval
["Content-Type: ^application/json", "Content-Type: ^application/problem\\+json\$"]
--- check eval
sub {
    for my $r (@{ $_[0] }) {
        is_deeply(JSON::PP::decode_json($r->{body}),
                  { ok => JSON::PP::false, items => [1, 2, 3], nested => { k => 'v' } },
                  "JSON body ($r->{status})");
    }
    1;
}



=== TEST 3: returning status, body, headers from rewrite, access and balancer
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { answer: {} }
--- lua_plugins
>>> answer.lua
local mg = require "moongate"
local function at(phase)
    return function(conf, ctx)
        if mg.request.get_path() == "/" .. phase then
            return 201, phase .. " answered\n", { ["X-Phase"] = phase }
        end
    end
end
return {
    name = "answer", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = at("rewrite"), access = at("access"), balancer = at("balancer"),
}
--- request eval
["GET /rewrite", "GET /access", "GET /balancer", "GET /upstream"]
--- error_code eval
[201, 201, 201, 200]
--- response_body_like eval
["^rewrite answered\n\$", "^access answered\n\$", "^balancer answered\n\$", '"uri":"/upstream"']
--- response_headers eval
["X-Phase: rewrite", "X-Phase: access", "X-Phase: balancer", "!X-Phase"]



=== TEST 4: an answer from rewrite skips access and the upstream; an empty body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { early: {}, late: {} }
--- lua_plugins
>>> early.lua
local mg = require "moongate"
return {
    name = "early", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        return 204
    end,
}
>>> late.lua
local mg = require "moongate"
return {
    name = "late", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.log(mg.ERR, "late access ran")
    end,
}
--- request
GET /x
--- error_code: 204
--- response_body
--- response_headers
!Content-Type
!X-Echo-Port
--- no_error_log
late access ran



=== TEST 5: an invalid status from a plugin is a failure: 500 and a log line
--- yaml_config
routes:
  - name: exit
    paths: ["/exit"]
    plugins: { bad: {} }
  - name: ret
    paths: ["/ret"]
    plugins: { bad: {} }
--- lua_plugins
>>> bad.lua
local mg = require "moongate"
return {
    name = "bad", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        if mg.request.get_path() == "/exit" then
            mg.response.exit(99, "x")
        end
        return 700, "x"
    end,
}
--- request eval
["GET /exit", "GET /ret"]
--- error_code eval
[500, 500]
--- error_log eval
[qr/plugin "bad" failed in access: .*bad\.lua:\d+: mg\.response\.exit: expected a status from 200 to 599, got 99/,
 qr/plugin "bad" failed in access: a plugin answered with an invalid status 700/]



=== TEST 6: header_filter: get_status, get_header, get_headers of the upstream's answer
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { look: {} }
--- lua_plugins
>>> look.lua
local mg = require "moongate"
return {
    name = "look", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx)
        local all = mg.response.get_headers()
        mg.response.set_header("X-Seen", mg.response.get_status() .. " "
            .. tostring(mg.response.get_header("content-type")) .. " "
            .. tostring(all["x-echo-port"] ~= nil) .. " "
            .. tostring(mg.response.get_header("X-Nope")))
    end,
}
--- request
GET /status/202
--- error_code: 202
--- response_headers
X-Seen: 202 application/json true nil



=== TEST 7: header_filter: set_status, set_header, add_header, clear_header reach the client
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
    header_filter = function(conf, ctx)
        mg.response.set_status(299)
        mg.response.set_header("X-Echo-Port", "hidden")
        mg.response.set_header("X-New", "1")
        mg.response.add_header("X-Added", "a")
        mg.response.add_header("X-Added", "b")
        mg.response.clear_header("X-Echo-Peer")
        mg.response.set_header("Content-Type", nil)
        mg.response.set_header("X-After", tostring(mg.response.get_status()) .. " "
            .. tostring(mg.response.get_header("X-Echo-Peer")))
    end,
}
--- request
GET /h
--- error_code: 299
--- response_headers
X-Echo-Port: hidden
X-New: 1
X-Added: a, b
!X-Echo-Peer
!Content-Type
X-After: 299 nil
--- response_body_like
"uri":"/h"



=== TEST 8: body_filter changing every chunk: the client gets the new body, chunked
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { upper: {} }
--- lua_plugins
>>> upper.lua
local mg = require "moongate"
return {
    name = "upper", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    body_filter = function(conf, ctx)
        local chunk, eof = mg.response.get_body_chunk()
        if eof then
            mg.response.set_body_chunk(chunk:upper() .. "<END>")
        else
            mg.response.set_body_chunk(chunk:upper())
        end
    end,
}
--- request
GET /hello
--- error_code: 200
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body chomp
HELLO WORLD
<END>



=== TEST 9: body_filter over several upstream chunks; dropping chunks with ""
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
. "4\r\nkeep\r\n4\r\ndrop\r\n5\r\nkeep2\r\n4\r\ndrop\r\n0\r\n\r\n"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins: { filter: {} }
--- lua_plugins
>>> filter.lua
local mg = require "moongate"
return {
    name = "filter", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    body_filter = function(conf, ctx)
        local chunk, eof = mg.response.get_body_chunk()
        ctx.calls = (ctx.calls or 0) + 1
        ctx.seen = (ctx.seen or "") .. chunk
        if chunk:find("drop", 1, true) then
            mg.response.set_body_chunk("")
        elseif eof then
            mg.response.set_body_chunk(chunk .. "|eof")
        else
            mg.response.set_body_chunk(chunk .. ",")
        end
    end,
    log = function(conf, ctx)
        mg.log(mg.INFO, "filter saw: ", ctx.seen)
    end,
}
--- request
GET /c
--- error_code: 200
--- response_headers
Transfer-Encoding: chunked
--- response_body chomp
keep,keep2,|eof
--- error_log
filter saw: keepdropkeep2drop



=== TEST 10: two body_filter plugins: the second sees the first's replacement
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { first: {}, second: {} }
--- lua_plugins
>>> first.lua
local mg = require "moongate"
return {
    name = "first", version = "1.0", priority = 20,
    schema = { type = "record", fields = {} },
    body_filter = function(conf, ctx)
        local chunk = mg.response.get_body_chunk()
        mg.response.set_body_chunk((chunk:gsub("world", "moon")))
    end,
}
>>> second.lua
local mg = require "moongate"
return {
    name = "second", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    body_filter = function(conf, ctx)
        local chunk = mg.response.get_body_chunk()
        mg.response.set_body_chunk((chunk:gsub("moon", "MOON")))
    end,
}
--- request
GET /hello
--- response_body
hello MOON



=== TEST 11: a body_filter that drops everything: an empty chunked body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { void: {} }
--- lua_plugins
>>> void.lua
local mg = require "moongate"
return {
    name = "void", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    body_filter = function(conf, ctx)
        mg.response.set_body_chunk("")
    end,
}
--- request eval
["GET /hello", "GET /hello"]
--- error_code eval
[200, 200]
--- response_body eval
["", ""]



=== TEST 12: log phase: get_status, get_header and mg.var after the answer
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { logger: {} }
--- lua_plugins
>>> logger.lua
local mg = require "moongate"
return {
    name = "logger", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    log = function(conf, ctx)
        mg.log(mg.WARN, "logged status=", mg.response.get_status(), " ctype=",
            tostring(mg.response.get_header("Content-Type")), " var.status=",
            tostring(mg.var.status), " upstream_status=", tostring(mg.var.upstream_status))
    end,
}
--- request
GET /status/418
--- error_code: 418
--- error_log
logged status=418 ctype=application/json var.status=418 upstream_status=418



=== TEST 13: log phase after a plugin's own answer and after a header_filter change
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: stop
    paths: ["/stop"]
    upstream: echo
    plugins: { stop: {}, logger: {} }
  - name: changed
    paths: ["/changed"]
    upstream: echo
    plugins: { change: {}, logger: {} }
--- lua_plugins
>>> stop.lua
return {
    name = "stop", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 451, "no\n" end,
}
>>> change.lua
local mg = require "moongate"
return {
    name = "change", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx) mg.response.set_status(203) end,
}
>>> logger.lua
local mg = require "moongate"
return {
    name = "logger", version = "1.0", priority = 1,
    schema = { type = "record", fields = {} },
    log = function(conf, ctx)
        mg.log(mg.WARN, "logged ", mg.request.get_path(), " status=", mg.response.get_status())
    end,
}
--- request eval
["GET /stop", "GET /changed"]
--- error_code eval
[451, 203]
--- error_log
logged /stop status=451
logged /changed status=203



=== TEST 14: a header_filter failure: 500 to the client and the plugin's error logged
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { broken: {} }
--- lua_plugins
>>> broken.lua
local mg = require "moongate"
return {
    name = "broken", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx)
        local t = nil
        return t.field
    end,
}
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[500, 500]
--- response_headers
!X-Echo-Port
--- error_log eval
[qr/plugin "broken" failed in header_filter: .*broken\.lua:7: attempt to index local 't' \(a nil value\)/]



=== TEST 15: set_status out of range in header_filter is a Lua error
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { status: {} }
--- lua_plugins
>>> status.lua
local mg = require "moongate"
return {
    name = "status", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx)
        local ok, err = pcall(mg.response.set_status, 42)
        mg.response.set_header("X-Err", tostring(err))
        mg.response.set_header("X-Status", mg.response.get_status())
    end,
}
--- request
GET /status/201
--- error_code: 201
--- response_headers
X-Err: mg.response.set_status: expected a status from 200 to 599, got 42
X-Status: 201



=== TEST 16: body_filter reads the upstream's headers (no header_filter on the route)
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { peek: {} }
--- lua_plugins
>>> peek.lua
local mg = require "moongate"
return {
    name = "peek", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    body_filter = function(conf, ctx)
        local chunk, eof = mg.response.get_body_chunk()
        if eof then
            mg.response.set_body_chunk(chunk .. "status=" .. mg.response.get_status() .. " type="
                .. tostring(mg.response.get_header("Content-Type")) .. " port="
                .. tostring(mg.response.get_headers()["x-echo-port"] ~= nil) .. "\n")
        end
    end,
}
--- request
GET /hello
--- response_body
hello world
status=200 type=text/plain port=true



=== TEST 17: header_filter and body_filter run on a plugin's own answer; its length is exact
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { deny: {}, shout: {} }
--- lua_plugins
>>> deny.lua
return {
    name = "deny", version = "1.0", priority = 2000,
    schema = { type = "record", fields = {} },
    access = function(conf)
        return 403, "denied\n", { ["X-From"] = "deny" }
    end,
}
>>> shout.lua
local mg = require "moongate"
return {
    name = "shout", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx)
        ctx.seen = mg.response.get_status() .. " " .. tostring(mg.response.get_header("X-From"))
        mg.response.set_header("X-Seen", ctx.seen)
        mg.response.set_status(451)
    end,
    body_filter = function(conf, ctx)
        local chunk, eof = mg.response.get_body_chunk()
        mg.response.set_body_chunk(chunk:upper() .. (eof and "(eof)" or ""))
    end,
}
--- request
GET /x
--- error_code: 451
--- response_headers
X-Seen: 403 deny
X-From: deny
Content-Length: 12
!Transfer-Encoding
--- response_body chomp
DENIED
(eof)
--- no_error_log
[error]



=== TEST 18: filters run on a return: route's answer and on a HEAD of it
--- yaml_config
routes:
  - name: fixed
    paths: ["/fixed"]
    return: { status: 200, body: "fixed body", content_type: text/plain }
    plugins: { tag: {} }
--- lua_plugins
>>> tag.lua
local mg = require "moongate"
return {
    name = "tag", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    header_filter = function(conf)
        mg.response.set_header("X-Tag", mg.response.get_header("Content-Type"))
    end,
    body_filter = function(conf)
        local chunk = mg.response.get_body_chunk()
        mg.response.set_body_chunk("[" .. chunk .. "]")
    end,
}
--- request eval
["GET /fixed", "HEAD /fixed"]
--- error_code eval
[200, 200]
--- response_headers
X-Tag: text/plain
Content-Length: 12
--- response_body eval
["[fixed body]", ""]
--- no_error_log
[error]



=== TEST 19: a body_filter failing on a gateway-made answer: a plain, unfiltered 500 and the error logged
--- yaml_config
routes:
  - name: fixed
    paths: ["/fixed"]
    return: { status: 200, body: "fixed body" }
    plugins: { broken: {} }
--- lua_plugins
>>> broken.lua
return {
    name = "broken", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    body_filter = function(conf)
        error("filter blew up")
    end,
}
--- request
GET /fixed
--- error_code: 500
--- response_headers
Content-Type: application/json
--- response_body_like
^\{"error":"internal server error","status":500,"request_id":"[0-9a-f]+"\}$
--- error_log eval
[qr/plugin "broken" failed in body_filter: .*broken\.lua:5: filter blew up/]



=== TEST 20: the status line of a plugin's own answer: the registered phrase, or an empty one
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { answer: {} }
--- lua_plugins
>>> answer.lua
local mg = require "moongate"
return {
    name = "answer", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        return tonumber(mg.request.get_path():sub(2)), "x"
    end,
}
--- request eval
["GET /451", "GET /599", "GET /418", "GET /507"]
--- error_code eval
[451, 599, 418, 507]
--- check eval
sub {
    my ($res) = @_;
    my @lines = map { (split /\r\n/, $_->{raw_headers})[0] } @$res;
    is_deeply(\@lines, ["HTTP/1.1 451 Unavailable For Legal Reasons", "HTTP/1.1 599 ",
                        "HTTP/1.1 418 ", "HTTP/1.1 507 Insufficient Storage"], 'status lines');
}
--- no_error_log
[error]



=== TEST 21: the status line: a status changed by header_filter goes out with its own phrase, an unchanged one with the upstream's
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 Fine\r\nContent-Length: 3\r\n\r\nok\n"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins: { status: {} }
--- lua_plugins
>>> status.lua
local mg = require "moongate"
local to = { ["/gone"] = 410, ["/same"] = 200, ["/unnamed"] = 299 }
return {
    name = "status", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx)
        local s = to[mg.request.get_path()]
        if s then
            mg.response.set_status(s)
        end
    end,
}
--- request eval
["GET /gone", "GET /same", "GET /untouched", "GET /unnamed"]
--- error_code eval
[410, 200, 200, 299]
--- check eval
sub {
    my ($res) = @_;
    my @lines = map { (split /\r\n/, $_->{raw_headers})[0] } @$res;
    is_deeply(\@lines, ["HTTP/1.1 410 Gone", "HTTP/1.1 200 Fine", "HTTP/1.1 200 Fine",
                        "HTTP/1.1 299 "], 'status lines');
}
--- no_error_log
[error]
