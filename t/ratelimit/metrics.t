# GET /metrics and the rate limits: each route limit's decisions (allowed, rejected,
# delayed) after known traffic, and the Redis client's figures for cluster limits,
# which agree with what /status says of them. Pages are checked with `promtool check
# metrics` when promtool is installed.
use Test::Moongate;
use Time::HiRes ();
use File::Temp ();
use POSIX ();

sub Test::Base::Filter::scrape {
    my ($t) = @_;
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /metrics", [], 3);
    return $r && ($r->{status} // 0) == 200 ? $r->{body} : '';
}

# The value of sample `name{labels}` (as the page writes it) on page $p, undef if absent.
sub Test::Base::Filter::value {
    my ($p, $sample) = @_;
    return $p =~ /^\Q$sample\E (\S+)$/m ? $1 + 0 : undef;
}

sub Test::Base::Filter::decisions {
    my ($p, $route, $limit) = @_;
    return join ' ', map {
        Test::Base::Filter::value($p, "moongate_ratelimit_decisions_total{route=\"$route\",limit=\"$limit\",decision=\"$_\"}")
            // 'none'
    } qw(allowed rejected delayed);
}

sub Test::Base::Filter::eventually {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs * ($ENV{MG_TEST_VALGRIND} ? 5 : 1);
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.02);
    }
    return $cond->();
}

sub Test::Base::Filter::status_of {
    my ($t, $uri) = @_;
    my $r = $t->request("GET $uri", [], 3);
    return $r && $r->{status} ? $r->{status} : 'none';
}

# Sleeps until the current window of $w seconds has at least 30 s left, so that a
# block's requests all fall in one fixed window.
sub Test::Base::Filter::clear_of_window_edge {
    my ($w) = @_;
    while (1) {
        my @now = (Time::HiRes::time(),
                   Time::HiRes::clock_gettime(Time::HiRes::CLOCK_MONOTONIC()));
        my ($left) = sort { $a <=> $b } map { $w - POSIX::fmod($_, $w) } @now;
        return if $left >= 30;
        Time::HiRes::sleep($left + 0.01);
    }
}

