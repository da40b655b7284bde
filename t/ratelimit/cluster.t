# Cluster-wide rate limits through Redis: two instances share one limit, Redis going
# away applies `redis_failure`, Redis coming back brings the cluster limit back without
# a restart; cluster_approx admits the limit once its instances have synced; the redis
# block's config errors.
# Every block with `--- redis` gets a redis-server of its own ($MG_REDIS_PORT), and the
# harness waits until every worker's Redis client is connected before the first request.
# What a block asserts does not depend on the machine's speed: blocks whose counts are
# exact give Redis a deadline no loaded machine misses (`timeout: 2s`, not the default
# 50 ms), start their requests clear of a window edge, and wait for what must have
# happened (a log line, a sync answer) instead of sleeping.
use Test::Moongate;

# status of GET $uri on instance $s (a Test::Moongate::Server), 'none' without answer
sub Test::Base::Filter::status_of {
    my ($s, $uri) = @_;
    my $r = $s->request("GET $uri", [], 3);
    return $r && $r->{status} ? $r->{status} : 'none';
}

# polls $cond every 20 ms for $secs seconds (five times that under valgrind); true once
# it held. A deadline for something that must happen, never a measure of speed.
sub Test::Base::Filter::eventually {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs * ($ENV{MG_TEST_VALGRIND} ? 5 : 1);
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.02);
    }
    return $cond->();
}

# Sleeps until the current window of $w seconds has at least $need seconds (30) left on
# the wall clock (Redis' TIME: the cluster windows) and on the monotonic clock (the
# local zones of redis_failure=local), so that all of a block's requests fall in one
# window whatever the time of day. At most two sleeps while $need < $w / 2.
sub Test::Base::Filter::clear_of_window_edge {
    my ($w, $need) = @_;
    $need = ($need // 30) * ($ENV{MG_TEST_VALGRIND} ? 5 : 1);
    while (1) {
        my @now = (Time::HiRes::time(),
                   Time::HiRes::clock_gettime(Time::HiRes::CLOCK_MONOTONIC()));
        my ($left) = sort { $a <=> $b } map { $w - POSIX::fmod($_, $w) } @now;
        return if $left >= $need;
        Time::HiRes::sleep($left + 0.01);
    }
}

# The cluster count in the last cluster_approx sync answer instance $s logged for the
# Redis key $key (its view of the cluster), or -1 before any.
sub Test::Base::Filter::approx_seen {
    my ($s, $key) = @_;
    my @n = $s->error_log =~ /cluster_approx \Q$key\E synced: window \d+ count (\d+)$/mg;
    return @n ? $n[-1] : -1;
}

run_tests();

__DATA__

=== TEST 1: two instances sharing Redis stay within the limit
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: limited
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: shared, algorithm: fixed_window, rate: 10/h, key: route, scope: cluster }
--- test_code eval
sub {
    my ($t) = @_;
    clear_of_window_edge(3600);
    is(status_of($t, "/first"), 200, 'the first request passes');
    my $peer = $t->start_peer;
    my %n;
    $n{ status_of($_ % 2 ? $peer : $t, "/n$_") }++ for 1 .. 20;
    is($n{200} // 0, 9, 'the 9 left of 10 pass, spread over both instances');
    is($n{429} // 0, 11, 'the others are refused');
    like($t->redis->command('EXISTS', 'mg:shared:limited'), qr/^:1/, 'the key is mg:<name>:<key>');
}



=== TEST 2: both instances' requests count, token bucket, keyed by client address
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", prefix: "gw1:", pool_size: 3, timeout: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: tb
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: per-ip, algorithm: token_bucket, rate: 6/h, burst: 6, scope: cluster }
--- request
GET /
--- error_code: 200
--- check eval
sub {
    my ($res, $t) = @_;
    my $peer = $t->start_peer;
    # a token comes back every 600 s: none during the block
    my @s = map { status_of($_ % 3 ? $peer : $t, "/x") } 1 .. 8;
    is("@s", "200 200 200 200 200 429 429 429", 'one bucket for both');
    like($t->redis->command('EXISTS', 'gw1:per-ip:127.0.0.1'), qr/^:1/, 'prefix and key');
    1;
}



=== TEST 3: Redis stopped mid-test with redis_failure reject, then back
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 500ms }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: rj
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: rj, algorithm: fixed_window, rate: 3/h, key: route, scope: cluster,
          redis_failure: reject }
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->redis->port;
    clear_of_window_edge(3600);
    is(status_of($t, "/before"), 200, 'passes while Redis is up');
    $t->redis->stop;
    my $t0 = Time::HiRes::time();
    my @s = map { status_of($t, "/down$_") } 1 .. 6;
    is("@s", "429 429 429 429 429 429", 'refused while Redis is away');
    # 6 x the 500 ms deadline would be 3 s
    cmp_ok(Time::HiRes::time() - $t0, '<', 2, 'without waiting on Redis each time');
    ok(eventually(5, sub { $t->error_log =~ /\[error\].*redis 127\.0\.0\.1:$port unavailable: .*redis_failure=reject/ }),
       'one outage line') or diag($t->error_log);
    $t->redis->start;    # same port, empty: the limit counts from zero again
    ok(eventually(10, sub { $t->error_log =~ /\[notice\].*redis 127\.0\.0\.1:$port available again/ }),
       'a notice when it is back, without a restart') or diag($t->error_log);
    my @after = map { status_of($t, "/after$_") } 1 .. 4;
    is("@after", "200 200 200 429", 'the cluster limit applies again');
    my @lines = $t->error_log =~ /unavailable:/g;
    is(scalar @lines, 1, 'the outage is logged once, not per request');
}



