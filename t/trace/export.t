# The span exporter against collectors that misbehave: down, slow, failing. A request
# never waits for the collector; what cannot be sent is dropped or counted as failed,
# and /status shows it. Also: batches are cut at batch_size, and a graceful stop sends
# what is still queued.
use Test::Moongate;
use JSON::PP ();
use Time::HiRes ();
use Test::Moongate::Otlp;

our ($RX, $SLOW, $BAD);
if (!Test::Moongate::Otlp::python_bin()) {
    Test::More::plan(skip_all => 'python3 is not installed');
}
$RX = Test::Moongate::Otlp::start();
$SLOW = Test::Moongate::Otlp::start(sleep => 3);
$BAD = Test::Moongate::Otlp::start(status => 500);

sub attrs { Test::Moongate::Otlp::attrs(@_) }

# /status's tracing counters once $pred accepts them (or after $secs).
sub tracing_status {
    my ($t, $pred, $secs) = @_;
    my $end = Time::HiRes::time() + ($secs // 5);
    while (1) {
        my $st = $t->status;
        my $tr = $st ? $st->{tracing} : undef;
        return $tr if ($tr && $pred->($tr)) || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.1);
    }
}

# Sends $n requests on new connections; returns the slowest one's seconds and the
# statuses.
sub burst {
    my ($t, $n, $path) = @_;
    my ($max, @st) = (0);
    for my $i (1 .. $n) {
        my $t0 = Time::HiRes::time();
        my $r = $t->request("GET $path/$i", [], 3);
        my $dt = Time::HiRes::time() - $t0;
        $max = $dt if $dt > $max;
        push @st, $r ? $r->{status} : 0;
    }
    return ($max, @st);
}

run_tests();

__DATA__

=== TEST 1: collector down: requests stay fast, the spans are counted as failed or dropped, a warning (not a flood) in the log
--- yaml_config
tracing: { endpoint: "http://127.0.0.1:$MG_RAND_PORT_1/v1/traces", queue_size: 4, batch_size: 2, flush_interval: 50ms, timeout: 1s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: down, paths: ["/e1/*"], upstream: echo }
--- test_code eval
sub {
    my ($t) = @_;
    my ($max, @st) = main::burst($t, 30, '/e1');
    is(scalar(grep { $_ == 200 } @st), 30, 'every request answered 200');
    ok($max < 0.5, sprintf('no request waited for the collector (slowest %.3f s)', $max));
    my $tr = main::tracing_status($t, sub { $_[0]{failed} + $_[0]{dropped} >= 60 });
    ok($tr->{enabled}, 'tracing on');
    ok($tr->{failed} > 0, "failed spans counted ($tr->{failed})");
    is($tr->{exported}, 0, 'nothing exported');
    is($tr->{failed} + $tr->{dropped}, 60, 'every span failed or was dropped (2 per request)');
    my @warn = grep { /\[warn\].*tracing: / } split /\n/, $t->error_log;
    ok(@warn >= 1 && @warn <= 2, scalar(@warn) . ' warning line(s) for 30 requests');
}
--- error_log
tracing:



=== TEST 2: a slow collector: one export in flight at a time, the bounded queue drops the rest, requests stay fast
--- yaml_config eval
"tracing: { endpoint: \"" . $main::SLOW->url . "\", queue_size: 6, batch_size: 2, flush_interval: 50ms, timeout: 10s }
routes:
  - { name: slow, paths: [\"/e2/*\"], return: { status: 200, body: \"ok\\n\" } }
"
--- test_code eval
sub {
    my ($t) = @_;
    my ($max, @st) = main::burst($t, 20, '/e2');
    is(scalar(grep { $_ == 200 } @st), 20, 'every request answered 200');
    ok($max < 0.5, sprintf('no request waited (slowest %.3f s)', $max));
    my $tr = main::tracing_status($t, sub { $_[0]{dropped} > 0 }, 2);
    ok($tr->{dropped} >= 20 - 2 - 6, "spans dropped while the queue was full ($tr->{dropped})");
    ok($tr->{queued} <= 6, "the queue stays within queue_size ($tr->{queued})");
    my @req = $main::SLOW->requests;
    ok(@req <= 1, 'one export in flight, no second one meanwhile (' . scalar(@req) . ')');
}



=== TEST 3: a collector answering 500: the batch counts as failed
--- yaml_config eval
"tracing: { endpoint: \"" . $main::BAD->url . "\", flush_interval: 50ms }
routes:
  - { name: bad, paths: [\"/e3/*\"], return: { status: 200, body: \"ok\\n\" } }
"
--- request eval
["GET /e3/a", "GET /e3/b", "GET /e3/c"]
--- error_code eval
[200, 200, 200]
--- test_code eval
sub {
    my ($t) = @_;
    my $tr = main::tracing_status($t, sub { $_[0]{failed} >= 3 });
    is($tr->{failed}, 3, 'three spans failed');
    is($tr->{exported}, 0, 'none exported');
    is($tr->{dropped}, 0, 'none dropped');
}
--- error_log
the collector answered HTTP 500



=== TEST 4: batches are cut at batch_size; every span arrives once
--- yaml_config eval
"tracing: { endpoint: \"" . $main::RX->url . "\", batch_size: 3, queue_size: 100, flush_interval: 100ms, service_name: batch-test }
routes:
  - { name: batch, paths: [\"/e4/*\"], return: { status: 200, body: \"ok\\n\" } }
"
--- test_code eval
sub {
    my ($t) = @_;
    main::burst($t, 10, '/e4');
    my @s = $main::RX->wait_spans(sub { ($_[0]{_resource}{'service.name'} // '') eq 'batch-test' }, 10);
    is(scalar @s, 10, 'ten SERVER spans');
    my %paths = map { main::attrs($_)->{'url.path'} => 1 } @s;
    is(scalar keys %paths, 10, 'each request once');
    my %per_post;
    $per_post{ $_->{_request}{time} }++ for @s;
    my @sizes = values %per_post;
    ok(!grep({ $_ > 3 } @sizes), 'no POST holds more than 3 spans (' . scalar(@sizes) . ' POSTs)');
    ok(@sizes >= 4, 'ten spans took at least four POSTs');
    my $tr = main::tracing_status($t, sub { $_[0]{exported} >= 10 });
    is($tr->{exported}, 10, '/status: 10 exported');
}



=== TEST 5: a graceful stop sends what is still queued
--- yaml_config eval
"tracing: { endpoint: \"" . $main::RX->url . "\", flush_interval: 1h, batch_size: 100, service_name: at-exit }
routes:
  - { name: exit, paths: [\"/e5/*\"], return: { status: 200, body: \"ok\\n\" } }
"
--- test_code eval
sub {
    my ($t) = @_;
    main::burst($t, 3, '/e5');
    my $pred = sub { ($_[0]{_resource}{'service.name'} // '') eq 'at-exit' };
    is(scalar $main::RX->wait_spans($pred, 1, 0.5), 0, 'nothing sent before the stop');
    my $t0 = Time::HiRes::time();
    $t->stop;
    ok(Time::HiRes::time() - $t0 < 3, 'the stop was not held up');
    is(scalar $main::RX->wait_spans($pred, 3, 2), 3, 'the three spans were sent on the way out');
}
