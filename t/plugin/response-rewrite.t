# response-rewrite: status, headers (set/add/remove with templates), the body replaced
# (plain and base64) with correct framing, regex filters (once, global, captures,
# options) on the whole body up to max_body, when_status conditions, HEAD and 204,
# configs refused at load.
use Test::Moongate;

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

=== TEST 1: status, headers and body replaced; the framing follows the new body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-rewrite:
        status_code: 203
        body: "replaced\n"
        headers:
          set: { X-Route: "$route", Content-Type: "text/plain", X-Req: "$request_method $uri$is_args$args" }
          add: { X-Added: "a" }
          remove: [X-Echo-Peer]
--- test_code eval
sub {
    my ($t) = @_;
    for my $path ('/hello', '/json?a=1', '/status/500') {
        my $r = $t->request("GET $path", []);
        is($r->{status}, 203, "$path: status");
        is($r->{body}, "replaced\n", "$path: body");
        is(main::framed_ok($r), '', "$path: framing");
        is($r->{headers}{'x-route'}, 'all', 'template: $route');
        is($r->{headers}{'content-type'}, 'text/plain', 'set replaces');
        is($r->{headers}{'x-added'}, 'a', 'add');
        ok(!defined $r->{headers}{'x-echo-peer'}, 'remove');
        ok(defined $r->{headers}{'x-echo-port'}, 'others kept');
    }
    my $r = $t->request("GET /json?a=1", []);
    is($r->{headers}{'x-req'}, 'GET /json?a=1', 'template with is_args');
    $r = $t->request("HEAD /hello", []);
    is($r->{status}, 203, 'HEAD: status');
    is($r->{body}, '', 'HEAD: no body');
    my $get = $t->request("GET /hello", []);
    is($r->{headers}{'content-length'}, $get->{headers}{'content-length'},
       "HEAD: the GET's Content-Length (none: it is chunked), not the upstream's");
    1;
}



=== TEST 2: body_base64 gives a binary body; a large upstream body is replaced whole
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-rewrite: { body: "AAH/Zm9v", body_base64: true, headers: { set: { Content-Type: application/octet-stream } } }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("POST /big\n" . ('x' x 300000), []);
    is($r->{status}, 200, 'status kept');
    is($r->{body}, "\x00\x01\xfffoo", 'decoded bytes');
    is(main::framed_ok($r), '', 'framing');
    1;
}



=== TEST 3: filters: once and global, captures, options; the rest of the body kept
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      response-rewrite:
        filters:
          - { regex: 'HELLO', replace: 'bye', options: i }
          - { regex: '(\w+)@example\.com', replace: '$1@hidden', scope: global }
          - { regex: '"method":"(\w+)"', replace: '"method":"m-$1"' }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /hello", []);
    is($r->{body}, "bye world\n", 'caseless, once');
    is(main::framed_ok($r), '', 'framing');
    $r = $t->request("POST /x\na\@example.com b\@example.com hello hello", []);
    like($r->{body}, qr{"body":"a\@hidden b\@hidden bye hello"}, 'global with captures; once leaves the second');
    like($r->{body}, qr{"method":"m-POST"}, 'third filter');
    is(main::framed_ok($r), '', 'framing');
    1;
}



