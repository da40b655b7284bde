# Connection reuse on the client side: keep-alive rules for HTTP/1.1 and HTTP/1.0, the
# idle and per-connection request limits, pipelining, Expect: 100-continue, HEAD and
# chunked bodies on a kept connection, bytes after a closing request, a half-closed
# client, and two catalogue rows about headers that are accepted (trailing space in
# Host, hop-by-hop names in Connection).
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: HTTP/1.1 keeps the connection: three answers on one socket
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    my $rd = Test::Moongate::Client::new_reader($s, 3);
    for my $i (1 .. 3) {
        Test::Moongate::Client::write_all($s, "GET /$i HTTP/1.1\r\nHost: a\r\n\r\n");
        my $r = Test::Moongate::Client::read_response($rd, 'GET');
        ok($r && $r->{status} == 200, "answer $i on the same connection");
        isnt(lc($r && $r->{headers}{connection} // ''), 'close', "answer $i keeps it open");
    }
}
--- no_error_log
[error]



=== TEST 2: HTTP/1.0 without keep-alive: Connection: close, then EOF
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "GET / HTTP/1.0\r\n\r\n";
    local $SIG{ALRM} = sub { die "the connection stayed open\n" };
    alarm 3;
    local $/;
    my $all = <$s> // '';
    alarm 0;
    like($all, qr{^HTTP/1\.[01] 200 }, 'answered');
    like($all, qr{\r\nConnection: close\r\n}i, 'says it closes');
    like($all, qr{\r\n\r\nok\z}, 'exactly one body, then EOF');
}



=== TEST 3: HTTP/1.0 with Connection: keep-alive is kept and says so
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- request eval
["GET /a HTTP/1.0", "GET /b HTTP/1.0"]
--- more_headers
Connection: keep-alive
--- error_code eval
[200, 200]
--- response_headers_like
Connection: (?i)keep-alive
--- check eval
sub { $_[0][0]{headers}{'content-length'} == 2 }



=== TEST 4: an idle keep-alive connection is closed silently at keepalive_timeout
--- yaml_config
http: { keepalive_timeout: 1s }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    my $rd = Test::Moongate::Client::new_reader($s, 3);
    Test::Moongate::Client::write_all($s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r = Test::Moongate::Client::read_response($rd, 'GET');
    is($r && $r->{status}, 200, 'first request answered');
    my $t0 = Time::HiRes::time();
    local $SIG{ALRM} = sub { die "the idle connection stayed open\n" };
    alarm 4;
    my $n = sysread($s, my $buf, 100);
    alarm 0;
    my $took = Time::HiRes::time() - $t0;
    is($n, 0, 'closed without sending anything');
    ok($took >= 0.7 && $took < 3, "closed at the keep-alive deadline (${took}s)");
}



=== TEST 5: keepalive_requests: the last allowed answer carries Connection: close
--- yaml_config
http: { keepalive_requests: 3 }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    my $rd = Test::Moongate::Client::new_reader($s, 3);
    my @conn;
    for my $i (1 .. 3) {
        Test::Moongate::Client::write_all($s, "GET /$i HTTP/1.1\r\nHost: a\r\n\r\n");
        my $r = Test::Moongate::Client::read_response($rd, 'GET');
        push @conn, lc($r && $r->{headers}{connection} // '');
    }
    is_deeply(\@conn, ['', '', 'close'], 'only the third answer closes');
    local $SIG{ALRM} = sub { die "the connection stayed open\n" };
    alarm 3;
    my $n = sysread($s, my $buf, 100);
    alarm 0;
    ok(!$n, 'and the connection ends after it');
}



=== TEST 6: pipelined requests to the upstream are answered in order
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- pipelined_requests eval
["GET /delay/300/first", "GET /second", "GET /delay/100/third", "GET /fourth"]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
['"uri":"/delay/300/first"', '"uri":"/second"', '"uri":"/delay/100/third"',
 '"uri":"/fourth"']



=== TEST 7: a pipelined POST body is not taken for the next request
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n"
. "GET /two HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[200, 200]
--- response_body_like eval
['^(?=.*"uri":"/one").*"body":"GET /smuggled HTTP/1.1\\\\r\\\\nX: y\\\\r\\\\n"', '"uri":"/two"']



