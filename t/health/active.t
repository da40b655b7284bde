# Active health checks: one prober per upstream for the whole node, nodes marked down
# and back up from their probes, traffic kept away from down nodes, 503 at once when
# none is left, and the state carried over a reload.
use Test::Moongate;
use Time::HiRes ();

# wait_for($secs, $cond) -> true once $cond->() is, polled every 20 ms.
sub wait_for {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.02);
    }
    return $cond->();
}

sub get {
    my ($t, $path) = @_;
    return $t->request("GET $path", [], 3) // {};
}

sub count_lines {
    my ($file) = @_;
    return scalar grep { length } split /\n/, Test::Moongate::Server::slurp($file);
}

# node_health($t, $upstream, $addr) -> "healthy", "unhealthy", "ejected" from /status.
sub node_health {
    my ($t, $up, $addr) = @_;
    my $st = $t->status or return '';
    for my $u (@{ $st->{upstreams} // [] }) {
        next unless $u->{name} eq $up;
        for my $n (@{ $u->{nodes} }) {
            return $n->{health} if $n->{address} eq $addr;
        }
    }
    return '';
}

run_tests();

__DATA__

=== TEST 1: a node on a closed port is marked down, avoided, and back once it listens
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
    retries: 0
    health_check:
      active: { path: /hello, interval: 100ms, timeout: 500ms, unhealthy_threshold: 2, healthy_threshold: 2 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    ok(main::wait_for(5, sub { $t->error_log =~ m{upstream "pool" node 127\.0\.0\.1:$port is unhealthy: 2 failed probe\(s\) of /hello, last: Connection refused} }),
       'marked down, with the reason') or diag($t->error_log);
    is(main::node_health($t, 'pool', "127.0.0.1:$port"), 'unhealthy', '/status says unhealthy');
    my @st = map { main::get($t, '/hello')->{status} // 0 } 1 .. 10;
    is("@st", CORE::join(' ', (200) x 10), 'traffic avoids it, no retry needed');
    my $pid = Test::Moongate::Echo::start($port);
    ok(main::wait_for(5, sub { $t->error_log =~ m{node 127\.0\.0\.1:$port is healthy again: 2 successful probe\(s\)} }),
       'back up');
    is(main::node_health($t, 'pool', "127.0.0.1:$port"), 'healthy', '/status says healthy');
    my %ports;
    $ports{ main::get($t, '/hello')->{headers}{'x-echo-port'} // '' }++ for 1 .. 10;
    ok($ports{$port}, 'traffic returns to it') or diag(explain(\%ports));
    Test::Moongate::Echo::stop($pid);
    my $lines = () = $t->error_log =~ /is unhealthy/g;
    is($lines, 1, 'the transition is logged once');
}
--- no_error_log
[crit]



=== TEST 2: a node answering 500 to its probe is unhealthy; expected_statuses decide
--- upstream_listen
$MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
    retries: 0
    health_check:
      active: { path: /health, interval: 100ms, unhealthy_threshold: 1, expected_statuses: [200, "300-399"] }
  - name: lenient
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    health_check:
      active: { path: /health, interval: 100ms, unhealthy_threshold: 1, expected_statuses: ["500-599"] }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    ok(main::wait_for(5, sub { $t->error_log =~ m{upstream "pool" node 127\.0\.0\.1:$port is unhealthy: 1 failed probe\(s\) of /health, last: status 500} }),
       'marked down by its status') or diag($t->error_log);
    my @st = map { main::get($t, '/x')->{status} // 0 } 1 .. 6;
    is("@st", "200 200 200 200 200 200", 'only the healthy node answers');
    Time::HiRes::sleep(0.3);
    is(main::node_health($t, 'lenient', "127.0.0.1:$port"), 'healthy',
       'the same answer is fine where 5xx is expected');
    unlike($t->error_log, qr/upstream "lenient" node .* is unhealthy/, 'never marked down');
}



=== TEST 3: every node down: 503 at once, not a timeout
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    timeouts: { connect: 2s }
    health_check:
      active: { interval: 100ms, unhealthy_threshold: 1 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my ($p1, $p2) = map { $t->fill($_) } '$MG_RAND_PORT_1', '$MG_RAND_PORT_2';
    ok(main::wait_for(5, sub { my $l = $t->error_log; $l =~ /127\.0\.0\.1:$p1 is unhealthy/ && $l =~ /127\.0\.0\.1:$p2 is unhealthy/ }),
       'both marked down');
    my $t0 = Time::HiRes::time();
    my $r = main::get($t, '/x');
    my $took = Time::HiRes::time() - $t0;
    is($r->{status}, 503, 'status 503');
    cmp_ok($took, '<', 1, 'answered at once');
    like($t->error_log, qr/upstream "pool": no healthy upstream node, client: 127\.0\.0\.1/, 'logged with the upstream');
    unlike($t->error_log, qr/connect failed/, 'no node was tried');
}



=== TEST 4: one prober for the whole node, whatever the number of workers
--- upstream_listen
$MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
worker_processes: 2
upstreams:
  - name: pool
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    health_check:
      active: { interval: 100ms }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $file = $t->servroot . '/upstream_accepted';
    ok(main::wait_for(5, sub { main::count_lines($file) >= 3 }), 'probing');
    my ($c0, $t0) = (main::count_lines($file), Time::HiRes::time());
    Time::HiRes::sleep(1.5);
    my ($c1, $t1) = (main::count_lines($file), Time::HiRes::time());
    my $rate = ($c1 - $c0) / ($t1 - $t0);
    # one prober: 10 probes/s; one per worker would make 20
    cmp_ok($rate, '<', 14, 'one prober');
    cmp_ok($rate, '>', 5, 'probes keep going');
    my $runs = () = $t->error_log =~ /upstream "pool": this worker runs the active health checks/g;
    is($runs, 1, 'one worker holds the lease');
    my $st = $t->status;
    my ($u) = grep { $_->{name} eq 'pool' } @{ $st->{upstreams} };
    my %pids = map { $_->{pid} => 1 } @{ $st->{workers} };
    ok($pids{ $u->{prober_pid} }, '/status names the prober, one of the workers');
    # the holder dies: another worker takes over once the lease expires
    kill 'KILL', $u->{prober_pid};
    ok(main::wait_for(5, sub { my $s = $t->status or return 0;
                               my ($v) = grep { $_->{name} eq 'pool' } @{ $s->{upstreams} };
                               $v->{prober_pid} && $v->{prober_pid} != $u->{prober_pid} }),
       'another worker took over');
    my $c2 = main::count_lines($file);
    Time::HiRes::sleep(0.5);
    cmp_ok(main::count_lines($file), '>', $c2, 'and probes');
}
--- error_log eval
[qr/killed by signal 9/]



=== TEST 5: a node killed under load: no failed GET, none sent to it once detected, back when it returns
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
    retries: 1
    health_check:
      active: { path: /hello, interval: 100ms, timeout: 300ms, unhealthy_threshold: 2, healthy_threshold: 1 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $pid = Test::Moongate::Echo::start($port);
    my (@bad, %ports);
    for my $i (1 .. 30) {
        if ($i == 10) { Test::Moongate::Echo::stop($pid); }
        my $r = main::get($t, "/hello");
        push @bad, "$i:" . ($r->{status} // 'none') unless ($r->{status} // 0) == 200;
        $ports{ $r->{headers}{'x-echo-port'} // '' }++ if $i < 10;
    }
    ok($ports{$port}, 'both nodes served before');
    is("@bad", '', 'no failed request while the node dies');
    ok(main::wait_for(5, sub { $t->error_log =~ /127\.0\.0\.1:$port is unhealthy/ }), 'detected');
    my $mark = length $t->error_log;
    for my $i (1 .. 20) {
        my $r = main::get($t, "/hello");
        push @bad, "after:$i:" . ($r->{status} // 'none') unless ($r->{status} // 0) == 200;
    }
    is("@bad", '', 'no failed request after detection');
    unlike(substr($t->error_log, $mark), qr/node 127\.0\.0\.1:$port: connect failed/, 'nothing sent to it');
    $pid = Test::Moongate::Echo::start($port);
    ok(main::wait_for(5, sub { $t->error_log =~ /127\.0\.0\.1:$port is healthy again/ }), 'back');
    %ports = ();
    $ports{ main::get($t, '/hello')->{headers}{'x-echo-port'} // '' }++ for 1 .. 10;
    ok($ports{$port}, 'traffic returns') or diag(explain(\%ports));
    Test::Moongate::Echo::stop($pid);
}



=== TEST 6: health state survives a reload; the old generation's prober stops
--- upstream_listen
$MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
    retries: 0
    health_check:
      active: { interval: 100ms, unhealthy_threshold: 1, healthy_threshold: 1 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t, $block) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    ok(main::wait_for(5, sub { $t->error_log =~ /127\.0\.0\.1:$port is unhealthy/ }), 'down');
    my $yaml = $t->fill($block->yaml_config) . "  - { paths: [\"/other\"], upstream: pool }\n";
    my $err = $t->reload($yaml, 'signal');
    is($err, '', 'reloaded');
    my @st = map { main::get($t, '/x')->{status} // 0 } 1 .. 6;
    is("@st", "200 200 200 200 200 200", 'still avoided right after the reload');
    my $file = $t->servroot . '/upstream_accepted';
    Time::HiRes::sleep(0.3);
    my ($c0, $t0) = (main::count_lines($file), Time::HiRes::time());
    Time::HiRes::sleep(1.5);
    my $rate = (main::count_lines($file) - $c0) / (Time::HiRes::time() - $t0);
    cmp_ok($rate, '<', 14, 'one prober after the reload');
    is(main::node_health($t, 'pool', "127.0.0.1:$port"), 'unhealthy', 'still unhealthy');
}