=== TEST 4: Redis stopped with redis_failure allow lets everything through
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: al
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: al, algorithm: fixed_window, rate: 1/h, key: route, scope: cluster,
          redis_failure: allow }
--- test_code eval
sub {
    my ($t) = @_;
    clear_of_window_edge(3600);
    my @up = map { status_of($t, $_) } "/a", "/b";
    is("@up", "200 429", 'the limit applies while Redis is up');
    $t->redis->stop;
    my @s = map { status_of($t, "/down$_") } 1 .. 4;
    is("@s", "200 200 200 200", 'allowed while Redis is away');
}



=== TEST 5: Redis stopped with redis_failure local: the node's share, node-wide
--- redis
--- yaml_config
worker_processes: 2
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: lo
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: lo, algorithm: fixed_window, rate: 8/h, key: route, scope: cluster,
          redis_failure: local, nodes: 4 }
--- test_code eval
sub {
    my ($t) = @_;
    clear_of_window_edge(3600);
    is(status_of($t, "/a"), 200, 'passes while Redis is up');
    like($t->redis->command('EXISTS', 'mg:lo:lo'), qr/^:1/, 'counted in Redis, not locally');
    $t->redis->stop;
    my @s = map { status_of($t, "/down$_") } 1 .. 6;
    is("@s", "200 200 429 429 429 429", '8 / 4 nodes = 2 on this node, both workers together');
}



=== TEST 6: cluster_approx over two instances admits the limit once they have synced
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: ap
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: ap, algorithm: fixed_window, rate: 10/h, key: route, scope: cluster_approx,
          sync_interval: 50ms }
