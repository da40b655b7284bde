# key-auth: the key in a header or a query argument, the 401 answers, hide_credentials,
# anonymous, the consumer seen by later plugins and its own plugin configs, and the
# configuration errors (plugin config and consumer credentials).
use Test::Moongate;
use JSON::PP ();

sub echoed { JSON::PP::decode_json($_[0]{body}) }

# req("GET /uri", "Header: value", ...) -> the bytes of one request, for raw_request
# arrays whose requests need different headers.
sub req {
    my ($line, @h) = @_;
    return "$line HTTP/1.1\r\nHost: localhost\r\n" . join('', map { "$_\r\n" } @h) . "\r\n";
}

run_tests();

__DATA__

=== TEST 1: a valid key in the default header (apikey) passes; the header is hidden
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/items?x=1
--- more_headers
apikey: alice-secret-1
X-Other: kept
--- error_code: 200
--- check eval
sub {
    my $e = main::echoed($_[0][0]);
    ok(!exists $e->{headers}{apikey}, 'apikey header not sent upstream')
        or diag("apikey: $e->{headers}{apikey}");
    is($e->{headers}{'x-other'}, 'kept', 'other headers kept');
    is($e->{uri}, '/api/items?x=1', 'URI unchanged');
    1;
}



=== TEST 2: the header name is matched case-insensitively
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/case
--- more_headers
APIKEY: alice-secret-1
--- error_code: 200
--- check eval
sub { ok(!exists main::echoed($_[0][0])->{headers}{apikey}, 'hidden') }



=== TEST 3: a valid key in the default query argument (apikey) passes; the argument is hidden, the others kept in order
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/items?z=9&apikey=alice-secret-1&a=1
--- error_code: 200
--- check eval
sub { is(main::echoed($_[0][0])->{uri}, '/api/items?z=9&a=1', 'apikey removed from the query') }



=== TEST 4: the only query argument hidden leaves no "?"
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/only?apikey=alice-secret-1
--- error_code: 200
--- check eval
sub { is(main::echoed($_[0][0])->{uri}, '/api/only', 'no query left') }



=== TEST 5: no key: 401 with a JSON error and WWW-Authenticate; the upstream is not contacted
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: up
    plugins:
      key-auth: {}
--- request
GET /api/items
--- more_headers
X-Request-Id: req-missing-1
--- error_code: 401
--- response_headers
WWW-Authenticate: Key realm="moongate"
Content-Type: application/json
--- upstream_accepted: 0
--- check eval
sub {
    my $d = main::echoed($_[0][0]);
    is_deeply($d, { error => 'missing API key', status => 401, request_id => 'req-missing-1' },
              '401 body');
    1;
}



=== TEST 6: an unknown key in the query: 401 "invalid API key"; the upstream is not contacted
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: up
    plugins:
      key-auth: {}
