# Request-line rows of the bad-input catalogue: each refusal is answered by the gateway
# and closes the connection, the upstream never sees a byte; and the forms that must be
# accepted (absolute-form, OPTIONS *, empty lines before a request line).
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: unescaped space in the target
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
"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 2: control byte \x02 in the target
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
"GET /\x02 HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 3: NUL in the target
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
"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 4: a lone % in the path
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
"GET /% HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 5: a bad escape %zz
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
"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 6: an escaped NUL %00
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
"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 7: a byte >= 0x80 in the target
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
"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 8: a byte >= 0x80 in the query
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
"GET /?q=\xe9 HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 9: a fragment in the target
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
"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 10: two spaces after the method
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
"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 11: a tab after the method
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
"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 12: HTTP/1.2
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
"GET / HTTP/1.2\r\nHost: a\r\n\r\n"
--- error_code: 505
--- upstream_accepted: 0
--- error_log
rejected with 505



=== TEST 13: HTTP/01.1
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
"GET / HTTP/01.1\r\nHost: a\r\n\r\n"
--- error_code: 505
--- upstream_accepted: 0
--- error_log
rejected with 505



=== TEST 14: HTTP/2.0 in text
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
"GET / HTTP/2.0\r\nHost: a\r\n\r\n"
--- error_code: 505
--- upstream_accepted: 0
--- error_log
rejected with 505



=== TEST 15: HTTP/0.9 (no version)
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
"GET /\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 16: a lower-case method is an unknown method (methods are case-sensitive): 501
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
"get / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 501
--- upstream_accepted: 0
--- error_log
rejected with 501: unknown method



=== TEST 17: an unknown method: 501 (RFC 9110 §9.1), nothing forwarded
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
"FOO / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 501
--- upstream_accepted: 0
--- error_log
rejected with 501: unknown method



=== TEST 18: asterisk-form for GET
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
"GET * HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 19: authority-form for GET
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
"GET a.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 20: a target without a slash
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
"GET admin HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 21: absolute-form with another Host: routed and forwarded on the target's authority
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: on-a, hosts: ["a"], paths: ["/*"], upstream: echo }
  - { name: on-b, hosts: ["b"], paths: ["/*"], return: { status: 403, body: "b" } }
--- raw_request eval
"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n"
--- error_code: 200
--- check eval
sub {
    my $e = JSON::PP::decode_json($_[0][0]{body});
    is($e->{uri}, '/', 'origin-form upstream');
    is($e->{headers}{host}, 'a', 'Host is the authority');
    is($e->{headers}{'x-forwarded-host'}, 'a', 'so is X-Forwarded-Host');
    1;
}



=== TEST 22: dot-dot above the root
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
"GET /../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 23: encoded dot-dot above the root
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
"GET /a/%2e%2e/%2E%2E/x HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 24: TRACE
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
"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 405
--- upstream_accepted: 0
--- error_log
rejected with 405



=== TEST 25: CONNECT
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
"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"
--- error_code: 405
--- upstream_accepted: 0
--- error_log
rejected with



=== TEST 26: the HTTP/2 preface on the HTTP/1 port
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
"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 27: a request line over 8 KiB
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
"GET /" . ('a' x 9000) . " HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 414
--- upstream_accepted: 0
--- error_log
rejected with 414






=== TEST 28: dot-dot inside the root: the ACL route sees the normalised path
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: admin, paths: ["/admin/*"], return: { status: 403, body: "denied" } }
  - { name: public, paths: ["/public/*"], upstream: echo }
--- request eval
["GET /public/../admin/x", "GET /public/%2e%2e/admin/x", "GET /public/%2E%2e/admin/x",
 "GET /public/./../admin/x"]
--- error_code eval
[403, 403, 403, 403]
--- response_body eval
[("denied") x 4]



=== TEST 29: the upstream receives the one normalised path, the query as sent
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request
GET /a/./b/../c/%7euser/%2fx?q=/../%2e
--- error_code: 200
--- response_body_like
"uri":"/a/c/~user/%2Fx\?q=/\.\./%2e"



