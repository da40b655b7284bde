# Route matching: exact paths, parameters, wildcards, hosts, methods, priority and the
# 404 answer. Each route answers its own name, so the body says which route won.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: exact paths match exactly; the trailing slash counts
--- yaml_config
routes:
  - { name: ab, paths: ["/a/b"], return: { status: 200, body: "ab\n" } }
  - { name: ab-slash, paths: ["/a/b/"], return: { status: 200, body: "ab-slash\n" } }
  - { name: root, paths: ["/"], return: { status: 200, body: "root\n" } }
--- request eval
["GET /a/b", "GET /a/b/", "GET /", "GET /a/bc", "GET /a", "GET /A/B", "GET /a/b?q=1"]
--- error_code eval
[200, 200, 200, 404, 404, 404, 200]
--- response_body_like eval
["^ab\n\$", "^ab-slash\n\$", "^root\n\$", "404", "404", "404", "^ab\n\$"]



=== TEST 2: exact beats a parameter, a parameter beats a wildcard
--- yaml_config
routes:
  - { name: A, paths: ["/u/me"], return: { status: 200, body: "A\n" } }
  - { name: B, paths: ["/u/{id}"], return: { status: 200, body: "B\n" } }
  - { name: C, paths: ["/u/*"], return: { status: 200, body: "C\n" } }
  - { name: D, paths: ["/a/b/c"], return: { status: 200, body: "D\n" } }
  - { name: E, paths: ["/a/{x}/d"], return: { status: 200, body: "E\n" } }
--- request eval
["GET /u/me", "GET /u/42", "GET /u/42/x", "GET /u/", "GET /u", "GET /a/b/d", "GET /a/b/c"]
--- response_body eval
["A\n", "B\n", "C\n", "C\n", "C\n", "E\n", "D\n"]



=== TEST 3: a wildcard takes the rest of the path, possibly empty
--- yaml_config
routes:
  - { name: static, paths: ["/static/*"], return: { status: 200, body: "static\n" } }
  - { name: exact, paths: ["/static"], return: { status: 200, body: "exact\n" } }
  - { name: all, paths: ["/*"], return: { status: 200, body: "all\n" } }
--- request eval
["GET /static/", "GET /static/a/b/c.css", "GET /static", "GET /staticx", "GET /x/y"]
--- response_body eval
["static\n", "static\n", "exact\n", "all\n", "all\n"]



=== TEST 4: a route with several paths
--- yaml_config
routes:
  - { name: multi, paths: ["/one", "/two/{id}"], return: { status: 200, body: "multi\n" } }
--- request eval
["GET /one", "GET /two/2", "GET /three"]
--- error_code eval
[200, 200, 404]



=== TEST 5: exact hosts, wildcard hosts (longest first), then routes without hosts
--- yaml_config
routes:
  - { name: api-users, hosts: ["api.example.com"], paths: ["/users/{id}"],
      return: { status: 200, body: "api-users\n" } }
  - { name: tenants, hosts: ["*.example.com"], paths: ["/users/{id}", "/health"],
      return: { status: 200, body: "tenants\n" } }
  - { name: eu, hosts: ["*.eu.example.com"], paths: ["/users/{id}"],
      return: { status: 200, body: "eu\n" } }
  - { name: default, paths: ["/*"], return: { status: 200, body: "default\n" } }
--- test_code eval
sub {
    my $t = shift;
    my @cases = (["api.example.com", "/users/7", "api-users"],
                 ["API.Example.COM:8080", "/users/7", "api-users"],
                 ["api.example.com.", "/users/7", "api-users"],
                 ["api.example.com", "/health", "tenants"],
                 ["acme.example.com", "/users/7", "tenants"],
                 ["a.b.example.com", "/users/7", "tenants"],
                 ["x.eu.example.com", "/users/7", "eu"],
                 ["example.com", "/users/7", "default"],
                 ["other.org", "/users/7", "default"]);
    for my $c (@cases) {
        my $r = $t->request("GET $c->[1]", ["Host: $c->[0]"]);
        is($r && $r->{body}, "$c->[2]\n", "Host $c->[0] $c->[1] -> $c->[2]");
    }
}



=== TEST 6: a host-only match falls through to the next group when nothing matches
--- yaml_config
routes:
  - { name: only-get, hosts: ["h.example.com"], methods: [GET], paths: ["/x"],
      return: { status: 200, body: "only-get\n" } }
  - { name: any, paths: ["/x"], return: { status: 200, body: "any\n" } }
--- request eval
["GET /x", "POST /x\nbody"]
--- more_headers
Host: h.example.com
--- response_body eval
["only-get\n", "any\n"]



=== TEST 7: methods, priority and file order
--- yaml_config
routes:
  - { name: read, methods: [GET, HEAD], paths: ["/items/{id}"], return: { status: 200, body: "read\n" } }
  - { name: write, methods: [PUT, DELETE], paths: ["/items/{id}"], return: { status: 200, body: "write\n" } }
  - { name: canary, priority: 10, methods: [GET], paths: ["/items/{id}"], return: { status: 200, body: "canary\n" } }
  - { name: first, paths: ["/same"], return: { status: 200, body: "first\n" } }
  - { name: second, paths: ["/same"], return: { status: 200, body: "second\n" } }
--- request eval
["GET /items/1", "HEAD /items/1", "PUT /items/1\nx", "DELETE /items/1", "POST /items/1\nx", "GET /same"]
--- error_code eval
[200, 200, 200, 200, 404, 200]
--- response_body_like eval
["^canary\n\$", "^\$", "^write\n\$", "^write\n\$", "404", "^first\n\$"]



=== TEST 8: a method refused deeper down goes back to a less specific pattern
--- yaml_config
routes:
  - { name: exact-post, methods: [POST], paths: ["/api/login"], return: { status: 200, body: "exact-post\n" } }
  - { name: param-get, methods: [GET], paths: ["/api/{name}"], return: { status: 200, body: "param-get\n" } }
  - { name: wild, paths: ["/api/*"], return: { status: 200, body: "wild\n" } }
--- request eval
["POST /api/login\nx", "GET /api/login", "PUT /api/login\nx"]
--- response_body eval
["exact-post\n", "param-get\n", "wild\n"]



=== TEST 9: no route: 404 with a JSON body
--- yaml_config
routes:
  - { name: only, paths: ["/only"], return: { status: 200, body: "only\n" } }
--- request
GET /nothing/here
--- error_code: 404
--- response_headers_like
Content-Type: application/json
--- response_body_like
"status":\s*404



=== TEST 10: no routes at all: every request gets 404
--- yaml_config
routes: []
--- request eval
["GET /", "POST /x\ny"]
--- error_code eval
[404, 404]



=== TEST 11: a return route with status, content type and body
--- yaml_config
routes:
  - name: teapot
    paths: ["/tea"]
    return: { status: 418, content_type: application/json, body: "{\"short\":\"stout\"}" }
--- request
GET /tea
--- error_code: 418
--- response_headers
Content-Type: application/json
Content-Length: 17
--- response_body chomp
{"short":"stout"}
