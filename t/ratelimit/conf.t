# Configuration errors of rate limiting: every key with a bad value names the file,
# line, column, key path and what was expected, and moongate refuses to start.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: rate_limit: a bad rate
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: fast }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.rate: .*expected a rate N/s, N/m, N/h, N/d or N/<duration>}]


=== TEST 2: rate_limit: a bad algorithm
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ algorithm: gcra, rate: 1/s }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.algorithm: .*expected token_bucket \| leaky_bucket}]


=== TEST 3: rate_limit: a bad burst
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, burst: lots }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.burst: .*expected a number from 0}]


=== TEST 4: rate_limit: a bad delay
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ algorithm: leaky_bucket, rate: 1/s, delay: sometimes }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.delay: .*expected}]


=== TEST 5: rate_limit: a bad delay outside leaky_bucket
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, delay: true }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.delay: .*`delay` is for leaky_bucket only, not token_bucket}]


=== TEST 6: rate_limit: a bad limit
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ algorithm: concurrency, limit: 0 }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.limit: .*expected an integer from 1}]


=== TEST 7: rate_limit: a bad limit with a rate algorithm
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ algorithm: fixed_window, rate: 1/s, limit: 5 }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.limit: .*`limit` is for the concurrency algorithm}]


=== TEST 8: rate_limit: a bad rate with concurrency
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ algorithm: concurrency, limit: 2, rate: 1/s }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.rate: .*use `limit`, not `rate`}]


=== TEST 9: rate_limit: a bad key
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, key: "remote_addr+user" }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.key: .*key part "user" is not remote_addr}]


=== TEST 10: rate_limit: a bad missing_key
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, missing_key: skip }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.missing_key: .*expected allow \| reject}]


=== TEST 11: rate_limit: a bad scope
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, scope: world }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.scope: .*expected local \| cluster \| cluster_approx}]


=== TEST 12: rate_limit: a bad scope cluster without redis
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, scope: cluster }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.scope: .*needs the top-level `redis` block}]


=== TEST 13: rate_limit: a bad zone
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, zone: nowhere }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.zone: .*unknown zone "nowhere"}]


=== TEST 14: rate_limit: a bad status
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, status: 302 }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.status: .*expected an integer from 400 to 599}]


=== TEST 15: rate_limit: a bad headers
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, headers: 1 }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.headers: .*expected}]


=== TEST 16: rate_limit: a bad redis_failure
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, redis_failure: allow }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.redis_failure: .*for the cluster scopes only}]


=== TEST 17: rate_limit: a bad nodes
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, nodes: 2 }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.nodes: .*for the cluster scopes only}]


=== TEST 18: rate_limit: a bad sync_interval
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, sync_interval: 1s }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.sync_interval: .*for scope cluster_approx only}]


=== TEST 19: rate_limit: a bad name
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ name: "", rate: 1/s }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.name: .*expected a non-empty string}]


=== TEST 20: rate_limit: a bad an unknown key
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, brust: 5 }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.rate_limit\[0\]\.brust: .*did you mean}]


=== TEST 21: rate_limit: a bad scope cluster_approx with leaky_bucket
--- yaml_config
redis: { address: "127.0.0.1:6379" }
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ algorithm: leaky_bucket, rate: 1/s, scope: cluster_approx }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.rate_limit\[0\]\.scope: .*cluster_approx works with token_bucket, fixed_window and sliding_window, not leaky_bucket}]


=== TEST 22: rate_limit: a bad redis_failure value
--- yaml_config
redis: { address: "127.0.0.1:6379" }
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, scope: cluster, redis_failure: retry }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.rate_limit\[0\]\.redis_failure: .*expected local \| allow \| reject}]


=== TEST 23: rate_limit: a bad nodes value
--- yaml_config
redis: { address: "127.0.0.1:6379" }
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, scope: cluster, nodes: 0 }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.rate_limit\[0\]\.nodes: .*expected an integer from 1}]


=== TEST 24: rate_limit: a bad sync_interval value
--- yaml_config
redis: { address: "127.0.0.1:6379" }
routes:
  - name: api
    paths: ["/*"]
    return: { status: 200 }
    rate_limit: [{ rate: 1/s, scope: cluster_approx, sync_interval: 1ms }]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.rate_limit\[0\]\.sync_interval: .*expected a duration from 10ms to 60s}]


=== TEST 25: rate_limit_zones: a bad size
--- yaml_config
rate_limit_zones: { api: 2k }
routes:
  - { name: api, paths: ["/*"], return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:1:\d+: rate_limit_zones\.api: .*expected a size}]


=== TEST 26: rate_limit_zones: a bad name
--- yaml_config
rate_limit_zones: { "API zone": 1m }
routes:
  - { name: api, paths: ["/*"], return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:1:\d+: rate_limit_zones\.API zone: .*a zone name is 1 to 64 of a-z}]


=== TEST 27: rate_limit_zones: not a mapping
--- yaml_config
rate_limit_zones: [api]
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:1:\d+: rate_limit_zones: expected a mapping of zone name to size}]
