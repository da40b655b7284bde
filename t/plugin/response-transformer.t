# response-transformer: response headers removed, renamed, set and added; top-level
# fields of a JSON object body removed and added; bodies that are not JSON objects or
# are over max_body pass unchanged; configuration errors.
use Test::Moongate;
use JSON::PP ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

# framed_ok($res) -> '' when the response is framed once and completely, else why not.
sub framed_ok {
    my $r = shift;
    return 'no response' unless $r;
    return 'truncated' if $r->{truncated};
    my $h = $r->{headers};
    return 'both Content-Length and Transfer-Encoding'
        if defined $h->{'content-length'} && defined $h->{'transfer-encoding'};
    return "Content-Length $h->{'content-length'} for a body of " . length($r->{body})
        if defined $h->{'content-length'} && $h->{'content-length'} != length $r->{body};
    return '';
}

run_tests();

__DATA__

=== TEST 1: an empty config (all defaults) changes neither headers nor body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer: {}
--- request eval
["GET /hello", "GET /json?a=1"]
--- error_code eval
[200, 200]
--- response_headers_like eval
["Content-Type: text/plain\nX-Echo-Port: \\d+", "Content-Type: application/json\nX-Echo-Port: \\d+"]
--- check eval
sub {
    my $r = $_[0];
    is($r->[0]{body}, "hello world\n", 'text body unchanged');
    my $e = main::echoed($r->[1]);
    is($e->{uri}, '/json?a=1', 'JSON body unchanged');
    is(main::framed_ok($_), '', 'framing') for @$r;
    1;
}



=== TEST 2: remove_headers removes upstream headers, whatever their case
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_headers: [x-echo-port, X-ECHO-PEER, X-Absent]
--- request
GET /hello
--- error_code: 200
--- response_headers
!X-Echo-Port
!X-Echo-Peer
Content-Type: text/plain
--- response_body
hello world



=== TEST 3: rename_headers moves an upstream header's value to a new name
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        rename_headers: { X-Echo-Port: X-Backend-Port, X-Missing: X-Not-Created }
--- request
GET /hello
--- error_code: 200
--- response_headers
!X-Echo-Port
X-Backend-Port: $MG_ECHO_PORT
!X-Not-Created



=== TEST 4: set_headers replaces an upstream header and adds a new one
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        set_headers: { Content-Type: "text/x-greeting", X-Served-By: moongate }
--- request
GET /hello
--- error_code: 200
--- response_headers
Content-Type: text/x-greeting
X-Served-By: moongate
--- response_body
hello world



=== TEST 5: add_headers adds after the upstream's value, and adds when absent
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        add_headers: { X-Echo-Port: extra, Cache-Control: no-store }
--- request
GET /hello
--- error_code: 200
--- response_headers
X-Echo-Port: $MG_ECHO_PORT, extra
Cache-Control: no-store



=== TEST 6: the header order is remove, rename, set, add
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_headers: [X-Echo-Peer]
        rename_headers: { X-Echo-Peer: X-Peer, X-Echo-Port: X-Port }
        set_headers: { X-Port: set }
        add_headers: { X-Port: added, X-Echo-Peer: re-added }
--- request
GET /hello
--- error_code: 200
--- response_headers
!X-Peer
!X-Echo-Port
X-Port: set, added
X-Echo-Peer: re-added



=== TEST 7: header changes apply to error statuses and HEAD answers too
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        set_headers: { X-Checked: "yes" }
        remove_headers: [X-Echo-Peer]
--- request eval
["GET /status/503", "HEAD /hello", "GET /status/204"]
--- error_code eval
[503, 200, 204]
--- response_headers
X-Checked: yes
!X-Echo-Peer



=== TEST 8: remove_json removes top-level fields of a JSON object body; the framing stays right
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_json: [headers, body, not_there]
--- request
GET /users/1
--- error_code: 200
--- response_headers_like
Content-Type: application/json
--- check eval
sub {
    my $r = $_[0][0];
    is(main::framed_ok($r), '', 'framing');
    is_deeply(main::echoed($r), { method => 'GET', uri => '/users/1' }, 'fields removed');
    1;
}



=== TEST 9: add_json adds or replaces fields, typed as YAML reads them
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_json: [headers, body]
        add_json:
          method: REPLACED
          version: 2
          ratio: 0.5
          label: "2"
          beta: true
          tags: [a, b]
          meta: { source: gateway }
