# Phases: plugin order (priority, ties by name, _priority), global_plugins, mg.ctx across
# phases, the "not allowed in the X phase" rules, mg.var, mg.log, mg.now and mg.sleep,
# and the smaller APIs plugins lean on (mg.balancer, mg.json, consumers).
use Test::Moongate;
use Test::Moongate::Client;
use JSON::PP ();
use Time::HiRes ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

# wait_log($t, $re) -> the first match of $re in the error log, waiting up to 2 s (the
# log phase runs after the answer is sent).
sub wait_log {
    my ($t, $re) = @_;
    my $end = Time::HiRes::time() + 2;
    while (1) {
        my @m = $t->error_log =~ $re;
        return @m if @m;
        return () if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

run_tests();

__DATA__

=== TEST 1: plugins run by priority, high first, in every phase; ties by name
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { low: {}, high: {}, mid-b: {}, mid-a: {} }
--- lua_plugins
>>> high.lua
local mg = require "moongate"
return {
    name = "high", version = "1.0", priority = 300,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.order = (ctx.order or "") .. "high "
    end,
    access = function(conf, ctx)
        mg.request.add_header("X-Order", "high")
    end,
    header_filter = function(conf, ctx)
        mg.response.add_header("X-Resp-Order", "high")
    end,
}
>>> mid-a.lua
local mg = require "moongate"
return {
    name = "mid-a", version = "1.0", priority = 200,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.order = (ctx.order or "") .. "mid-a "
    end,
    access = function(conf, ctx)
        mg.request.add_header("X-Order", "mid-a")
    end,
    header_filter = function(conf, ctx)
        mg.response.add_header("X-Resp-Order", "mid-a")
    end,
}
>>> mid-b.lua
local mg = require "moongate"
return {
    name = "mid-b", version = "1.0", priority = 200,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.order = (ctx.order or "") .. "mid-b "
    end,
    access = function(conf, ctx)
        mg.request.add_header("X-Order", "mid-b")
    end,
    header_filter = function(conf, ctx)
        mg.response.add_header("X-Resp-Order", "mid-b")
    end,
}
>>> low.lua
local mg = require "moongate"
return {
    name = "low", version = "1.0", priority = -5,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.order = (ctx.order or "") .. "low"
    end,
    access = function(conf, ctx)
        mg.request.add_header("X-Order", "low")
        mg.request.set_header("X-Ctx-Order", ctx.order)
    end,
    header_filter = function(conf, ctx)
        mg.response.add_header("X-Resp-Order", "low")
    end,
}
--- request
GET /o
--- response_headers
X-Resp-Order: high, mid-a, mid-b, low
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-ctx-order'}, 'high mid-a mid-b low', 'rewrite order (mg.ctx)');
    is($h->{'x-order'}, 'high, mid-a, mid-b, low', 'access order (a header)');
    1;
}



=== TEST 2: _priority in a route's plugin config overrides the plugin's priority there
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: default
    paths: ["/default"]
    upstream: echo
    plugins: { first: {}, second: {} }
  - name: swapped
    paths: ["/swapped"]
    upstream: echo
    plugins: { first: {}, second: { _priority: 1000 } }
--- lua_plugins
>>> first.lua
local mg = require "moongate"
return {
    name = "first", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.add_header("X-Order", "first")
    end,
}
>>> second.lua
local mg = require "moongate"
return {
    name = "second", version = "1.0", priority = 50,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local n = 0
        for _ in pairs(conf) do n = n + 1 end
        mg.request.add_header("X-Order", "second")
        mg.request.set_header("X-Conf-Keys", n)
    end,
}
--- request eval
["GET /default", "GET /swapped"]
--- check eval
sub {
    my ($d, $s) = map { main::echoed($_)->{headers} } @{ $_[0] };
    is($d->{'x-order'}, 'first, second', 'plugin priorities');
    is($s->{'x-order'}, 'second, first', '_priority: 1000 puts second first');
    is($s->{'x-conf-keys'}, '0', '_priority is not part of the plugin config');
    1;
}



=== TEST 3: global_plugins run on every route, with the route's own plugins
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
global_plugins:
  tag: { value: "global" }
routes:
  - name: bare
    paths: ["/bare"]
    upstream: echo
  - name: own
    paths: ["/own"]
    upstream: echo
    plugins: { extra: {} }
  - name: static
    paths: ["/static"]
    return: { status: 200, body: "static\n" }
--- lua_plugins
>>> tag.lua
local mg = require "moongate"
return {
    name = "tag", version = "1.0", priority = 100,
    schema = { type = "record", fields = { value = { type = "string", required = true } } },
    access = function(conf, ctx)
        mg.request.add_header("X-Tag", conf.value)
    end,
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Global", conf.value)
    end,
}
>>> extra.lua
local mg = require "moongate"
return {
    name = "extra", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.add_header("X-Tag", "extra")
    end,
}
--- request eval
["GET /bare", "GET /own"]
--- response_headers eval
["X-Global: global", "X-Global: global"]
--- check eval
sub {
    my ($b, $o) = map { main::echoed($_)->{headers} } @{ $_[0] };
    is($b->{'x-tag'}, 'global', 'a route without plugins gets the global one');
    is($o->{'x-tag'}, 'global, extra', 'a route with plugins gets both, by priority');
    1;
}



=== TEST 4: a route's config for a global plugin replaces the global config there
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
global_plugins:
  tag: { value: "global" }
routes:
  - name: mine
    paths: ["/mine"]
    upstream: echo
    plugins: { tag: { value: "route" } }
  - name: other
    paths: ["/other"]
    upstream: echo
--- lua_plugins
>>> tag.lua
local mg = require "moongate"
return {
    name = "tag", version = "1.0", priority = 100,
    schema = { type = "record", fields = { value = { type = "string", required = true } } },
    access = function(conf, ctx)
        mg.request.add_header("X-Tag", conf.value)
    end,
}
--- request eval
["GET /mine", "GET /other"]
--- check eval
sub {
    my ($m, $o) = map { main::echoed($_)->{headers} } @{ $_[0] };
    is($m->{'x-tag'}, 'route', 'the route config, once');
    is($o->{'x-tag'}, 'global', 'the global config elsewhere');
    1;
}



=== TEST 5: a route without plugins is not touched by another route's plugins
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: with
    paths: ["/with"]
    upstream: echo
    plugins: { mark: {} }
  - name: without
    paths: ["/without"]
    upstream: echo
--- lua_plugins
>>> mark.lua
local mg = require "moongate"
return {
    name = "mark", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx) mg.request.set_path("/marked") end,
    access = function(conf, ctx) mg.request.set_header("X-Mark", "1") end,
    header_filter = function(conf, ctx) mg.response.set_header("X-Mark", "1") end,
    body_filter = function(conf, ctx)
        mg.response.set_body_chunk(mg.response.get_body_chunk():upper())
    end,
    log = function(conf, ctx) mg.log(mg.WARN, "mark log ran for ", mg.var.route) end,
}
--- request eval
["GET /with", "GET /without", "GET /without"]
--- response_headers_like eval
["X-Mark: ^1\$\nTransfer-Encoding: chunked", "!X-Mark\nContent-Length: ^\\d+\$\n!Transfer-Encoding",
 "!X-Mark\n!Transfer-Encoding"]
