# ip-restriction: allow and deny CIDR lists (IPv4, IPv6, bare addresses) matched on the
# client address after trusted_proxies; deny wins; with allow, the rest is refused;
# status and message; IPv4-mapped IPv6 clients; the direct peer over 127.0.0.1 and ::1;
# bad ranges refused at load with file:line:column, the key and the entry's index.
use Test::Moongate;
use IO::Socket::IP;

# status_for($t, $xff) -> the status of GET /x with that X-Forwarded-For (or none).
sub status_for {
    my ($t, $xff) = @_;
    my $r = $t->request("GET /x", defined $xff ? ["X-Forwarded-For: $xff"] : []);
    return $r ? $r->{status} : 'none';
}

run_tests();

__DATA__

=== TEST 1: allow list: clients inside are let through, all others refused with 403 JSON
--- yaml_config
trusted_proxies: ["127.0.0.1"]
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      ip-restriction: { allow: ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1/128"] }
--- test_code eval
sub {
    my ($t) = @_;
    my %want = (
        '10.1.2.3' => 200, '10.255.255.255' => 200, '11.0.0.0' => 403, '9.255.255.255' => 403,
        '192.168.1.7' => 200, '192.168.1.8' => 403, '2001:db8::1' => 200,
        '2001:db8:ffff:ffff::9' => 200, '2001:db9::1' => 403, '::1' => 200, '::2' => 403,
        '::ffff:10.9.9.9' => 200, '::ffff:11.9.9.9' => 403,
    );
    for my $ip (sort keys %want) {
        is(main::status_for($t, $ip), $want{$ip}, "client $ip");
    }
    # without X-Forwarded-For the client is the peer, 127.0.0.1: not allowed
    my $r = $t->request("GET /x", []);
    is($r->{status}, 403, 'direct 127.0.0.1 refused');
    like($r->{headers}{'content-type'}, qr{application/json}, 'JSON refusal');
    like($r->{body}, qr{"error":"your IP address is not allowed"}, 'default message');
    like($r->{body}, qr{"status":403}, 'status in the body');
    1;
}



=== TEST 2: deny wins over allow; deny alone lets the rest through
--- yaml_config
trusted_proxies: ["127.0.0.1"]
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: both
    paths: ["/x"]
    upstream: echo
    plugins:
      ip-restriction: { allow: ["10.0.0.0/8"], deny: ["10.66.0.0/16", "10.1.2.3"] }
  - name: deny-only
    paths: ["/d"]
    upstream: echo
    plugins:
      ip-restriction: { deny: ["203.0.113.0/24", "2001:db8::/32"] }
--- test_code eval
sub {
    my ($t) = @_;
    is(main::status_for($t, '10.0.0.1'), 200, 'allowed');
    is(main::status_for($t, '10.66.3.4'), 403, 'denied inside allowed range');
    is(main::status_for($t, '10.1.2.3'), 403, 'denied single address');
    is(main::status_for($t, '10.1.2.4'), 200, 'neighbour allowed');
    my $d = sub { my $r = $t->request("GET /d", ["X-Forwarded-For: $_[0]"]); $r->{status} };
    is($d->('203.0.113.9'), 403, 'deny-only: listed refused');
    is($d->('::ffff:203.0.113.9'), 403, 'deny-only: mapped IPv4 refused');
    is($d->('2001:db8::5'), 403, 'deny-only: IPv6 refused');
    is($d->('198.51.100.1'), 200, 'deny-only: others pass');
    is($d->('2001:db9::5'), 200, 'deny-only: other IPv6 passes');
    1;
}



=== TEST 3: status and message are configurable; the upstream never sees a refused request
--- yaml_config
trusted_proxies: ["127.0.0.1"]
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      ip-restriction: { deny: ["0.0.0.0/0", "::/0"], status: 451, message: "blocked here" }
--- more_headers
X-Forwarded-For: 198.51.100.4
--- request
GET /anything
--- error_code: 451
--- response_body_like: "error":"blocked here"
--- response_headers_like
!X-Echo-Port
--- check eval
sub { (split /\r\n/, $_[0][0]{raw_headers})[0] eq "HTTP/1.1 451 Unavailable For Legal Reasons" }



=== TEST 4: the direct peer is matched without trusted_proxies: 127.0.0.1 and ::1
--- yaml_config
listen: ["127.0.0.1:$MG_PORT", "[::1]:$MG_RAND_PORT_1"]
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      ip-restriction: { allow: ["::1"], deny: ["127.0.0.0/8"] }
--- test_code eval
sub {
    my ($t) = @_;
    # a client-sent X-Forwarded-For is not believed from an untrusted peer
    is(main::status_for($t, '::1'), 403, '127.0.0.1 denied despite X-Forwarded-For');
    my $s = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $t->fill('$MG_RAND_PORT_1'),
                                Timeout => 3);
    ok($s, 'connected to [::1]') or return 0;
    print $s "GET /v6 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    local $/;
    my $res = <$s>;
    like($res, qr{\AHTTP/1\.1 200 }, '::1 allowed');
    like($res, qr{"uri":"/v6"}, 'reached the upstream');
    1;
}



