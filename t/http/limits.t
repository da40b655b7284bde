# Size limits: the configured http: limits are the ones enforced (one byte over is
# refused, the limit itself is served), the defaults hold at their boundaries, and a
# refused request never reaches the upstream.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: max_request_line 1k: a longer request line is refused with 414
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { max_request_line: 1k }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"GET /" . ("a" x 1100) . " HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 414
--- response_headers
Connection: close
--- upstream_accepted: 0
--- error_log
rejected with 414



=== TEST 2: max_request_line 1k: a request line under it is served
--- yaml_config
http: { max_request_line: 1k }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- raw_request eval
"GET /" . ("a" x 900) . " HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 200
--- response_body: ok



=== TEST 3: a default-limit request line of almost 8 KiB is served
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"GET /" . ("b" x 8000) . " HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 200
--- response_body_like eval
'"uri":"/' . ("b" x 8000) . '"'



=== TEST 4: max_header_line 1k: a longer field line is refused with 431
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { max_header_line: 1k }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " . ("v" x 1100) . "\r\n\r\n"
--- error_code: 431
--- upstream_accepted: 0
--- error_log
rejected with 431



=== TEST 5: max_header_line 1k: a field line under it is forwarded whole
--- yaml_config
http: { max_header_line: 1k }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " . ("v" x 900) . "\r\n\r\n"
--- error_code: 200
--- response_body_like eval
'"x-long":"' . ("v" x 900) . '"'



=== TEST 6: max_headers 10: eleven fields are refused with 431
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { max_headers: 10 }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a\r\n" . CORE::join('', map { "X-$_: $_\r\n" } 1 .. 10) . "\r\n"
--- error_code: 431
--- upstream_accepted: 0
--- error_log
rejected with 431



=== TEST 7: max_headers 10: exactly ten fields are served
--- yaml_config
http: { max_headers: 10 }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a\r\n" . CORE::join('', map { "X-$_: $_\r\n" } 1 .. 9) . "\r\n"
--- error_code: 200



=== TEST 8: the default limit: exactly 100 fields are served
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a\r\n" . CORE::join('', map { "X-$_: $_\r\n" } 1 .. 99) . "\r\n"
--- error_code: 200



=== TEST 9: max_header_size 2k: a head of many short lines over it is refused with 431
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { max_header_size: 2k, max_header_line: 1k }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a\r\n" . CORE::join('', map { "X-$_: " . ("z" x 200) . "\r\n" } 1 .. 12)
. "\r\n"
--- error_code: 431
--- upstream_accepted: 0
--- error_log
rejected with 431



=== TEST 10: client_max_body_size 1k: Content-Length 1025 is refused before the body
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { client_max_body_size: 1k }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n"
--- error_code: 413
--- response_headers
Connection: close
--- upstream_accepted: 0
--- error_log
rejected with 413



=== TEST 11: client_max_body_size 1k: a body of exactly 1024 bytes goes up
--- yaml_config
http: { client_max_body_size: 1k }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n" . ("q" x 1024)
--- error_code: 200
--- response_body_like eval
'"body":"' . ("q" x 1024) . '"'



=== TEST 12: client_max_body_size 1k: chunks crossing it get 413, nothing goes up
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { client_max_body_size: 1k }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
. ("200\r\n" . ("c" x 512) . "\r\n") x 3 . "0\r\n\r\n"
--- error_code: 413
--- error_log
request body too large



=== TEST 13: client_max_body_size 0 means no limit: 2 MiB goes up
--- yaml_config
http: { client_max_body_size: 0 }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 2097152\r\n\r\n" . ("m" x 2097152)
--- timeout: 5
--- error_code: 200
--- response_body
hello world



=== TEST 14: the default 1 MiB body limit: Content-Length 2000000 gets 413
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n" . ("d" x 1000)
--- error_code: 413
--- upstream_accepted: 0



=== TEST 15: trailers count against the header limits
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { max_header_size: 2k, max_header_line: 1k }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
. CORE::join('', map { "T-$_: " . ("t" x 200) . "\r\n" } 1 .. 12) . "\r\n"
--- error_code: 431



=== TEST 16: 10,000 empty fields are refused quickly (linear time)
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    my $t0 = Time::HiRes::time();
    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, "GET / HTTP/1.1\r\nHost: a\r\n" . ("x: \r\n" x 10000) . "\r\n");
    local $SIG{ALRM} = sub { die "no answer\n" };
    alarm 3;
    sysread($s, my $buf, 4096);
    alarm 0;
    my $took = Time::HiRes::time() - $t0;
    like($buf // '', qr{^HTTP/1\.1 431 }, 'refused with 431');
    ok($took < 1, "answered in ${took}s");
}
