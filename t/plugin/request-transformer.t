# request-transformer: headers removed, renamed, set and added; query arguments
# removed, renamed and set; the path rebuilt from route params, the wildcard or
# path_regex captures; the method; routing again with reroute; configuration errors.
use Test::Moongate;
use JSON::PP ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

run_tests();

__DATA__

=== TEST 1: an empty config (all defaults) changes nothing
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer: {}
--- request
POST /same/path?b=2&a=1&a=0&flag&sp=x%20y
hello
--- more_headers
X-One: 1
X-Two: 2
--- error_code: 200
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    is($e->{method}, 'POST', 'method');
    is($e->{uri}, '/same/path?b=2&a=1&a=0&flag&sp=x%20y', 'path and raw query untouched');
    is($e->{headers}{'x-one'}, '1', 'X-One');
    is($e->{headers}{'x-two'}, '2', 'X-Two');
    is($e->{body}, 'hello', 'body');
    1;
}



=== TEST 2: remove_headers removes every listed header, whatever its case
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        remove_headers: [X-Internal, x-debug, X-Absent]
--- request
GET /rm
--- more_headers
x-internal: a
X-DEBUG: b
X-Debug: c
X-Kept: yes
--- error_code: 200
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    ok(!exists $h->{'x-internal'}, 'X-Internal removed');
    ok(!exists $h->{'x-debug'}, 'every X-Debug removed') or diag("x-debug: $h->{'x-debug'}");
    is($h->{'x-kept'}, 'yes', 'others kept');
    1;
}



=== TEST 3: rename_headers moves the value (all values) to the new name; an absent header is not created
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        rename_headers: { X-Old: X-New, X-Multi: X-Joined, X-Missing: X-Should-Not-Exist }
--- request
GET /rename
--- more_headers
x-old: value 1
X-Multi: a
X-Multi: b
--- error_code: 200
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    ok(!exists $h->{'x-old'}, 'old name gone');
    is($h->{'x-new'}, 'value 1', 'new name has the value');
    ok(!exists $h->{'x-multi'}, 'X-Multi gone');
    is($h->{'x-joined'}, 'a, b', 'both values moved');
    ok(!exists $h->{'x-should-not-exist'}, 'no header from an absent one');
    1;
}



=== TEST 4: set_headers replaces what the client sent, and adds a header it did not send
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        set_headers: { X-Tenant: acme, X-Version: "2" }
--- request
GET /set
--- more_headers
X-Tenant: evil
X-Tenant: evil2
--- error_code: 200
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-tenant'}, 'acme', 'replaced (no client value left)');
    is($h->{'x-version'}, '2', 'added');
    1;
}



=== TEST 5: add_headers adds after the client's values, and adds when absent
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        add_headers: { X-Via: gateway, X-New: fresh }
--- request
GET /add
--- more_headers
X-Via: client
--- error_code: 200
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    is($h->{'x-via'}, 'client, gateway', 'client value first, then the added one');
    is($h->{'x-new'}, 'fresh', 'added when absent');
    1;
}



=== TEST 6: the order is remove, rename, set, add
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        remove_headers: [X-A]
        rename_headers: { X-A: X-Renamed-A, X-B: X-C }
        set_headers: { X-C: set }
        add_headers: { X-C: added, X-A: re-added }
--- request
GET /order
--- more_headers
X-A: client-a
X-B: client-b
--- error_code: 200
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    ok(!exists $h->{'x-renamed-a'}, 'X-A removed before the rename');
    is($h->{'x-a'}, 're-added', 'X-A added after the remove');
    ok(!exists $h->{'x-b'}, 'X-B renamed');
    is($h->{'x-c'}, 'set, added', 'renamed, then set, then added');
    1;
}



=== TEST 7: remove_query removes every value of the listed arguments
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        remove_query: [debug, token]
--- request eval
["GET /q?keep=1&debug=1&token=a&token=b", "GET /q?debug=1"]
--- error_code eval
[200, 200]
--- check eval
sub {
    is(main::echoed($_[0][0])->{uri}, '/q?keep=1', 'removed, the rest kept');
    is(main::echoed($_[0][1])->{uri}, '/q', 'nothing left: no "?"');
    1;
}



