# Bodies that must pass: bytes after a body are never taken for a request, a body the
# answer did not need is read and dropped, a million one-byte chunks within the limit,
# trailers never merged into the headers.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: a GET body that looks like a request is forwarded as opaque bytes
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\nX-Pad: 01234\r\n"
--- error_code: 200
--- response_body_like
^(?=.*"uri":"/a")(?=.*"body":"GET /admin HTTP/1.1\\r\\nHost: a\\r\\nX-Pad: 01234\\r\\n")



=== TEST 2: an answer given before the body was read: the body is dropped, never parsed
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 401, body: "no" } }
--- raw_request eval
"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 31\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[401, 401]
--- access_log eval
[qr{"POST /a HTTP/1.1" 401}, qr{"GET /next HTTP/1.1" 401}]
--- no_error_log
/evil



=== TEST 3: bytes after a Connection: close request are ignored
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- raw_request eval
"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[200]
--- response_headers
Connection: close
--- check eval
sub { @{$_[0]} == 1 }



=== TEST 4: a million one-byte chunks within the limit, then a pipelined request
--- yaml_config
http: { client_body_timeout: 10s }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- raw_request eval
"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" . ("1\r\nx\r\n" x 1000000) . "0\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
--- timeout: 10
--- error_code eval
[200, 200]



=== TEST 5: trailer fields are dropped, never merged into the forwarded headers
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nHost: evil\r\nX-Trailer: t\r\n\r\n"
--- error_code: 200
--- check eval
sub {
    my $e = JSON::PP::decode_json($_[0][0]{body});
    is($e->{body}, 'hello', 'body');
    is($e->{headers}{host}, 'a', 'trailer Host not merged');
    ok(!defined $e->{headers}{'x-trailer'}, 'trailer field not forwarded');
}



=== TEST 6: framing fields in a trailer are refused (strict llhttp), never acted on
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
"POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: gzip\r\n\r\n"
--- error_code: 400
--- upstream_accepted: 0
--- error_log
rejected with 400



=== TEST 7: a 404 before a chunked body with a trailer: the body is dropped, the worker lives
--- yaml_config
routes:
  - { name: only, paths: ["/only"], return: { status: 200, body: "ok" } }
--- raw_request eval
"POST /nope HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n"
--- error_code: 404
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.2);
    my $r = $t->request("GET /only", [], 3);
    is($r && $r->{status}, 200, 'a new connection is answered');
}
--- no_error_log
killed by signal
exited on signal



=== TEST 8: a return: route before a chunked body with a trailer: the worker lives
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 201, body: "ok" } }
--- raw_request eval
"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[201, 201]
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.2);
    my $r = $t->request("GET /c", [], 3);
    is($r && $r->{status}, 201, 'a new connection is answered');
}
--- no_error_log
killed by signal
exited on signal



=== TEST 9: a plugin's answer before a chunked body with a trailer: the worker lives
--- yaml_config
routes:
  - { name: all, paths: ["/*"], plugins: { deny: {} } }
--- lua_plugins
>>> deny.lua
return {
    name = "deny", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        return 401, "no"
    end,
}
--- raw_request eval
"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n"
--- error_code: 401
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.2);
    my $r = $t->request("GET /b", [], 3);
    is($r && $r->{status}, 401, 'a new connection is answered');
}
--- no_error_log
killed by signal
exited on signal
