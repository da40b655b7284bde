# Proxying to the echo upstream: what goes up (method, URI, body, added and stripped
# headers) and what comes back (bodies both ways, HEAD, keep-alive, pipelining).
use Test::Moongate;
use JSON::PP ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

run_tests();

__DATA__

=== TEST 1: GET is proxied with its method and URI
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /api/items/7?fields=a,b
--- error_code: 200
--- response_headers
Content-Type: application/json
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    $e->{method} eq 'GET' && $e->{uri} eq '/api/items/7?fields=a,b' && $e->{body} eq ''
        or die "echoed: $_[0][0]{body}\n";
}



=== TEST 2: POST body goes up intact
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
POST /submit
name=moon&gate=1
--- error_code: 200
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    $e->{method} eq 'POST' && $e->{body} eq 'name=moon&gate=1'
        && $e->{headers}{'content-length'} eq '16' or die "echoed: $_[0][0]{body}\n";
}



=== TEST 3: forwarding headers and a generated request id are added
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /h
--- more_headers
Host: shop.example.com
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-forwarded-for'}, '127.0.0.1', 'X-Forwarded-For');
    is($h->{'x-forwarded-proto'}, 'http', 'X-Forwarded-Proto');
    is($h->{'x-forwarded-host'}, 'shop.example.com', 'X-Forwarded-Host');
    is($h->{host}, 'shop.example.com', 'Host passes through');
    like($h->{'x-request-id'} // '', qr/^[A-Za-z0-9._:-]{1,128}$/, 'X-Request-Id generated');
}



=== TEST 4: hop-by-hop headers and those named in Connection are stripped
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /hop
--- more_headers
Connection: keep-alive, X-Private
X-Private: secret
Keep-Alive: timeout=5
Proxy-Connection: keep-alive
TE: trailers
Trailer: X-Sum
Proxy-Authorization: Basic Zm9vOmJhcg==
X-Kept: yes
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    for my $n (qw(x-private keep-alive proxy-connection te trailer proxy-authorization)) {
        ok(!exists $h->{$n}, "$n stripped") or diag("$n: $h->{$n}");
    }
    ok(!exists $h->{connection} || $h->{connection} !~ /x-private/i, 'Connection not copied');
    is($h->{'x-kept'}, 'yes', 'other headers kept');
}



=== TEST 5: a client X-Forwarded-For and X-Real-IP are replaced, not appended
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /xff
--- more_headers
X-Forwarded-For: 203.0.113.9, 10.0.0.1
X-Real-IP: 203.0.113.9
X-Forwarded-Host: evil.example
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-forwarded-for'}, '127.0.0.1', 'X-Forwarded-For replaced');
    is($h->{'x-real-ip'}, '127.0.0.1', 'X-Real-IP replaced');
    is($h->{'x-forwarded-host'}, 'localhost', 'X-Forwarded-Host from Host');
}



=== TEST 6: a valid X-Request-Id is kept
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /rid
--- more_headers
X-Request-Id: abc-123_x.y:z
--- check eval
sub { is(main::echoed($_[0][0])->{headers}{'x-request-id'}, 'abc-123_x.y:z', 'kept') }



=== TEST 7: an invalid X-Request-Id is replaced by a generated one
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /rid
--- more_headers
X-Request-Id: bad id with spaces!
--- check eval
sub {
    my $id = main::echoed($_[0][0])->{headers}{'x-request-id'} // '';
    isnt($id, 'bad id with spaces!', 'not the client value');
    like($id, qr/^[A-Za-z0-9._:-]{1,128}$/, 'a valid generated id');
}



=== TEST 8: the upstream's host replaces Host
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    host: backend.internal
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /host
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{host}, 'backend.internal', 'Host from the upstream');
    is($h->{'x-forwarded-host'}, 'localhost', 'X-Forwarded-Host is the client Host');
}



=== TEST 9: a chunked request body is re-framed upstream
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request eval
"POST /chunked\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
--- more_headers
Transfer-Encoding: chunked
--- error_code: 200
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{body}, 'hello world', 'body');
    ok(defined $e->{headers}{'transfer-encoding'} || defined $e->{headers}{'content-length'},
       'framed upstream');
}



=== TEST 10: a 512 KiB body streams up and back intact
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request eval
"POST /big\n" . CORE::join('', map { sprintf "%07d\n", $_ } 1 .. 65536)
--- timeout: 10
--- error_code: 200
--- check eval
sub {
    my $r = $_[0][0];
    my $want = CORE::join('', map { sprintf "%07d\n", $_ } 1 .. 65536);
    is(length $r->{body}, $r->{headers}{'content-length'} // length $r->{body},
       'whole response');
    my $e = main::echoed($r);
    is(length $e->{body}, 524288, 'length');
    ok($e->{body} eq $want, 'content');
}



=== TEST 11: HEAD gets headers and no body; the connection stays usable
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request eval
["HEAD /hello", "GET /hello"]
--- error_code eval
[200, 200]
--- response_body eval
["", "hello world\n"]



=== TEST 12: keep-alive on both sides: one client connection, upstream connection reused
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    keepalive: 8
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request eval
["GET /k1", "GET /k2", "GET /k3", "GET /k4"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers
!Connection
--- check eval
sub {
    my @peers = map { $_->{headers}{'x-echo-peer'} } @{ $_[0] };
    my %u = map { $_ => 1 } @peers;
    is(scalar keys %u, 1, "one upstream connection (peers @peers)");
}



=== TEST 13: 1,000 pipelined GETs in one write are answered in order
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- pipelined_requests eval
[map { "GET /p/$_" } 1 .. 1000]
--- timeout: 10
--- error_code eval
[(200) x 1000]
--- response_body_like eval
[map { qr{"uri":"/p/$_"} } 1 .. 1000]



=== TEST 14: upstream status and body come back as sent
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request eval
["GET /status/404", "GET /status/503", "GET /status/204", "GET /hello"]
--- error_code eval
[404, 503, 204, 200]
--- response_body_like eval
['"uri":"/status/404"', '"uri":"/status/503"', '^$', "^hello world\n\$"]



=== TEST 15: a close-delimited upstream body goes to an HTTP/1.1 client chunked
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end"
--- yaml_config
upstreams:
  - name: old
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: old }
--- request eval
["GET /c1", "GET /c2"]
--- error_code eval
[200, 200]
--- response_headers
Transfer-Encoding: chunked
--- response_body eval
["until the end", "until the end"]



=== TEST 16: a close-delimited upstream body goes to an HTTP/1.0 client delimited by close
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end"
--- yaml_config
upstreams:
  - name: old
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: old }
--- request
GET /c HTTP/1.0
--- error_code: 200
--- response_headers
!Transfer-Encoding
--- response_body chomp
until the end



=== TEST 17: a chunked upstream body comes back whole
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
--- yaml_config
upstreams:
  - name: chunky
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: chunky }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- response_body eval
["hello world", "hello world"]
--- response_headers
!X-T



=== TEST 18: Expect: 100-continue is answered and the body still goes up
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
--- error_code: 200
--- response_body_like
"body":"hello"
--- check eval
sub { !exists main::echoed($_[0][0])->{headers}{expect} or die "Expect went upstream\n" }
