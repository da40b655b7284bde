# Local rate limits through real requests: each algorithm's answers and headers, keys,
# limits exact across workers, concurrency slots given back, delays, zone eviction.
use Test::Moongate;
use JSON::PP ();
use Time::HiRes ();

sub get { Test::Moongate::Client::request($_[0]->port, $_[1], $_[2] // [], 5) }

sub status_json {
    my $t = shift;
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /status", [], 5);
    return JSON::PP::decode_json($r->{body});
}

run_tests();

__DATA__

=== TEST 1: fixed_window: exactly the limit passes, then 429 with Retry-After and RateLimit-*
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 3/m }
--- request eval
["GET /a", "GET /a", "GET /a", "GET /a"]
--- error_code eval
[200, 200, 200, 429]
--- response_headers eval
["!RateLimit-Limit", "!RateLimit-Limit", "!RateLimit-Limit",
 "RateLimit-Limit: 3\nRateLimit-Remaining: 0\nContent-Type: application/json"]
--- response_headers_like eval
["", "", "", "Retry-After: [1-9][0-9]*\nRateLimit-Reset: [1-9][0-9]*"]
--- response_body_like eval
[".*", ".*", ".*", qr/"error":"rate limit exceeded","status":429/]
