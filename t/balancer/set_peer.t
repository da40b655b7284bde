# mg.balancer.set_peer and the health nodes() reports: a node that health checks took
# out (passive ejection, active checks, an open breaker) is not picked unless the
# plugin forces it; the request is balanced as usual and set_peer says why.
use Test::Moongate;
use Time::HiRes ();

sub get {
    my ($t, $path) = @_;
    return $t->request("GET $path", [], 3) // {};
}

# nodes($t) -> { address => "health healthy breaker" } from /__nodes.
sub nodes {
    my ($t, $path) = @_;
    my %n;
    for (split /\n/, get($t, $path // '/__nodes')->{body} // '') {
        my ($addr, @v) = split / /;
        $n{$addr} = CORE::join(' ', @v);
    }
    return \%n;
}

sub wait_for {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.05);
    }
    return $cond->();
}

run_tests();

__DATA__

=== TEST 1: an ejected node: set_peer refuses it, every request is balanced elsewhere; force still sends it there
--- yaml_config
upstreams:
  - name: pool
    retries: 0
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT"]
    health_check:
      passive: { consecutive_failures: 1, max_ejection_percent: 50, base_ejection_time: 30s }
routes:
  - { paths: ["/__nodes"], upstream: pool, plugins: { nodes: {} } }
  - { paths: ["/force"], upstream: pool, plugins: { pin: { peer: "127.0.0.1:$MG_RAND_PORT_1", force: true } } }
  - { paths: ["/*"], upstream: pool, plugins: { pin: { peer: "127.0.0.1:$MG_RAND_PORT_1" } } }
