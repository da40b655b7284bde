# A bad `tracing:` block: the server refuses to start and says where (file:line:column),
# which key, and what was expected; a reload with one keeps the running configuration.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: sample_ratio out of range
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
tracing:
  sample_ratio: 1.5
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:17: tracing\.sample_ratio: expected a number from 0 to 1, got "1\.5"}]



=== TEST 2: an endpoint that is not an http(s) URL
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
tracing: { endpoint: "grpc://127.0.0.1:4317" }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:2:22: tracing\.endpoint: expected the collector's OTLP/HTTP URL.*http:// or https://}]



=== TEST 3: an unknown key lists the known ones
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
tracing:
  service: gw
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:3: tracing\.service: unknown key "service" \(known keys: endpoint, sample_ratio, service_name,}]



=== TEST 4: a reload with a bad tracing block is refused; the old generation keeps serving
--- yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "ok\n" } }
--- reload_yaml_config
tracing: { batch_size: 10, queue_size: 5 }
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "ok\n" } }
--- reload_fails
--- reload_after: 1
--- request eval
["GET /r", "GET /r"]
--- error_code eval
[200, 200]
--- error_log eval
[qr{tracing\.batch_size: batch_size \(10\) is larger than queue_size \(5\)}]
