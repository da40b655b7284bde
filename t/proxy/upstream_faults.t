# Upstream faults (refused, blackholed, reset, silent, trickling, half or malformed
# answers, stale pooled connections): what the client gets, how long it waits, and
# that broken connections are never pooled. Faults the scripted upstream cannot play
# are played by fake_upstream() below, started and stopped by each block.
use Test::Moongate;
use Test::Moongate::Blackhole;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes ();

# fake_upstream($port, $mode, $count_file) -> pid. Every accepted connection appends a
# line to $count_file; modes:
#   rst         read a request, then reset the connection (no answer)
#   silent      read a request, never answer; append "eof" once the peer closes
#   trickle     answer a 10-byte body one byte every 0.2 s
#   stall       answer 5 of 10 body bytes, then wait 3 s before the rest
#   idle_close  answer with keep-alive, then close after 0.3 s idle
#   ka_then_rst answer the first request of a connection, reset on the second
sub fake_upstream {
    my ($port, $mode, $count_file) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 16, ReuseAddr => 1) or die "listen: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid) { close $srv; return $pid }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    while (my $c = $srv->accept) {
        if (open my $fh, '>>', $count_file) { syswrite $fh, "conn\n"; close $fh }
        my $kid = fork();
        if ($kid || !defined $kid) { close $c; next }
        close $srv;
        fake_serve($c, $mode, $count_file);
        POSIX::_exit(0);
    }
    POSIX::_exit(0);
}

# Reads one request (head and Content-Length body); false on EOF or after 3 s.
sub fake_read {
    my ($c) = @_;
    my $buf = '';
    my $t0 = Time::HiRes::time();
    while (Time::HiRes::time() - $t0 < 3) {
        if ($buf =~ /\r\n\r\n/) {
            my ($cl) = $buf =~ /^content-length:\s*(\d+)/im;
            return 1 if length($buf) >= $+[0] + ($cl // 0);
        }
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        next unless select($rin, undef, undef, 0.1) > 0;
        return 0 unless sysread($c, $buf, 65536, length $buf);
    }
    return 0;
}

sub fake_rst {
    my ($c) = @_;
    setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
    close $c;
}

sub fake_serve {
    my ($c, $mode, $count_file) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $head = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    fake_read($c) or return;
    if ($mode eq 'rst') { return fake_rst($c) }
    if ($mode eq 'silent') {
        1 while sysread($c, my $b, 4096);
        if (open my $fh, '>>', $count_file) { syswrite $fh, "eof\n"; close $fh }
        return;
    }
    if ($mode eq 'trickle' || $mode eq 'stall') {
        syswrite($c, $head);
        for my $i (0 .. 9) {
            Time::HiRes::sleep($mode eq 'stall' ? ($i == 5 ? 3 : 0) : 0.2);
            syswrite($c, $i) or return;
        }
        return;
    }
    if ($mode eq 'idle_close') {
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nidle");
        Time::HiRes::sleep(0.3);
        return;
    }
    if ($mode eq 'ka_then_rst') {
        syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
        fake_read($c) and fake_rst($c);
        return;
    }
}

sub blackhole { Test::Moongate::Blackhole::make($_[0]) }

sub count_lines {
    my ($file, $what) = @_;
    return scalar grep { $_ eq $what } split /\n/, Test::Moongate::Server::slurp($file);
}

sub stop_fake {
    my ($pid) = @_;
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

run_tests();

__DATA__

=== TEST 1: every node refuses: 502 at once, each node tried
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
      - { address: "127.0.0.1:$MG_RAND_PORT_3" }
    retries: 2
routes:
  - { name: all, paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $t0 = Time::HiRes::time();
    my $r = $t->request("POST /x\nbody", [], 3);
    my $took = Time::HiRes::time() - $t0;
    is($r && $r->{status}, 502, 'a refused POST is tried elsewhere, then gets 502');
    ok($took < 1, "no hang (${took}s)");
    my $log = $t->error_log;
    for my $n (1 .. 3) {
        my $p = $t->fill("\$MG_RAND_PORT_$n");
        like($log, qr/127\.0\.0\.1:$p/, "node $n was tried");
    }
}



=== TEST 2: a blackholed node: connect timeout, then 504 within a bounded wait
--- yaml_config
upstreams:
  - name: hole
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 500ms, send: 1s, read: 1s }
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: hole }
--- test_code eval
sub {
    my ($t) = @_;
    my $hole = main::blackhole($t->fill('$MG_RAND_PORT_1'));
    SKIP: {
        Test::More::skip('this kernel answers SYNs to a full listen queue: no blackhole to test', 3)
            unless $hole;
        my $t0 = Time::HiRes::time();
        my $r = $t->request("GET /x", [], 5);
        my $took = Time::HiRes::time() - $t0;
        is($r && $r->{status}, 504, '504 after the connect timeout');
        ok($took >= 0.4 && $took < 2.5, "bounded wait (${took}s)");
        like($t->error_log, qr/127\.0\.0\.1:\d+: [^\n]*connect/, 'a connect timeout logged');
    }
}