--- lua_plugins
>>> pin.lua
return {
    name = "pin", priority = 10,
    schema = { type = "record", fields = {
        peer = { type = "string", required = true },
        force = { type = "boolean", default = false },
    } },
    balancer = function(conf, ctx)
        local ok, err = mg.balancer.set_peer(conf.peer, { force = conf.force })
        ctx.set_peer = ok and "ok" or err
    end,
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Set-Peer", ctx.set_peer)
    end,
}
>>> nodes.lua
return {
    name = "nodes", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, n in ipairs(mg.balancer.nodes()) do
            out[#out + 1] = table.concat({ n.address, n.health, tostring(n.healthy),
                tostring(n.breaker), n.inflight }, " ")
        end
        return 200, table.concat(out, "\n")
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my ($dead, $echo) = map { "127.0.0.1:" . $t->fill($_) } '$MG_RAND_PORT_1', '$MG_ECHO_PORT';
    my $n = main::nodes($t);
    is($n->{$dead}, 'healthy true nil 0', 'before: the dead node is not known to be dead');
    my $r = main::get($t, '/x');
    is($r->{status}, 502, 'the first try goes where the plugin said, and fails (retries: 0)');
    is($r->{headers}{'x-set-peer'}, 'ok', 'set_peer took it');
    like($t->error_log, qr/node \Q$dead\E ejected for 30s/, 'the failure ejected it');
    $n = main::nodes($t);
    is($n->{$dead}, 'ejected false nil 0', 'nodes(): ejected, not healthy');
    is($n->{$echo}, 'healthy true nil 0', 'nodes(): the other one healthy');
    my (%status, %port, %said);
    for (1 .. 20) {
        my $r = main::get($t, '/x');
        $status{ $r->{status} // 0 }++;
        $port{ $r->{headers}{'x-echo-port'} // 'none' }++;
        $said{ $r->{headers}{'x-set-peer'} // 'none' }++;
    }
    is_deeply(\%status, { 200 => 20 }, '20 of 20 answered') or diag(explain(\%status));
    is_deeply(\%port, { $t->fill('$MG_ECHO_PORT') => 20 }, 'none of them sent to the ejected node');
    is_deeply(\%said, { "node $dead is unhealthy" => 20 }, 'set_peer said why each time');
    $r = main::get($t, '/force');
    is($r->{status}, 502, 'force: the plugin gets the ejected node all the same');
    is($r->{headers}{'x-set-peer'}, 'ok', 'force: set_peer took it');
}



=== TEST 2: active checks: an unhealthy node is refused; once it answers again it is taken
--- yaml_config
upstreams:
  - name: pool
    retries: 0
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT"]
    health_check:
      active: { path: /hello, interval: 100ms, timeout: 500ms, unhealthy_threshold: 2, healthy_threshold: 1 }
routes:
  - { paths: ["/__nodes"], upstream: pool, plugins: { nodes: {} } }
  - { paths: ["/*"], upstream: pool, plugins: { pin: { peer: 1 } } }
--- lua_plugins
>>> pin.lua
return {
    name = "pin", priority = 10,
    schema = { type = "record", fields = { peer = { type = "integer", required = true } } },
    balancer = function(conf, ctx)
        local ok, err = mg.balancer.set_peer(conf.peer)
        ctx.set_peer = ok and "ok" or err
    end,
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Set-Peer", ctx.set_peer)
    end,
}
>>> nodes.lua
return {
    name = "nodes", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, n in ipairs(mg.balancer.nodes()) do
            out[#out + 1] = table.concat({ n.address, n.health, tostring(n.healthy) }, " ")
        end
        return 200, table.concat(out, "\n")
    end,
}
--- timeout: 10
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $dead = "127.0.0.1:$port";
    ok(main::wait_for(5, sub { (main::nodes($t)->{$dead} // '') eq 'unhealthy false' }),
       'nodes(): unhealthy once the probes fail') or diag(explain(main::nodes($t)));
    my %port;
    for (1 .. 10) {
        my $r = main::get($t, '/x');
        $port{ ($r->{status} // 0) . ' ' . ($r->{headers}{'x-echo-port'} // '') . ' '
               . ($r->{headers}{'x-set-peer'} // '') }++;
    }
    is_deeply(\%port, { '200 ' . $t->fill('$MG_ECHO_PORT') . " node $dead is unhealthy" => 10 },
              'all balanced to the healthy node') or diag(explain(\%port));
    my $pid = Test::Moongate::Echo::start($port);
    ok(main::wait_for(5, sub { (main::nodes($t)->{$dead} // '') eq 'healthy true' }),
       'healthy again once it answers');
    my $r = main::get($t, '/x');
    is($r->{headers}{'x-echo-port'}, $port, 'set_peer takes it again');
    is($r->{headers}{'x-set-peer'}, 'ok', 'and says ok');
    Test::Moongate::Echo::stop($pid);
}



=== TEST 3: an open breaker: nodes() says so, set_peer refuses the node
--- yaml_config
upstreams:
  - name: pool
    retries: 1
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT"]
    health_check:
      breaker: { failures: 1, open_time: 30s, half_open_requests: 1 }
routes:
  - { paths: ["/__nodes"], upstream: pool, plugins: { nodes: {} } }
  - { paths: ["/*"], upstream: pool, plugins: { pin: {} } }
--- lua_plugins
>>> pin.lua
return {
    name = "pin", priority = 10,
    schema = { type = "record", fields = {} },
    balancer = function(conf, ctx)
        local ok, err = mg.balancer.set_peer(1)
        ctx.set_peer = ok and "ok" or err
    end,
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Set-Peer", ctx.set_peer)
    end,
}
>>> nodes.lua
return {
    name = "nodes", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local out = {}
        for _, n in ipairs(mg.balancer.nodes()) do
            out[#out + 1] = table.concat({ n.address, n.health, tostring(n.healthy),
                tostring(n.breaker) }, " ")
        end
        return 200, table.concat(out, "\n")
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my ($dead, $echo) = map { "127.0.0.1:" . $t->fill($_) } '$MG_RAND_PORT_1', '$MG_ECHO_PORT';
    is(main::nodes($t)->{$dead}, 'healthy true closed', 'closed at first');
    my $r = main::get($t, '/x');
    is($r->{status}, 200, 'the retry covers the failed first try');
    is($r->{headers}{'x-set-peer'}, 'ok', 'set_peer took it while closed');
    is(main::nodes($t)->{$dead}, 'healthy false open', 'nodes(): breaker open, not pickable');
    is(main::nodes($t)->{$echo}, 'healthy true closed', 'the other closed');
    $r = main::get($t, '/x');
    is($r->{headers}{'x-set-peer'}, "node $dead is unhealthy", 'refused while open');
    is($r->{headers}{'x-echo-port'}, $t->fill('$MG_ECHO_PORT'), 'balanced to the other');
}



=== TEST 4: mg.balancer.hash is the 32-bit FNV-1a
--- yaml_config
routes:
  - { paths: ["/*"], plugins: { h: {} } }
--- lua_plugins
>>> h.lua
return {
    name = "h", priority = 10,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        return 200, table.concat({ mg.balancer.hash(""), mg.balancer.hash("a"),
            mg.balancer.hash("user-42"), mg.balancer.hash(string.rep("\255", 100)) }, " ") .. "\n"
    end,
}
--- request
GET /x
--- response_body eval
sub fnv { my $h = 2166136261; for (unpack 'C*', shift) { $h ^= $_; $h = ($h * 16777619) % 4294967296; } $h }
CORE::join(' ', fnv(''), fnv('a'), 39875499, fnv("\xff" x 100)) . "\n"
