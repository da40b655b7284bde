# Drains that let streams finish: a graceful stop (QUIT) or a reload that replaces the
# workers lets a long download or an event stream end by itself (http.drain_timeout is
# an hour by default), closes idle connections and pooled upstream connections at
# once, refuses new connections, and shows what it still holds in /status; a short
# drain_timeout is honoured, and a second QUIT or a TERM ends a long drain at once.
use Test::Moongate;
use Test::Moongate::Client;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

my @Upstreams;
END { local $?; stop_upstream($_) for @Upstreams }

# slow_upstream($port, $dir) -> pid of a fake upstream for long answers, by path:
#   /download  200, Content-Length 81920: 20 blocks of 4 KiB, one every 0.35 s (~7 s)
#   /sse/N     200 text/event-stream, chunked: N events "data: i", one every 0.5 s,
#              then the last chunk
#   /ka        200 "ok" kept alive; when the gateway closes that connection, a line
#              "eof <time>" is appended to $dir/ka.log
sub slow_upstream {
    my ($port, $dir) = @_;
    stop_upstream($_) for splice @Upstreams; # the previous block's
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 64, ReuseAddr => 1) or die "listen: $!";
    my $pid = fork() // die "fork: $!";
    if ($pid) { close $srv; push @Upstreams, $pid; return $pid }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{PIPE} = 'IGNORE';
    while (1) {
        my $c = $srv->accept or next;
        my $kid = fork();
        if ($kid || !defined $kid) { close $c; next }
        close $srv;
        serve($c, $dir);
        POSIX::_exit(0);
    }
}

