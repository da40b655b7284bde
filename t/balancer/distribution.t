# Balancers through real sockets: how each algorithm spreads requests over two echo
# nodes (the answer's X-Echo-Port says which node answered), with weights.
use Test::Moongate;
use Test::Moongate::Client;

# counts($t, $n, $spec, \@headers) -> { echo port => answers } for $n requests, one
# connection each; every answer must be a 200.
sub counts {
    my ($t, $n, $spec, $headers) = @_;
    my %c;
    for (1 .. $n) {
        my $r = $t->request($spec, $headers // [], 3);
        die "no 200 for $spec: " . ($r ? $r->{status} // 'none' : 'none') . "\n"
            unless $r && ($r->{status} // 0) == 200;
        $c{ $r->{headers}{'x-echo-port'} }++;
    }
    return \%c;
}

run_tests();

__DATA__

=== TEST 1: roundrobin follows the weights exactly
--- yaml_config
upstreams:
  - name: pool
    balancer: roundrobin
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: 3 }
      - { address: "127.0.0.1:$MG_ECHO_PORT2", weight: 1 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::counts($t, 40, "GET /hello");
    is($c->{ $t->fill('$MG_ECHO_PORT') }, 30, 'weight 3: 30 of 40');
    is($c->{ $t->fill('$MG_ECHO_PORT2') }, 10, 'weight 1: 10 of 40');
}



=== TEST 2: least_conn with nothing in flight goes round robin by weight
--- yaml_config
upstreams:
  - name: pool
    balancer: least_conn
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: 3 }
      - { address: "127.0.0.1:$MG_ECHO_PORT2", weight: 1 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::counts($t, 40, "GET /hello");
    is($c->{ $t->fill('$MG_ECHO_PORT') }, 30, 'weight 3: 30 of 40');
    is($c->{ $t->fill('$MG_ECHO_PORT2') }, 10, 'weight 1: 10 of 40');
}



=== TEST 3: random (two choices) follows the weights
--- yaml_config
upstreams:
  - name: pool
    balancer: random
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: 3 }
      - { address: "127.0.0.1:$MG_ECHO_PORT2", weight: 1 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::counts($t, 200, "GET /hello");
    my $heavy = $c->{ $t->fill('$MG_ECHO_PORT') } // 0;
    ok($heavy >= 120 && $heavy <= 180, "weight 3 of 4: $heavy of 200 (about 150)");
    ok(($c->{ $t->fill('$MG_ECHO_PORT2') } // 0) >= 20, 'the light node is used too');
}



=== TEST 4: ewma with equal, unmeasured nodes uses both
--- yaml_config
upstreams:
  - name: pool
    balancer: ewma
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::counts($t, 20, "GET /hello");
    is(scalar(keys %$c), 2, 'both nodes answered (each is measured)');
}



=== TEST 5: chash on a header: each key keeps its node, keys spread over both
--- yaml_config
upstreams:
  - name: pool
    balancer: chash
    hash_on: header:X-User
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my %nodes;
    for my $u (1 .. 16) {
        my $c = main::counts($t, 4, "GET /hello", ["X-User: user-$u"]);
        is(scalar(keys %$c), 1, "user-$u always on one node");
        $nodes{$_}++ for keys %$c;
    }
    is(scalar(keys %nodes), 2, 'the keys use both nodes');
}



=== TEST 6: chash on a route parameter, a query argument and a cookie
--- yaml_config
upstreams:
  - name: by-param
    balancer: chash
    hash_on: param:id
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
  - name: by-query
    balancer: chash
    hash_on: query:tenant
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
  - name: by-cookie
    balancer: chash
    hash_on: cookie:sid
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/users/{id}"], upstream: by-param }
  - { paths: ["/q"], upstream: by-query }
  - { paths: ["/c"], upstream: by-cookie }