=== TEST 8: rename_query moves every value to the new name; an absent argument is not created
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        rename_query: { q: search, ids: id, gone: nothing }
--- request
GET /r?q=moon&ids=1&ids=2&z=9
--- error_code: 200
--- check eval
sub {
    my $uri = main::echoed($_[0][0])->{uri};
    my ($path, $q) = split /\?/, $uri, 2;
    is($path, '/r', 'path');
    is(CORE::join('&', sort split /&/, $q // ''), 'id=1&id=2&search=moon&z=9', "query ($uri)");
    1;
}



=== TEST 9: set_query replaces or adds an argument, percent-encoding the value
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        set_query: { limit: "10", label: "a b&c" }
--- request eval
["GET /s?limit=1000&limit=5&x=1", "GET /s"]
--- error_code eval
[200, 200]
--- check eval
sub {
    my $sorted = sub {
        my ($path, $q) = split /\?/, $_[0], 2;
        $path . '?' . CORE::join('&', sort split /&/, $q // '');
    };
    is($sorted->(main::echoed($_[0][0])->{uri}), '/s?label=a%20b%26c&limit=10&x=1', 'set');
    is($sorted->(main::echoed($_[0][1])->{uri}), '/s?label=a%20b%26c&limit=10', 'added');
    1;
}



=== TEST 10: the query order is remove, rename, set
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer:
        remove_query: [a]
        rename_query: { a: renamed_a, b: c }
        set_query: { c: set }
--- request
GET /o?a=1&b=2
--- error_code: 200
--- check eval
sub { is(main::echoed($_[0][0])->{uri}, '/o?c=set', 'a removed, b renamed to c, c set') }



=== TEST 11: path from a template with route params; the query stays
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: orders
    paths: ["/users/{uid}/orders/{oid}"]
    upstream: echo
    plugins:
      request-transformer:
        path: "/v2/orders/$param_oid/owner/$param_uid$param_nope"
--- request
GET /users/42/orders/a7?expand=1
--- error_code: 200
--- check eval
sub { is(main::echoed($_[0][0])->{uri}, '/v2/orders/a7/owner/42?expand=1', 'rewritten; an unknown param is ""') }



=== TEST 12: path from a template with the wildcard
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: static
    paths: ["/static/*"]
    upstream: echo
    plugins:
      request-transformer:
        path: "/assets/$wildcard"
--- request
GET /static/css/site.css?v=3
--- error_code: 200
--- check eval
sub { is(main::echoed($_[0][0])->{uri}, '/assets/css/site.css?v=3', 'wildcard part kept') }



=== TEST 13: percent-encoded params and wildcard go into the new path as sent
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: orders
    paths: ["/users/{uid}/orders/{oid}"]
    upstream: echo
    plugins:
      request-transformer:
        path: "/v2/orders/$param_oid/owner/$param_uid"
  - name: static
    paths: ["/static/*"]
    upstream: echo
    plugins:
      request-transformer:
        path: "/assets/$wildcard"
--- request eval
["GET /users/a%20b/orders/x%2Fy?q=1", "GET /static/a%20b/c%3Fd"]
--- error_code eval
[200, 200]
--- check eval
sub {
    is(main::echoed($_[0][0])->{uri}, '/v2/orders/x%2Fy/owner/a%20b?q=1', 'params');
    is(main::echoed($_[0][1])->{uri}, '/assets/a%20b/c%3Fd', 'wildcard');
    1;
}



=== TEST 14: path_regex captures fill $1..$9; a path that does not match stays
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      request-transformer:
        path_regex: "^/api/v(%d+)/(%a+)/(.*)$"
        path: "/internal/$2/$3/version/$1$9"
--- request eval
["GET /api/v3/users/7/x?y=1", "GET /api/latest/users"]
--- error_code eval
[200, 200]
--- check eval
sub {
    is(main::echoed($_[0][0])->{uri}, '/internal/users/7/x/version/3?y=1', 'captures; $9 is ""');
    is(main::echoed($_[0][1])->{uri}, '/api/latest/users', 'no match: unchanged');
    1;
}



=== TEST 15: method replaces the request method; the body still goes up
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      request-transformer: { method: PUT }
--- request eval
["POST /m\nbody-data", "GET /m"]
--- error_code eval
[200, 200]
--- check eval
sub {
    my $a = main::echoed($_[0][0]);
    is($a->{method}, 'PUT', 'POST became PUT');
    is($a->{body}, 'body-data', 'body kept');
    is(main::echoed($_[0][1])->{method}, 'PUT', 'GET became PUT');
    1;
}



=== TEST 16: without reroute (the default) the new path goes to the first route's upstream
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: old
    paths: ["/old/*"]
    upstream: echo
    plugins:
      request-transformer: { path: "/new/$wildcard" }
  - name: new
    paths: ["/new/*"]
    plugins:
      echo: { body: "route new: $path\n" }
--- request
GET /old/thing
--- error_code: 200
--- check eval
sub { is(main::echoed($_[0][0])->{uri}, '/new/thing', 'old route, new path') }



=== TEST 17: reroute: the rewritten path is routed again
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: old
    paths: ["/old/*"]
    upstream: echo
    plugins:
      request-transformer: { path: "/new/$wildcard", reroute: true }
  - name: new
    paths: ["/new/*"]
    plugins:
      echo: { body: "route new: $path\n" }
--- request
GET /old/thing
--- error_code: 200
--- response_body
route new: /new/thing



=== TEST 18: reroute after a method change reaches the route of that method
--- yaml_config
routes:
  - name: get-form
    methods: [GET]
    paths: ["/form"]
    plugins:
      request-transformer: { method: POST, reroute: true }
  - name: post-form
    methods: [POST]
    paths: ["/form"]
    plugins:
      echo: { body: "post-form got $method\n" }
--- request
GET /form
--- error_code: 200
--- response_body
post-form got POST



=== TEST 19: reroute to a path no route matches: 404
--- yaml_config
routes:
  - name: old
    paths: ["/old/*"]
    plugins:
      request-transformer: { path: "/nowhere/$wildcard", reroute: true }
--- request
GET /old/x
--- error_code: 404
--- response_body_like
"no route matched"



=== TEST 20: bad config: path must start with "/"
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        path: "v2/$wildcard"
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:15: routes\[0\]\.plugins\.request-transformer\.path: does not match pattern "\^/", got "v2/\$wildcard"}]



=== TEST 21: bad config: a lower-case method
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        method: post
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:17: routes\[0\]\.plugins\.request-transformer\.method: does not match pattern .*, got "post"}]



