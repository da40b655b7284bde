# The upstream connection queue: at max_connections (or while connects to a node are
# paced by max_connecting) requests wait in arrival order for a connection instead of
# getting 503 at once; a full queue or a wait past queue.timeout gets 503 with
# Retry-After; a client that leaves while queued is forgotten; a connect timeout on
# the only node is tried there again. One worker everywhere: the order asserted is the
# order of one worker's queue.
use Test::Moongate;
use Test::Moongate::Blackhole;
use POSIX ();
use Socket ();
use Time::HiRes ();

# slow_upstream($port, $delay, $log) -> pid. One connection at a time, keep-alive:
# each request's path is appended to $log when it arrives, answered after $delay s
# with the path as the body.
sub slow_upstream {
    my ($port, $delay, $log) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 64, ReuseAddr => 1) or die "listen: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid) { close $srv; return $pid }
    POSIX::setpgid(0, 0);
    local $SIG{PIPE} = 'IGNORE';
    while (my $c = $srv->accept) {
        my $buf = '';
        while (1) {
            while ($buf !~ /\r\n\r\n/) {
                last unless sysread($c, $buf, 65536, length $buf);
            }
            last unless $buf =~ s/^([A-Z]+) (\S+) [^\r\n]*\r\n.*?\r\n\r\n//s;
            my $path = $2;
            if (open my $fh, '>>', $log) { syswrite $fh, "$path\n"; close $fh }
            Time::HiRes::sleep($delay);
            syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: " . length($path) . "\r\n\r\n$path")
                or last;
        }
        close $c;
    }
    POSIX::_exit(0);
}

