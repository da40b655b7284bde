# Header rows of the bad-input catalogue.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: no Host in HTTP/1.1
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
"GET / HTTP/1.1\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 2: two Host headers
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
"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 3: a slash in Host
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
"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 4: a port out of range in Host
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
"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 5: an unclosed IPv6 Host
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
"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 6: a space before the colon
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
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 7: obs-fold
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
"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 8: a first header line starting with a space
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
"GET / HTTP/1.1\r\n Host: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 9: a bare LF between headers
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
"GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 10: a bare CR between headers
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
"GET / HTTP/1.1\r\nHost: a\r\nX: a\rY: b\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 11: NUL in a header value
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
"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 12: NUL in a header name
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
"GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: 1\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 13: @ in a header name
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
"GET / HTTP/1.1\r\nHost: a\r\nX\@Y: 1\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 14: an empty header name
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
"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 15: Transfer_Encoding with an underscore
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 16: Content_Length with an underscore
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
"POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\nhello"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 17: 101 header fields
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
"GET / HTTP/1.1\r\nHost: a\r\n" . CORE::join('', map { "X-$_: 1\r\n" } 1 .. 101) . "\r\n"
--- error_code: 431
--- upstream_accepted: 0
--- error_log
too many header fields



=== TEST 18: a header line over 8 KiB
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
"GET / HTTP/1.1\r\nHost: a\r\nX: " . ('v' x 9000) . "\r\n\r\n"
--- error_code: 431
--- upstream_accepted: 0
--- error_log
header line too long



=== TEST 19: a header block over 32 KiB
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
"GET / HTTP/1.1\r\nHost: a\r\n"
. CORE::join('', map { "X-$_: " . ('v' x 7000) . "\r\n" } 1 .. 6) . "\r\n"
--- error_code: 431
--- upstream_accepted: 0
--- error_log
request headers too large



=== TEST 20: 10,000 empty fields
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
"GET / HTTP/1.1\r\nHost: a\r\n" . ("x: \r\n" x 10000) . "\r\n"
--- error_code: 431
--- upstream_accepted: 0
--- error_log
too many header fields



=== TEST 21: Expect: 100-continuex
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
"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continuex\r\n\r\n"
--- error_code: 417
--- upstream_accepted: 0
--- error_log
rejected with 417



=== TEST 22: a WebSocket upgrade without a valid key
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
"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400






=== TEST 23: a bare CR ending the head: the byte after it is not dropped into a second request
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
"GET / HTTP/1.1\r\nHost: a\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- check eval
sub { @{$_[0]} == 1 }
--- upstream_accepted: 0
--- error_log
rejected with 400
--- no_error_log
/evil



=== TEST 24: a bare CR inside a header line never starts a new field (x:\rTransfer-Encoding)
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
"POST / HTTP/1.1\r\nHost: a\r\nx:\rTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 25: obs-fold at the start of a value (Host)
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
"GET / HTTP/1.1\r\nHost:\r\n a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
obs-fold in a header value


=== TEST 26: obs-fold at the start of a value (Content-Length)
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
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 3\r\n\r\nabc"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
obs-fold in a header value


=== TEST 27: obs-fold at the start of a value (Transfer-Encoding)
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
obs-fold in a header value


=== TEST 28: obs-fold at the start of a value (Expect)
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
"POST / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\t100-continue\r\nContent-Length: 3\r\n\r\nabc"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
obs-fold in a header value


=== TEST 29: obs-fold at the start of a value (any field)
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
"GET / HTTP/1.1\r\nHost: a\r\nX-A:  \r\n  v\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
obs-fold in a header value


=== TEST 30: tabs around Content-Length and Transfer-Encoding values are whitespace (OWS)
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length:\t5\t\r\nX-Tab:\tkept\tinside\t\r\n\r\nhello"
. "POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\t\r\n\r\n4\r\nab\tc\r\n0\r\n\r\n"
. "POST /both HTTP/1.1\r\nHost: a\r\nContent-Length: \t 2 \t\r\n\r\nok"
--- error_code eval
[200, 200, 200]
--- check eval
sub {
    my @e = map { JSON::PP::decode_json($_->{body}) } @{ $_[0] };
    is_deeply([map { "$_->{uri}=$_->{body}" } @e], ["/cl=hello", "/te=ab\tc", "/both=ok"],
              'each framed by its value, bodies untouched');
    is($e[0]{headers}{'x-tab'}, "kept\tinside", 'other fields keep their tabs');
    1;
}

