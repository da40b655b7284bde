# proxy-mirror: copies reach a recording server with method, path, query, headers and
# body; path and path_mode; sample_ratio 0; a body over max_body skips the copy but not
# the request; a dead or slow mirror changes neither the answer nor its latency;
# max_inflight skips and counts; configs refused at load.
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::Receiver;
use Time::HiRes ();

sub receiver {
    my ($t, %o) = @_;
    return Test::Moongate::Receiver->new($t->fill('$MG_RAND_PORT_1'), $t->servroot . '/received', %o);
}

run_tests();

__DATA__

=== TEST 1: a copy of each request reaches the mirror: method, path, query, headers, body
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1" }
--- test_code eval
sub {
    my ($t) = @_;
    my $rcv = main::receiver($t);
    my $r = $t->request("POST /api/items?x=1&y=2\n{\"a\":1}", ["Host: api.example.com",
        "X-Token: abc", "Content-Type: application/json", "Connection: keep-alive"]);
    is($r->{status}, 200, 'the request answered');
    like($r->{body}, qr{"body":"\{\\"a\\":1\}"}, 'the upstream got the body');
    $r = $t->request("GET /second", []);
    $r = $t->request("HEAD /third", []);
    is($r->{status}, 200, 'HEAD answered');
    my @p = $rcv->wait_posts(3);
    is(scalar @p, 3, 'three copies');
    my %by = map { $_->{path} => $_ } @p;
    my $c = $by{'/api/items?x=1&y=2'};
    ok($c, 'path and query kept') or return 0;
    is($c->{method}, 'POST', 'method');
    is($c->{body}, '{"a":1}', 'body');
    is($c->{headers}{'x-token'}, 'abc', 'client headers copied');
    is($c->{headers}{'content-type'}, 'application/json', 'content type');
    is($c->{headers}{'x-forwarded-host'}, 'api.example.com', 'the original host');
    like($c->{headers}{host}, qr/^127\.0\.0\.1:\d+$/, "Host: the mirror's");
    is($c->{headers}{'content-length'}, '7', 'framed for the copy');
    is($by{'/second'}{method}, 'GET', 'second');
    is($by{'/third'}{method}, 'HEAD', 'HEAD mirrored');
    1;
}



=== TEST 2: path replace and prefix; sample_ratio 0 mirrors nothing
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/r/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1", path: "/mirror" }
  - name: p
    paths: ["/p/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1", path: "/shadow/", path_mode: prefix }
  - name: none
    paths: ["/n/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1", sample_ratio: 0 }
--- test_code eval
sub {
    my ($t) = @_;
    my $rcv = main::receiver($t);
    $t->request("GET /n/$_", []) for 1 .. 5;
    $t->request("GET /r/a?q=1", []);
    my @p = $rcv->wait_posts(1);
    is($p[0]{path}, '/mirror?q=1', 'replaced path, query kept');
    $t->request("GET /p/b", []);
    @p = $rcv->wait_posts(2);
    is($p[1]{path}, '/shadow/p/b', 'prefixed path');
    Time::HiRes::sleep(0.3);
    is(scalar($rcv->posts), 2, 'sample_ratio 0: none of the five mirrored');
    1;
}



=== TEST 3: a body over max_body skips the copy; the request itself is whole
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1", max_body: 100 }
--- test_code eval
sub {
    my ($t) = @_;
    my $rcv = main::receiver($t);
    my $big = 'b' x 5000;
    my $r = $t->request("POST /cl\n$big", []);
    like($r->{body}, qr{"body":"b{5000}"}, 'Content-Length body over the cap: forwarded whole');
    my $chunked = sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big);
    $r = $t->request("POST /chunked\n$chunked", ["Transfer-Encoding: chunked"]);
    is($r->{status}, 200, 'chunked body over the cap: answered');
    like($r->{body}, qr{"body":"b{5000}"}, 'chunked body over the cap: forwarded whole');
    $r = $t->request("POST /small\nsmall", []);
    my @p = $rcv->wait_posts(1);
    Time::HiRes::sleep(0.3);
    @p = $rcv->posts;
    is(scalar @p, 1, 'only the small one mirrored');
    is($p[0]{path}, '/small', 'the small one');
    is($p[0]{body}, 'small', 'with its body');
    1;
}
--- error_log eval
[qr{proxy-mirror: 1 copy skipped \(last: body over max_body\)}]



