# What the client sees when upstreams refuse, time out or answer badly; retries and
# balancing across nodes. $MG_RAND_PORT_n ports that no block listens on refuse.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: a refused node is skipped for the next one
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: pool }
--- request eval
["GET /hello", "GET /hello", "POST /hello\nx", "GET /hello"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[("hello world\n") x 4]
--- error_log
127.0.0.1:$MG_RAND_PORT_1



=== TEST 2: every node refused: 502
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    retries: 3
routes:
  - { name: all, paths: ["/*"], upstream: pool }
--- request
GET /x
--- error_code: 502
--- error_log
127.0.0.1:$MG_RAND_PORT_1
127.0.0.1:$MG_RAND_PORT_2



=== TEST 3: a read timeout before the response head: 504
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    timeouts: { connect: 1s, send: 1s, read: 200ms }
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- request eval
["GET /delay/1500", "GET /hello"]
--- error_code eval
[504, 200]
--- response_body_like eval
["504|Gateway|timeout|time", "hello world"]



=== TEST 4: a short upstream body cuts the client connection
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"
--- yaml_config
upstreams:
  - name: bad
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request
GET /short
--- timeout: 2
--- check eval
sub {
    my $r = $_[0][0];
    is($r->{status}, 200, 'the head was forwarded');
    ok($r->{truncated} && !$r->{timed_out}, 'connection closed before the end of the body')
        or diag("body '$r->{body}', timed out: $r->{timed_out}");
}



=== TEST 5: a chunked upstream body without its last chunk is not completed
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
--- yaml_config
upstreams:
  - name: bad
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request
GET /chunks
--- timeout: 2
--- check eval
sub {
    my $r = $_[0][0];
    is($r->{status}, 200, 'the head was forwarded');
    ok($r->{truncated} && !$r->{timed_out}, 'no final chunk, connection closed')
        or diag("body '$r->{body}', timed out: $r->{timed_out}");
}



=== TEST 6: Content-Length together with Transfer-Encoding from upstream: 502
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
--- yaml_config
upstreams:
  - name: bad
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request
GET /ambiguous
--- error_code: 502



=== TEST 7: a POST is not retried once sent
--- upstream_listen: $MG_RAND_PORT_1 $MG_RAND_PORT_2
--- upstream_reply eval
""
--- yaml_config
upstreams:
  - name: closing
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: closing }
--- request
POST /order
item=1
--- error_code: 502
--- upstream_accepted: 1



=== TEST 8: a GET that breaks after being sent is retried on another node
--- upstream_listen: $MG_RAND_PORT_1 $MG_RAND_PORT_2
--- upstream_reply eval
""
--- yaml_config
upstreams:
  - name: closing
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: closing }
--- request
GET /item
--- error_code: 502
--- upstream_accepted: 2



=== TEST 9: a broken node is retried on a healthy one
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
""
--- yaml_config
upstreams:
  - name: mixed
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: mixed }
--- request eval
["GET /hello", "GET /hello", "GET /hello", "GET /hello"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
[("hello world\n") x 4]
--- error_log
127.0.0.1:$MG_RAND_PORT_1



=== TEST 10: weighted round robin: 3 to 1
--- yaml_config
upstreams:
  - name: weighted
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: 3 }
      - { address: "127.0.0.1:$MG_ECHO_PORT2", weight: 1 }
routes:
  - { name: all, paths: ["/*"], upstream: weighted }
--- request eval
[("GET /hello") x 16]
--- error_code eval
[(200) x 16]
--- check eval
sub {
    my %n;
    $n{ $_->{headers}{'x-echo-port'} }++ for @{ $_[0] };
    my $t = $_[1];
    is($n{ $t->echo_port } // 0, 12, 'weight 3 node');
    is($n{ $t->fill('$MG_ECHO_PORT2') } // 0, 4, 'weight 1 node');
}