--- test_code eval
sub {
    my ($t) = @_;
    clear_of_window_edge(3600);
    # An instance misses only what the other consumed since it last pushed and since
    # this one last pulled. Each request's consumption is pushed and pulled by both
    # sync jobs before the next request, so that is nothing: exactly the limit passes.
    my ($peer, @synced);
    my $passed = 0;
    my $in_sync = 1;
    for my $i (0 .. 20) {
        my $s = $i == 0 ? $t : $i % 2 ? ($peer //= $t->start_peer) : $t;
        $passed++ if status_of($s, $i ? "/n$i" : "/a") eq "200";
        push @synced, $s unless grep { $_ == $s } @synced;
        $in_sync &&= eventually(5, sub { !grep { approx_seen($_, 'mg:ap:ap') != $passed } @synced });
    }
    ok($in_sync, 'each sync job pushes and pulls by itself')
        or diag(CORE::join "\n", map { "port " . $_->port . ": " . approx_seen($_, 'mg:ap:ap') }
                                   @synced);
    is($passed, 10, 'the whole limit is usable, and not more');
    is($t->redis->command('EVAL', "return tonumber(redis.call('HGET', KEYS[1], 'fn'))", 1,
                          'mg:ap:ap'), ':10', 'Redis counted them all');
}



=== TEST 7: a cluster scope needs a redis block
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200 }
    rate_limit:
      - { algorithm: fixed_window, rate: 10/s, scope: cluster }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+: routes\[0\]\.rate_limit\[0\]\.scope: .*redis}]



=== TEST 8: redis.pool_size out of range
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
redis: { address: "127.0.0.1:6379", pool_size: 0 }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:\d+: redis\.pool_size: expected an integer from 1 to 64, got "0"}]



=== TEST 9: redis.pool_size not a number
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
redis:
  address: "127.0.0.1:6379"
  pool_size: many
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:14: redis\.pool_size: expected an integer from 1 to 64, got "many"}]



=== TEST 10: redis.prefix with a space
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
redis: { address: "127.0.0.1:6379", prefix: "my app:" }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:\d+: redis\.prefix: expected printable characters without spaces, got "my app:"}]



=== TEST 11: redis pool_size and prefix accepted
--- yaml_config
redis: { address: "127.0.0.1:6379", pool_size: 4, prefix: "edge-1:", timeout: 20ms }
routes:
  - { paths: ["/"], return: { status: 200, body: "ok\n" } }
--- request
GET /
--- response_body
ok



=== TEST 12: /status shows the Redis client of the worker that answers
--- redis
--- yaml_config
worker_processes: 1
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: limited
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: st, algorithm: token_bucket, rate: 100/s, key: route, scope: cluster }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- check eval
sub {
    my ($res, $t) = @_;
    require JSON::PP;
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /status", [], 2);
    my $s = eval { JSON::PP::decode_json($r->{body}) } // {};
    my $redis = $s->{redis} // {};
    ok($redis->{connected}, 'connected');
    ok(($redis->{checks} // 0) >= 2, "checks counted ($redis->{checks})");
    is($redis->{failures}, 0, 'no failures');
    1;
}



=== TEST 13: cluster_approx between syncs: each instance at most the limit, nothing forgiven
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: bu
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: bu, algorithm: fixed_window, rate: 10/h, key: route, scope: cluster_approx,
          sync_interval: 50ms }
--- test_code eval
sub {
    my ($t) = @_;
    clear_of_window_edge(3600);
    my $peer = $t->start_peer;
    # no waiting between requests: how much the peer has seen of the first instance's
    # ten when its own come is up to the sync jobs, so only the bounds are exact
    my @a = map { status_of($t, "/a$_") } 1 .. 11;
    is("@a", CORE::join(' ', ("200") x 10, "429"), 'an instance counts its own consumption exactly');
    my @b = map { status_of($peer, "/b$_") } 1 .. 11;
    like("@b", qr/^(?:200 )*429(?: 429)*$/, 'the other admits what it has not seen consumed, then refuses');
    my $total = 10 + grep { $_ eq "200" } @b;
    cmp_ok($total, '<=', 20, 'two instances: never more than the limit beyond it');
    ok(eventually(5, sub { !grep { approx_seen($_, 'mg:bu:bu') != $total } $t, $peer }),
       "both sync jobs settle on the $total admitted");
    is($t->redis->command('EVAL', "return tonumber(redis.call('HGET', KEYS[1], 'fn'))", 1,
                          'mg:bu:bu'), ":$total", 'Redis counted every admitted request');
    is(status_of($_, "/after"), 429, 'refused once synced') for $t, $peer;
}
