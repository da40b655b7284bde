# The client's real address behind trusted proxies (trusted_proxies): X-Forwarded-For is
# believed from a trusted peer only, walked from the right past the trusted entries,
# appended to on the way up; the address reaches the access log, plugins, rate-limit
# keys and error-log lines, and the peer stays visible as peer_addr.
use Test::Moongate;
use JSON::PP ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

run_tests();

__DATA__

=== TEST 1: a trusted peer: the client is the right-most untrusted entry, the list is appended to
--- yaml_config
trusted_proxies: ["127.0.0.1", "10.0.0.0/8"]
access_log: { path: logs/access.log, format: 'ra=$remote_addr rp=$remote_port pa=$peer_addr pp=$peer_port $uri' }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /chain
--- more_headers
X-Forwarded-For: 6.6.6.6, 203.0.113.7
X-Forwarded-For: 10.1.2.3
X-Real-IP: 6.6.6.6
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-forwarded-for'}, '6.6.6.6, 203.0.113.7, 10.1.2.3, 127.0.0.1',
       'X-Forwarded-For: the lines joined in order, then the peer');
    is($h->{'x-real-ip'}, '203.0.113.7', 'X-Real-IP: the client');
}
--- access_log eval
[qr{^ra=203\.0\.113\.7 rp=- pa=127\.0\.0\.1 pp=\d+ /chain$}m]



=== TEST 2: an untrusted peer: its X-Forwarded-For is not believed, and replaced upstream
--- yaml_config
trusted_proxies: ["10.0.0.0/8", "2001:db8::/32"]
access_log: { path: logs/access.log, format: 'ra=$remote_addr pa=$peer_addr $uri' }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /forged
--- more_headers
X-Forwarded-For: 203.0.113.7
X-Forwarded-Proto: https
X-Forwarded-Host: evil.example
Host: shop.example.com
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-forwarded-for'}, '127.0.0.1', 'X-Forwarded-For: the peer alone');
    is($h->{'x-real-ip'}, '127.0.0.1', 'X-Real-IP: the peer');
    is($h->{'x-forwarded-proto'}, 'http', "X-Forwarded-Proto: ours");
    is($h->{'x-forwarded-host'}, 'shop.example.com', 'X-Forwarded-Host: the Host');
}
--- access_log eval
[qr{^ra=127\.0\.0\.1 pa=127\.0\.0\.1 /forged$}m]



=== TEST 3: a trusted peer's X-Forwarded-Proto and -Host are kept; a bad proto is not
--- yaml_config
trusted_proxies: ["127.0.0.0/8"]
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $a = main::echoed($t->request("GET /a", ["X-Forwarded-Proto: HTTPS",
        "X-Forwarded-Host: shop.example.com", "Host: internal:8080"]))->{headers};
    is($a->{'x-forwarded-proto'}, 'https', 'https from the trusted proxy');
    is($a->{'x-forwarded-host'}, 'shop.example.com', 'its X-Forwarded-Host');
    is($a->{host}, 'internal:8080', 'Host unchanged');
    my $b = main::echoed($t->request("GET /b", ["X-Forwarded-Proto: gopher",
        "Host: internal:8080"]))->{headers};
    is($b->{'x-forwarded-proto'}, 'http', 'an unknown proto is replaced by ours');
    is($b->{'x-forwarded-host'}, 'internal:8080', 'no X-Forwarded-Host: the Host');
}



=== TEST 4: every entry trusted: the left-most; malformed: the peer; IPv6 and mapped entries
--- yaml_config
trusted_proxies: ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]
access_log: { path: logs/access.log, format: 'ra=$remote_addr $uri' }
routes:
  - { name: all, paths: ["/*"], return: { status: 204 } }
--- test_code eval
sub {
    my $t = shift;
    my @cases = (["/all-trusted", "10.0.0.5, 10.0.0.6"], ["/port", "203.0.113.7:4711"],
                 ["/unknown", "203.0.113.7, unknown"], ["/v6", "2001:DB9::1, 2001:db8::5"],
                 ["/mapped", "::ffff:203.0.113.8, ::ffff:10.0.0.1"],
                 ["/brackets", "[2001:db9::1]"], ["/empty", ", ,"],
                 ["/spaces", "203.0.113.7 10.0.0.1"], ["/obs", "203.0.113.\xe9"]);
    is($t->request("GET $_->[0]", ["X-Forwarded-For: $_->[1]"])->{status}, 204, "$_->[0] answered")
        for @cases;
}
--- access_log eval
[qr{^ra=10\.0\.0\.5 /all-trusted$}m, qr{^ra=127\.0\.0\.1 /port$}m, qr{^ra=127\.0\.0\.1 /unknown$}m,
 qr{^ra=2001:db9::1 /v6$}m, qr{^ra=::ffff:203\.0\.113\.8 /mapped$}m,
 qr{^ra=127\.0\.0\.1 /brackets$}m, qr{^ra=127\.0\.0\.1 /empty$}m,
 qr{^ra=127\.0\.0\.1 /spaces$}m, qr{^ra=127\.0\.0\.1 /obs$}m]



=== TEST 5: plugins see the client with get_remote_addr() and the peer with get_peer_addr()
--- yaml_config
trusted_proxies: ["127.0.0.1"]
routes:
  - { name: all, paths: ["/*"], return: { status: 204 }, plugins: { who: {} } }
