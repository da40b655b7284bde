# Upstream response heads: how many fields and how many bytes they may hold
# (`response_headers:` of an upstream). The defaults pass what nginx's defaults pass;
# over a limit the answer is a 502 and the error log names the limit.
use Test::Moongate;

sub cookies ($) {
    my $n = shift;
    return "HTTP/1.1 200 OK\r\n" . CORE::join('', map { "Set-Cookie: c$_=v$_; Path=/\r\n" } 1 .. $n)
        . "Content-Length: 2\r\n\r\nok";
}

sub set_cookies ($) {
    my $r = shift;
    return [ $r->{raw_headers} =~ /^Set-Cookie: (c\d+)=v\d+; Path=\/\r?$/mig ];
}

run_tests();

__DATA__

=== TEST 1: 150 Set-Cookie lines pass with the defaults, every one relayed in order
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
main::cookies(150)
--- yaml_config
upstreams:
  - name: cookies
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: cookies }
--- request
GET /login
--- error_code: 200
--- response_body: ok
--- check eval
sub {
    my $got = main::set_cookies($_[0][0]);
    is_deeply($got, [ map { "c$_" } 1 .. 150 ], "150 Set-Cookie lines, in order");
}
--- no_error_log
response_headers



=== TEST 2: more fields than max_fields is a 502 naming the limit
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
main::cookies(150)
--- yaml_config
upstreams:
  - name: cookies
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    retries: 0
    response_headers: { max_fields: 100 }
routes:
  - { name: all, paths: ["/*"], upstream: cookies }
--- request
GET /login
--- error_code: 502
--- error_log
more response header fields than response_headers.max_fields



=== TEST 3: a head over max_size is a 502 naming the limit; one under it passes
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
main::cookies(150)
--- yaml_config
upstreams:
  - name: small
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    retries: 0
    response_headers: { max_size: 2k }
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    response_headers: { max_size: 8k, max_fields: 151 }
routes:
  - { name: small, paths: ["/small"], upstream: small }
  - { name: big, paths: ["/big"], upstream: big }
--- request eval
["GET /small", "GET /big"]
--- error_code eval
[502, 200]
--- error_log
response head larger than response_headers.max_size



=== TEST 4: the default field limit (1000) still refuses a flood of fields
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\n" . CORE::join('', map { "X-$_: 1\r\n" } 1 .. 1001) . "Content-Length: 0\r\n\r\n"
--- yaml_config
upstreams:
  - name: flood
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: flood }
--- request
GET /
--- error_code: 502
--- error_log
response_headers.max_fields



=== TEST 5: max_size out of range is a config error naming the key
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    response_headers: { max_size: 1m }
routes: []
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: upstreams\[0\]\.response_headers\.max_size: }]



=== TEST 6: an unknown key under response_headers is a config error
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: u
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    response_headers: { max_lines: 10 }
routes: []
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: upstreams\[0\]\.response_headers\.max_lines: unknown key}]
