# The status page in a real browser: headless Chromium (Debian package chromium) opens
# GET / of the admin listener while traffic runs, and tools/page-check reads the figures
# the page wrote into its DOM. Skipped, saying so, when chromium is not installed.
# Everything stays on 127.0.0.1 (see tools/page-check for the browser's flags).
use Test::Moongate;

# page_check(@args) -> (exit code, output) of tools/page-check
sub page_check {
    my $tool = Test::Moongate::mg_root() . '/tools/page-check';
    open my $fh, '-|', $tool, @_ or die "$tool: $!\n";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# report($what, $rc, $out) -> true when page-check ran: one test, skipped (with the
# reason) when chromium is missing
sub report {
    my ($what, $rc, $out) = @_;
  SKIP: {
        Test::More::skip(($out =~ /^# skip: (.*)$/m)[0] // 'chromium is not installed', 1)
            if $rc == 77;
        Test::More::is($rc, 0, $what) or Test::More::diag($out);
        Test::More::note($out);
    }
    return $rc != 77;
}

run_tests();

__DATA__

=== TEST 1: under traffic, the page shows requests/s, status classes and the node list
--- yaml_config
worker_processes: 2
error_log: { path: logs/error.log, level: info }
access_log: off
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
      - { address: "127.0.0.1:$MG_RAND_PORT_1" }
    retries: 0
    health_check:
      active: { path: /hello, interval: 100ms, timeout: 500ms, unhealthy_threshold: 1, healthy_threshold: 1 }
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
  - { name: api, paths: ["/api/*"], upstream: pool }
  - { name: down, paths: ["/down"], return: { status: 503, body: "down\n" } }
--- timeout: 60
--- test_code eval
sub {
    my $t = shift;
    my $base = 'http://127.0.0.1:' . $t->port;
    my ($rc, $out) = main::page_check(
        (map { ('--traffic', "$base$_") } qw(/hello /api/x /down /nope)),
        '--expect-node', '127.0.0.1:' . $t->echo_port . '=healthy',
        '--expect-node', $t->fill('127.0.0.1:$MG_RAND_PORT_1') . '=unhealthy',
        '--expect-classes', '2xx,4xx,5xx',
        'http://127.0.0.1:' . $t->admin_port . '/');
    main::report('tools/page-check: the figures in the DOM', $rc, $out);
}



=== TEST 2: the page's parsing of /metrics and its arithmetic, against a fake admin API
--- yaml_config
routes: []
--- timeout: 60
--- test_code eval
sub {
    my ($rc, $out) = main::page_check('--selftest');
    main::report('tools/page-check --selftest', $rc, $out);
}



=== TEST 3: with metrics off, the page still shows requests/s and nodes from /status
--- yaml_config
error_log: { path: logs/error.log, level: info }
access_log: off
metrics: { enabled: false }
upstreams:
  - name: pool
    nodes:
      - { address: "127.0.0.1:$MG_ECHO_PORT" }
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
  - { name: api, paths: ["/api/*"], upstream: pool }
--- timeout: 60
--- test_code eval
sub {
    my $t = shift;
    my $base = 'http://127.0.0.1:' . $t->port;
    my ($rc, $out) = main::page_check(
        '--traffic', "$base/hello", '--traffic', "$base/api/x",
        '--expect-node', '127.0.0.1:' . $t->echo_port, '--expect-classes', '2xx',
        'http://127.0.0.1:' . $t->admin_port . '/');
    main::report('tools/page-check: the figures in the DOM without /metrics', $rc, $out)
        and like($out, qr/^# \/metrics is not served/m, 'page-check saw /metrics answer 404');
}
