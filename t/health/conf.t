# Bad health-check, limit and retry-budget values: the server refuses to start and
# names file:line:column, the key path and what was expected.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: max_connections must be a non-negative integer
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    max_connections: -1
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: upstreams\[0\]\.max_connections: expected an integer from 0 to 10000000, got \"-1\"}]


=== TEST 2: max_pending must be an integer
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    max_pending: lots
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: upstreams\[0\]\.max_pending: expected an integer from 0 to 10000000, got \"lots\"}]


=== TEST 3: retry_budget.ratio above 1
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    retry_budget: { ratio: 1.5 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:28: upstreams\[0\]\.retry_budget\.ratio: expected a number from 0 to 1, got \"1\.5\"}]


=== TEST 4: retry_budget unknown key
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    retry_budget: { min_retry: 3 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:21: upstreams\[0\]\.retry_budget\.min_retry: unknown key \"min_retry\" \(known keys: ratio, min_retries\)}]


=== TEST 5: active.interval must be a duration above 0
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active: { interval: 0 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:27: upstreams\[0\]\.health_check\.active\.interval: expected a duration above 0}]


=== TEST 6: active.path must start with a slash
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active: { path: health }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:23: upstreams\[0\]\.health_check\.active\.path: expected a path starting with '/', got \"health\"}]


=== TEST 7: active.expected_statuses: a bad range
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active:
        expected_statuses: [200, "300-250"]
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:7:34: upstreams\[0\]\.health_check\.active\.expected_statuses\[1\]: expected a status from 100 to 599 or a range like \"200-299\", got \"300-250\"}]


=== TEST 8: active.expected_statuses: out of range
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active:
        expected_statuses: 700
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:7:28: upstreams\[0\]\.health_check\.active\.expected_statuses: expected a status from 100 to 599}]


=== TEST 9: active.healthy_threshold must be at least 1
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active: { healthy_threshold: 0 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:36: upstreams\[0\]\.health_check\.active\.healthy_threshold: expected an integer from 1 to 1000, got \"0\"}]


=== TEST 10: active.unhealthy_threshold must be an integer
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active: { unhealthy_threshold: x }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:38: upstreams\[0\]\.health_check\.active\.unhealthy_threshold: expected an integer from 1 to 1000}]


=== TEST 11: active.timeout must be a duration
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active: { timeout: 1 sec }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:26: upstreams\[0\]\.health_check\.active\.timeout: expected a duration above 0}]


=== TEST 12: active.host must not contain spaces
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      active: { host: "a b" }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:23: upstreams\[0\]\.health_check\.active\.host: expected a host name without spaces}]


=== TEST 13: passive.max_ejection_percent above 100
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      passive: { max_ejection_percent: 101 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:40: upstreams\[0\]\.health_check\.passive\.max_ejection_percent: expected an integer from 0 to 100, got \"101\"}]


=== TEST 14: passive.max_ejection_time below base_ejection_time
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      passive: { base_ejection_time: 60s, max_ejection_time: 30s }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:62: upstreams\[0\]\.health_check\.passive\.max_ejection_time: max_ejection_time \(30s\) must be at least base_ejection_time \(60s\)}]


=== TEST 15: passive.consecutive_5xx must be an integer
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      passive: { consecutive_5xx: five }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:35: upstreams\[0\]\.health_check\.passive\.consecutive_5xx: expected an integer from 0 to 100000, got \"five\"}]


=== TEST 16: passive.consecutive_failures must not be negative
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      passive: { consecutive_failures: -2 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:40: upstreams\[0\]\.health_check\.passive\.consecutive_failures: expected an integer from 0 to 100000}]


=== TEST 17: passive.base_ejection_time must be a duration
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      passive: { base_ejection_time: soon }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:38: upstreams\[0\]\.health_check\.passive\.base_ejection_time: expected a duration above 0}]


=== TEST 18: breaker.failures must be at least 1
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      breaker: { failures: 0 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:28: upstreams\[0\]\.health_check\.breaker\.failures: expected an integer from 1 to 100000, got \"0\"}]


=== TEST 19: breaker.open_time must be a duration
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      breaker: { open_time: never }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:29: upstreams\[0\]\.health_check\.breaker\.open_time: expected a duration above 0}]


=== TEST 20: breaker.half_open_requests must be at least 1
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      breaker: { half_open_requests: 0 }
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:38: upstreams\[0\]\.health_check\.breaker\.half_open_requests: expected an integer from 1 to 100000}]


=== TEST 21: an unknown health_check block
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check:
      pasive: {}
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:7: upstreams\[0\]\.health_check\.pasive: unknown key \"pasive\" \(did you mean \"passive\"\?\)}]


=== TEST 22: health_check must be a mapping
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    health_check: yes
routes:
  - { paths: ["/*"], upstream: users }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:19: upstreams\[0\]\.health_check: expected a mapping}]

