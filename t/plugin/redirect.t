# redirect: http_to_https (301 for GET/HEAD, 308 otherwise, the port, TLS requests left
# alone), uri templates, regex_uri with captures, append_query_string, encode_uri,
# explicit statuses, targets with control characters refused; configs refused at load.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: http_to_https: same host and target, 301 for GET and HEAD, 308 for POST
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      redirect: { http_to_https: true }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /a/b%20c?x=1&y", ["Host: api.example.com:8080"]);
    is($r->{status}, 301, 'GET: 301');
    is($r->{headers}{location}, 'https://api.example.com/a/b%20c?x=1&y', 'same host (no port), same target');
    ok(!defined $r->{headers}{'x-echo-port'}, 'not forwarded');
    $r = $t->request("HEAD /h", ["Host: api.example.com"]);
    is($r->{status}, 301, 'HEAD: 301');
    $r = $t->request("POST /p\nbody", ["Host: api.example.com"]);
    is($r->{status}, 308, 'POST: 308 keeps the method and body');
    is($r->{headers}{location}, 'https://api.example.com/p', 'POST target');
    $r = $t->request("GET /v6", ["Host: [::1]:80"]);
    is($r->{headers}{location}, 'https://[::1]/v6', 'an IPv6 literal host keeps its brackets');
    $r = $t->request("GET /none HTTP/1.0", ["Host:"]);
    is($r->{status}, 400, 'no Host: 400');
    1;
}



=== TEST 2: http_to_https with https_port and status; a TLS request goes on
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      redirect: { http_to_https: true, https_port: 8443, status: 307 }
--- test_code eval
sub {
    my ($t) = @_;
    require Test::Moongate::TLS;
    my $r = $t->request("DELETE /x?y=1", ["Host: api.example.com"]);
    is($r->{status}, 307, 'status as configured');
    is($r->{headers}{location}, 'https://api.example.com:8443/x?y=1', 'the https port');
    my $d = $t->servroot . '/certs';
    $r = Test::Moongate::TLS::curl_https(port => $t->fill('$MG_RAND_PORT_1'),
        host => 'api.example.com', cacert => "$d/root.crt", path => '/over-tls');
    is($r->{status}, 200, 'over TLS: forwarded');
    like($r->{body}, qr{"uri":"/over-tls"}, 'the upstream got it');
    1;
}



=== TEST 2b: trust_forwarded_proto: a request a TLS balancer forwarded is not redirected
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: trusting
    paths: ["/t/*"]
    upstream: echo
    plugins:
      redirect: { http_to_https: true, trust_forwarded_proto: true }
  - name: strict
    paths: ["/s/*"]
    upstream: echo
    plugins:
      redirect: { http_to_https: true }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /t/x", ["X-Forwarded-Proto: HTTPS"]);
    is($r->{status}, 200, 'forwarded https: passed on');
    $r = $t->request("GET /t/x", ["X-Forwarded-Proto: http"]);
    is($r->{status}, 301, 'forwarded http: redirected');
    $r = $t->request("GET /s/x", ["X-Forwarded-Proto: https"]);
    is($r->{status}, 301, 'not trusted by default: redirected');
    1;
}



=== TEST 3: uri templates with variables, headers and $$; append_query_string
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: a
    paths: ["/old/*"]
    upstream: echo
    plugins:
      redirect: { uri: "https://new.example.com${uri}/x$$y?from=$host&u=$http_x_user", status: 301 }
  - name: b
    paths: ["/q/*"]
    upstream: echo
    plugins:
      redirect: { uri: "/next?fixed=1", append_query_string: true }
  - name: c
    paths: ["/r/*"]
    upstream: echo
    plugins:
      redirect: { uri: "$scheme://$host$request_uri", status: 303 }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /old/p?q=1", ["Host: www.example.com", "X-User: bob"]);
    is($r->{status}, 301, 'status 301');
    is($r->{headers}{location}, 'https://new.example.com/old/p/x$y?from=www.example.com&u=bob', 'template');
    $r = $t->request("GET /q/1?a=1&b=2", []);
    is($r->{status}, 302, 'default 302');
    is($r->{headers}{location}, '/next?fixed=1&a=1&b=2', 'query appended after &');
    $r = $t->request("GET /q/1", []);
    is($r->{headers}{location}, '/next?fixed=1', 'nothing to append');
    $r = $t->request("GET /r/z?k=v", ["Host: h.example.com"]);
    is($r->{status}, 303, 'status 303');
    is($r->{headers}{location}, 'http://h.example.com/r/z?k=v', 'scheme, host, request_uri');
    1;
}



=== TEST 4: regex_uri: captures into the target; a path that does not match goes on
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      redirect:
        regex_uri: ['^/users/(\d+)/(\w+)$', '/v2/u/$1/${2}s']
        append_query_string: true
        status: 308
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /users/42/order?x=1", []);
    is($r->{status}, 308, 'matched');
    is($r->{headers}{location}, '/v2/u/42/orders?x=1', 'captures');
    $r = $t->request("GET /users/abc/order", []);
    is($r->{status}, 200, 'no match: forwarded');
    like($r->{body}, qr{"uri":"/users/abc/order"}, 'unchanged');
    1;
}



=== TEST 5: encode_uri percent-encodes a header value carried into the target; control characters never reach Location
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: enc
    paths: ["/enc"]
    upstream: echo
    plugins:
      redirect: { uri: "/to?n=$http_x_name", encode_uri: true }
  - name: raw
    paths: ["/raw"]
    upstream: echo
    plugins:
      redirect: { uri: "/to?n=$http_x_name" }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->request("GET /enc", ["X-Name: a b\"<\xc3\xa9>"]);
    is($r->{status}, 302, 'redirected');
    is($r->{headers}{location}, '/to?n=a%20b%22%3C%C3%A9%3E', 'encoded');
    $r = $t->request("GET /raw", ["X-Name: a\tb"]);
    is($r->{status}, 400, 'a tab in the target: refused');
    like($r->{body}, qr{bad redirect target}, 'reason');
    ok(!defined $r->{headers}{location}, 'no Location');
    1;
}



=== TEST 6: uri and http_to_https together are refused at load
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      redirect: { http_to_https: true, uri: "/b" }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:45: routes\[0\]\.plugins\.redirect\.uri: http_to_https, uri and regex_uri exclude each other}]



=== TEST 7: none of them is refused too
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      redirect: { status: 301 }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.redirect: needs one of http_to_https: true, uri or regex_uri}]



=== TEST 8: an unknown variable in uri is refused at load
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      redirect: { uri: "/b/$nope" }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:24: routes\[0\]\.plugins\.redirect\.uri: unknown variable "\$nope"}]



=== TEST 9: a regex that does not compile is refused at load
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      redirect: { regex_uri: ['^/(a', '/$1'] }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.redirect\.regex_uri: not a valid regex: .*missing closing parenthesis}]



=== TEST 10: a status that is not a redirect is refused
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      redirect: { uri: "/b", status: 200 }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.redirect\.status: expected one of 301, 302, 303, 307, 308, got 200}]