--- response_body_like eval
['"URI":"/MARKED"', '^\{.*"uri":"/without".*\}$', '"uri":"/without"']
--- check eval
sub {
    my $h = main::echoed($_[0][1])->{headers};
    ok(!exists $h->{'x-mark'}, 'no plugin header upstream');
    1;
}
--- error_log
mark log ran for with
--- no_error_log
mark log ran for without



=== TEST 6: mg.ctx is the ctx argument, shared by every plugin and phase, fresh per request
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { one: {}, two: {} }
--- lua_plugins
>>> one.lua
local mg = require "moongate"
return {
    name = "one", version = "1.0", priority = 20,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.same = rawequal(ctx, mg.ctx)
        ctx.count = (ctx.count or 0) + 1
        ctx.trail = { "rewrite" }
    end,
    access = function(conf, ctx)
        table.insert(mg.ctx.trail, "access")
    end,
    balancer = function(conf, ctx)
        table.insert(ctx.trail, "balancer")
    end,
    header_filter = function(conf, ctx)
        table.insert(ctx.trail, "header_filter")
        mg.response.set_header("X-Ctx", tostring(ctx.same) .. " count=" .. ctx.count
            .. " from-two=" .. tostring(ctx.from_two) .. " " .. table.concat(ctx.trail, ","))
    end,
    body_filter = function(conf, ctx)
        if not ctx.bf then
            ctx.bf = true
            table.insert(ctx.trail, "body_filter")
        end
    end,
    log = function(conf, ctx)
        table.insert(mg.ctx.trail, "log")
        mg.log(mg.WARN, "trail ", table.concat(ctx.trail, ","), " same=",
            tostring(rawequal(ctx, mg.ctx)))
    end,
}
>>> two.lua
local mg = require "moongate"
return {
    name = "two", version = "1.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.ctx.from_two = "yes"
    end,
}
--- request eval
["GET /a", "GET /b"]
--- response_headers eval
["X-Ctx: true count=1 from-two=yes rewrite,access,balancer,header_filter",
 "X-Ctx: true count=1 from-two=yes rewrite,access,balancer,header_filter"]