=== TEST 30: every refusal is counted in bad_requests and logged once
--- yaml_config
http: { client_max_body_size: 1k }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $bad = sub { my $n = 0; $n += $_->{bad_requests} for @{ $t->status->{workers} }; $n };
    my $before = $bad->();
    my @raw = ("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
               "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
               "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
               "GET /" . ('a' x 9000) . " HTTP/1.1\r\nHost: a\r\n\r\n",
               "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n");
    my @st;
    for my $req (@raw) {
        my $s = Test::Moongate::Client::connect_to($t->port, 3) or die $!;
        Test::Moongate::Client::write_all($s, $req);
        my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 3),
                                                      'GET');
        push @st, $r && $r->{status};
        close $s;
    }
    is_deeply(\@st, [400, 400, 400, 414, 413], 'each refused');
    is($bad->() - $before, 5, 'bad_requests went up by 5');
    my @lines = $t->error_log =~ /rejected with \d{3}/g;
    is(scalar @lines, 5, 'one log line per refusal');
}



=== TEST 31: OPTIONS * takes the route "/" takes and goes upstream as OPTIONS *
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[200, 200]
--- response_body_like eval
[qr{"method":"OPTIONS".*"uri":"\*"}, qr{"method":"OPTIONS".*"uri":"/x"}]



=== TEST 32: OPTIONS * where no route takes "/": 404, as for OPTIONS /
--- yaml_config
routes:
  - { name: api, paths: ["/api/*"], return: { status: 200, body: "api" } }
--- raw_request eval
"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET /api/x HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[404, 200]



=== TEST 33: absolute-form: https, no path, a query only, a port, upper-case scheme and host
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: on-a, hosts: ["a"], paths: ["/*"], upstream: echo }
  - { name: other, paths: ["/*"], return: { status: 403, body: "other host" } }
--- raw_request eval
"GET https://a/p HTTP/1.1\r\nHost: b\r\n\r\n"
. "GET http://a HTTP/1.1\r\nHost: b\r\n\r\n"
. "GET http://a?x=1 HTTP/1.1\r\nHost: b\r\n\r\n"
. "GET http://a:8080/x/../y?q HTTP/1.1\r\nHost: b\r\n\r\n"
. "GET HTTP://A/z HTTP/1.1\r\nHost: b\r\n\r\n"
--- error_code eval
[200, 200, 200, 200, 200]
--- check eval
sub {
    my @e = map { JSON::PP::decode_json($_->{body}) } @{ $_[0] };
    is_deeply([map { "$_->{uri} $_->{headers}{host}" } @e],
              ["/p a", "/ a", "/?x=1 a", "/y?q a:8080", "/z A"],
              'origin-form upstream, Host from the authority');
    1;
}
--- access_log eval
[qr{"GET https://a/p HTTP/1.1" 200}, qr{"GET HTTP://A/z HTTP/1.1" 200}]



=== TEST 34: absolute-form with userinfo
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
"GET http://u:p\@a/ HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 35: absolute-form with another scheme
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
"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 36: absolute-form with an empty authority
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
"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 37: absolute-form with an invalid authority
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
"GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 38: absolute-form without Host in HTTP/1.1
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
"GET http://a/ HTTP/1.1\r\nX: y\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400


=== TEST 39: empty lines (CRLF) before a request line and between pipelined requests are ignored
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"\r\nGET /1 HTTP/1.1\r\nHost: a\r\n\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr{"uri":"/1"}, qr{"body":"abc".*"uri":"/2"}, qr{"uri":"/3"}]
--- access_log eval
[qr{"GET /1 HTTP/1.1" 200}, qr{"POST /2 HTTP/1.1" 200}, qr{"GET /3 HTTP/1.1" 200}]



=== TEST 40: a bare LF before the request line
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
"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
bare CR or LF before the request line


=== TEST 41: a bare CR before the request line
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
"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
bare CR or LF before the request line


=== TEST 42: a method llhttp knows only for RTSP
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
"DESCRIBE / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 501
--- upstream_accepted: 0
--- error_log
rejected with 501: unknown method


=== TEST 43: a method that is not a token
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
"G\@T / HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400
