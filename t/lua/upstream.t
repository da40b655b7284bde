# mg.upstream: a plugin sends the request to another configured upstream, whose nodes,
# host and balancing then apply; the access log and mg.var name the upstream used.
use Test::Moongate;
use Test::Moongate::Client;

run_tests();

__DATA__

=== TEST 1: mg.upstream.set sends the request to the other upstream; get and mg.var follow
--- yaml_config
access_log: { path: logs/access.log, format: '$route $upstream $upstream_addr $status' }
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - { name: api, paths: ["/*"], upstream: stable, plugins: { pick: {} } }
--- lua_plugins
>>> pick.lua
return {
  name = "pick", priority = 100, schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    ctx.before = mg.upstream.get()
    local want = mg.request.get_query_arg("pick")
    if want then
      local ok, err = mg.upstream.set(want)
      ctx.err = err
    end
    ctx.after = mg.upstream.get()
    ctx.var = mg.var.upstream
  end,
  header_filter = function(conf, ctx)
    mg.response.set_header("X-Before", ctx.before)
    mg.response.set_header("X-After", ctx.after)
    mg.response.set_header("X-Var", ctx.var)
    if ctx.err then mg.response.set_header("X-Err", ctx.err) end
  end,
}
--- request eval
["GET /a", "GET /b?pick=canary", "GET /c?pick=nope"]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Echo-Port: $MG_ECHO_PORT\nX-Before: stable\nX-After: stable\nX-Var: stable\n!X-Err",
 "X-Echo-Port: $MG_ECHO_PORT2\nX-Before: stable\nX-After: canary\nX-Var: canary\n!X-Err",
 "X-Echo-Port: $MG_ECHO_PORT\nX-After: stable\nX-Err: no upstream nope"]
--- access_log
api stable 127.0.0.1:$MG_ECHO_PORT 200
api canary 127.0.0.1:$MG_ECHO_PORT2 200



=== TEST 2: the chosen upstream's host:, retries and balancer apply, not the route's
--- yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - name: canary
    host: canary.internal
    retries: 1
    health_check: { passive: { consecutive_failures: 1, max_ejection_percent: 50, base_ejection_time: 30s } }
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/*"], upstream: stable, plugins: { pick: {} } }
--- lua_plugins
>>> pick.lua
return {
  name = "pick", priority = 100, schema = { type = "record", fields = {} },
  rewrite = function(conf, ctx)
    assert(mg.upstream.set("canary"))
  end,
}
--- request eval
[("GET /x") x 4]
--- error_code eval
[(200) x 4]
--- response_headers eval
[("X-Echo-Port: $MG_ECHO_PORT2") x 4]
--- response_body_like eval
[('"host":"canary.internal"') x 4]



=== TEST 3: a route without upstream: is driven by its plugin; none chosen is a 500
--- yaml_config
upstreams:
  - { name: a, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: b, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - { name: open, paths: ["/*"], plugins: { pick: {} } }
--- lua_plugins
>>> pick.lua
return {
  name = "pick", priority = 100, schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local q = mg.request.get_query_arg("to")
    if q then assert(mg.upstream.set(q)) end
  end,
}
--- request eval
["GET /x?to=a", "GET /x?to=b", "GET /x"]
--- error_code eval
[200, 200, 500]
--- response_headers eval
["X-Echo-Port: $MG_ECHO_PORT", "X-Echo-Port: $MG_ECHO_PORT2", ""]
--- error_log
route "open" has no upstream and no plugin answered



=== TEST 4: set in the balancer phase: nodes() and set_peer then work on the new upstream
--- yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - { paths: ["/*"], upstream: stable, plugins: { pick: {} } }
--- lua_plugins
>>> pick.lua
return {
  name = "pick", priority = 100, schema = { type = "record", fields = {} },
  balancer = function(conf, ctx)
    local before = #mg.balancer.nodes()
    assert(mg.balancer.set_peer(1))
    assert(mg.upstream.set("canary"))
    local nodes = mg.balancer.nodes()
    ctx.nodes = before .. " " .. #nodes .. " " .. nodes[2].address
    assert(mg.balancer.set_peer(nodes[2].address))
  end,
  header_filter = function(conf, ctx)
    mg.response.set_header("X-Nodes", ctx.nodes)
  end,
}
--- request eval
[("GET /x") x 3]
--- error_code eval
[(200) x 3]
--- response_headers eval
[("X-Echo-Port: $MG_ECHO_PORT2\nX-Nodes: 1 2 127.0.0.1:$MG_ECHO_PORT2") x 3]



=== TEST 5: not in the header_filter phase, not on a return: route, and a name that is not a string is an error
--- yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/late"], upstream: stable, plugins: { late: {} } }
  - { paths: ["/bad"], upstream: stable, plugins: { bad: {} } }
  - { paths: ["/fixed"], return: { status: 200, body: "fixed\n" }, plugins: { fixed: {} } }
--- lua_plugins
>>> fixed.lua
return {
  name = "fixed", priority = 100, schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local ok, err = mg.upstream.set("stable")
    ctx.err = err
  end,
  header_filter = function(conf, ctx)
    mg.response.set_header("X-Err", ctx.err)
  end,
}
>>> late.lua
return {
  name = "late", priority = 100, schema = { type = "record", fields = {} },
  header_filter = function(conf, ctx)
    local ok, err = pcall(mg.upstream.set, "stable")
    mg.response.set_header("X-Err", err)
  end,
}
>>> bad.lua
return {
  name = "bad", priority = 100, schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    mg.upstream.set(42)
  end,
}
--- request eval
["GET /late", "GET /bad", "GET /fixed"]
--- error_code eval
[200, 500, 200]
--- response_headers eval
["X-Err: mg.upstream.set: not allowed in the header_filter phase", "",
 "X-Err: the route answers by itself (return:)"]
--- error_log
mg.upstream.set: expected an upstream name, got number



=== TEST 6: metrics count a request under the upstream it went to, across workers
--- yaml_config
worker_processes: 2
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - { name: api, paths: ["/*"], upstream: stable, plugins: { pick: {} } }
--- lua_plugins
>>> pick.lua
return {
  name = "pick", priority = 100, schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local want = mg.request.get_query_arg("pick")
    if want then assert(mg.upstream.set(want)) end
  end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my %st;
    for my $q (('') x 3, ('?pick=canary') x 5, ('?pick=stable') x 2) {
        my $r = $t->request("GET /x$q", ['Connection: close'], 3) // {};
        $st{ $r->{status} // 0 }++;
    }
    is_deeply(\%st, { 200 => 10 }, 'all answered');
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /metrics", [], 3) // {};
    my $body = $r->{body} // '';
    like($body, qr/^moongate_http_requests_total\{route="api",upstream="stable",class="2xx"\} 5$/m,
         'the route and its own upstream: 3 + 2 set to it');
    like($body, qr/^moongate_http_requests_total\{route="api",upstream="canary",class="2xx"\} 5$/m,
         'the route and the upstream a plugin chose');
    like($body, qr/^moongate_http_request_duration_seconds_count\{route="api",upstream="canary"\} 5$/m,
         'its histograms too');
}