--- request
GET /api/q?apikey=alice-secret-2
--- error_code: 401
--- response_headers
WWW-Authenticate: Key realm="moongate"
Content-Type: application/json
--- upstream_accepted: 0
--- check eval
sub {
    my $d = main::echoed($_[0][0]);
    is($d->{error}, 'invalid API key', 'error');
    is($d->{status}, 401, 'status');
    like($d->{request_id} // '', qr/^[A-Za-z0-9._:-]+$/, 'request_id');
    1;
}



=== TEST 7: an unknown key in the header: 401 "invalid API key"
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/items
--- more_headers
apikey: alice-secret-X
--- error_code: 401
--- response_headers
WWW-Authenticate: Key realm="moongate"
--- response_body_like
"error":"invalid API key"



=== TEST 8: an empty key, in the header or the query, or a bare query flag, counts as missing
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request eval
["GET /api/a?apikey=", "GET /api/b?apikey", "GET /api/c?other=alice-secret-1"]
--- error_code eval
[401, 401, 401]
--- response_body_like
"error":"missing API key"



=== TEST 9: the header wins over the query argument when both are sent
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/both?apikey=alice-secret-1
--- more_headers
apikey: wrong-key-123
--- error_code: 401
--- response_body_like
"error":"invalid API key"



=== TEST 10: header and query set to other names; the default names are then not read
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: { header: X-API-Key, query: token }
--- request eval
["GET /api/h", "GET /api/q?token=alice-secret-1&b=2", "GET /api/d?apikey=alice-secret-1"]
--- error_code eval
[401, 200, 401]
--- check eval
sub {
    my $r = $_[0];
    is(main::echoed($r->[1])->{uri}, '/api/q?b=2', 'token hidden');
    like($r->[2]{body}, qr/"missing API key"/, 'apikey is not the query name any more');
    1;
}



=== TEST 11: a custom header name carries the key and is hidden
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: { header: X-API-Key, query: token }
--- raw_request eval
[main::req("GET /api/h", "X-API-Key: alice-secret-1"), main::req("GET /api/d", "apikey: alice-secret-1")]
--- error_code eval
[200, 401]
--- check eval
sub {
    my $h = main::echoed($_[0][0])->{headers};
    ok(!exists $h->{'x-api-key'}, 'X-API-Key hidden');
    1;
}



=== TEST 12: hide_credentials false: the upstream sees the header and the query argument
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: { hide_credentials: false }
--- raw_request eval
[main::req("GET /api/h", "apikey: alice-secret-1"), main::req("GET /api/q?apikey=alice-secret-1&x=1")]
--- error_code eval
[200, 200]
--- check eval
sub {
    my $r = $_[0];
    is(main::echoed($r->[0])->{headers}{apikey}, 'alice-secret-1', 'header forwarded');
    is(main::echoed($r->[1])->{uri}, '/api/q?apikey=alice-secret-1&x=1', 'query forwarded');
    1;
}



=== TEST 13: hide_credentials true given explicitly hides both
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: { hide_credentials: true }
--- raw_request eval
[main::req("GET /api/h", "apikey: alice-secret-1"), main::req("GET /api/q?apikey=alice-secret-1&x=1")]
--- error_code eval
[200, 200]
--- check eval
sub {
    my $r = $_[0];
    ok(!exists main::echoed($r->[0])->{headers}{apikey}, 'header hidden');
    is(main::echoed($r->[1])->{uri}, '/api/q?x=1', 'query argument hidden');
    1;
}



=== TEST 14: the consumer found is mg.var.consumer for a later plugin
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
  - name: bob
    credentials:
      key-auth: { key: "bob-secret-22" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
      whoami: {}
--- lua_plugins
>>> whoami.lua
local mg = require "moongate"
return {
    name = "whoami", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_header("X-Consumer", mg.var.consumer or "-")
    end,
}
--- raw_request eval
[main::req("GET /api/1", "apikey: alice-secret-1"), main::req("GET /api/2", "apikey: bob-secret-22"),
 main::req("GET /api/3?apikey=bob-secret-22")]
--- error_code eval
[200, 200, 200]
--- check eval
sub {
    my $r = $_[0];
    is(main::echoed($r->[0])->{headers}{'x-consumer'}, 'alice', 'alice');
    is(main::echoed($r->[1])->{headers}{'x-consumer'}, 'bob', 'bob by header');
    is(main::echoed($r->[2])->{headers}{'x-consumer'}, 'bob', 'bob by query');
    1;
}



=== TEST 15: anonymous: a request without a key goes through as that consumer; a wrong key is still refused
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: guest
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: { anonymous: guest }
      whoami: {}
--- lua_plugins
>>> whoami.lua
local mg = require "moongate"
return {
    name = "whoami", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_header("X-Consumer", mg.var.consumer or "-")
    end,
}
--- raw_request eval
[main::req("GET /api/anon"), main::req("GET /api/key", "apikey: alice-secret-1"),
 main::req("GET /api/bad", "apikey: nobody-knows-me")]
--- error_code eval
[200, 200, 401]
--- check eval
sub {
    my $r = $_[0];
    is(main::echoed($r->[0])->{headers}{'x-consumer'}, 'guest', 'anonymous consumer');
    is(main::echoed($r->[1])->{headers}{'x-consumer'}, 'alice', 'a key still wins');
    like($r->[2]{body}, qr/"invalid API key"/, 'wrong key refused');
    1;
}



=== TEST 16: without anonymous (the default) there is no consumer and a keyless request is refused
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: guest
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/anon
--- error_code: 401
--- response_body_like
"error":"missing API key"



=== TEST 17: a consumer's plugin configs apply once key-auth knows the consumer
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
    plugins:
      tag: { value: gold }
      response-transformer: { set_headers: { X-Tier: gold } }
  - name: bob
    credentials:
      key-auth: { key: "bob-secret-22" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
      tag: { value: route }
--- lua_plugins
>>> tag.lua
local mg = require "moongate"
return {
    name = "tag", version = "1.0", priority = 1000,
    schema = { type = "record", fields = { value = { type = "string", required = true } } },
    access = function(conf, ctx)
        mg.request.set_header("X-Tag", conf.value)
    end,
}
--- raw_request eval
[main::req("GET /api/a", "apikey: alice-secret-1"), main::req("GET /api/b", "apikey: bob-secret-22"),
 main::req("GET /api/c", "apikey: alice-secret-1")]
--- error_code eval
[200, 200, 200]
--- response_headers eval
["X-Tier: gold", "!X-Tier", "X-Tier: gold"]
--- check eval
sub {
    my $r = $_[0];
    is(main::echoed($r->[0])->{headers}{'x-tag'}, 'gold', "alice: the consumer's config");
    is(main::echoed($r->[1])->{headers}{'x-tag'}, 'route', "bob: the route's config");
    is(main::echoed($r->[2])->{headers}{'x-tag'}, 'gold', 'alice again');
    1;
}



=== TEST 18: a consumer plugin that answers (echo) runs for that consumer only
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: blocked
    credentials:
      key-auth: { key: "blocked-key-1" }
    plugins:
      echo: { status: 403, body: "no access for $method $path\n" }
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- raw_request eval
[main::req("GET /api/x", "apikey: blocked-key-1"), main::req("GET /api/y", "apikey: alice-secret-1")]
--- error_code eval
[403, 200]
--- response_body_like eval
["^no access for GET /api/x\n\\z", '"uri":"/api/y"']



=== TEST 19: key-auth as a global plugin guards every route
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
global_plugins:
  key-auth: {}
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - { name: a, paths: ["/a"], upstream: echo }
  - { name: b, paths: ["/b"], return: { status: 200, body: "b\n" } }
--- request eval
["GET /a", "GET /b", "GET /a?apikey=alice-secret-1", "GET /b?apikey=alice-secret-1"]
--- error_code eval
[401, 401, 200, 200]



=== TEST 20: bad config: header of the wrong type
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth:
        header: [apikey]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:17: routes\[0\]\.plugins\.key-auth\.header: expected a string, got a list}]



=== TEST 21: bad config: a header name that is not an HTTP token
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth:
        header: "api key"
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:17: routes\[0\]\.plugins\.key-auth\.header: does not match pattern .*, got "api key"}]



