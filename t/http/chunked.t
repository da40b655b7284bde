# Chunked bodies: malformed chunk syntax and extensions, and the body limit.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: Content-Length over client_max_body_size: 413 before reading
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
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"
--- error_code: 413
--- upstream_accepted: 0
--- error_log
rejected with 413



=== TEST 2: a chunked body crossing the limit: 413 at the crossing
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
http: { client_max_body_size: 10k }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" . ("400\r\n" . ('x' x 1024) . "\r\n") x 12 . "0\r\n\r\n"
--- error_code: 413
--- upstream_accepted: 0
--- error_log
request body too large



=== TEST 3: a chunk size over 64 bits
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 4: a chunk size written 0x5
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 5: a chunk size written -5
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 6: a space before the chunk size
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 7: a bare LF after the chunk size
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 8: chunk data longer than its size
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nSEE-THIS\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 9: a 100 KiB chunk extension
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;e=" . ('x' x 102400) . "\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
chunk extension too long



=== TEST 10: chunk extensions the grammar allows: BWS before ';', several, quoted with \"
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 ;a=b\r\nhello\r\n0\r\n\r\n"
. "POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=d\r\nhello\r\n1\t; e = f ;g\r\n!\r\n0;last\r\n\r\n"
. "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"x\\\"y; z\"\r\nhello\r\n0\r\n\r\n"
--- error_code eval
[200, 200, 200]
--- check eval
sub {
    my @e = map { JSON::PP::decode_json($_->{body}) } @{ $_[0] };
    is_deeply([map { "$_->{uri} $_->{body}" } @e], ["/1 hello", "/2 hello!", "/3 hello"],
              'each body went up whole, once');
    ok(!grep({ defined $_->{headers}{'content-length'} } @e), 'sent on chunked, as received');
    1;
}



=== TEST 11: a bare CR after a chunk size
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 12: a bare CR after a chunk extension
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\rhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 13: a bare CR after the last chunk
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\rX\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 14: a bare CR ending a trailer field
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\rX\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 15: a bare CR instead of the CRLF ending the trailers
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\rXGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 16: the two bytes after chunk data are not CRLF
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
chunk data not followed by CRLF


=== TEST 17: trailing BWS after an extension value (BWS only before ';' or '=')
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b \r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 18: an unterminated quoted extension value
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 19: obs-fold in a trailer
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
"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
obs-fold in a trailer
