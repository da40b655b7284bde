# One response path for every answer: the header filters (RateLimit-*) run for a
# return: route's and a plugin's answer as for a proxied one; the HTTP/1 writer adds a
# Date the upstream left out and returns X-Request-Id on proxied answers (a key turns
# that off); the upstream's hop-by-hop headers never reach the client.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: RateLimit-* on a return: route's allowed answer (headers: true)
--- yaml_config
routes:
  - name: fixed
    paths: ["/fixed"]
    return: { status: 200, body: "ok" }
    rate_limit:
      - { algorithm: fixed_window, rate: 10/m, key: remote_addr, headers: true }
--- request eval
["GET /fixed", "GET /fixed"]
--- error_code eval
[200, 200]
--- response_headers eval
[
"RateLimit-Limit: 10\nRateLimit-Remaining: 9",
"RateLimit-Limit: 10\nRateLimit-Remaining: 8",
]



=== TEST 2: RateLimit-* on a plugin's own answer, and the 429 carries its own once
--- yaml_config
routes:
  - name: p
    paths: ["/p"]
    return: { status: 200, body: "not reached" }
    plugins: { teapot: {} }
    rate_limit:
      - { algorithm: fixed_window, rate: 1/m, key: remote_addr, headers: true }
--- lua_plugins
>>> teapot.lua
return {
    name = "teapot", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf)
        return 418, "short and stout\n"
    end,
}
--- request eval
["GET /p", "GET /p"]
--- error_code eval
[418, 429]
--- check eval
sub {
    my ($res) = @_;
    my ($ok, $limited) = map { $_->{raw_headers} // '' } @$res;
    $ok =~ /\r\nRateLimit-Limit: 1\r\n/i && $ok =~ /\r\nRateLimit-Remaining: 0\r\n/i
        or die "the plugin's 418 lacks RateLimit-*:\n$ok\n";
    $limited =~ /\r\nRetry-After: \d+\r\n/i or die "no Retry-After in the 429\n";
    my $n = () = $limited =~ /\r\nRateLimit-Limit:/gi;
    $n == 1 or die "RateLimit-Limit $n times in the 429\n";
}



=== TEST 3: an upstream answer without Date gets one; its hop-by-hop headers are dropped
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\nok"
--- yaml_config
upstreams:
  - name: u
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: u }
--- request
GET /x
--- error_code: 200
--- response_headers_like
Date: ^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$
X-Kept: yes
--- response_headers
!X-Hop
!Keep-Alive
--- response_body: ok



=== TEST 4: the upstream's own Date is kept
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: u
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: u }
--- request
GET /x
--- response_headers
Date: Mon, 01 Jan 2024 00:00:00 GMT



=== TEST 5: X-Request-Id comes back on a proxied answer: the client's, or the one made
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request eval
["GET /a", "GET /b"]
--- more_headers
X-Request-Id: trace-42
--- response_headers
X-Request-Id: trace-42



=== TEST 6: a generated X-Request-Id comes back too, and matches what the upstream got
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /a
--- check eval
sub {
    my $r = $_[0][0];
    my $id = $r->{headers}{'x-request-id'} // die "no X-Request-Id in the answer\n";
    my $e = JSON::PP::decode_json($r->{body});
    $e->{headers}{'x-request-id'} eq $id or die "upstream got $e->{headers}{'x-request-id'}, client $id\n";
}



=== TEST 7: http.response_request_id: false leaves it out of proxied answers
--- yaml_config
http: { response_request_id: false }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /a
--- response_headers
!X-Request-Id



=== TEST 8: a bad response_request_id is refused with its line and key
--- yaml_config
http:
  response_request_id: sometimes
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+: http\.response_request_id: expected true or false, got "sometimes"}]