=== TEST 5: a range with host bits set is refused at load, naming the entry
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    return: { status: 200 }
    plugins:
      ip-restriction: { allow: ["10.0.0.0/8", "10.0.0.1/8"] }
--- must_die
--- error_log eval
[qr{moongate\.yaml:\d+:\d+: routes\[0\]\.plugins\.ip-restriction\.allow\[1\]: the address has bits set after the prefix length.*got "10\.0\.0\.1/8"}]



=== TEST 6: bad entries in deny are refused: a host name, a prefix too long, junk
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      ip-restriction: { deny: ["2001:db8::/129"] }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:32: routes\[0\]\.plugins\.ip-restriction\.deny\[0\]: the prefix length of an IPv6 range is at most 128}]



=== TEST 7: a host name is not an address
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      ip-restriction:
        allow:
          - "10.0.0.0/8"
          - "example.com"
--- must_die
--- error_log eval
[qr{moongate\.yaml:9:13: routes\[0\]\.plugins\.ip-restriction\.allow\[1\]: expected an IP address or a CIDR range}]



=== TEST 8: a status outside 400-599 is refused
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      ip-restriction: { deny: ["10.0.0.0/8"], status: 200 }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.ip-restriction\.status: must be at least 400, got 200}]



=== TEST 9: ten thousand ranges: built once, matched at both ends and in between
--- yaml_config eval
my @r = map { sprintf "10.%d.%d.0/24", int($_ / 256), $_ % 256 } 0 .. 9999;
"trusted_proxies: [\"127.0.0.1\"]\n"
. "upstreams:\n  - name: echo\n    nodes: [{ address: \"127.0.0.1:\$MG_ECHO_PORT\" }]\n"
. "routes:\n  - name: all\n    paths: [\"/*\"]\n    upstream: echo\n    plugins:\n"
. "      ip-restriction:\n        allow: [" . CORE::join(", ", map { "\"$_\"" } @r) . "]\n"
--- test_code eval
sub {
    my ($t) = @_;
    is(main::status_for($t, '10.0.0.1'), 200, 'first range');
    is(main::status_for($t, '10.39.15.200'), 200, 'last range (9999 = 39*256+15)');
    is(main::status_for($t, '10.20.7.9'), 200, 'a middle range');
    is(main::status_for($t, '10.39.16.1'), 403, 'just past the last');
    is(main::status_for($t, '11.0.0.1'), 403, 'outside');
    is(main::status_for($t, '2001:db8::1'), 403, 'IPv6 not in an IPv4 list');
    1;
}



=== TEST 10: an empty allow list would refuse everyone: refused at load
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      ip-restriction: { allow: [], deny: ["10.0.0.0/8"] }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:32: routes\[0\]\.plugins\.ip-restriction\.allow: number of items must be at least 1, got 0}]



=== TEST 11: a config that restricts nothing is refused at load
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      ip-restriction: { deny: [] }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:23: routes\[0\]\.plugins\.ip-restriction: needs allow or a non-empty deny}]



=== TEST 12: a reload brings the new lists: the old matcher is not reused
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      ip-restriction: { allow: ["127.0.0.1"] }
--- request eval
["GET /before", "GET /after"]
--- reload_after: 1
--- reload_yaml_config
routes:
  - name: all
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins:
      ip-restriction: { deny: ["127.0.0.0/8"] }
--- error_code eval
[200, 403]