=== TEST 4: a body over max_body passes unchanged; when_status limits the rewrite
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: big
    paths: ["/big"]
    upstream: echo
    plugins:
      response-rewrite: { max_body: 1000, filters: [{ regex: 'x', replace: 'y', scope: global }] }
  - name: errors
    paths: ["/status/*"]
    upstream: echo
    plugins:
      response-rewrite:
        when_status: ["5xx", "404"]
        status_code: 503
        body: '{"error":"upstream trouble"}'
        headers: { set: { Content-Type: application/json, X-Was: "$upstream_status" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("POST /big\n" . ('x' x 5000), []);
    like($r->{body}, qr{"body":"x{5000}"}, 'over max_body: unchanged');
    is(main::framed_ok($r), '', 'framing');
    $r = $t->request("POST /big\nxx", []);
    like($r->{body}, qr{"body":"yy"}, 'under max_body: changed');
    for my $s (500, 502, 404) {
        $r = $t->request("GET /status/$s", []);
        is($r->{status}, 503, "$s rewritten");
        is($r->{body}, '{"error":"upstream trouble"}', "$s body");
        is($r->{headers}{'x-was'}, $s, "$s: \$upstream_status");
        is(main::framed_ok($r), '', "$s framing");
    }
    for my $s (200, 403) {
        $r = $t->request("GET /status/$s", []);
        is($r->{status}, $s, "$s untouched");
        like($r->{body}, qr{"uri":"/status/$s"}, "$s body untouched");
    }
    1;
}



=== TEST 5: the gateway's own error answers can be rewritten too
--- yaml_config
upstreams:
  - name: dead
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    retries: 0
routes:
  - name: all
    paths: ["/*"]
    upstream: dead
    plugins:
      response-rewrite: { when_status: ["502"], body: "sorry\n", headers: { set: { Content-Type: text/plain } } }
--- request
GET /x
--- error_code: 502
--- response_body
sorry
--- response_headers
Content-Length: 6



=== TEST 6: body and filters together are refused at load
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      response-rewrite:
        body: "x"
        filters: [{ regex: "a" }]
--- must_die
--- error_log eval
[qr{moongate\.yaml:8:18: routes\[0\]\.plugins\.response-rewrite\.filters: body and filters exclude each other}]



=== TEST 7: a body that is not base64 is refused
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      response-rewrite: { body: "not base64!", body_base64: true }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:33: routes\[0\]\.plugins\.response-rewrite\.body: body_base64 is true but body is not valid base64}]



=== TEST 8: a filter regex that does not compile is refused, naming the filter
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      response-rewrite: { filters: [{ regex: "ok" }, { regex: "a[", replace: "b" }] }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.response-rewrite\.filters\[1\]\.regex: not a valid regex}]



=== TEST 9: a header value with an unknown variable, a bad when_status, a framing header
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      response-rewrite: { headers: { set: { X-A: "$nope" } } }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.response-rewrite\.headers\.set\.X-A: unknown variable "\$nope"}]



=== TEST 10: when_status entries must be statuses or classes
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      response-rewrite: { when_status: ["5xx", "50x"], status_code: 500 }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.response-rewrite\.when_status\[1\]: expected a status \("404"\) or a class \("5xx"\), got "50x"}]



=== TEST 11: Content-Length cannot be set
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      response-rewrite: { headers: { remove: [Content-Length] } }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.response-rewrite\.headers\.remove\[0\]: "Content-Length" is managed by the gateway}]



=== TEST 12: an answer without a body gets the new body; a plugin's own answer too
--- yaml_config
routes:
  - name: empty
    paths: ["/empty"]
    return: { status: 200 }
    plugins:
      response-rewrite: { body: "filled\n" }
  - name: own
    paths: ["/own"]
    plugins:
      echo: {}
      response-rewrite: { status_code: 202, body: "mine\n", headers: { add: { X-Id: "$request_id" } } }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /empty", []);
    is($r->{status}, 200, 'status');
    is($r->{body}, "filled\n", 'an empty answer gets the body');
    is(main::framed_ok($r), '', 'framing');
    $r = $t->request("GET /own", ["X-Request-Id: abc-123"]);
    is($r->{status}, 202, 'status of a plugin answer changed');
    is($r->{body}, "mine\n", 'its body replaced');
    is($r->{headers}{'x-id'}, 'abc-123', '$request_id');
    is(main::framed_ok($r), '', 'framing');
    1;
}



=== TEST 13: status_code: the new status goes out with its own phrase, never the upstream's
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
["HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nno\n",
 "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nno\n"]
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: up
    plugins:
      response-rewrite: { status_code: 503 }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[503, 503]
--- check eval
sub {
    my ($res) = @_;
    my @lines = map { (split /\r\n/, $_->{raw_headers})[0] } @$res;
    is_deeply(\@lines, ["HTTP/1.1 503 Service Unavailable", "HTTP/1.1 503 Service Unavailable"],
              'status lines');
}
--- upstream_accepted: 2