sub Test::Base::Filter::promtool_ok {
    my ($p, $what) = @_;
    my $tool = (grep { -x "$_/promtool" } split /:/, $ENV{PATH} // '')[0];
    if (!$tool) {
        Test::More::note("promtool not found (Debian package `prometheus`): $what not checked");
        return;
    }
    my $tmp = File::Temp->new;
    print $tmp $p;
    close $tmp;
    my $out = `$tool/promtool check metrics < $tmp 2>&1`;
    is($?, 0, "promtool check metrics: $what") or diag($out);
}

run_tests();

__DATA__

=== TEST 1: a limit rejecting 3 of 8; the limit after it sees only the 5 it let through
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    rate_limit:
      - { name: per-ip, algorithm: fixed_window, rate: 5/h }
      - { algorithm: token_bucket, rate: 1000/s, key: route }
  - name: free
    paths: ["/free"]
    return: { status: 200, body: "free\n" }
--- test_code eval
sub {
    my $t = shift;
    clear_of_window_edge(3600);
    my @s = map { status_of($t, "/x$_") } 1 .. 8;
    is("@s", "200 200 200 200 200 429 429 429", '5 pass, 3 are refused');
    is(status_of($t, "/free"), 200, 'a route without limits');
    my $p = scrape($t);
    is(decisions($p, 'api', 'per-ip'), '5 3 0', 'per-ip: 5 allowed, 3 rejected');
    is(decisions($p, 'api', 'api#1'), '5 0 0', 'the unnamed second limit, by its default name');
    unlike($p, qr/decisions_total\{route="free"/, 'no decision for the route without limits');
    like($p, qr/^# TYPE moongate_ratelimit_decisions_total counter$/m, 'a counter family');
    promtool_ok($p, 'decisions');
}



=== TEST 2: a leaky bucket with delay: the requests it made wait are counted delayed
--- yaml_config
routes:
  - name: smooth
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    rate_limit:
      - { name: lb, algorithm: leaky_bucket, rate: 20/s, burst: 10, delay: true, key: route }
--- test_code eval
sub {
    my $t = shift;
    my @s = map { status_of($t, "/x$_") } 1 .. 4;
    is("@s", "200 200 200 200", 'all pass');
    my ($a, $r, $d) = split ' ', decisions(scrape($t), 'smooth', 'lb');
    is($r, 0, 'none rejected');
    is($a + $d, 4, 'each decided once');
    cmp_ok($d, '>=', 1, "some waited ($d)");
}



=== TEST 3: a missing key with missing_key: reject is a rejection; without, it passes
--- yaml_config
routes:
  - name: keyed
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    rate_limit:
      - { name: must, algorithm: token_bucket, rate: 100/s, key: "header:X-Key",
          missing_key: reject }
  - name: loose
    paths: ["/loose"]
    return: { status: 200, body: "ok\n" }
    rate_limit:
      - { name: may, algorithm: token_bucket, rate: 100/s, key: "header:X-Key" }
--- test_code eval
sub {
    my $t = shift;
    is($t->request("GET /a", ["X-Key: k1"])->{status}, 200, 'with the key');
    is(status_of($t, "/b"), 429, 'without it');
    is(status_of($t, "/loose"), 200, 'without it where it may be missing');
    my $p = scrape($t);
    is(decisions($p, 'keyed', 'must'), '1 1 0', 'must: one allowed, one rejected');
    is(decisions($p, 'loose', 'may'), '1 0 0', 'may: the request passed it');
}



=== TEST 4: the Redis client's figures for cluster limits, beside /status
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 2s }
routes:
  - name: cl
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    rate_limit:
      - { name: shared, algorithm: fixed_window, rate: 2/h, key: route, scope: cluster }
--- test_code eval
sub {
    my $t = shift;
    clear_of_window_edge(3600);
    my @s = map { status_of($t, "/x$_") } 1 .. 3;
    is("@s", "200 200 429", 'the cluster limit applies');
    my $p = scrape($t);
    is(decisions($p, 'cl', 'shared'), '2 1 0', 'its decisions');
    is(value($p, 'moongate_ratelimit_cluster_checks_total'), 3, 'three cluster checks');
    is(value($p, 'moongate_ratelimit_cluster_checks_total'), $t->status->{redis}{checks},
       'as /status counts them');
    is(value($p, 'moongate_redis_commands_total'), 3, 'three commands');
    is(value($p, 'moongate_redis_command_duration_seconds_count'), 3, 'three replies timed');
    is(value($p, 'moongate_redis_errors_total{reason="failure"}'), 0, 'no failure');
    is(value($p, 'moongate_redis_errors_total{reason="timeout"}'), 0, 'no timeout');
    ok(eventually(3, sub { value(scrape($t), 'moongate_redis_connected') == 1 }),
       'the worker is connected (within a tick)');
    promtool_ok($p, 'Redis families');
}



=== TEST 5: Redis going away: failures, refusals and reconnects, as /status counts them
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 500ms }
routes:
  - name: cl
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    rate_limit:
      - { name: gone, algorithm: fixed_window, rate: 100/h, key: route, scope: cluster,
          redis_failure: reject }
--- test_code eval
sub {
    my $t = shift;
    clear_of_window_edge(3600);
    is(status_of($t, "/up"), 200, 'passes while Redis is up');
    $t->redis->stop;
    my @s = map { status_of($t, "/down$_") } 1 .. 4;
    is("@s", "429 429 429 429", 'refused while Redis is away');
    my $p = scrape($t);
    my $st = $t->status->{redis};
    ok($st, '/status shows the client');
    is(value($p, 'moongate_redis_errors_total{reason="failure"}'), $st->{failures},
       "failures as /status says ($st->{failures})");
    is(value($p, 'moongate_redis_errors_total{reason="timeout"}'), $st->{timeouts},
       "timeouts as /status says ($st->{timeouts})");
    is(value($p, 'moongate_ratelimit_cluster_fallbacks_total'), 4,
       'four checks applied redis_failure');
    is(value($p, 'moongate_ratelimit_cluster_fallbacks_total'), $st->{fallbacks},
       'as /status counts them');
    is(decisions($p, 'cl', 'gone'), '1 4 0', 'the limit rejected while Redis was away');
    ok(eventually(5, sub { (value(scrape($t), 'moongate_redis_reconnects_total') // 0) >= 1 }),
       'the client tries to connect again');
    ok(eventually(3, sub { value(scrape($t), 'moongate_redis_connected') == 0 }),
       'and is counted as not connected');
}
--- error_log eval
[qr/redis 127\.0\.0\.1:\d+ unavailable/]
