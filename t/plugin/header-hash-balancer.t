# header-hash-balancer: an upstream of two echo nodes (X-Echo-Port tells which one
# answered). The same header value always reaches the same node; without the header the
# upstream's round robin decides; configuration errors.
use Test::Moongate;

# req("GET /uri", "Header: value", ...) -> the bytes of one request.
sub req {
    my ($line, @h) = @_;
    return "$line HTTP/1.1\r\nHost: localhost\r\n" . join('', map { "$_\r\n" } @h) . "\r\n";
}

our @Users = map { "user-$_" } 1 .. 20;

run_tests();

__DATA__

=== TEST 1: the same header value always reaches the same node
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: X-User-Id }
--- request eval
[map { "GET /same/$_" } 1 .. 10]
--- more_headers
X-User-Id: alice
--- error_code eval
[(200) x 10]
--- check eval
sub {
    my @ports = map { $_->{headers}{'x-echo-port'} // 'none' } @{ $_[0] };
    my %u = map { $_ => 1 } @ports;
    is(scalar keys %u, 1, "one node for one value (@ports)");
    1;
}



=== TEST 2: different values spread over both nodes, each value sticking to its node
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: X-User-Id }
--- raw_request eval
[(map { main::req("GET /a", "X-User-Id: $_") } @main::Users),
 (map { main::req("GET /b", "X-User-Id: $_") } CORE::reverse @main::Users)]
--- error_code eval
[(200) x 40]
--- check eval
sub {
    my $r = $_[0];
    my @users = (@main::Users, CORE::reverse @main::Users);
    my (%node, %bad, %seen);
    for my $i (0 .. $#users) {
        my $p = $r->[$i]{headers}{'x-echo-port'} // 'none';
        $seen{$p}++;
        $bad{$users[$i]} = 1 if defined $node{$users[$i]} && $node{$users[$i]} ne $p;
        $node{$users[$i]} //= $p;
    }
    is(CORE::join(',', sort keys %bad), '', 'every value on one node');
    my $v = $_[1]{vars};
    is(CORE::join(',', sort keys %seen),
       CORE::join(',', sort($v->{MG_ECHO_PORT}, $v->{MG_ECHO_PORT2})), 'the two nodes');
    is(scalar keys %seen, 2, 'both nodes used: ' . CORE::join(', ', map { "$_ x$seen{$_}" } sort keys %seen));
    1;
}



=== TEST 3: the choice holds across connections and worker processes
--- yaml_config
worker_processes: 2
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: X-User-Id }
--- request eval
[map { "GET /c/$_" } 1 .. 12]
--- more_headers
X-User-Id: user-7
Connection: close
--- error_code eval
[(200) x 12]
--- check eval
sub {
    my @ports = map { $_->{headers}{'x-echo-port'} // 'none' } @{ $_[0] };
    my %u = map { $_ => 1 } @ports;
    is(scalar keys %u, 1, "one node (@ports)");
    1;
}



=== TEST 4: the header name is matched case-insensitively
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: x-user-id }
--- raw_request eval
[map { main::req("GET /case", ($_ % 2 ? "X-USER-ID: bob" : "x-user-id: bob")) } 1 .. 6]
--- error_code eval
[(200) x 6]
--- check eval
sub {
    my @ports = map { $_->{headers}{'x-echo-port'} // 'none' } @{ $_[0] };
    my %u = map { $_ => 1 } @ports;
    is(scalar keys %u, 1, "one node (@ports)");
    1;
}



=== TEST 5: without the header the upstream's round robin alternates the nodes
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: X-User-Id }
--- request eval
[map { "GET /rr/$_" } 1 .. 6]
--- error_code eval
[(200) x 6]
--- check eval
sub {
    my @ports = map { $_->{headers}{'x-echo-port'} // 'none' } @{ $_[0] };
    my %n;
    $n{$_}++ for @ports;
    is(scalar keys %n, 2, "both nodes (@ports)");
    ok(!grep({ $ports[$_] eq $ports[$_ - 1] } 1 .. $#ports), "alternating (@ports)");
    1;
}



=== TEST 6: an empty header value counts as no header: round robin
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: X-User-Id }
--- raw_request eval
[map { main::req("GET /empty/$_", "X-User-Id:") } 1 .. 4]
--- error_code eval
[(200) x 4]
--- check eval
sub {
    my @ports = map { $_->{headers}{'x-echo-port'} // 'none' } @{ $_[0] };
    ok(!grep({ $ports[$_] eq $ports[$_ - 1] } 1 .. $#ports), "alternating (@ports)");
    1;
}



=== TEST 7: only the configured header counts; another header does not pin the node
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: X-Tenant }
--- request eval
[map { "GET /other/$_" } 1 .. 4]
--- more_headers
X-User-Id: alice
--- error_code eval
[(200) x 4]
--- check eval
sub {
    my @ports = map { $_->{headers}{'x-echo-port'} // 'none' } @{ $_[0] };
    ok(!grep({ $ports[$_] eq $ports[$_ - 1] } 1 .. $#ports), "round robin (@ports)");
    1;
}



=== TEST 8: the request goes up unchanged, header included
--- yaml_config
upstreams:
  - name: pair
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_ECHO_PORT2" }
routes:
  - name: all
    paths: ["/*"]
    upstream: pair
    plugins:
      header-hash-balancer: { header: X-User-Id }
--- request
POST /keep?x=1
payload
--- more_headers
X-User-Id: carol
--- error_code: 200
--- response_body_like
"body":"payload".*"x-user-id":"carol".*"method":"POST","uri":"/keep\?x=1"



=== TEST 9: bad config: header is required (an empty mapping)
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      header-hash-balancer: {}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:29: routes\[0\]\.plugins\.header-hash-balancer: missing required key "header"}]



=== TEST 10: bad config: header is required (the plugin named without a config) and the error says where
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      header-hash-balancer:
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.plugins\.header-hash-balancer: missing required key "header"}]



=== TEST 11: bad config: header not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      header-hash-balancer:
        header: [X-User-Id]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:17: routes\[0\]\.plugins\.header-hash-balancer\.header: expected a string, got a list}]



=== TEST 12: bad config: an unknown key names the closest one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      header-hash-balancer:
        headr: X-User-Id
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.plugins\.header-hash-balancer\.headr: unknown key "headr" \(did you mean "header"\?\)}]