sub stop_upstream {
    my ($pid) = @_;
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# send_at_once($t, @paths) -> the sockets, each with its GET written, in this order
# (a short pause between two, so that they reach the gateway in this order).
sub send_at_once {
    my ($t, @paths) = @_;
    my @s;
    for my $p (@paths) {
        my $s = Test::Moongate::Client::connect_to($t->port, 5) or die "connect: $!";
        Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET $p"));
        push @s, $s;
        Time::HiRes::sleep(0.05);
    }
    return @s;
}

sub read_from {
    my ($s, $timeout) = @_;
    my $r = Test::Moongate::Client::read_response(
        Test::Moongate::Client::new_reader($s, $timeout // 5), 'GET');
    close $s;
    return $r;
}

sub lines { [split /\n/, Test::Moongate::Server::slurp($_[0])] }

# metric($t, $name, $outcome) -> the value of a queue sample on /metrics
sub metric {
    my ($t, $name, $outcome) = @_;
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /metrics", [], 3);
    my $l = defined $outcome ? qr/\{upstream="slow",outcome="$outcome"\}/ : qr/\{upstream="slow"\}/;
    return $r && $r->{body} =~ /^\Q$name\E$l (\d+)$/m ? $1 : undef;
}

sub blackhole { Test::Moongate::Blackhole::make($_[0]) }

run_tests();

__DATA__

=== TEST 1: max_connections 1: concurrent requests all succeed, in arrival order
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    max_connections: 1
    queue: { size: 10, timeout: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/seen';
    my $pid = main::slow_upstream($t->fill('$MG_RAND_PORT_1'), 0.15, $log);
    my @paths = map { "/r$_" } 1 .. 6;
    my @s = main::send_at_once($t, @paths);
    my @res = map { main::read_from($_, 5) } @s;
    main::stop_upstream($pid);
    is_deeply([map { $_ && $_->{status} } @res], [(200) x 6], 'every request answered 200');
    is_deeply([map { $_ && $_->{body} } @res], \@paths, 'each got its own answer');
    is_deeply(main::lines($log), \@paths, 'the upstream saw them in arrival order');
    is(main::metric($t, 'moongate_upstream_queue_total', 'served'), 5,
       'five of them waited and were served');
    is(main::metric($t, 'moongate_upstream_queue_length'), 0, 'nobody waits any more');
}
--- no_error_log
no connection for the request



=== TEST 2: two workers share max_connections 1: every request is served
--- yaml_config
worker_processes: 2
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    max_connections: 1
    queue: { size: 20, timeout: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/seen';
    my $pid = main::slow_upstream($t->fill('$MG_RAND_PORT_1'), 0.1, $log);
    my @paths = map { "/w$_" } 1 .. 8;
    my $t0 = Time::HiRes::time();
    my @s = main::send_at_once($t, @paths);
    my @res = map { main::read_from($_, 8) } @s;
    my $took = Time::HiRes::time() - $t0;
    main::stop_upstream($pid);
    is_deeply([map { $_ && $_->{status} } @res], [(200) x 8], 'every request answered 200');
    is_deeply([sort @{ main::lines($log) }], [sort @paths], 'each reached the upstream once');
    ok($took < 4, "a slot freed by one worker reaches the other's waiters (${took}s)");
    my $st = $t->status;
    cmp_ok($st->{upstreams}[0]{connections}, '<=', 1, 'never more than one connection');
    is($st->{upstreams}[0]{queued}, 0, 'nobody left waiting');
}
--- no_error_log
no connection for the request



=== TEST 3: the queue is full: 503 at once, with Retry-After; the others are served
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    max_connections: 1
    queue: { size: 1, timeout: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/seen';
    my $pid = main::slow_upstream($t->fill('$MG_RAND_PORT_1'), 0.6, $log);
    my @s = main::send_at_once($t, '/a', '/b');
    my $t0 = Time::HiRes::time();
    my $third = $t->request("GET /c", [], 3);
    my $took = Time::HiRes::time() - $t0;
    my @res = map { main::read_from($_, 5) } @s;
    main::stop_upstream($pid);
    is($third && $third->{status}, 503, 'the third request: 503');
    is($third && $third->{headers}{'retry-after'}, '1', 'with Retry-After: 1');
    ok($took < 0.4, "at once (${took}s)");
    is_deeply([map { $_ && $_->{status} } @res], [200, 200], 'the first two: 200');
    is_deeply(main::lines($log), ['/a', '/b'], 'the upstream never saw the third');
    is(main::metric($t, 'moongate_upstream_queue_total', 'full'), 1, 'counted as full');
    like($t->error_log, qr/\[warn\].*upstream "slow": no connection for the request: the queue is full/,
         'one warn line naming the upstream and why');
}



=== TEST 4: a wait past queue.timeout: 503 with Retry-After after about the timeout
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    max_connections: 1
    queue: { size: 10, timeout: 400ms }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/seen';
    my $pid = main::slow_upstream($t->fill('$MG_RAND_PORT_1'), 1.5, $log);
    my @s = main::send_at_once($t, '/long');
    my $t0 = Time::HiRes::time();
    my $second = $t->request("GET /late", [], 3);
    my $took = Time::HiRes::time() - $t0;
    my $first = main::read_from($s[0], 5);
    main::stop_upstream($pid);
    is($second && $second->{status}, 503, 'the waiter: 503');
    is($second && $second->{headers}{'retry-after'}, '1', 'with Retry-After');
    ok($took >= 0.35 && $took < 1.2, "after about queue.timeout (${took}s)");
    is($first && $first->{status}, 200, 'the request holding the connection: 200');
    is_deeply(main::lines($log), ['/long'], 'the upstream saw only the first');
    is(main::metric($t, 'moongate_upstream_queue_total', 'timeout'), 1, 'counted as timeout');
}
--- error_log
waited queue.timeout



=== TEST 5: a client that leaves while queued is removed; the next waiter is served
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    max_connections: 1
    queue: { size: 10, timeout: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/seen';
    my $pid = main::slow_upstream($t->fill('$MG_RAND_PORT_1'), 1.0, $log);
    my ($a, $b, $c) = main::send_at_once($t, '/a', '/b', '/c');
    setsockopt($b, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
    close $b; # reset while waiting behind /a
    my $gone;
    for (1 .. 16) { # well before /a is answered, even on a loaded machine
        last if ($gone = main::metric($t, 'moongate_upstream_queue_total', 'gone')) == 1;
        Time::HiRes::sleep(0.05);
    }
    is($gone, 1, 'left the queue at once');
    is(main::metric($t, 'moongate_upstream_queue_length'), 1, 'one waiter left');
    my $ra = main::read_from($a, 5);
    my $rc = main::read_from($c, 5);
    my $r = $t->request("GET /after", [], 3);
    main::stop_upstream($pid);
    is($ra && $ra->{status}, 200, 'the first: 200');
    is($rc && $rc->{body}, '/c', 'the one after the leaver: served');
    is($r && $r->{status}, 200, 'the worker goes on');
    is_deeply(main::lines($log), ['/a', '/c', '/after'], 'the upstream never saw the leaver');
}
--- error_log
client connection reset while its request was served



=== TEST 6: a client that half-closes while queued still gets its answer
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    max_connections: 1
    queue: { size: 10, timeout: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/seen';
    my $pid = main::slow_upstream($t->fill('$MG_RAND_PORT_1'), 0.3, $log);
    my ($a, $b) = main::send_at_once($t, '/a', '/b');
    shutdown($b, 1); # FIN: nothing more to send, the answer is still wanted
    my $ra = main::read_from($a, 5);
    my $rb = main::read_from($b, 5);
    main::stop_upstream($pid);
    is($ra && $ra->{status}, 200, 'the first: 200');
    is($rb && $rb->{body}, '/b', 'the half-closed waiter: answered');
}



=== TEST 7: max_pending is still read as the queue's size
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    max_connections: 1
    max_pending: 0
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/seen';
    my $pid = main::slow_upstream($t->fill('$MG_RAND_PORT_1'), 0.5, $log);
    my @s = main::send_at_once($t, '/a');
    my $r = $t->request("GET /b", [], 3);
    my $first = main::read_from($s[0], 5);
    main::stop_upstream($pid);
    is($r && $r->{status}, 503, 'no room to wait: 503');
    is($first && $first->{status}, 200, 'the first: 200');
}



=== TEST 8: max_pending and queue.size together: the file is refused
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:1" }]
    max_pending: 5
    queue: { size: 10 }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: upstreams\[0\]\.queue\.size: max_pending and queue\.size are the same setting: write only one of them}]