--- error_log
trail rewrite,access,balancer,header_filter,body_filter,log same=true



=== TEST 7: each API call outside its phases: "not allowed in the X phase", 500
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: r1, paths: ["/1"], upstream: echo, plugins: { misuse: { phase: header_filter, call: request.set_header } } }
  - { name: r2, paths: ["/2"], upstream: echo, plugins: { misuse: { phase: access, call: response.set_status } } }
  - { name: r3, paths: ["/3"], upstream: echo, plugins: { misuse: { phase: header_filter, call: sleep } } }
  - { name: r4, paths: ["/4"], upstream: echo, plugins: { misuse: { phase: access, call: set_peer } } }
  - { name: r5, paths: ["/5"], upstream: echo, plugins: { misuse: { phase: access, call: reroute } } }
  - { name: r6, paths: ["/6"], upstream: echo, plugins: { misuse: { phase: balancer, call: get_body } } }
  - { name: r7, paths: ["/7"], upstream: echo, plugins: { misuse: { phase: header_filter, call: exit } } }
  - { name: r8, paths: ["/8"], upstream: echo, plugins: { misuse: { phase: rewrite, call: get_body_chunk } } }
  - { name: r9, paths: ["/9"], upstream: echo, plugins: { misuse: { phase: header_filter, call: set_body_chunk } } }
  - { name: r10, paths: ["/10"], upstream: echo, plugins: { misuse: { phase: access, call: response.get_status } } }
  - { name: r11, paths: ["/11"], upstream: echo, plugins: { misuse: { phase: header_filter, call: consumer } } }
  - { name: r12, paths: ["/12"], upstream: echo, plugins: { misuse: { phase: header_filter, call: nodes } } }
  - { name: r13, paths: ["/13"], upstream: echo, plugins: { misuse: { phase: rewrite, call: response.set_header } } }
  - { name: r14, paths: ["/14"], upstream: echo, plugins: { misuse: { phase: balancer, call: response.get_header } } }
  - { name: r15, paths: ["/15"], upstream: echo, plugins: { misuse: { phase: header_filter, call: request.set_body } } }
  - { name: r16, paths: ["/16"], upstream: echo, plugins: { misuse: { phase: header_filter, call: get_body_data } } }
--- lua_plugins
>>> misuse.lua
local mg = require "moongate"
local calls = {
    ["request.set_header"] = function() mg.request.set_header("X-A", "1") end,
    ["response.set_status"] = function() mg.response.set_status(201) end,
    ["sleep"] = function() mg.sleep(1) end,
    ["set_peer"] = function() mg.balancer.set_peer(1) end,
    ["reroute"] = function() mg.request.reroute() end,
    ["get_body"] = function() mg.request.get_body() end,
    ["exit"] = function() mg.response.exit(200, "x") end,
    ["get_body_chunk"] = function() mg.response.get_body_chunk() end,
    ["set_body_chunk"] = function() mg.response.set_body_chunk("x") end,
    ["response.get_status"] = function() mg.response.get_status() end,
    ["consumer"] = function() mg.var.consumer = nil end,
    ["nodes"] = function() mg.balancer.nodes() end,
    ["response.set_header"] = function() mg.response.set_header("X-A", "1") end,
    ["response.get_header"] = function() mg.response.get_header("X-A") end,
    ["request.set_body"] = function() mg.request.set_body("x") end,
    ["get_body_data"] = function() mg.request.get_body_data() end,
}
local function at(phase)
    return function(conf, ctx)
        if conf.phase == phase then
            calls[conf.call]()
        end
    end