=== TEST 3: a blackholed node is skipped for the next one after the connect timeout
--- yaml_config
upstreams:
  - name: hole
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
    timeouts: { connect: 500ms, send: 1s, read: 1s }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: hole }
--- test_code eval
sub {
    my ($t) = @_;
    my $hole = main::blackhole($t->fill('$MG_RAND_PORT_1'));
    SKIP: {
        Test::More::skip('this kernel answers SYNs to a full listen queue: no blackhole to test', 4)
            unless $hole;
        for my $i (1 .. 2) {
            my $t0 = Time::HiRes::time();
            my $r = $t->request("POST /hello\nx", [], 5);
            my $took = Time::HiRes::time() - $t0;
            is($r && $r->{status}, 200, "request $i answered by the other node");
            ok($took < 2.5, "request $i within the budget (${took}s)");
        }
    }
}



=== TEST 4: reset after the request: a GET goes to the next node
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $cnt = $t->servroot . '/fake_count';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'rst', $cnt);
    my @st = map { my $r = $t->request("GET /hello", [], 3); $r && $r->{status} } 1 .. 2;
    main::stop_fake($pid);
    is_deeply(\@st, [200, 200], 'both GETs answered by the healthy node');
    is(main::count_lines($cnt, 'conn'), 1, 'the resetting node got one of them');
}



=== TEST 5: reset after the request: a POST is not sent twice, 502
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $cnt = $t->servroot . '/fake_count';
    my @pids = map { main::fake_upstream($t->fill("\$MG_RAND_PORT_$_"), 'rst', $cnt) } 1, 2;
    my $r = $t->request("POST /order\nitem=1", [], 3);
    main::stop_fake($_) for @pids;
    is($r && $r->{status}, 502, 'answered with 502');
    is(main::count_lines($cnt, 'conn'), 1, 'exactly one upstream saw the POST');
}



=== TEST 6: an upstream that accepts and never answers: 504, its connection closed
--- yaml_config
upstreams:
  - name: mute
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 1s, send: 1s, read: 500ms }
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: mute }
--- test_code eval
sub {
    my ($t) = @_;
    my $cnt = $t->servroot . '/fake_count';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'silent', $cnt);
    my @st;
    for (1 .. 2) {
        my $t0 = Time::HiRes::time();
        my $r = $t->request("GET /x", [], 3);
        push @st, $r && $r->{status};
        my $took = Time::HiRes::time() - $t0;
        ok($took < 2, "answered at the read timeout (${took}s)");
    }
    Time::HiRes::sleep(0.3);
    main::stop_fake($pid);
    is_deeply(\@st, [504, 504], 'both 504');
    is(main::count_lines($cnt, 'conn'), 2, 'a new connection each time (never pooled)');
    is(main::count_lines($cnt, 'eof'), 2, 'the gateway closed both');
}



=== TEST 7: a slow trickle within the read timeout is delivered whole
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 1s, send: 1s, read: 1s }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'trickle',
                                  $t->servroot . '/fake_count');
    my $r = $t->request("GET /x", [], 5);
    main::stop_fake($pid);
    is($r && $r->{status}, 200, 'status is 200');
    is($r && $r->{body}, '0123456789', 'every byte arrived');
    ok($r && !$r->{truncated}, 'complete');
}