=== TEST 9: a bad queue timeout: the file is refused, naming the key
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:1" }]
    queue: { size: 10, timeout: soon }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:\d+: upstreams\[0\]\.queue\.timeout: expected a duration.*"soon"}]



=== TEST 10: a bad queue size is refused
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:1" }]
    queue: { size: -1 }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:\d+: upstreams\[0\]\.queue\.size: expected an integer from 0 to \d+, got "-1"}]



=== TEST 11: max_connecting must be a number
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:1" }]
    max_connecting: many
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:\d+: upstreams\[0\]\.max_connecting: expected an integer from 0 to \d+, got "many"}]



=== TEST 12: max_connecting 1: a second connect to a blackholed node waits for the first
--- yaml_config
upstreams:
  - name: hole
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 600ms }
    retries: 0
    max_connecting: 1
    queue: { timeout: 5s }
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
        my @s = main::send_at_once($t, '/a', '/b');
        my @res = map { main::read_from($_, 5) } @s;
        my $took = Time::HiRes::time() - $t0;
        is_deeply([map { $_ && $_->{status} } @res], [504, 504], 'both: 504 (connect timeout)');
        ok($took >= 1.1 && $took < 2.5, "one connect after the other (${took}s)");
        my @lines = grep { /connect timed out/ } split /\n/, $t->error_log;
        is(scalar @lines, 2, 'two connect timeouts');
    }
}



=== TEST 13: a connect timeout on the only node is tried there again (GET)
--- yaml_config
upstreams:
  - name: hole
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 1500ms }
    retries: 1
routes:
  - { name: all, paths: ["/*"], upstream: hole }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $hole = main::blackhole($port);
    SKIP: {
        Test::More::skip('this kernel answers SYNs to a full listen queue: no blackhole to test', 3)
            unless $hole;
        # the SYN of the first try is dropped (and its retransmit at 1 s); at 1.2 s the
        # backlog is drained and the listener answers, so the second try gets through
        my $kid = fork() // die "fork: $!";
        if (!$kid) {
            POSIX::setpgid(0, 0);
            Time::HiRes::sleep(1.2);
            my ($l, @fill) = @$hole;
            close $_ for @fill;
            local $SIG{PIPE} = 'IGNORE';
            $l->blocking(1);
            while (my $c = $l->accept) {
                my $buf = '';
                while ($buf !~ /\r\n\r\n/) { last unless sysread($c, $buf, 4096, length $buf) }
                syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain") if $buf =~ /^GET/;
                close $c;
            }
            POSIX::_exit(0);
        }
        close $_ for @$hole; # the child holds them now
        my $r = $t->request("GET /x", [], 6);
        kill 'KILL', $kid;
        waitpid($kid, 0);
        is($r && $r->{status}, 200, 'answered by the second try on the same node');
        is($r && $r->{body}, 'again', 'its body');
        like($t->error_log, qr/connect timed out/, 'after one connect timeout');
    }
}



=== TEST 14: an unknown key in queue: names it
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:1" }]
    queue: { size: 10, wait: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: slow }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:\d+: upstreams\[0\]\.queue\.wait: unknown key "wait"}]