end
return {
    name = "misuse", version = "1.0", priority = 100,
    schema = { type = "record", fields = {
        phase = { type = "string", required = true },
        call = { type = "string", required = true },
    } },
    rewrite = at("rewrite"), access = at("access"), balancer = at("balancer"),
    header_filter = at("header_filter"),
}
--- request eval
[map { "GET /$_" } 1 .. 16]
--- error_code eval
[(500) x 16]
--- response_headers eval
[("!X-Echo-Port") x 16]
--- error_log eval
[
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:3: mg\.request\.set_header: not allowed in the header_filter phase/,
qr/plugin "misuse" failed in access: \S*misuse\.lua:4: mg\.response\.set_status: not allowed in the access phase/,
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:5: mg\.sleep: not allowed in the header_filter phase/,
qr/plugin "misuse" failed in access: \S*misuse\.lua:6: mg\.balancer\.set_peer: not allowed in the access phase/,
qr/plugin "misuse" failed in access: \S*misuse\.lua:7: mg\.request\.reroute: not allowed in the access phase/,
qr/plugin "misuse" failed in balancer: \S*misuse\.lua:8: mg\.request\.get_body: not allowed in the balancer phase/,
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:9: mg\.response\.exit: not allowed in the header_filter phase/,
qr/plugin "misuse" failed in rewrite: \S*misuse\.lua:10: mg\.response\.get_body_chunk: not allowed in the rewrite phase/,
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:11: mg\.response\.set_body_chunk: not allowed in the header_filter phase/,
qr/plugin "misuse" failed in access: \S*misuse\.lua:12: mg\.response\.get_status: not allowed in the access phase/,
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:13: mg\.var\.consumer: not allowed in the header_filter phase/,
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:14: mg\.balancer\.nodes: not allowed in the header_filter phase/,
qr/plugin "misuse" failed in rewrite: \S*misuse\.lua:15: mg\.response\.set_header: not allowed in the rewrite phase/,
qr/plugin "misuse" failed in balancer: \S*misuse\.lua:16: mg\.response\.get_header: not allowed in the balancer phase/,
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:17: mg\.request\.set_body: not allowed in the header_filter phase/,
qr/plugin "misuse" failed in header_filter: \S*misuse\.lua:18: mg\.request\.get_body_data: not allowed in the header_filter phase/,
"stack traceback",
]



=== TEST 8: a call outside its phase in log: logged; the answer was sent already
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: l1, paths: ["/l1"], upstream: echo, plugins: { late: { call: set_header } } }
  - { name: l2, paths: ["/l2"], upstream: echo, plugins: { late: { call: sleep } } }
  - { name: l3, paths: ["/l3"], upstream: echo, plugins: { late: { call: get_body } } }
--- lua_plugins
>>> late.lua
local mg = require "moongate"
local calls = {
    set_header = function() mg.request.set_header("X-A", "1") end,
    sleep = function() mg.sleep(1) end,
    get_body = function() mg.request.get_body() end,
}
return {
    name = "late", version = "1.0", priority = 100,
    schema = { type = "record", fields = { call = { type = "string", required = true } } },
    log = function(conf, ctx)
        calls[conf.call]()
    end,
}
--- request eval
["GET /l1", "GET /l2", "GET /l3"]
--- error_code eval
[200, 200, 200]
--- error_log eval
[qr/plugin "late" failed in log: \S*late\.lua:3: mg\.request\.set_header: not allowed in the log phase/,
 qr/plugin "late" failed in log: \S*late\.lua:4: mg\.sleep: not allowed in the log phase/,
 qr/plugin "late" failed in log: \S*late\.lua:5: mg\.request\.get_body: not allowed in the log phase/]



