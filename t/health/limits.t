# Upstream limits: max_connections and max_pending (the older name of queue.size, whose
# own blocks are t/upstream/queue.t) answer 503 at once past them, and
# the retry budget keeps a failing upstream from doubling its load with retries.
use Test::Moongate;
use Time::HiRes ();

# concurrent($t, @specs) -> [[status, seconds], ...]: every request written on its own
# connection first, then the answers read in order.
sub concurrent {
    my ($t, @specs) = @_;
    my $t0 = Time::HiRes::time();
    my @readers;
    for my $spec (@specs) {
        my $s = Test::Moongate::Client::connect_to($t->port, 5) or die "connect: $!";
        Test::Moongate::Client::write_all($s, Test::Moongate::Client::build($spec, []));
        push @readers, Test::Moongate::Client::new_reader($s, 5);
        Time::HiRes::sleep(0.05); # in this order at the gateway
    }
    my @out;
    # the last ones first: a refused request must not be timed behind a slow one
    for my $i (reverse 0 .. $#readers) {
        my $r = Test::Moongate::Client::read_response($readers[$i], 'GET');
        $out[$i] = [$r ? $r->{status} // 0 : 0, Time::HiRes::time() - $t0];
        close $readers[$i]{sock};
    }
    return \@out;
}

run_tests();

__DATA__

=== TEST 1: over max_connections with no room to wait: 503 at once
--- yaml_config
upstreams:
  - name: pool
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    max_connections: 1
    max_pending: 0
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = main::concurrent($t, "GET /delay/800", "GET /hello");
    is($r->[0][0], 200, 'the first one is served');
    is($r->[1][0], 503, 'the second one is refused');
    cmp_ok($r->[1][1], '<', 0.6, 'at once');
    like($t->error_log, qr/upstream "pool": no connection for the request: the queue is full \(max_connections 1, queue\.size 0,[^)]*\): 503/, 'logged');
    my $st = $t->status;
    is($st->{upstreams}[0]{pending}, 0, 'nothing left pending');
    # the pooled connection is reused or replaced: the next request is served
    is($t->request("GET /hello", [], 3)->{status}, 200, 'served afterwards');
}



=== TEST 2: max_pending requests wait for a connection; one more is refused
--- yaml_config
upstreams:
  - name: pool
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    max_connections: 1
    max_pending: 1
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my $r = main::concurrent($t, "GET /delay/600", "GET /hello", "GET /hello");
    is($r->[0][0], 200, 'first served');
    is($r->[1][0], 200, 'second waited, then served');
    cmp_ok($r->[1][1], '>', 0.5, 'after the first one freed the connection');
    is($r->[2][0], 503, 'third refused');
    cmp_ok($r->[2][1], '<', 0.5, 'at once');
    my $st = $t->status;
    is($st->{upstreams}[0]{pending}, 0, 'nothing left pending');
    cmp_ok($st->{upstreams}[0]{connections}, '<=', 1, 'never more than one connection');
}



=== TEST 3: the retry budget stops a retry storm
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_RAND_PORT_2" }
    retries: 1
    retry_budget: { ratio: 0, min_retries: 2 }
routes:
  - { paths: ["/*"], upstream: pool }
--- request eval
[("GET /x") x 6]
--- error_code eval
[(502) x 6]
--- test_code eval
sub {
    my ($t) = @_;
    my $tries = () = $t->error_log =~ /connect failed/g;
    is($tries, 2 * 2 + 4, 'two requests retried, four not');
    my $spent = () = $t->error_log =~ /not retried: the retry budget is spent/g;
    is($spent, 4, 'each refusal logged');
    is($t->status->{upstreams}[0]{retries}, 2, '/status counts the retries');
}



=== TEST 4: a budget by share of requests: 50 % of the requests may be retried
--- yaml_config
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
    retries: 1
    retry_budget: { ratio: 0.5, min_retries: 0 }
routes:
  - { paths: ["/*"], upstream: pool }
--- test_code eval
sub {
    my ($t) = @_;
    my %st;
    $st{ $t->request("GET /hello", [], 3)->{status} // 0 }++ for 1 .. 20;
    my $retried = () = $t->error_log =~ /connect failed/g;
    my $spent = () = $t->error_log =~ /the retry budget is spent/g;
    my $made = $retried - $spent;    # failed tries that were followed by a retry
    cmp_ok($made, '>', 0, 'some requests were retried');
    cmp_ok($made, '<=', 10, 'retries stay within half of the requests');
    is($st{200}, 20 - $spent, 'every request not refused a retry was served');
}