=== TEST 8: a body that stalls past the read timeout: the client connection is cut
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 1s, send: 1s, read: 500ms }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'stall',
                                  $t->servroot . '/fake_count');
    my $t0 = Time::HiRes::time();
    my $r = $t->request("GET /x", [], 5);
    my $took = Time::HiRes::time() - $t0;
    main::stop_fake($pid);
    is($r && $r->{status}, 200, 'the head had gone out');
    ok($r && $r->{truncated} && !$r->{timed_out}, 'cut, so the truncation shows')
        or diag(explain($r));
    ok($took < 2.5, "cut at the read timeout (${took}s)");
}
--- error_log
timed out reading the response body



=== TEST 9: a short body is not pooled: the next request opens a new connection
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\nshort"
--- yaml_config
upstreams:
  - name: bad
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request eval
["GET /a", "GET /b"]
--- timeout: 2
--- check eval
sub {
    my $ok = 1;
    for my $r (@{ $_[0] }) {
        $ok &&= ok($r && $r->{truncated} && !$r->{timed_out}, 'truncation shows');
    }
    $ok;
}
--- upstream_accepted: 2



=== TEST 10: a bad status line: 502, not retried
--- upstream_listen: $MG_RAND_PORT_1 $MG_RAND_PORT_2
--- upstream_reply eval
"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: bad
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request
GET /x
--- error_code: 502
--- response_body_like: "status":502
--- upstream_accepted: 1



=== TEST 11: NUL in an upstream header: 502
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: bad
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request
GET /x
--- error_code: 502
--- response_headers
!X-Bad



=== TEST 12: two different Content-Length values from upstream: 502
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\nok"
--- yaml_config
upstreams:
  - name: bad
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request
GET /x
--- error_code: 502



=== TEST 13: a header split by a bare CR (response splitting): 502
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - name: bad
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: bad }
--- request
GET /x
--- error_code: 502
--- response_headers
!Set-Cookie



=== TEST 14: a pooled connection the upstream closed while idle is not used: no 502
--- yaml_config
upstreams:
  - name: closing
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: closing }
--- test_code eval
sub {
    my ($t) = @_;
    my $cnt = $t->servroot . '/fake_count';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'idle_close', $cnt);
    my $s = Test::Moongate::Client::connect_to($t->port, 3);
    my $rd = Test::Moongate::Client::new_reader($s, 3);
    my @st;
    for my $i (1 .. 3) {
        Test::Moongate::Client::write_all($s, "GET /$i HTTP/1.1\r\nHost: a\r\n\r\n");
        my $r = Test::Moongate::Client::read_response($rd, 'GET');
        push @st, $r && $r->{status};
        Time::HiRes::sleep(0.6);
    }
    main::stop_fake($pid);
    is_deeply(\@st, [200, 200, 200], 'every request answered');
    is(main::count_lines($cnt, 'conn'), 3, 'a fresh upstream connection each time');
}
--- no_error_log
[warn]



=== TEST 15: a pooled connection that breaks on reuse: a GET gets one fresh try
--- yaml_config
upstreams:
  - name: flaky
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: flaky }
--- test_code eval
sub {
    my ($t) = @_;
    my $cnt = $t->servroot . '/fake_count';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'ka_then_rst', $cnt);
    my @res = map { $t->request("GET /$_", [], 3) } 1 .. 2;
    main::stop_fake($pid);
    is_deeply([map { $_ && $_->{status} } @res], [200, 200], 'no spurious 502');
    is($res[1] && $res[1]{body}, 'first', 'the second GET went up on a fresh connection');
    is(main::count_lines($cnt, 'conn'), 2, 'two upstream connections');
}



=== TEST 16: a pooled connection that breaks on reuse: a POST is not resent
--- yaml_config
upstreams:
  - name: flaky
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: flaky }
--- test_code eval
sub {
    my ($t) = @_;
    my $cnt = $t->servroot . '/fake_count';
    my $pid = main::fake_upstream($t->fill('$MG_RAND_PORT_1'), 'ka_then_rst', $cnt);
    my $r1 = $t->request("GET /1", [], 3);
    my $r2 = $t->request("POST /2\nitem=1", [], 3);
    main::stop_fake($pid);
    is($r1 && $r1->{status}, 200, 'first request answered');
    is($r2 && $r2->{status}, 502, 'the POST that broke gets 502');
    is(main::count_lines($cnt, 'conn'), 1, 'and was not sent again on a new connection');
}