--- lua_plugins
>>> who.lua
local mg = require "moongate"
return {
    name = "who", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local r = mg.request
        return 200, r.get_remote_addr() .. " " .. r.get_peer_addr() .. " "
            .. r.get_remote_port() .. " " .. mg.var.remote_addr .. " " .. mg.var.peer_addr .. "\n"
    end,
}
--- test_code eval
sub {
    my $t = shift;
    like($t->request("GET /a", ["X-Forwarded-For: 198.51.100.20"])->{body},
         qr{^198\.51\.100\.20 127\.0\.0\.1 0 198\.51\.100\.20 127\.0\.0\.1\n$}, 'behind the proxy');
    like($t->request("GET /b")->{body},
         qr{^127\.0\.0\.1 127\.0\.0\.1 [1-9]\d* 127\.0\.0\.1 127\.0\.0\.1\n$}, 'the proxy itself');
}



=== TEST 6: a rate limit keyed on remote_addr counts each client behind the proxy apart
--- yaml_config
trusted_proxies: ["127.0.0.1"]
routes:
  - name: limited
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    rate_limit:
      - { algorithm: fixed_window, rate: 1/m, key: remote_addr }
--- test_code eval
sub {
    my $t = shift;
    my @seq = (["203.0.113.1", 200], ["203.0.113.1", 429], ["203.0.113.2", 200],
               ["6.6.6.6, 203.0.113.2", 429], [undef, 200], [undef, 429]);
    for (@seq) {
        my ($xff, $want) = @$_;
        my $r = $t->request("GET /", defined $xff ? ["X-Forwarded-For: $xff"] : []);
        is($r->{status}, $want, 'client ' . ($xff // 'the proxy') . ": $want");
    }
}



=== TEST 7: error-log lines about a request name the client
--- yaml_config
trusted_proxies: ["127.0.0.1"]
upstreams:
  - { name: dead, nodes: ["127.0.0.1:$MG_RAND_PORT_1"], retries: 0 }
routes:
  - { name: all, paths: ["/*"], upstream: dead }
--- request
GET /down
--- more_headers
X-Forwarded-For: 203.0.113.77
--- error_code: 502
--- error_log eval
[qr/client: 203\.0\.113\.77/]



=== TEST 8: ip_hash on remote_addr follows the client, not the proxy
--- yaml_config
trusted_proxies: ["127.0.0.1"]
access_log: { path: logs/access.log, format: '$remote_addr $upstream_addr' }
upstreams:
  - name: pair
    balancer: ip_hash
    nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_ECHO_PORT2"]
routes:
  - { name: all, paths: ["/*"], upstream: pair }
--- test_code eval
sub {
    my $t = shift;
    my (%nodes_of, %clients_on);
    for my $i (1 .. 24) {
        my $client = "198.51.100.$i";
        for (1 .. 2) {
            my $r = $t->request("GET /who", ["X-Forwarded-For: $client"]);
            is($r->{status}, 200, "client $client answered") or last;
            my $got = JSON::PP::decode_json($r->{body})->{headers}{'x-real-ip'};
            is($got, $client, 'the upstream sees the client');
        }
    }
    # the access log says which node each got: every client stays on one node, and the
    # clients are spread over both (24 clients on one node by chance: 2^-23)
    my $end = time + 3;
    my $log = '';
    while (time < $end) {
        $log = $t->access_log;
        last if ($log =~ tr/\n//) >= 48;
        select undef, undef, undef, 0.1;
    }
    for my $line (split /\n/, $log) {
        my ($c) = $line =~ /^(\S+)/;
        my ($n) = $line =~ / (127\.0\.0\.1:\d+)$/;
        $nodes_of{$c}{$n}++ if defined $n;
    }
    is(scalar(keys %nodes_of), 24, 'every client logged by its own address');
    is(scalar(grep { keys %{ $nodes_of{$_} } == 1 } keys %nodes_of), 24, 'each on one node');
    $clients_on{ (keys %{ $nodes_of{$_} })[0] }++ for keys %nodes_of;
    is(scalar(keys %clients_on), 2, 'clients spread over both nodes');
}



=== TEST 9: a bad range fails the load at its line and column
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
trusted_proxies:
  - "10.0.0.0/8"
  - "10.0.0.1/8"
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:5: trusted_proxies\[1\]: the address has bits set after the prefix length.*got "10\.0\.0\.1/8"}]



=== TEST 10: a prefix too long, and something that is not an address
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
trusted_proxies: ["10.0.0.0/8", "::/129", "lb.example.com"]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:33: trusted_proxies\[1\]: the prefix length of an IPv6 range is at most 128, got "::/129"}]



=== TEST 11: a reload switches trusted_proxies in place
--- yaml_config
access_log: { path: logs/access.log, format: 'ra=$remote_addr $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- request eval
["GET /before", "GET /after"]
--- more_headers
X-Forwarded-For: 203.0.113.7
--- reload_after: 1
--- reload_yaml_config
trusted_proxies: ["127.0.0.0/8"]
access_log: { path: logs/access.log, format: 'ra=$remote_addr $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- error_code eval
[200, 200]
--- access_log eval
[qr{^ra=127\.0\.0\.1 /before$}m, qr{^ra=203\.0\.113\.7 /after$}m]



=== TEST 12: a reload with a bad range is refused, the old list keeps serving
--- yaml_config
trusted_proxies: ["127.0.0.1"]
access_log: { path: logs/access.log, format: 'ra=$remote_addr $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- request eval
["GET /before", "GET /after"]
--- more_headers
X-Forwarded-For: 203.0.113.7
--- reload_after: 1
--- reload_fails
--- reload_yaml_config
trusted_proxies: ["127.0.0.1/8"]
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- error_code eval
[200, 200]
--- error_log eval
[qr{trusted_proxies\[0\]: the address has bits set after the prefix length}]
--- access_log eval
[qr{^ra=203\.0\.113\.7 /before$}m, qr{^ra=203\.0\.113\.7 /after$}m]
