# Slow and silent clients: the header deadline, the body idle time and rate, and a
# response still delivered to a client that half-closed right after its request.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: slowloris: one header line every 0.4 s meets the 1 s header deadline
--- yaml_config
http: { client_header_timeout: 1s }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- raw_request eval
["GET / HTTP/1.1\r\n", "Host: a\r\n", "X-1: 1\r\n", "X-2: 2\r\n", "X-3: 3\r\n", "X-4: 4\r\n"]
--- raw_request_middle_delay: 0.4
--- timeout: 4
--- error_code: 408
--- error_log
client timed out sending the request head



=== TEST 2: a connection that sends nothing is closed at the header deadline, silently
--- yaml_config
http: { client_header_timeout: 1s }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    my $t0 = Time::HiRes::time();
    $s->blocking(1);
    my $got = sysread($s, my $buf, 100);
    my $took = Time::HiRes::time() - $t0;
    is($got, 0, 'closed without a response');
    ok($took >= 0.8 && $took < 3, "closed after the deadline (${took}s)");
}



=== TEST 3: a body that stops arriving: 408, and the upstream never saw the request
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
http: { client_body_timeout: 1s }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- raw_request eval
"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\nabc"
--- timeout: 4
--- error_code: 408
--- upstream_accepted: 0
--- error_log
client timed out sending the request body



=== TEST 4: a body trickling 1 byte every 0.3 s is cut by the minimum rate
--- yaml_config
http: { client_body_timeout: 1s }
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n";
    my $t0 = Time::HiRes::time();
    my $alive = 1;
    local $SIG{PIPE} = 'IGNORE';
    while ($alive && Time::HiRes::time() - $t0 < 6) {
        Time::HiRes::sleep(0.3);
        $alive = defined syswrite($s, 'x');
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        if (select(my $rout = $rin, undef, undef, 0) > 0) {
            my $n = sysread($s, my $buf, 4096);
            $alive = 0 if !$n || $buf =~ /^HTTP/ && !sysread($s, $buf, 4096);
        }
    }
    ok(Time::HiRes::time() - $t0 < 5, 'the trickling client was cut off');
}



=== TEST 5: FIN right after the request: the response is still delivered
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "after fin" } }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    shutdown($s, 1);
    local $/;
    my $r = <$s> // '';
    like($r, qr{^HTTP/1\.1 200 .*after fin$}s, 'answered after the client half-closed');
}



=== TEST 6: a large response the client never reads: closed at the send timeout
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 33554432\r\n\r\n" . ('x' x 33554432)
--- yaml_config
http: { send_timeout: 1s }
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: all, paths: ["/*"], upstream: big }
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    print $s "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
    sleep 3; # never read meanwhile: the gateway's send timeout (1 s) must fire
    my ($got, $n) = (0, 0);
    local $SIG{ALRM} = sub { die "the connection stayed open\n" };
    alarm 5;
    while (($n = sysread($s, my $buf, 1 << 16))) { $got += $n }
    alarm 0;
    ok($got < 33554432, "the connection was closed before the whole response ($got bytes)");
    like($t->error_log, qr/client timed out reading the response/, 'send timeout logged');
}



=== TEST 7: a body that stalls after 200 KiB went up: 408, the upstream request aborted
--- yaml_config
http: { client_body_timeout: 1s }
upstreams:
  - name: up
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 1s, send: 5s, read: 5s }
    retries: 0
routes:
  - { name: all, paths: ["/*"], upstream: up }
--- test_code eval
sub {
    my ($t) = @_;
    my $log = $t->servroot . '/upstream_seen';
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', Listen => 8, ReuseAddr => 1,
                                    LocalPort => $t->fill('$MG_RAND_PORT_1')) or die $!;
    my $up = fork() // die $!;
    if (!$up) {
        # accept each connection, read until EOF, report how much arrived
        $SIG{CHLD} = 'IGNORE';
        while (my $c = $srv->accept) {
            next if fork();
            my ($n, $got) = (0, 0);
            $got += $n while ($n = sysread($c, my $buf, 65536));
            open my $fh, '>>', $log or POSIX::_exit(1);
            syswrite $fh, "eof $got\n";
            POSIX::_exit(0);
        }
        POSIX::_exit(0);
    }
    close $srv;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    local $SIG{PIPE} = 'IGNORE';
    syswrite($s, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n");
    syswrite($s, 'b' x 4096) for 1 .. 50;
    my $rd = Test::Moongate::Client::new_reader($s, 4);
    my $r = Test::Moongate::Client::read_response($rd, 'POST');
    Time::HiRes::sleep(0.5);
    my $seen = Test::Moongate::Server::slurp($log) // '';
    kill 'KILL', $up;
    waitpid($up, 0);
    is($r && $r->{status}, 408, 'the client gets 408');
    like($seen, qr/^eof \d+$/m, 'the upstream connection was closed (request aborted)');
    my ($got) = $seen =~ /^eof (\d+)/m;
    ok(defined $got && $got < 1000000, 'and the upstream never got a complete request');
}
--- error_log
client timed out sending the request body



=== TEST 8: a large response never read: the worker's memory stays bounded meanwhile
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n" . ('y' x 67108864)
--- yaml_config
http: { send_timeout: 2s }
upstreams:
  - name: big
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    timeouts: { connect: 1s, send: 5s, read: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: big }
--- timeout: 8
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
    print $s "GET /big HTTP/1.1\r\nHost: a\r\n\r\n";
    Time::HiRes::sleep(1.2);   # not reading: the upstream body (64 MiB) must not pile up
    my $during = $rss->();
    ok($worker && $before > 0, "worker $worker found");
    ok($during - $before < 8192, "worker RSS grew by " . ($during - $before) . " KiB");
    my ($got, $n) = (0, 0);
    local $SIG{ALRM} = sub { die "the connection stayed open\n" };
    alarm 6;
    Time::HiRes::sleep(2);
    while (($n = sysread($s, my $buf, 1 << 16))) { $got += $n }
    alarm 0;
    ok($got < 67108864, "closed at the send timeout ($got bytes read)");
}
