# Passive checks and circuit breakers: nodes taken out by what real requests see, for
# a time that grows with repeated ejections, never the only node; breakers that open,
# let a trial through when half-open, and close or open again.
use Test::Moongate;
use Time::HiRes ();

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

# statuses($t, $n, $path) -> "s1 s2 ..." of $n GETs.
sub statuses {
    my ($t, $n, $path) = @_;
    return CORE::join(' ', map { get($t, $path // '/x')->{status} // 0 } 1 .. $n);
}

run_tests();

__DATA__

=== TEST 1: consecutive 5xx eject a node; it comes back, and a second ejection lasts longer
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
      passive: { consecutive_5xx: 3, base_ejection_time: 1s, max_ejection_percent: 50 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $s = main::statuses($t, 16);
    my $n500 = () = $s =~ /500/g;
    is($n500, 3, 'three 5xx, then the node is out') or diag($s);
    like($t->error_log, qr{upstream "pool" node 127\.0\.0\.1:$port ejected for 1s \(ejection 1 in a row\): 3 5xx answers or failures in a row},
         'ejection logged');
    my $st = $t->status;
    my ($n) = grep { $_->{address} eq "127.0.0.1:$port" } @{ $st->{upstreams}[0]{nodes} };
    is($n->{health}, 'ejected', '/status says ejected');
    Time::HiRes::sleep(1.1);
    $s = main::statuses($t, 16);
    $n500 = () = $s =~ /500/g;
    is($n500, 3, 'back after the ejection time, and out again') or diag($s);
    like($t->error_log, qr{127\.0\.0\.1:$port ejected for 2s \(ejection 2 in a row\)}, 'the second lasts twice as long');
}



=== TEST 2: the only node is never ejected
--- upstream_listen
$MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
--- yaml_config
upstreams:
  - name: one
    nodes: [{ address: "127.0.0.1:$MG_RAND_PORT_1" }]
    health_check:
      passive: { consecutive_5xx: 2, max_ejection_percent: 100 }
routes:
  - { paths: ["/*"], upstream: one }
--- request eval
[("GET /x") x 5]
--- error_code eval
[(503) x 5]
--- no_error_log
ejected for



=== TEST 3: connect failures eject too; max_ejection_percent keeps the rest in
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
    retries: 2
    health_check:
      passive: { consecutive_failures: 2, max_ejection_percent: 10, base_ejection_time: 30s }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    is(main::statuses($t, 10, '/hello'), CORE::join(' ', (200) x 10), 'every request served');
    my $ej = () = $t->error_log =~ /ejected for 30s/g;
    is($ej, 1, 'one node of three ejected at most (10 %, at least one)');
    like($t->error_log, qr/ejected for 30s \(ejection 1 in a row\): 2 failures in a row/, 'the reason');
}



=== TEST 4: breaker: closed -> open -> half-open -> closed
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
    retries: 1
    health_check:
      breaker: { failures: 2, open_time: 500ms, half_open_requests: 1 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    is(main::statuses($t, 6, '/hello'), "200 200 200 200 200 200", 'retries cover the failures');
    like($t->error_log, qr{upstream "pool" node 127\.0\.0\.1:$port: circuit breaker open for 0\.5s: too many failures in a row},
         'opened');
    my $mark = length $t->error_log;
    is(main::statuses($t, 4, '/hello'), "200 200 200 200", 'served while open');
    unlike(substr($t->error_log, $mark), qr/127\.0\.0\.1:$port: connect failed/, 'nothing sent while open');
    my $st = $t->status;
    my ($n) = grep { $_->{address} eq "127.0.0.1:$port" } @{ $st->{upstreams}[0]{nodes} };
    is($n->{breaker}, 'open', '/status says open');
    my $pid = Test::Moongate::Echo::start($port);
    Time::HiRes::sleep(0.6);
    my %ports;
    $ports{ main::get($t, '/hello')->{headers}{'x-echo-port'} // '' }++ for 1 .. 6;
    ok($ports{$port}, 'the trial and then traffic reach it') or diag(explain(\%ports));
    like($t->error_log, qr{127\.0\.0\.1:$port: circuit breaker half-open after 0\.5s open, letting 1 trial request\(s\) through}, 'half-open');
    like($t->error_log, qr{127\.0\.0\.1:$port: circuit breaker closed: the trial succeeded}, 'closed');
    like($t->error_log, qr{breaker open.*breaker half-open.*breaker closed}s, 'in that order');
    Test::Moongate::Echo::stop($pid);
}



=== TEST 5: breaker: a failed half-open trial opens it again
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
    retries: 1
    health_check:
      breaker: { failures: 1, open_time: 300ms }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    is(main::statuses($t, 4, '/hello'), "200 200 200 200", 'served');
    Time::HiRes::sleep(0.4);
    is(main::statuses($t, 4, '/hello'), "200 200 200 200", 'served, the trial retried elsewhere');
    like($t->error_log, qr{127\.0\.0\.1:$port: circuit breaker open for 0\.3s: the half-open trial failed}, 'open again');
    my $opens = () = $t->error_log =~ /127\.0\.0\.1:$port: circuit breaker open/g;
    is($opens, 2, 'opened twice');
}