--- request
GET /users/1
--- error_code: 200
--- check eval
sub {
    my $r = $_[0][0];
    is(main::framed_ok($r), '', 'framing');
    my $d = main::echoed($r);
    is($d->{method}, 'REPLACED', 'replaced');
    is($d->{uri}, '/users/1', 'kept');
    ok(!exists $d->{headers}, 'removed');
    like($r->{body}, qr/"version":2[,}]/, 'an integer');
    like($r->{body}, qr/"ratio":0\.5[,}]/, 'a number');
    like($r->{body}, qr/"label":"2"/, 'a quoted string stays a string');
    ok(JSON::PP::is_bool($d->{beta}) && $d->{beta}, 'a boolean');
    is_deeply($d->{tags}, ['a', 'b'], 'a list');
    is_deeply($d->{meta}, { source => 'gateway' }, 'a mapping');
    1;
}



=== TEST 10: remove_json then add_json on the same field: the added value wins
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_json: [uri]
        add_json: { uri: hidden }
--- request
GET /secret/path
--- error_code: 200
--- check eval
sub { is(main::echoed($_[0][0])->{uri}, 'hidden', 'added after the removal') }



=== TEST 11: a JSON error answer from the upstream is transformed too
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_json: [headers, body, method]
--- request
GET /status/404
--- error_code: 404
--- check eval
sub { is_deeply(main::echoed($_[0][0]), { uri => '/status/404' }, 'transformed') }



=== TEST 12: with JSON changes configured, HEAD and 204 answers carry no body and the connection stays usable
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_json: [headers, body]
--- request eval
["HEAD /users/1", "GET /status/204", "GET /users/2"]
--- error_code eval
[200, 204, 200]
--- check eval
sub {
    my $r = $_[0];
    is($r->[0]{body}, '', 'HEAD: no body');
    is($r->[1]{body}, '', '204: no body');
    is_deeply(main::echoed($r->[2]), { method => 'GET', uri => '/users/2' }, 'next answer intact');
    1;
}



=== TEST 13: a Content-Type with "json" in it (+json, parameters) counts as JSON
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
my $b = '{"type":"about:blank","title":"Not Found","trace":"abc"}';
"HTTP/1.1 404 Not Found\r\nContent-Type: Application/Problem+JSON; charset=utf-8\r\nContent-Length: " . length($b) . "\r\n\r\n$b"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-transformer: { remove_json: [trace] }
--- request
GET /x
--- error_code: 404
--- check eval
sub {
    is(main::framed_ok($_[0][0]), '', 'framing');
    is_deeply(main::echoed($_[0][0]), { type => 'about:blank', title => 'Not Found' }, 'transformed');
    1;
}



=== TEST 14: a JSON body in several upstream chunks is transformed as a whole
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
. "8\r\n{\"a\":1,\"\r\n" . "9\r\nsecret\":\"\r\n" . "d\r\nx\",\"b\":[1,2]}\r\n" . "0\r\n\r\n"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-transformer: { remove_json: [secret], add_json: { c: 3 } }
--- request
GET /x
--- error_code: 200
--- check eval
sub {
    is(main::framed_ok($_[0][0]), '', 'framing');
    is_deeply(main::echoed($_[0][0]), { a => 1, b => [1, 2], c => 3 }, 'transformed');
    1;
}



=== TEST 15: a non-JSON body passes unchanged even with JSON changes configured
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer:
        remove_json: [hello]
        add_json: { added: true }
        set_headers: { X-Seen: "1" }
--- request
GET /hello
--- error_code: 200
--- response_headers
Content-Type: text/plain
X-Seen: 1
--- response_body
hello world