=== TEST 22: bad config: hide_credentials not a boolean
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth:
        hide_credentials: yes
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:27: routes\[0\]\.plugins\.key-auth\.hide_credentials: expected a boolean, got "yes"}]



=== TEST 23: bad config: query not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth:
        query: { name: apikey }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:16: routes\[0\]\.plugins\.key-auth\.query: expected a string, got a mapping}]



=== TEST 24: bad config: anonymous not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth:
        anonymous: [guest]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:20: routes\[0\]\.plugins\.key-auth\.anonymous: expected a string, got a list}]



=== TEST 25: bad config: an unknown key names the closest one, at the key's position
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth:
        hide_credential: false
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:9: routes\[0\]\.plugins\.key-auth\.hide_credential: unknown key "hide_credential" \(did you mean "hide_credentials"\?\)}]



=== TEST 26: bad config: a consumer key shorter than 8 characters
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "short" }
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth: {}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:24: consumers\[0\]\.credentials\.key-auth\.key: length must be at least 8, got 5}]



=== TEST 27: a consumer key of exactly 8 characters is accepted
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "12345678" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
--- request
GET /api/x?apikey=12345678
--- error_code: 200



=== TEST 28: bad config: a consumer credential without its key
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: alice
    credentials:
      key-auth: {}
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth: {}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:17: consumers\[0\]\.credentials\.key-auth: missing required key "key"}]



=== TEST 29: bad config: an unknown key in a consumer credential
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1", kex: x }
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth: {}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: consumers\[0\]\.credentials\.key-auth\.kex: unknown key "kex" \(did you mean "key"\?\)}]



=== TEST 30: bad config: a short consumer key is refused even when no route uses key-auth yet
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "short" }
routes:
  - { name: r, paths: ["/r"], return: { status: 200 } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:24: consumers\[0\]\.credentials\.key-auth\.key: length must be at least 8, got 5}]



=== TEST 31: bad config: credentials for a misspelt plugin name are refused, not ignored
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: alice
    credentials:
      key-autt: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth: {}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: consumers\[0\]\.credentials\.key-autt: .*"key-autt"}]



=== TEST 32: anonymous naming no configured consumer: a keyless request fails with 500 and the log says why
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: { anonymous: guset }
--- request eval
["GET /api/anon", "GET /api/key?apikey=alice-secret-1"]
--- error_code eval
[500, 200]
--- error_log
plugin "key-auth" failed in access
no consumer named "guset"



=== TEST 33: bad config: two consumers with the same key
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "shared-key-123" }
  - name: bob
    credentials:
      key-auth: { key: "shared-key-123" }
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      key-auth: {}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:\d+: consumers\[1\]\.credentials\.key-auth\.key: .*(?:duplicate|already|same)}i]



=== TEST 34: a consumer's rewrite plugins (request-transformer) run once key-auth names the consumer
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials:
      key-auth: { key: "alice-secret-1" }
    plugins:
      request-transformer:
        set_headers: { X-Plan: gold }
        rename_headers: { X-Route: X-Route-Seen }
  - name: bob
    credentials:
      key-auth: { key: "bob-secret-22" }
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      key-auth: {}
      request-transformer: { set_headers: { X-Route: "yes" } }
--- raw_request eval
[main::req("GET /api/a", "apikey: alice-secret-1"), main::req("GET /api/b", "apikey: bob-secret-22")]
--- error_code eval
[200, 200]
--- check eval
sub {
    my $r = $_[0];
    my ($a, $b) = (main::echoed($r->[0])->{headers}, main::echoed($r->[1])->{headers});
    is($a->{'x-plan'}, 'gold', "alice: her request-transformer config ran");
    is($a->{'x-route-seen'}, 'yes', "after the route's own rewrite");
    ok(!exists $a->{'x-route'}, 'renamed');
    ok(!exists $b->{'x-plan'}, 'bob: no consumer config');
    is($b->{'x-route'}, 'yes', "bob: the route's config");
    1;
}
--- no_error_log
[error]