=== TEST 9: a response header change in body_filter is not allowed: 500, no body
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
    name = "late", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    body_filter = function(conf, ctx)
        mg.response.set_header("X-Too-Late", "1")
    end,
}
--- request
GET /hello
--- error_code: 500
--- check eval
sub {
    my $r = $_[0][0];
    ok(!$r || !defined $r->{status} || $r->{status} == 500 || $r->{truncated},
       'no complete answer') or diag("got $r->{status} \"$r->{body}\"");
    ok(!$r || ($r->{body} // '') !~ /hello world/, 'the body was not sent');
    1;
}
--- error_log eval
[qr/plugin "late" failed in body_filter: \S*late\.lua:6: mg\.response\.set_header: not allowed in the body_filter phase/]



=== TEST 10: mg.var in access and in log
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: vars
    paths: ["/v/*"]
    upstream: echo
    plugins: { vars: {} }
--- lua_plugins
>>> vars.lua
local mg = require "moongate"
local function pick(names)
    local out = {}
    for _, k in ipairs(names) do
        local v = mg.var[k]
        out[k] = v == nil and "(nil)" or v
    end
    return mg.json.encode(out)
end
return {
    name = "vars", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local ro = pcall(function() mg.var.method = "PUT" end)
        mg.request.set_header("X-Var", pick({ "request_id", "route", "upstream", "remote_addr",
            "method", "uri", "host", "start_time", "request_time", "phase", "consumer",
            "status", "upstream_time", "no_such_var" }))
        mg.request.set_header("X-Var-Ro", tostring(ro))
        mg.request.set_header("X-Now", string.format("%.3f", mg.now()))
    end,
    log = function(conf, ctx)
        mg.log(mg.WARN, "vars-log ", pick({ "status", "upstream_status", "upstream_addr",
            "upstream_time", "bytes_sent", "request_time", "phase", "route" }))
    end,
}
--- request
GET /v/x?a=1
--- more_headers
Host: Vars.Example
X-Request-Id: vars-test-42
--- check eval
sub {
    my ($res, $t) = @_;
    my $h = main::echoed($res->[0])->{headers};
    my $v = JSON::PP::decode_json($h->{'x-var'});
    is($v->{request_id}, 'vars-test-42', 'request_id');
    is($v->{route}, 'vars', 'route');
    is($v->{upstream}, 'echo', 'upstream');
    is($v->{remote_addr}, '127.0.0.1', 'remote_addr');
    is($v->{method}, 'GET', 'method');
    is($v->{uri}, '/v/x?a=1', 'uri');
    is($v->{host}, 'vars.example', 'host');
    ok(abs($v->{start_time} - time) < 5, "start_time ($v->{start_time})");
    ok($v->{request_time} >= 0 && $v->{request_time} < 2, "request_time ($v->{request_time})");
    is($v->{phase}, 'access', 'phase');
    is($v->{consumer}, '(nil)', 'no consumer');
    is($v->{status}, '(nil)', 'no status yet');
    is($v->{upstream_time}, '(nil)', 'no upstream_time yet');
    is($v->{no_such_var}, '(nil)', 'an unknown name is nil');
    is($h->{'x-var-ro'}, 'false', 'mg.var is read-only');
    ok(abs($h->{'x-now'} - Time::HiRes::time()) < 2, "mg.now ($h->{'x-now'})");
    my ($line) = main::wait_log($t, qr/vars-log (\{.*?\}), client: 127\.0\.0\.1, request_id: vars-test-42/);
    ok($line, 'the log phase line, with client and request id') or return 1;
    my $l = JSON::PP::decode_json($line);
    is($l->{status}, 200, 'status in log');
    is($l->{upstream_status}, 200, 'upstream_status in log');
    is($l->{upstream_addr}, '127.0.0.1:' . $t->echo_port, 'upstream_addr in log');
    ok($l->{upstream_time} ne '(nil)' && $l->{upstream_time} >= 0, "upstream_time ($l->{upstream_time})");
    ok($l->{bytes_sent} > length($res->[0]{body}), "bytes_sent ($l->{bytes_sent})");
    ok($l->{request_time} >= 0, 'request_time in log');
    is($l->{phase}, 'log', 'phase in log');
    is($l->{route}, 'vars', 'route in log');
    1;
}



=== TEST 11: mg.log: every level by constant and by name, with client and request id
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { talk: {} }
--- lua_plugins
>>> talk.lua
local mg = require "moongate"
return {
    name = "talk", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.log(mg.DEBUG, "lvl-debug ", 1, " ", true)
        mg.log(mg.INFO, "lvl-info")
        mg.log(mg.NOTICE, "lvl-notice")
        mg.log(mg.WARN, "lvl-warn")
        mg.log(mg.ERR, "lvl-err")
        mg.log(mg.CRIT, "lvl-crit")
        mg.log(mg.ALERT, "lvl-alert")
        mg.log("info", "name-info ", nil, " ", 2.5)
        mg.log("warn", "name-warn")
        mg.log("error", "name-error")
        local ok, err = pcall(mg.log, "loud", "x")
        return 200, tostring(ok) .. " " .. tostring(err) .. "\n"
    end,
}
--- request
GET /l
--- more_headers
X-Request-Id: log-levels-1
--- response_body_like
^false .*mg\.log: unknown level loud
--- error_log eval
[qr/\[debug\] \d+#\d+: lvl-debug 1 true, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[info\] \d+#\d+: lvl-info, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[notice\] \d+#\d+: lvl-notice, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[warn\] \d+#\d+: lvl-warn, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[error\] \d+#\d+: lvl-err, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[crit\] \d+#\d+: lvl-crit, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[alert\] \d+#\d+: lvl-alert, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[info\] \d+#\d+: name-info nil 2\.5, client: 127\.0\.0\.1, request_id: log-levels-1/,
 qr/\[warn\] \d+#\d+: name-warn, client/,
 qr/\[error\] \d+#\d+: name-error, client/]



=== TEST 12: mg.log below the error_log level is not written
--- yaml_config
error_log: { path: logs/error.log, level: warn }
routes:
  - name: all
    paths: ["/*"]
    plugins: { talk: {} }
--- lua_plugins
>>> talk.lua
local mg = require "moongate"
return {
    name = "talk", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.log(mg.INFO, "quiet-info")
        mg.log(mg.WARN, "loud-warn")
        return 200, "ok\n"
    end,
}
--- request
GET /l
--- error_log
loud-warn
--- no_error_log
quiet-info



=== TEST 13: mg.sleep(200) delays the answer >= 0.2 s; the worker serves others meanwhile
--- yaml_config
worker_processes: 1
routes:
  - name: slow
    paths: ["/slow"]
    plugins: { nap: {} }
  - name: fast
    paths: ["/fast"]
    plugins: { quick: {} }
--- lua_plugins
>>> nap.lua
local mg = require "moongate"
return {
    name = "nap", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local t0 = mg.now()
        mg.sleep(200)
        return 200, string.format("slept %.3f\n", mg.now() - t0)
    end,
}
>>> quick.lua
return {
    name = "quick", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "fast\n" end,
}
--- test_code eval
sub {
    my $t = shift;
    my $s = Test::Moongate::Client::connect_to($t->port, 5);
    my $t0 = Time::HiRes::time();
    Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET /slow", []));
    Time::HiRes::sleep(0.02);
    my $f = $t->request("GET /fast", [], 3);
    my $tf = Time::HiRes::time() - $t0;
    my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 5),
                                                  'GET');
    my $ts = Time::HiRes::time() - $t0;
    is($f && $f->{body}, "fast\n", 'the other request is answered');
    ok($tf < 0.15, sprintf('... while the first one sleeps (%.3f s)', $tf));
    is($r && $r->{status}, 200, 'the sleeping request is answered');
    ok($ts >= 0.2, sprintf('after >= 0.2 s (%.3f s)', $ts));
    my ($slept) = ($r ? $r->{body} : '') =~ /^slept ([\d.]+)$/;
    ok(defined $slept && $slept >= 0.195 && $slept < 1, 'mg.now() moved by the sleep ('
       . ($slept // 'none') . ')');
}



=== TEST 14: mg.sleep in rewrite and balancer; a bad argument is an error
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { nap: {} }
--- lua_plugins
>>> nap.lua
local mg = require "moongate"
return {
    name = "nap", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.t0 = mg.now()
        mg.sleep(50)
        local ok, err = pcall(mg.sleep, -1)
        ctx.err = tostring(err)
    end,
    balancer = function(conf, ctx)
        mg.sleep(50)
        mg.request.set_header("X-Slept", string.format("%.3f", mg.now() - ctx.t0))
        mg.request.set_header("X-Err", ctx.err)
    end,
}
--- request
GET /s
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    ok($h->{'x-slept'} >= 0.095, "slept in rewrite and balancer ($h->{'x-slept'})");
    like($h->{'x-err'}, qr/mg\.sleep: expected milliseconds \(a number >= 0\), got -1/, 'error');
    1;
}



=== TEST 15: mg.balancer.nodes and set_peer (by address, by index, unknown)
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: 3 }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins: { pick: {} }
--- lua_plugins
>>> pick.lua
local mg = require "moongate"
return {
    name = "pick", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, n in ipairs(mg.balancer.nodes()) do
            out[#out + 1] = n.address .. "*" .. n.weight
        end
        ctx.nodes = table.concat(out, " ")
    end,
    balancer = function(conf, ctx)
        local want = mg.request.get_query_arg("peer")
        local ok, err = mg.balancer.set_peer(tonumber(want) or want)
        mg.request.set_header("X-Pick", tostring(ok) .. " " .. tostring(err))
        mg.request.set_header("X-Nodes", ctx.nodes)
    end,
}
--- request eval
['GET /p?peer=2', 'GET /p?peer=1', 'GET /p?peer=127.0.0.1:$MG_ECHO_PORT2',
 'GET /p?peer=127.0.0.1:$MG_ECHO_PORT', 'GET /p?peer=9', 'GET /p?peer=10.0.0.1:1']
--- response_headers eval
['X-Echo-Port: $MG_ECHO_PORT2', 'X-Echo-Port: $MG_ECHO_PORT',
 'X-Echo-Port: $MG_ECHO_PORT2', 'X-Echo-Port: $MG_ECHO_PORT', '', '']
--- check eval
sub {
    my ($res, $t) = @_;
    my @h = map { main::echoed($_)->{headers} } @$res;
    my ($p1, $p2) = ($t->echo_port, $t->fill('$MG_ECHO_PORT2'));
    is($h[0]{'x-nodes'}, "127.0.0.1:$p1*3 127.0.0.1:$p2*1", 'nodes() with weights');
    is($h[0]{'x-pick'}, 'true nil', 'set_peer(2)');
    is($h[2]{'x-pick'}, 'true nil', 'set_peer(address)');
    is($h[4]{'x-pick'}, 'nil no node 9 in the route\'s upstream', 'set_peer(9)');
    is($h[5]{'x-pick'}, 'nil no node 10.0.0.1:1 in the route\'s upstream', 'unknown address');
    1;
}



=== TEST 16: mg.json encode and decode, null, arrays, errors
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { js: {} }
--- lua_plugins
>>> js.lua
local mg = require "moongate"
return {
    name = "js", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local d = assert(mg.json.decode('{"a":[1,2,{"b":null}],"s":"x\\ny","e":[],"n":-1.5}'))
        local out = {
            null_is_sentinel = d.a[3].b == mg.json.null,
            s = d.s, n = d.n, len = #d.a,
            empty_array = mg.json.encode(d.e),
            encoded_null = mg.json.encode({ v = mg.json.null }),
            int = mg.json.encode(3),
            bad = select(2, mg.json.decode("{bad")) ~= nil,
            fn = select(2, mg.json.encode({ f = function() end })) ~= nil,
        }
        return 200, out
    end,
}
--- request
GET /j
--- check eval
sub {
    my $d = main::echoed($_[0][0]);
    ok($d->{null_is_sentinel}, 'null decodes to mg.json.null');
    is($d->{s}, "x\ny", 'escapes');
    is($d->{n}, -1.5, 'number');
    is($d->{len}, 3, 'array');
    is($d->{empty_array}, '[]', 'an empty array encodes back as []');
    is($d->{encoded_null}, '{"v":null}', 'mg.json.null encodes as null');
    is($d->{int}, '3', 'an integer without a decimal point');
    ok($d->{bad}, 'a decode error is nil, err');
    ok($d->{fn}, 'a function cannot be encoded');
    1;
}



=== TEST 17: consumers: mg.consumer.find and mg.var.consumer bring the consumer's plugins
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials: { key-auth: { key: "alice-key-123" } }
    plugins: { tag: { value: "alice" } }
  - name: bob
    credentials: { key-auth: { key: "bob-key-4567" } }
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { who: {}, tag: { value: "route" } }
--- lua_plugins
>>> who.lua
local mg = require "moongate"
return {
    name = "who", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local key = mg.request.get_query_arg("key")
        local c = key and mg.consumer.find("key-auth", "key", key)
        if c then
            mg.var.consumer = c.name
        end
        local ok, err = pcall(function() mg.var.consumer = "nobody" end)
        mg.request.set_header("X-Who", tostring(mg.var.consumer) .. " "
            .. tostring(c and c.credentials["key-auth"].key) .. " " .. tostring(err):gsub("^.-: ", ""))
    end,
}
>>> tag.lua
local mg = require "moongate"
return {
    name = "tag", version = "1.0", priority = 10,
    schema = { type = "record", fields = { value = { type = "string", required = true } } },
    access = function(conf, ctx)
        mg.request.set_header("X-Tag", conf.value)
    end,
}
--- request eval
["GET /a?key=alice-key-123", "GET /b?key=bob-key-4567", "GET /c?key=wrong"]
--- check eval
sub {
    my @h = map { main::echoed($_)->{headers} } @{ $_[0] };
    like($h[0]{'x-who'}, qr/^alice alice-key-123 .*no consumer named "nobody"/, 'alice found');
    is($h[0]{'x-tag'}, 'alice', "the consumer's plugin config replaces the route's");
    like($h[1]{'x-who'}, qr/^bob bob-key-4567 /, 'bob found');
    is($h[1]{'x-tag'}, 'route', 'bob has no plugin of his own');
    like($h[2]{'x-who'}, qr/^nil nil /, 'no consumer for a wrong key');
    is($h[2]{'x-tag'}, 'route', 'route config');
    1;
}



=== TEST 18: mg.now() and mg.var.request_time move while a plugin runs; a sleep after it is whole
--- yaml_config
lua: { cpu_budget: 1s }
routes:
  - name: busy
    paths: ["/busy"]
    plugins: { busy: {} }
--- lua_plugins
>>> busy.lua
local mg = require "moongate"
return {
    name = "busy", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local n0, r0 = mg.now(), mg.var.request_time
        local c0 = os.clock()
        while os.clock() - c0 < 0.050 do end
        local n1, r1 = mg.now(), mg.var.request_time
        mg.sleep(100)
        local n2 = mg.now()
        return 200, string.format("%.4f %.4f %.4f\n", n1 - n0, r1 - r0, n2 - n1)
    end,
}
--- request
GET /busy
--- error_code: 200
--- check eval
sub {
    my ($now, $req, $slept) = $_[0][0]{body} =~ /^(\S+) (\S+) (\S+)$/;
    ok(defined $now && $now >= 0.045, "mg.now() moved by the 50 ms of CPU ($now)");
    ok(defined $req && $req >= 0.045, "mg.var.request_time moved too ($req)");
    ok(defined $slept && $slept >= 0.095, "mg.sleep(100) after it slept 100 ms ($slept)");
    1;
}



=== TEST 19: ctx set in rewrite or access reaches header_filter and log of the plugin's own answer
--- yaml_config
routes:
  - name: own
    paths: ["/own/*"]
    plugins: { answers: {} }
--- lua_plugins
>>> answers.lua
local mg = require "moongate"
return {
    name = "answers", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        ctx.from = "rewrite"
        if mg.request.get_path() == "/own/rw" then
            return 200, "from rewrite\n"
        end
    end,
    access = function(conf, ctx)
        ctx.from = ctx.from .. "+access"
        return 201, "from access\n"
    end,
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Ctx", ctx.from or "lost")
    end,
    log = function(conf, ctx)
        mg.log(mg.WARN, "ctx in log: ", ctx.from or "lost")
    end,
}
--- request eval
["GET /own/rw", "GET /own/ac"]
--- error_code eval
[200, 201]
--- response_headers eval
["X-Ctx: rewrite", "X-Ctx: rewrite+access"]
--- error_log eval
[qr{ctx in log: rewrite\b}, qr{ctx in log: rewrite\+access}]
