# Cluster-wide rate limits through Redis: two instances share one limit, Redis going
# away applies `redis_failure`, Redis coming back brings the cluster limit back without
# a restart; cluster_approx stays within its bound; the redis block's config errors.
# Every block with `--- redis` gets a redis-server of its own ($MG_REDIS_PORT).
use Test::Moongate;

# status of GET $uri on instance $s (a Test::Moongate::Server), 'none' without answer
sub Test::Base::Filter::status_of {
    my ($s, $uri) = @_;
    my $r = $s->request("GET $uri", [], 3);
    return $r && $r->{status} ? $r->{status} : 'none';
}

# polls $cond every 50 ms for $secs seconds; true once it held
sub Test::Base::Filter::eventually {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

run_tests();

__DATA__

=== TEST 1: two instances sharing Redis stay within the limit
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT" }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: limited
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { name: shared, algorithm: fixed_window, rate: 10/h, key: route, scope: cluster }
--- request
GET /first
--- error_code: 200
--- check eval
sub {
    my ($res, $t) = @_;
    my $peer = $t->start_peer;
    my %n;
    $n{ status_of($_ % 2 ? $peer : $t, "/n$_") }++ for 1 .. 20;
    is($n{200} // 0, 9, 'the 9 left of 10 pass, spread over both instances');
    is($n{429} // 0, 11, 'the others are refused');
    like($t->redis->command('EXISTS', 'mg:shared:limited'), qr/^:1/, 'the key is mg:<name>:<key>');
    1;
}



=== TEST 2: both instances' requests count, token bucket, keyed by client address
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", prefix: "gw1:", pool_size: 3 }
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
    my @s = map { status_of($_ % 3 ? $peer : $t, "/x") } 1 .. 8;
    is("@s", "200 200 200 200 200 429 429 429", 'one bucket for both');
    like($t->redis->command('EXISTS', 'gw1:per-ip:127.0.0.1'), qr/^:1/, 'prefix and key');
    1;
}



=== TEST 3: Redis stopped mid-test with redis_failure reject, then back
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", timeout: 50ms }
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
--- request
GET /before
--- error_code: 200
--- check eval
sub {
    my ($res, $t) = @_;
    $t->redis->stop;
    my $t0 = Time::HiRes::time();
    my @s = map { status_of($t, "/down$_") } 1 .. 6;
    is("@s", "429 429 429 429 429 429", 'refused while Redis is away');
    cmp_ok(Time::HiRes::time() - $t0, '<', 2.5, 'without waiting on Redis each time');
    my $port = $t->redis->port;
    ok(eventually(2, sub { $t->error_log =~ /\[error\].*redis 127\.0\.0\.1:$port unavailable: .*redis_failure=reject/ }),
       'one outage line') or diag($t->error_log);
    $t->redis->start;    # same port, empty: the limit counts from zero again
    ok(eventually(8, sub { status_of($t, "/up") eq "200" }), 'recovers without a restart');
    my @after = map { status_of($t, "/after$_") } 1 .. 3;
    is("@after", "200 200 429", 'the cluster limit applies again');
    ok(eventually(2, sub { $t->error_log =~ /\[notice\].*redis 127\.0\.0\.1:$port available again/ }),
       'a notice when it is back');
    my @lines = $t->error_log =~ /unavailable:/g;
    cmp_ok(scalar @lines, '<=', 2, 'the outage is not logged per request');
    1;
}



=== TEST 4: Redis stopped with redis_failure allow lets everything through
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT" }
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
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 429]
--- check eval
sub {
    my ($res, $t) = @_;
    $t->redis->stop;
    my @s = map { status_of($t, "/down$_") } 1 .. 4;
    is("@s", "200 200 200 200", 'allowed while Redis is away');
    1;
}



=== TEST 5: Redis stopped with redis_failure local: the node's share, node-wide
--- redis
--- yaml_config
worker_processes: 2
redis: { address: "127.0.0.1:$MG_REDIS_PORT" }
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
--- request
GET /a
--- error_code: 200
--- check eval
sub {
    my ($res, $t) = @_;
    $t->redis->stop;
    my @s = map { status_of($t, "/down$_") } 1 .. 6;
    is("@s", "200 200 429 429 429 429", '8 / 4 nodes = 2 on this node, both workers together');
    1;
}



=== TEST 6: cluster_approx over two instances stays within its bound
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT" }
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
--- request
GET /a
--- error_code: 200
--- check eval
sub {
    my ($res, $t) = @_;
    my $peer = $t->start_peer;
    my $ok = 1;
    for my $i (1 .. 20) {
        $ok++ if status_of($i % 2 ? $peer : $t, "/n$i") eq "200";
        # about 6 requests/s offered: the bound is 10 + 6 x (2 x 50 ms + RTT) < 11
        Time::HiRes::sleep(0.15);
    }
    cmp_ok($ok, '>=', 10, 'the whole limit is usable');
    cmp_ok($ok, '<=', 11, 'overshoot within limit + rate x (2 x sync_interval + RTT)');
    1;
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
redis: { address: "127.0.0.1:$MG_REDIS_PORT" }
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