=== TEST 8: pipelined requests to a return route, HEAD among them
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "hello" } }
--- pipelined_requests eval
["GET /a", "HEAD /b", "GET /c"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["hello", "", "hello"]
--- response_headers
Content-Length: 5



=== TEST 9: HEAD to the upstream: Content-Length of the GET, no body, connection reused
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- request eval
["HEAD /hello", "GET /hello", "HEAD /hello"]
--- error_code eval
[200, 200, 200]
--- response_body eval
["", "hello world\n", ""]
--- response_headers
Content-Length: 12



=== TEST 10: Expect: 100-continue: 100 first, the body only after it, then 200
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    ok(select(my $rout = $rin, undef, undef, 2) > 0, 'something came back before the body');
    sysread($s, my $first, 4096);
    like($first // '', qr{^HTTP/1\.1 100 [^\r]*\r\n\r\n\z}, 'it is exactly a 100 Continue');
    print $s "hello";
    my $rd = Test::Moongate::Client::new_reader($s, 3);
    my $r = Test::Moongate::Client::read_response($rd, 'POST');
    is($r && $r->{status}, 200, 'final answer');
    like($r && $r->{body} // '', qr/"body":"hello"/, 'the body went up');
}



=== TEST 11: Expect: 100-continue with a length over the limit: 413, no 100, closed
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { client_max_body_size: 1k }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
--- error_code: 413
--- response_headers
Connection: close
--- check eval
sub { !@{ $_[0][0]{interim} // [] } }
--- upstream_accepted: 0



=== TEST 12: a chunked body on a kept connection, then a second request
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
. "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
. "GET /after HTTP/1.1\r\nHost: a\r\n\r\n"
--- error_code eval
[200, 200]
--- response_body_like eval
['^(?=.*"uri":"/c").*"body":"abcdefg"', '"uri":"/after"']



=== TEST 13: bytes after a Connection: close request are never answered
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        . "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    local $SIG{ALRM} = sub { die "the connection stayed open\n" };
    alarm 4;
    local $/;
    my $all = <$s> // '';
    alarm 0;
    my @heads = $all =~ m{HTTP/1\.\d \d\d\d }g;
    is(scalar @heads, 1, 'one answer, then EOF');
    like($all, qr{\r\n\r\nok\z}, 'the answer to the first request');
    my @acc = split /\n/, Test::Moongate::Server::slurp($t->servroot . '/upstream_accepted');
    is(scalar @acc, 1, 'one upstream connection, for the first request only');
}



=== TEST 14: FIN right after two pipelined requests: both are still answered
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "x" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    shutdown($s, 1);
    local $SIG{ALRM} = sub { die "the connection stayed open\n" };
    alarm 4;
    local $/;
    my $all = <$s> // '';
    alarm 0;
    my @heads = $all =~ m{HTTP/1\.1 200 }g;
    is(scalar @heads, 2, 'two answers after the half-close') or diag("got: $all");
}



=== TEST 15: Host with a trailing space is accepted and routed on the trimmed value
--- yaml_config
routes:
  - { name: a, hosts: ["a.com"], paths: ["/*"], return: { status: 200, body: "host a" } }
  - { name: other, paths: ["/*"], return: { status: 200, body: "other" } }
--- raw_request eval
"GET / HTTP/1.1\r\nHost: a.com \r\n\r\n"
--- error_code: 200
--- response_body: host a



=== TEST 16: Connection naming X-Forwarded-For and Authorization: gateway headers survive
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- raw_request eval
"GET /h HTTP/1.1\r\nHost: a\r\nConnection: close, X-Forwarded-For, Authorization\r\n"
. "X-Forwarded-For: 6.6.6.6\r\nAuthorization: Basic eDp5\r\n\r\n"
--- error_code: 200
--- response_body_like
"x-forwarded-for":"127\.0\.0\.1"
--- check eval
sub {
    my $b = $_[0][0]{body};
    $b !~ /authorization/i && $b !~ /6\.6\.6\.6/ && $b !~ /"connection"/
        or die "forwarded what it should have stripped: $b\n";
}



=== TEST 17: 2,000 pipelined GETs not read yet: memory stays bounded, then all arrive whole
--- yaml_config eval
"routes:\n  - { name: all, paths: [\"/*\"], return: { status: 200, body: \""
. ("r" x 16384) . "\" } }\n"
--- timeout: 10
--- test_code eval
sub {
    my ($t) = @_;
    my $master = $t->pid;
    my ($worker) = split ' ', Test::Moongate::Server::slurp("/proc/$master/task/$master/children")
        // '';
    my $rss = sub {
        my ($kb) = (Test::Moongate::Server::slurp("/proc/$worker/status") // '')
            =~ /^VmRSS:\s+(\d+)/m;
        return $kb // 0;
    };
    my $before = $rss->();
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    my $reqs = CORE::join '', map { "GET /$_ HTTP/1.1\r\nHost: a\r\n\r\n" } 1 .. 2000;
    my $pid = fork() // die $!;
    if (!$pid) {
        Test::Moongate::Client::write_all($s, $reqs);
        POSIX::_exit(0);
    }
    Time::HiRes::sleep(1);   # 2,000 x 16 KiB answers would be 32 MiB if nothing held back
    my $during = $rss->();
    ok($worker && $before > 0, "worker $worker found");
    ok($during - $before < 8192, 'worker RSS grew by ' . ($during - $before) . ' KiB');
    my $rd = Test::Moongate::Client::new_reader($s, 5);
    my $ok = 0;
    for my $i (1 .. 2000) {
        my $r = Test::Moongate::Client::read_response($rd, 'GET');
        last unless $r && $r->{status} == 200 && length($r->{body}) == 16384;
        $ok++;
    }
    waitpid($pid, 0);
    is($ok, 2000, 'every answer arrived, whole');
}
