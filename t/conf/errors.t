# Bad configuration files: the server refuses to start and says where
# (file:line:column), which key, and what was expected.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: an unknown key names the closest known one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
worker_proceses: 1
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:1: worker_proceses: unknown key "worker_proceses" \(did you mean "worker_processes"\?\)}]



=== TEST 2: a route naming an unknown upstream
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/r"]
    upstream: userz
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:8:\d+: routes\[0\]\.upstream: .*"userz"}]



=== TEST 3: a bad node weight
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - name: users
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: 1 }
      - { address: "127.0.0.1:$MG_ECHO_PORT", weight: abc }
routes: []
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: upstreams\[0\]\.nodes\[1\]\.weight: .*abc}]



=== TEST 4: a bad duration
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
http:
  client_header_timeout: 10 parsecs
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:\d+: http\.client_header_timeout: }]



=== TEST 5: a YAML syntax error reports libyaml's position
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: r, paths: ["/r"
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+:}]



=== TEST 6: a bad path pattern names the route and path
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: users
    paths: ["/a/{id"]
    return: { status: 200 }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:4:\d+: routes\[\d+\]\.paths\[0\]: .*/a/\{id.*unclosed}]



=== TEST 7: a duplicate key
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
worker_processes: 1
worker_processes: 2
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:1: worker_processes: duplicate key "worker_processes" \(first given at line 2\)}]



=== TEST 8: a bad worker count and a bad log level
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
worker_processes: many
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:\d+: worker_processes: expected auto or an integer}]



=== TEST 9: an unknown HTTP method
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: m, methods: [GETT], paths: ["/m"], return: { status: 200 } }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:\d+: routes\[0\]\.methods.*GETT}]



=== TEST 10: a rate limit with a bad rate is refused, not ignored
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - { name: p, paths: ["/p"], return: { status: 200 }, rate_limit: [{ rate: fast }] }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:\d+: routes\[0\]\.rate_limit\[0\]\.rate: expected a rate}]



=== TEST 11: a listen address already in use
--- yaml_config
listen: ["127.0.0.1:$MG_ECHO_PORT"]
--- must_die: 1
--- error_log eval
[qr/127\.0\.0\.1:\d+/]



=== TEST 12: an empty file is valid (control: the server starts)
--- yaml_config
--- request
GET /
--- error_code: 404