=== TEST 22: bad config: remove_headers given as a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        remove_headers: X-Debug
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:25: routes\[0\]\.plugins\.request-transformer\.remove_headers: expected a list, got "X-Debug"}]



=== TEST 23: bad config: set_headers given as a list
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        set_headers: [X-A]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:22: routes\[0\]\.plugins\.request-transformer\.set_headers: expected a mapping, got a list}]



=== TEST 24: bad config: a header value that is not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        add_headers:
          X-A: [1, 2]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:16: routes\[0\]\.plugins\.request-transformer\.add_headers\.X-A: expected a string, got a list}]



=== TEST 25: bad config: remove_query items must be strings
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        remove_query: [a, { b: c }]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:27: routes\[0\]\.plugins\.request-transformer\.remove_query\[1\]: expected a string, got a mapping}]



=== TEST 26: bad config: rename_query not a mapping
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        rename_query: "a=b"
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:23: routes\[0\]\.plugins\.request-transformer\.rename_query: expected a mapping, got "a=b"}]



=== TEST 27: bad config: set_query a list
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        set_query: [a]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:20: routes\[0\]\.plugins\.request-transformer\.set_query: expected a mapping, got a list}]



=== TEST 28: bad config: reroute not a boolean
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        path: /x
        reroute: sometimes
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:18: routes\[0\]\.plugins\.request-transformer\.reroute: expected a boolean, got "sometimes"}]



=== TEST 29: bad config: path_regex not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        path: /x/$1
        path_regex: ["^/(.*)$"]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:21: routes\[0\]\.plugins\.request-transformer\.path_regex: expected a string, got a list}]



=== TEST 30: bad config: an unknown key names the closest one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        set_header: { X-A: b }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.plugins\.request-transformer\.set_header: unknown key "set_header" \(did you mean "set_headers"\?\)}]



=== TEST 31: bad config: path_regex that is not a valid Lua pattern is refused at load, not on every request
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        path_regex: "^/api/(%d+"
        path: /v1/$1
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.plugins\.request-transformer\.path_regex: }]



=== TEST 32: bad config: a header the gateway frames itself cannot be set; refused at load, not on every request
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    plugins:
      request-transformer:
        set_headers: { Content-Length: "0" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.plugins\.request-transformer\.set_headers(?:\.Content-Length)?: .*Content-Length}i]
