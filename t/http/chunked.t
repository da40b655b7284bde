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