=== TEST 4: a dead mirror and a slow mirror change neither the answers nor their latency
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: base
    paths: ["/base/*"]
    upstream: echo
  - name: dead
    paths: ["/dead/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_2" }
  - name: slow
    paths: ["/slow/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1", timeout: 3000 }
--- timeout: 20
--- test_code eval
sub {
    my ($t) = @_;
    my $rcv = main::receiver($t, delay => 1);
    my $time = sub {
        my ($p) = @_;
        my ($worst, $ok) = (0, 0);
        for my $i (1 .. 10) {
            my $t0 = Time::HiRes::time();
            my $r = $t->request("POST $p$i\nbody-$i", []);
            my $dt = Time::HiRes::time() - $t0;
            $worst = $dt if $dt > $worst;
            $ok++ if $r && $r->{status} == 200 && $r->{body} =~ /"body":"body-$i"/;
        }
        return ($ok, $worst);
    };
    my ($ok0, $w0) = $time->('/base/');
    my ($ok1, $w1) = $time->('/dead/');
    my ($ok2, $w2) = $time->('/slow/');
    is($ok0, 10, 'without mirror: all answered');
    is($ok1, 10, 'dead mirror: all answered whole');
    is($ok2, 10, 'slow mirror (1 s per copy): all answered whole');
    Test::More::note(sprintf "worst latency: no mirror %.1f ms, dead %.1f ms, slow %.1f ms",
        $w0 * 1000, $w1 * 1000, $w2 * 1000);
    cmp_ok($w1, '<', 0.25, 'dead mirror: no request waited');
    cmp_ok($w2, '<', 0.25, 'slow mirror: no request waited for it');
    my @p = $rcv->wait_posts(3, 5);
    cmp_ok(scalar @p, '>=', 3, 'the slow mirror still got copies');
    1;
}



=== TEST 5: past max_inflight, copies are skipped and counted, requests unaffected
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1", max_inflight: 2, timeout: 5000 }
--- timeout: 20
--- test_code eval
sub {
    my ($t) = @_;
    my $rcv = main::receiver($t, delay => 2);
    my $ok = 0;
    for my $i (1 .. 8) {
        my $r = $t->request("GET /x$i", []);
        $ok++ if $r && $r->{status} == 200;
    }
    is($ok, 8, 'every request answered');
    my $m = Test::Moongate::Client::request($t->admin_port, "GET /metrics", [], 3);
    my ($n) = $m->{body} =~ /^moongate_ext_proxy_mirror_copies_total\{plugin="proxy-mirror",result="skipped"\} (\d+)$/m;
    is($n, 6, 'six of eight skipped (two in flight at most), counted in /metrics');
    1;
}
--- error_log eval
[qr{proxy-mirror: 1 copy skipped \(last: max_inflight reached\)}]



=== TEST 6: a mirror host with a path is refused at load
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:9000/x" }
--- must_die
--- error_log eval
[qr{moongate\.yaml:6:29: routes\[0\]\.plugins\.proxy-mirror\.host: expected "http://HOST\[:PORT\]"}]



=== TEST 7: a missing host and a bad sample_ratio are refused
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      proxy-mirror: { sample_ratio: 1.5, host: "http://127.0.0.1:1" }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.proxy-mirror\.sample_ratio: must be at most 1, got 1\.5}]



=== TEST 8: host is required
--- yaml_config
routes:
  - name: a
    paths: ["/a"]
    return: { status: 200 }
    plugins:
      proxy-mirror: { path: "/x" }
--- must_die
--- error_log eval
[qr{routes\[0\]\.plugins\.proxy-mirror: missing required key "host"}]



=== TEST 9: preserve_host sends the client's Host with the copy
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    return: { status: 200, body: "ok" }
    plugins:
      proxy-mirror: { host: "http://127.0.0.1:$MG_RAND_PORT_1", preserve_host: true }
--- test_code eval
sub {
    my ($t) = @_;
    my $rcv = main::receiver($t);
    my $r = $t->request("GET /a", ["Host: Shop.Example.com:8080"]);
    is($r->{status}, 200, 'the request answered');
    my @p = $rcv->wait_posts(1);
    is(scalar @p, 1, 'one copy') or return 0;
    is($p[0]{headers}{host}, 'Shop.Example.com:8080', "Host: the client's, as sent");
    is($p[0]{headers}{'x-forwarded-host'}, 'shop.example.com', 'X-Forwarded-Host as before');
    1;
}
