# A route's `http:` block: client_max_body_size, client_body_timeout and send_timeout
# over the top-level ones, for the requests that route takes.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: a route's larger body limit lets a body through that the global one refuses
--- yaml_config
http: { client_max_body_size: 1k }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: uploads
    paths: ["/upload"]
    upstream: echo
    http: { client_max_body_size: 10k }
  - { name: rest, paths: ["/*"], upstream: echo }
--- request eval
["POST /upload\n" . ("u" x 5000), "POST /other\n" . ("o" x 5000)]
--- error_code eval
[200, 413]
--- response_body_like eval
[qr{"body":"u{5000}"}, qr{}]



=== TEST 2: Content-Length over the route's limit: 413, nothing goes upstream
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: small, paths: ["/small"], upstream: up, http: { client_max_body_size: 100 } }
--- raw_request eval
"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n"
--- error_code: 413
--- upstream_accepted: 0
--- error_log
rejected with 413: request body too large



=== TEST 3: a chunked body crossing the route's limit is cut with 413
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: small, paths: ["/small"], upstream: echo, http: { client_max_body_size: 1k } }
  - { name: rest, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" . ("100\r\n" . ("c" x 256) . "\r\n") x 8 . "0\r\n\r\n"
--- error_code: 413
--- error_log
request body too large



=== TEST 4: a chunked body under the route's limit on another route passes (global limit)
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: small, paths: ["/small"], upstream: echo, http: { client_max_body_size: 1k } }
  - { name: rest, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /big HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" . ("100\r\n" . ("c" x 256) . "\r\n") x 8 . "0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
qr{"body":"c{2048}"}



=== TEST 5: the route's client_body_timeout: a stalled body gets 408 after it, not the global 30 s
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: slow, paths: ["/slow"], upstream: echo, http: { client_body_timeout: 1s } }
--- raw_request eval
"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"
--- timeout: 5
--- error_code: 408



=== TEST 6: the route's send_timeout: a client that stops reading is cut after it, not the global 30 s
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 33554432\r\n\r\n" . ('x' x 33554432)
--- yaml_config
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: stuck, paths: ["/*"], upstream: big, http: { send_timeout: 1s } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
    sleep 3; # never read meanwhile: the route's send timeout (1 s) must fire
    my ($got, $n) = (0, 0);
    local $SIG{ALRM} = sub { die "the connection stayed open: the global 30 s applied\n" };
    alarm 6;
    while (($n = sysread($s, my $buf, 1 << 16))) { $got += $n }
    alarm 0;
    ok($got < 33554432, "closed before the whole response ($got bytes)");
    like($t->error_log, qr/client timed out reading the response/, 'send timeout logged');
}



=== TEST 7: an unknown key under a route's http is an error naming it
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200 }
    http: { max_headers: 10 }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.http\.max_headers: unknown key "max_headers"}]



=== TEST 8: a bad value under a route's http names the key and what was expected
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    return: { status: 200 }
    http:
      send_timeout: soon
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.http\.send_timeout: }]