--- test_code eval
sub {
    my ($t) = @_;
    for my $case (['/users/K', []], ['/q?x=1&tenant=K', []], ['/c', ['Cookie: a=b; sid=K']]) {
        my ($path, $hdr) = @$case;
        my %nodes;
        for my $k (1 .. 12) {
            (my $p = $path) =~ s/K/key$k/;
            my @h = map { (my $x = $_) =~ s/K/key$k/; $x } @$hdr;
            my $c = main::counts($t, 3, "GET $p", \@h);
            is(scalar(keys %$c), 1, "$p: one node") or diag(explain($c));
            $nodes{$_}++ for keys %$c;
        }
        is(scalar(keys %nodes), 2, "$path: the keys use both nodes");
    }
}



=== TEST 7: chash without the key in the request hashes the client address: one node
--- yaml_config
upstreams:
  - name: pool
    balancer: chash
    hash_on: header:X-User
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::counts($t, 10, "GET /hello");
    is(scalar(keys %$c), 1, 'every keyless request from 127.0.0.1 on the same node');
}



=== TEST 8: ip_hash: one client, one node, stable
--- yaml_config
upstreams:
  - name: pool
    balancer: ip_hash
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: 2 }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::counts($t, 20, "GET /hello");
    is(scalar(keys %$c), 1, 'all 20 requests of 127.0.0.1 on one node');
}



=== TEST 9: chash: the key's node is down: its requests go to one other node, retried
--- yaml_config
upstreams:
  - name: pool
    balancer: chash
    hash_on: header:X-User
    retries: 2
    nodes:
      - "127.0.0.1:$MG_RAND_PORT_1"
      - "127.0.0.1:$MG_ECHO_PORT"
      - "127.0.0.1:$MG_ECHO_PORT2"
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $answered = 0;
    for my $u (1 .. 12) {
        my $c = main::counts($t, 3, "GET /hello", ["X-User: u$u"]);
        is(scalar(keys %$c), 1, "u$u: one node, also after a retry");
        $answered += $_ for values %$c;
    }
    is($answered, 36, 'every request answered');
}



=== TEST 10: a Lua balancer plugin overrides every algorithm
--- yaml_config
upstreams:
  - { name: rr, balancer: roundrobin, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"] }
  - { name: lc, balancer: least_conn, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"] }
  - { name: ih, balancer: ip_hash, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"] }
  - { name: ch, balancer: chash, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"] }
  - { name: ew, balancer: ewma, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"] }
  - { name: rn, balancer: random, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"] }
  - { name: st, balancer: sticky, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - { paths: ["/rr/*"], upstream: rr, plugins: { pick: { node: 2 } } }
  - { paths: ["/lc/*"], upstream: lc, plugins: { pick: { node: 1 } } }
  - { paths: ["/ih/*"], upstream: ih, plugins: { pick: { node: 2 } } }
  - { paths: ["/ch/*"], upstream: ch, plugins: { pick: { node: 1 } } }
  - { paths: ["/ew/*"], upstream: ew, plugins: { pick: { node: 2 } } }
  - { paths: ["/rn/*"], upstream: rn, plugins: { pick: { node: 1 } } }
  - { paths: ["/st/*"], upstream: st, plugins: { pick: { node: 2 } } }
--- lua_plugins
>>> pick.lua
local mg = require "moongate"
return {
    name = "pick", version = "1.0", priority = 10,
    schema = { type = "record", fields = { node = { type = "integer" } } },
    balancer = function(conf, ctx)
        assert(mg.balancer.set_peer(conf.node))
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my %want = (rr => 2, lc => 1, ih => 2, ch => 1, ew => 2, rn => 1, st => 2);
    for my $u (sort keys %want) {
        my $port = $t->fill($want{$u} == 1 ? '$MG_ECHO_PORT' : '$MG_ECHO_PORT2');
        my $c = main::counts($t, 6, "GET /$u/x");
        is_deeply($c, { $port => 6 }, "$u: every request on the plugin's node");
    }
}
