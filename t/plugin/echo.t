# echo: a route answered by the plugin itself: status, body with $ placeholders,
# content_type, extra headers; the upstream (if any) is never contacted; configuration
# errors.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: the defaults: 200, an empty body, text/plain; a route with only the plugin
--- yaml_config
routes:
  - name: stub
    paths: ["/stub"]
    plugins:
      echo: {}
--- request
GET /stub
--- error_code: 200
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body eval
""
--- check eval
sub {
    my $cl = $_[0][0]{headers}{'content-length'};
    ok(!defined $cl || $cl eq '0', 'an empty body is framed as empty') or diag("Content-Length: $cl");
    1;
}



=== TEST 2: the plugin named without any config uses the defaults too
--- yaml_config
routes:
  - name: stub
    paths: ["/stub"]
    plugins:
      echo:
--- request
GET /stub
--- error_code: 200
--- response_headers
Content-Type: text/plain; charset=utf-8
--- response_body eval
""



=== TEST 3: status and body
--- yaml_config
routes:
  - { name: created, paths: ["/created"], plugins: { echo: { status: 201, body: "made\n" } } }
  - { name: gone, paths: ["/gone"], plugins: { echo: { status: 404, body: "not here\n" } } }
  - { name: down, paths: ["/down"], plugins: { echo: { status: 503, body: "later\n" } } }
  - { name: max, paths: ["/max"], plugins: { echo: { status: 599, body: "edge\n" } } }
--- request eval
["GET /created", "GET /gone", "GET /down", "GET /max"]
--- error_code eval
[201, 404, 503, 599]
--- response_body eval
["made\n", "not here\n", "later\n", "edge\n"]



=== TEST 4: the placeholders $method $path $query $host $remote_addr $request_id $param_NAME
--- yaml_config
routes:
  - name: show
    paths: ["/show/{kind}/{id}"]
    plugins:
      echo:
        body: "m=$method p=$path q=$query h=$host a=$remote_addr r=$request_id k=$param_kind i=$param_id\n"
--- request
PUT /show/book/42?x=1&y=2
--- more_headers
Host: Shop.Example.com:8080
X-Request-Id: trace-abc-1
--- error_code: 200
--- response_body
m=PUT p=/show/book/42 q=x=1&y=2 h=shop.example.com a=127.0.0.1 r=trace-abc-1 k=book i=42



=== TEST 5: $request_id is the generated id when the client sends none
--- yaml_config
routes:
  - name: rid
    paths: ["/rid"]
    plugins:
      echo: { body: "<$request_id>" }
--- request
GET /rid
--- error_code: 200
--- response_body_like
^<[A-Za-z0-9._:-]{1,128}>$



=== TEST 6: raw path and query as sent; an empty query is ""
--- yaml_config
routes:
  - name: raw
    paths: ["/raw/*"]
    plugins:
      echo: { body: "[$path][$query]" }
--- request eval
["GET /raw/a%20b?q=%41+b", "GET /raw/plain"]
--- error_code eval
[200, 200]
--- response_body eval
["[/raw/a%20b][q=%41+b]", "[/raw/plain][]"]



=== TEST 7: an unknown param is empty; unknown names and a bare $ stay as written
--- yaml_config
routes:
  - name: odd
    paths: ["/odd/{id}"]
    plugins:
      echo: { body: "[$param_nope][$foo][$ ][5$][$$][$param_id$method]" }
--- request
GET /odd/7
--- error_code: 200
--- response_body chomp
[][$foo][$ ][5$][$$][7GET]



=== TEST 8: content_type replaces the default
--- yaml_config
routes:
  - name: json
    paths: ["/json"]
    plugins:
      echo:
        content_type: application/json
        body: '{"ok":true,"path":"$path"}'
--- request
GET /json
--- error_code: 200
--- response_headers
Content-Type: application/json
--- response_body chomp
{"ok":true,"path":"/json"}



=== TEST 9: headers are added to the answer
--- yaml_config
routes:
  - name: h
    paths: ["/h"]
    plugins:
      echo:
        status: 302
        headers: { Location: "https://example.com/new", Cache-Control: "no-store", X-Stub: "1" }
--- request
GET /h
--- error_code: 302
--- response_headers
Location: https://example.com/new
Cache-Control: no-store
X-Stub: 1
Content-Type: text/plain; charset=utf-8



=== TEST 10: a Content-Type in headers wins over content_type
--- yaml_config
routes:
  - name: h
    paths: ["/h"]
    plugins:
      echo:
        content_type: text/html
        headers: { Content-Type: "image/svg+xml" }
        body: "<svg/>"
--- request
GET /h
--- error_code: 200
--- response_headers
Content-Type: image/svg+xml
--- response_body chomp
<svg/>



=== TEST 11: with an upstream on the route, the upstream is never contacted
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nupstream"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - name: stub
    paths: ["/*"]
    upstream: up
    plugins:
      echo: { body: "stubbed $method\n" }
--- request eval
["GET /a", "POST /b\nbody"]
--- error_code eval
[200, 200]
--- response_body eval
["stubbed GET\n", "stubbed POST\n"]
--- upstream_accepted: 0



=== TEST 12: HEAD gets the headers and no body; the connection stays usable
--- yaml_config
routes:
  - name: stub
    paths: ["/stub"]
    plugins:
      echo: { body: "twelve bytes" }
--- request eval
["HEAD /stub", "GET /stub"]
--- error_code eval
[200, 200]
--- response_body eval
["", "twelve bytes"]
--- check eval
sub {
    my $cl = $_[0][0]{headers}{'content-length'};
    ok(!defined $cl || $cl eq '12', 'HEAD: Content-Length of the GET body') or diag("Content-Length: $cl");
    1;
}



=== TEST 13: bad config: status below 200
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        status: 199
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:17: routes\[0\]\.plugins\.echo\.status: must be at least 200, got 199}]



=== TEST 14: bad config: status above 599
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        status: 600
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:17: routes\[0\]\.plugins\.echo\.status: must be at most 599, got 600}]



=== TEST 15: bad config: status not an integer
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        status: "OK"
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:17: routes\[0\]\.plugins\.echo\.status: expected an integer, got "OK"}]



=== TEST 16: bad config: body not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        body: { text: hi }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:15: routes\[0\]\.plugins\.echo\.body: expected a string, got a mapping}]



=== TEST 17: bad config: content_type not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        content_type: [text/plain]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:23: routes\[0\]\.plugins\.echo\.content_type: expected a string, got a list}]



=== TEST 18: bad config: headers not a mapping
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        headers: ["X-A: 1"]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:18: routes\[0\]\.plugins\.echo\.headers: expected a mapping, got a list}]



=== TEST 19: bad config: a header value not a string
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        headers:
          X-A: { v: 1 }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:16: routes\[0\]\.plugins\.echo\.headers\.X-A: expected a string, got a mapping}]



=== TEST 20: bad config: an unknown key names the closest one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      echo:
        stauts: 201
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:\d+: routes\[0\]\.plugins\.echo\.stauts: unknown key "stauts" \(did you mean "status"\?\)}]
