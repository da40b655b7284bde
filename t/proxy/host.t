# The Host sent upstream: the upstream's `host:` when set, else the client's Host as it
# came; an HTTP/1.0 request may come without one, and then names the node it goes to
# (each try's own), never an empty Host.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: HTTP/1.0 without Host: the node's address goes up as the Host
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"GET /old HTTP/1.0\r\n\r\n"
--- error_code: 200
--- response_body_like eval
qr{"host":"127\.0\.0\.1:\d+"}
--- check eval
sub {
    my $port = $_[1]->fill('$MG_ECHO_PORT');
    like($_[0][0]{body}, qr{"host":"127\.0\.0\.1:$port"}, "the echo node's address");
}



=== TEST 2: HTTP/1.0 without Host, first node down: the retry names the node it reaches
--- yaml_config
upstreams:
  - name: echo
    balancer: roundrobin
    retries: 1
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"GET /old HTTP/1.0\r\n\r\n"
--- error_code: 200
--- check eval
sub {
    my $port = $_[1]->fill('$MG_ECHO_PORT');
    like($_[0][0]{body}, qr{"host":"127\.0\.0\.1:$port"}, "the node that answered");
}



=== TEST 3: HTTP/1.0 without Host and an upstream `host:`: that one
--- yaml_config
upstreams:
  - name: echo
    host: api.internal
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"GET /old HTTP/1.0\r\n\r\n"
--- error_code: 200
--- response_body_like
"host":"api\.internal"



=== TEST 4: HTTP/1.1 (and HTTP/1.0 with a Host): the client's Host passes unchanged
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
["GET /new HTTP/1.1\r\nHost: Shop.Example:8080\r\n\r\n",
 "GET /old HTTP/1.0\r\nHost: old.example\r\n\r\n"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr{"host":"Shop\.Example:8080"}, qr{"host":"old\.example"}]