sub serve {
    my ($c, $dir) = @_;
    while (1) {
        my $buf = '';
        while ($buf !~ /\r\n\r\n/) {
            if (!sysread($c, $buf, 4096, length $buf)) {
                if (open my $fh, '>>', "$dir/ka.log") {
                    syswrite $fh, sprintf("eof %.3f\n", Time::HiRes::time());
                }
                return;
            }
        }
        my ($path) = $buf =~ m{^GET (\S+)};
        if ($path eq '/ka') {
            syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            next;
        }
        if ($path eq '/download') {
            syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 81920\r\nConnection: close\r\n\r\n");
            for my $i (0 .. 19) {
                syswrite($c, chr(ord('a') + $i) x 4096) or return;
                Time::HiRes::sleep(0.35);
            }
            return;
        }
        if ($path =~ m{^/sse/(\d+)}) {
            my $n = $1;
            syswrite($c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
            for my $i (1 .. $n) {
                my $ev = "data: $i\n\n";
                syswrite($c, sprintf("%x\r\n%s\r\n", length $ev, $ev)) or return;
                Time::HiRes::sleep(0.5) if $i < $n;
            }
            syswrite($c, "0\r\n\r\n");
            return;
        }
        syswrite($c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

sub stop_upstream {
    my ($pid) = @_;
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# start_stream($port, $path) -> { sock, buf, t0 } once the answer's head arrived.
sub start_stream {
    my ($port, $path) = @_;
    my $s = Test::Moongate::Client::connect_to($port, 3) or die "connect: $!";
    Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET $path", []));
    my $st = { sock => $s, buf => '', t0 => Time::HiRes::time() };
    my $end = Time::HiRes::time() + 3;
    while ($st->{buf} !~ /\r\n\r\n/ && Time::HiRes::time() < $end) {
        read_more($st, 0.1);
    }
    return $st;
}

# read_more($st, $secs): reads what comes within $secs; sets $st->{eof_at} at EOF.
sub read_more {
    my ($st, $secs) = @_;
    return 0 if defined $st->{eof_at};
    my $rin = '';
    vec($rin, fileno($st->{sock}), 1) = 1;
    return 0 unless select(my $rout = $rin, undef, undef, $secs) > 0;
    my $n = sysread($st->{sock}, $st->{buf}, 65536, length $st->{buf});
    $st->{eof_at} = Time::HiRes::time() unless $n;
    return $n;
}

# finish($st, $secs): reads until EOF or $secs pass; then parses: status, headers (lower
# -cased names), body (de-chunked), complete (the last chunk, or Content-Length bytes).
sub finish {
    my ($st, $secs) = @_;
    my $end = Time::HiRes::time() + $secs;
    read_more($st, 0.2) while !defined $st->{eof_at} && Time::HiRes::time() < $end;
    my ($head, $rest) = split /\r\n\r\n/, $st->{buf}, 2;
    $rest //= '';
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h = map { /^([^:]+):\s*(.*)$/ ? (lc $1 => $2) : () } split /\r\n/, $head // '';
    my ($body, $complete) = ('', 0);
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while ($rest =~ s/^([0-9a-f]+)\r\n//i) {
            my $len = hex $1;
            if ($len == 0) { $complete = 1; last }
            last if length($rest) < $len + 2;
            $body .= substr($rest, 0, $len);
            $rest = substr($rest, $len + 2);
        }
    } else {
        $body = $rest;
        $complete = defined $h{'content-length'} && length($body) == $h{'content-length'};
    }
    return { status => $status, headers => \%h, body => $body, complete => $complete,
             eof_at => $st->{eof_at} };
}

# workers($t) -> the /status entries of the workers.
sub workers { @{ ($_[0]->status // {})->{workers} // [] } }

# wait_until($secs, $cond) -> true once $cond->() is, polled every 20 ms.
sub wait_until {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.02);
    }
    return $cond->() ? 1 : 0;
}

# replace_worker($t, $old, $edit): a reload from one worker to two (which replaces it),
# the block's YAML changed further by $edit if given; checks that worker $old drains.
sub replace_worker {
    my ($t, $old, $edit) = @_;
    (my $yaml = $t->{yaml_src}) =~ s/worker_processes: 1/worker_processes: 2/;
    $edit->($yaml) if $edit;
    is($t->reload($yaml), '', 'a reload that replaces the worker');
    ok(wait_until(3, sub { grep { $_->{pid} == $old && $_->{draining} } workers($t) }),
       'the old worker drains');
}

sub events { my @e = $_[0] =~ /^data: (\d+)$/mg; return \@e }

# signal_ends_drain($t, $sig): a QUIT starts a drain that a long stream keeps going;
# then $sig to the master ends it at once, the stream cut.
sub signal_ends_drain {
    my ($t, $sig) = @_;
    slow_upstream($t->{vars}{MG_RAND_PORT_1}, $t->servroot);
    my $sse = start_stream($t->port, '/sse/30');
    Time::HiRes::sleep(0.3);
    kill 'QUIT', $t->pid;
    Time::HiRes::sleep(1.2);
    ok($t->alive, 'the QUIT drains: the master waits for the stream');
    read_more($sse, 0.1) for 1 .. 5;
    ok(!defined $sse->{eof_at}, 'which goes on');
    my $t0 = Time::HiRes::time();
    kill $sig, $t->pid;
    my $st = $t->wait_exit(3);
    ok(defined $st, sprintf('%s then stops it (%.2f s)', $sig, Time::HiRes::time() - $t0));
    is(defined $st ? $st >> 8 : -1, 0, 'with status 0');
    my $e = finish($sse, 2);
    ok(defined $e->{eof_at} && !$e->{complete}, 'the stream is cut');
}

run_tests();

__DATA__

=== TEST 1: QUIT: a 7 s download finishes complete and logged; idle and pooled connections close at once; new connections are refused
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 0 }
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    keepalive: 8
routes:
  - name: slow
    paths: ["/*"]
    upstream: slow
    plugins: { logged: {} }
--- lua_plugins
>>> logged.lua
local mg = require "moongate"
return {
    name = "logged", version = "1.0", priority = 1,
    schema = { type = "record", fields = {} },
    log = function(conf, ctx)
        mg.log(mg.WARN, "logged ", mg.var.uri, " status=", mg.var.status,
               " bytes_sent=", mg.var.bytes_sent)
    end,
}
--- timeout: 20
--- test_code eval
sub {
    my $t = shift;
    my $dir = $t->servroot;
    main::slow_upstream($t->{vars}{MG_RAND_PORT_1}, $dir);
    my $dl = main::start_stream($t->port, '/download');
    like($dl->{buf}, qr{^HTTP/1\.1 200}, 'the download started');
    # an idle keep-alive client connection whose request left a pooled upstream one (the
    # download holds the other)
    my $idle = Test::Moongate::Client::new_reader(Test::Moongate::Client::connect_to($t->port), 4);
    Test::Moongate::Client::write_all($idle->{sock}, Test::Moongate::Client::build("GET /ka", []));
    my $r = Test::Moongate::Client::read_response($idle, 'GET');
    is($r && $r->{body}, 'ok', 'a keep-alive request through a pooled upstream connection');
    Time::HiRes::sleep(0.3);
    my $t0 = Time::HiRes::time();
    kill 'QUIT', $t->pid;

    Test::Moongate::Client::fill($idle);
    my $idle_closed = Time::HiRes::time() - $t0;
    ok($idle->{eof}, 'the idle keep-alive connection is closed');
    ok($idle_closed < 1.8, sprintf('within the short grace (%.2f s)', $idle_closed));
    ok(main::wait_until(1.5, sub { (Test::Moongate::Server::slurp("$dir/ka.log") // '') =~ /eof/ }),
       'the pooled upstream connection is closed at once');
    ok(main::wait_until(1.5, sub { !Test::Moongate::Client::connect_to($t->port, 0.5) }),
       'new connections are refused');
    ok($t->alive, 'the master still runs while the download goes on');

    my $res = main::finish($dl, 12);
    my $took = ($res->{eof_at} // 0) - $t0;
    is($res->{status}, 200, 'the download answered 200');
    is(length $res->{body}, 81920, 'every byte arrived');
    is($res->{body}, CORE::join('', map { chr(ord('a') + $_) x 4096 } 0 .. 19), 'in order');
    ok($res->{complete} && defined $res->{eof_at}, 'then the connection closed');
    ok($took > 4, sprintf('the stream ran well past the drain start (%.1f s)', $took));
    my $st = $t->wait_exit(4);
    ok(defined $st, 'the master exited after it');
    is(defined $st ? $st >> 8 : -1, 0, 'with status 0');
    my ($sent) = $t->access_log =~ m{"GET /download HTTP/1\.1" 200 (\d+) };
    ok(($sent // 0) > 81920, 'the access log has the download, all of it sent');
}
--- error_log eval
[qr/logged \/download status=200 bytes_sent=8\d{4}\b/, qr/draining 2 connection\(s\), 1 with a request in flight, for at most 3600 s/, qr/drained in \d/]
--- no_error_log
drain timeout



=== TEST 2: a reload that replaces the workers: an event stream and a download on the old worker get every byte; /status shows what it holds
--- yaml_config
worker_processes: 1
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: slow, paths: ["/*"], upstream: slow }
--- timeout: 20
--- test_code eval
sub {
    my $t = shift;
    main::slow_upstream($t->{vars}{MG_RAND_PORT_1}, $t->servroot);
    my ($old) = map { $_->{pid} } main::workers($t);
    my $sse = main::start_stream($t->port, '/sse/12');
    my $dl = main::start_stream($t->port, '/download');
    like($sse->{buf}, qr{content-type: text/event-stream}i, 'the event stream started');
    Time::HiRes::sleep(0.6);
    my $yaml = $t->{yaml_src};
    $yaml =~ s/worker_processes: 1/worker_processes: 2/;
    is($t->reload($yaml), '', 'a reload that replaces the worker');
    my $w;
    ok(main::wait_until(3, sub {
        ($w) = grep { $_->{pid} == $old } main::workers($t);
        $w && $w->{draining} && $w->{drain} && $w->{drain}{requests} >= 2 }),
       'the old worker drains, holding both requests');
    my $now = Time::HiRes::time();
    ok($w && $w->{drain}{since} > $now - 5 && $w->{drain}{since} <= $now + 0.1,
       'since when it drains');
    ok($w && abs($w->{drain}{deadline} - $w->{drain}{since} - 3600) < 1,
       'its deadline is an hour later (the default drain_timeout)');
    ok($w && $w->{drain}{seconds_left} > 3500, 'seconds left');
    ok($w && $w->{drain}{bytes_to_send} > 0 && $w->{drain}{bytes_to_send} <= 81920,
       "bytes still to send ($w->{drain}{bytes_to_send})");
    ok($w && $w->{states}{active} >= 2 && $w->{connections} >= 2, 'its active connections');
    my $m = Test::Moongate::Client::request($t->admin_port, "GET /metrics", [], 3);
    like($m && $m->{body}, qr/^moongate_workers_draining 1$/m, 'metrics: one worker draining');
    my ($held) = ($m && $m->{body} // '') =~ /^moongate_draining_requests (\d+)$/m;
    ok(($held // 0) >= 2, 'metrics: the requests it holds (' . ($held // 'none') . ')');
    my @new = grep { $_->{pid} != $old } main::workers($t);
    ok(@new == 2 && !grep({ $_->{draining} || $_->{drain} } @new),
       'the new workers serve and do not drain');

    my $e = main::finish($sse, 12);
    is_deeply(main::events($e->{body}), [1 .. 12], 'the stream got every event');
    ok($e->{complete}, 'and its end');
    ok(defined $e->{eof_at}, 'then its connection is closed');
    my $d = main::finish($dl, 10);
    is(length $d->{body}, 81920, 'the download got every byte');
    ok(main::wait_until(4, sub { !kill(0, $old) }), 'the old worker exits once they are done');
    ok(!grep({ $_->{pid} == $old } main::workers($t)), 'and leaves /status');
}
--- error_log eval
[qr/drained in \d/]
--- no_error_log
drain timeout



=== TEST 3: drain_timeout: 2s cuts a longer stream at about 2 s and the worker exits
--- yaml_config
http: { drain_timeout: 2s }
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: slow, paths: ["/*"], upstream: slow }
--- timeout: 15
--- test_code eval
sub {
    my $t = shift;
    main::slow_upstream($t->{vars}{MG_RAND_PORT_1}, $t->servroot);
    my $sse = main::start_stream($t->port, '/sse/16');
    Time::HiRes::sleep(0.3);
    my $t0 = Time::HiRes::time();
    kill 'QUIT', $t->pid;
    my $e = main::finish($sse, 8);
    my $cut = ($e->{eof_at} // 99) - $t0;
    ok($cut > 1.7 && $cut < 3.2, sprintf('the stream is cut at the bound (%.2f s)', $cut));
    ok(!$e->{complete}, 'without its end: the client sees the truncation');
    my $n = @{ main::events($e->{body}) };
    ok($n >= 3 && $n < 16, "it got the events sent before the cut ($n)");
    my $st = $t->wait_exit(2);
    ok(defined $st, sprintf('the master exited (%.2f s)', Time::HiRes::time() - $t0));
    is(defined $st ? $st >> 8 : -1, 0, 'with status 0');
}
--- error_log eval
[qr/drain timeout \(http\.drain_timeout 2 s\): closing 1 connection\(s\), 1 with a request in flight/]



=== TEST 4: a second QUIT ends a long drain at once
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: slow, paths: ["/*"], upstream: slow }
--- timeout: 15
--- test_code eval
sub { main::signal_ends_drain($_[0], 'QUIT') }
--- error_log
QUIT again during the graceful stop



=== TEST 5: TERM during a long drain ends it at once
--- yaml_config
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: slow, paths: ["/*"], upstream: slow }
--- timeout: 15
--- test_code eval
sub { main::signal_ends_drain($_[0], 'TERM') }
--- error_log
fast stop



=== TEST 6: with nothing in flight a QUIT ends at once, whatever drain_timeout says
--- yaml_config
http: { drain_timeout: 1h }
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    is($t->request("GET /hello")->{status}, 200, 'served');
    my $t0 = Time::HiRes::time();
    kill 'QUIT', $t->pid;
    my $st = $t->wait_exit(3);
    my $took = Time::HiRes::time() - $t0;
    ok(defined $st && $took < 1, sprintf('the master exited (%.2f s)', $took));
}



=== TEST 7: TERM to an old worker ends its drain alone; the new workers go on
--- yaml_config
worker_processes: 1
upstreams:
  - name: slow
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
routes:
  - { name: slow, paths: ["/*"], upstream: slow }
--- timeout: 15
--- test_code eval
sub {
    my $t = shift;
    main::slow_upstream($t->{vars}{MG_RAND_PORT_1}, $t->servroot);
    my ($old) = map { $_->{pid} } main::workers($t);
    my $sse = main::start_stream($t->port, '/sse/30');
    main::replace_worker($t, $old);
    my $t0 = Time::HiRes::time();
    kill 'TERM', $old;
    ok(main::wait_until(2, sub { !kill(0, $old) }),
       sprintf('TERM ends it (%.2f s)', Time::HiRes::time() - $t0));
    my $e = main::finish($sse, 2);
    ok(defined $e->{eof_at} && !$e->{complete}, 'its stream is cut');
    my @w = main::workers($t);
    ok(@w == 2 && !grep({ $_->{draining} } @w), 'the two new workers serve, nothing respawned');
    ok($t->alive, 'the master runs');
}
--- error_log eval
[qr/worker \d+ \(slot \d+\) exited with status 0/]



=== TEST 8: a request that meets the end of the idle grace is answered, not reset
--- yaml_config
worker_processes: 1
routes:
  - { name: r, paths: ["/*"], return: { status: 200, body: "old\n" } }
--- timeout: 10
--- test_code eval
sub {
    my $t = shift;
    my ($old) = map { $_->{pid} } main::workers($t);
    my $ka = Test::Moongate::Client::new_reader(Test::Moongate::Client::connect_to($t->port), 4);
    Test::Moongate::Client::write_all($ka->{sock}, Test::Moongate::Client::build("GET /a", []));
    my $r = Test::Moongate::Client::read_response($ka, 'GET');
    is($r && $r->{status}, 200, 'a keep-alive connection to the old worker');
    main::replace_worker($t, $old, sub { $_[0] =~ s/body: "old\\n"/body: "new\\n"/ });
    # frozen across the end of its one-second grace, it finds, when it runs again, the
    # grace over and the request waiting: both in the same round of its loop
    Time::HiRes::sleep(0.4);
    kill 'STOP', $old;
    Time::HiRes::sleep(0.2);
    Test::Moongate::Client::write_all($ka->{sock}, Test::Moongate::Client::build("GET /b", []));
    Time::HiRes::sleep(0.6);
    kill 'CONT', $old;
    $r = Test::Moongate::Client::read_response($ka, 'GET');
    is($r && $r->{status}, 200, 'the request is answered');
    is($r && $r->{body}, "old\n", 'by the old worker');
    like($r ? $r->{headers}{connection} // '' : '', qr/close/i, 'with Connection: close');
    ok(main::wait_until(3, sub { !kill(0, $old) }), 'then the old worker exits');
}
