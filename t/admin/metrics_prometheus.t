# A real Prometheus (Debian's `prometheus`) scrapes moongate's /metrics every second
# while a paced client sends a known request rate: tools/prometheus-check does it all on
# 127.0.0.1 and says what it checked. Skipped when the prometheus binary is missing.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: Prometheus sees 20 req/s on the route, the exact count, and the target up
--- yaml_config
worker_processes: 2
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $root = Test::Moongate::mg_root();
    my $cmd = "$root/tools/prometheus-check --admin 127.0.0.1:" . $t->admin_port
        . " --url http://127.0.0.1:" . $t->port . "/hello --route hello --rate 20 --seconds 10";
    my $out = `$cmd 2>&1`;
    my $code = $? >> 8;
    SKIP: {
        Test::More::skip("tools/prometheus-check: $out", 2) if $code == 77;
        is($code, 0, 'tools/prometheus-check passes') or diag($out);
        like($out, qr/^ok: sum\(rate\(moongate_http_requests_total\{route="hello"\}\[5s\]\)\) at/m,
             'it checked the rate') or diag($out);
        note($out);
    }
}
