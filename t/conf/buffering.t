# The buffering keys (docs/buffering.md): a bad value stops the server with the file,
# line, column, key and what was expected; good ones start it.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: buffering.response must be a boolean
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - { name: u, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: r, paths: ["/*"], upstream: u, buffering: { response: sometimes } }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.buffering\.response: expected true or false}]



=== TEST 2: an unknown key in buffering names the closest known one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - { name: u, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: r
    paths: ["/*"]
    upstream: u
    buffering:
      requests: true
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:9:7: routes\[0\]\.buffering\.requests: unknown key "requests" \(did you mean "request"\?\)}]



=== TEST 3: buffering.memory below 4k is refused
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - { name: u, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: r, paths: ["/*"], upstream: u, buffering: { memory: 100 } }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.buffering\.memory: expected a size from 4k to 1g.*got "100"}]



=== TEST 4: http.buffer_memory_max must be a size
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
http: { buffer_memory_max: lots }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:\d+: http\.buffer_memory_max: expected a size}]



=== TEST 5: every key set: the server starts and proxies
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
http: { temp_path: spool, buffer_memory_max: 32m }
upstreams:
  - { name: u, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: r
    paths: ["/*"]
    upstream: u
    buffering: { response: true, request: true, memory: 32k, max_temp_file_size: 0 }
--- request
POST /hello
abc
--- error_code: 200
--- response_body_like: hello world