=== TEST 16: a text body that looks like JSON but is not labelled JSON passes unchanged
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n{\"secret\":\"abc\"}"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-transformer: { remove_json: [secret] }
--- request
GET /x
--- error_code: 200
--- response_body chomp
{"secret":"abc"}



=== TEST 17: a JSON body that does not parse passes unchanged
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"secret\":\"abc\",,"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-transformer: { remove_json: [secret], add_json: { x: 1 } }
--- request
GET /x
--- error_code: 200
--- response_body chomp
{"secret":"abc",,



=== TEST 18: a JSON array body passes unchanged
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n[{\"secret\":1}]\n"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-transformer: { remove_json: [secret], add_json: { x: 1 } }
--- request
GET /x
--- error_code: 200
--- response_body
[{"secret":1}]



=== TEST 19: a JSON body over max_body passes unchanged; one of exactly max_body is transformed
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
["HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 33\r\n\r\n{\"secret\":\"abc\",\"pad\":\"12345678\"}",
 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 32\r\n\r\n{\"secret\":\"abc\",\"pad\":\"1234567\"}"]
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-transformer: { remove_json: [secret], max_body: 32 }
--- request eval
["GET /big", "GET /fits"]
--- error_code eval
[200, 200]
--- check eval
sub {
    my $r = $_[0];
    is($r->[0]{body}, '{"secret":"abc","pad":"12345678"}', '33 bytes: unchanged');
    is_deeply(main::echoed($r->[1]), { pad => '1234567' }, '32 bytes: transformed');
    is(main::framed_ok($_), '', 'framing') for @$r;
    1;
}



=== TEST 20: over max_body in several chunks: what was held back and the rest arrive whole
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
. "a\r\n{\"secret\":\r\n" . "a\r\n\"abcdefgh\"\r\n" . "a\r\n,\"p\":\"xyz\"\r\n" . "1\r\n}\r\n" . "0\r\n\r\n"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-transformer: { remove_json: [secret], max_body: 16 }
--- request
GET /x
--- error_code: 200
--- response_body chomp
{"secret":"abcdefgh","p":"xyz"}



=== TEST 21: the default max_body (1 MiB): a larger JSON body passes unchanged
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-transformer: { remove_json: [headers, body] }
--- request eval
["POST /big\n" . ("x" x 1048576), "POST /small\n" . ("x" x 1000)]
--- timeout: 10
--- error_code eval
[200, 200]
--- check eval
sub {
    my $r = $_[0];
    my $big = main::echoed($r->[0]);
    is(length($big->{body} // ''), 1048576, 'over 1 MiB: unchanged');
    ok(exists $big->{headers}, 'headers field still there');
    is_deeply(main::echoed($r->[1]), { method => 'POST', uri => '/small' }, 'small: transformed');
    is(main::framed_ok($_), '', 'framing') for @$r;
    1;
}



=== TEST 22: bad config: max_body below 1
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        max_body: 0
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:19: routes\[0\]\.plugins\.response-transformer\.max_body: must be at least 1, got 0}]



=== TEST 23: bad config: max_body above 16 MiB
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        max_body: 16777217
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:19: routes\[0\]\.plugins\.response-transformer\.max_body: must be at most 16777216, got 16777217}]



=== TEST 24: bad config: max_body not an integer
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        max_body: 1m
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:19: routes\[0\]\.plugins\.response-transformer\.max_body: expected an integer, got "1m"}]



=== TEST 25: bad config: remove_json not a list
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        remove_json: secret
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:22: routes\[0\]\.plugins\.response-transformer\.remove_json: expected a list, got "secret"}]



=== TEST 26: bad config: add_json not a mapping
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        add_json: [a, b]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:19: routes\[0\]\.plugins\.response-transformer\.add_json: expected a mapping, got a list}]



=== TEST 27: bad config: remove_headers items must be strings
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        remove_headers:
          - X-A
          - [X-B]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:9:13: routes\[0\]\.plugins\.response-transformer\.remove_headers\[1\]: expected a string, got a list}]



=== TEST 28: bad config: rename_headers values must be strings
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        rename_headers: { X-A: { to: X-B } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:32: routes\[0\]\.plugins\.response-transformer\.rename_headers\.X-A: expected a string, got a mapping}]



=== TEST 29: bad config: add_headers not a mapping
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        add_headers: "X-A: b"
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:22: routes\[0\]\.plugins\.response-transformer\.add_headers: expected a mapping, got "X-A: b"}]



=== TEST 30: bad config: an unknown key names the closest one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        remove_jsn: [a]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.plugins\.response-transformer\.remove_jsn: unknown key "remove_jsn" \(did you mean "remove_json"\?\)}]



=== TEST 31: bad config: a header the gateway frames itself cannot be removed; refused at load, not on every request
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      response-transformer:
        remove_headers: [Content-Length]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.plugins\.response-transformer\.remove_headers(?:\[0\])?: .*Content-Length}i]
