# fault-injection: abort (status, body, headers) and delay (mg.sleep, never blocking the
# worker) for a percentage of the requests, only those matching `match`; the config
# checked at load.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

run_tests();

__DATA__

=== TEST 1: abort answers every request with the status, body and headers; the upstream is never asked
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins:
      fault-injection:
        abort: { status: 503, body: "injected\n", headers: { Retry-After: "7", X-Fault: abort } }
--- request eval
["GET /a", "POST /b\nbody"]
--- error_code eval
[503, 503]
--- response_body eval
["injected\n", "injected\n"]
--- response_headers
Retry-After: 7
X-Fault: abort



=== TEST 2: abort at 50 % hits about half of 400 requests
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins:
      fault-injection: { abort: { status: 418, percentage: 50 } }
--- test_code eval
sub {
    my $t = shift;
    my %n;
    my $s = Test::Moongate::Client::connect_to($t->port, 5);
    my $rd = Test::Moongate::Client::new_reader($s, 5);
    for (1 .. 400) {
        Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET /hello", []));
        my $r = Test::Moongate::Client::read_response($rd, 'GET');
        $n{$r ? $r->{status} : 'none'}++;
    }
    my $aborted = $n{418} // 0;
    is(($n{418} // 0) + ($n{200} // 0), 400, 'every answer is 418 or the upstream\'s 200');
    ok($aborted >= 150 && $aborted <= 250, "50 % within tolerance: $aborted of 400 aborted");
}



=== TEST 3: percentage 0 never aborts; the request goes upstream
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins:
      fault-injection: { abort: { status: 500, percentage: 0 } }
--- request eval
[("GET /hello") x 20]
--- error_code eval
[(200) x 20]



=== TEST 4: delay holds the request for its duration, then the upstream answers
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins:
      fault-injection: { delay: { duration: 0.3 } }
--- test_code eval
sub {
    my $t = shift;
    my $t0 = Time::HiRes::time();
    my $r = $t->request("GET /hello", [], 5);
    my $took = Time::HiRes::time() - $t0;
    is($r->{status}, 200, 'the upstream answered');
    is($r->{body}, "hello world\n", 'its body');
    ok($took >= 0.29 && $took < 1.5, "held about 0.3 s ($took)");
}



=== TEST 5: a delayed request does not block the worker: another request is answered meanwhile
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins:
      fault-injection: { delay: { duration: 1.5 }, match: { headers: { X-Chaos: "on" } } }
--- test_code eval
sub {
    my $t = shift;
    my $t0 = Time::HiRes::time();
    my $slow = Test::Moongate::Client::connect_to($t->port, 5);
    Test::Moongate::Client::write_all($slow, Test::Moongate::Client::build("GET /hello", ['X-Chaos: on']));
    Time::HiRes::sleep(0.1);
    my $r = $t->request("GET /hello", [], 5);
    my $fast = Time::HiRes::time() - $t0;
    is($r->{status}, 200, 'the unmarked request was answered');
    ok($fast < 1.0, "while the marked one waits ($fast s)");
    my $s = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($slow, 5), 'GET');
    my $took = Time::HiRes::time() - $t0;
    is($s && $s->{status}, 200, 'the marked request went on after its delay');
    ok($took >= 1.45, "after 1.5 s ($took)");
}



=== TEST 6: delay at 50 % holds about half of the requests
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins:
      fault-injection: { delay: { duration: 0.05, percentage: 50 } }
--- test_code eval
sub {
    my $t = shift;
    my $held = 0;
    for (1 .. 60) {
        my $t0 = Time::HiRes::time();
        my $r = $t->request("GET /hello", [], 5);
        die "no answer" unless $r && $r->{status} == 200;
        $held++ if Time::HiRes::time() - $t0 >= 0.045;
    }
    ok($held >= 15 && $held <= 45, "about half were held: $held of 60");
}



=== TEST 7: match: only requests whose headers equal the values get the fault
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins:
      fault-injection:
        abort: { status: 502, body: "chaos\n" }
        match: { headers: { X-Chaos: "on", X-Team: "qa" } }
--- test_code eval
sub {
    my $t = shift;
    for my $c ([[], 200], [['X-Chaos: on'], 200], [['X-Chaos: on', 'X-Team: qa'], 502],
               [['X-Chaos: off', 'X-Team: qa'], 200], [['x-chaos: on', 'x-team: qa'], 502]) {
        my ($h, $want) = @$c;
        my $r = $t->request("GET /hello", $h, 3);
        is($r && $r->{status}, $want, CORE::join(', ', @$h) . " -> $want");
    }
}



=== TEST 8: delay then abort: the abort comes after the wait
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      fault-injection: { delay: { duration: 0.2 }, abort: { status: 504, body: "late\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $t0 = Time::HiRes::time();
    my $r = $t->request("GET /", [], 5);
    my $took = Time::HiRes::time() - $t0;
    is($r->{status}, 504, 'aborted');
    is($r->{body}, "late\n", 'with the body');
    ok($took >= 0.19, "after the delay ($took s)");
}



=== TEST 9: a percentage over 100 is refused at load with the key
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      fault-injection: { abort: { status: 500, percentage: 150 } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.plugins\.fault-injection\.abort\.percentage: must be at most 100, got 150}]



=== TEST 10: a negative percentage, a bad status, a missing duration and an empty config are refused
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $root = $t->servroot;
    for my $c (['{ delay: { duration: 1, percentage: -1 } }', qr{fault-injection\.delay\.percentage: must be at least 0, got -1}],
               ['{ abort: { status: 99 } }', qr{fault-injection\.abort\.status: must be at least 200, got 99}],
               ['{ abort: { status: 600 } }', qr{fault-injection\.abort\.status: must be at most 599, got 600}],
               ['{ delay: { percentage: 5 } }', qr{fault-injection\.delay: missing required key "duration"}],
               ['{ delay: { duration: 0 } }', qr{fault-injection\.delay\.duration: must be at least 0\.001}],
               ['{}', qr{fault-injection: expected abort, delay or both}],
               ['{ abort: { status: 500 }, match: { headers: { "bad name": "x" } } }', qr{fault-injection\.match\.headers}]) {
        my ($cfg, $re) = @$c;
        $t->write_file('conf/bad.yaml', "routes:\n  - { name: r, paths: ['/*'], plugins: { fault-injection: $cfg } }\n");
        my ($code, $out) = $t->run('-t', '-p', $root, '-c', "$root/conf/bad.yaml");
        is($code, 1, "$cfg refused");
        like($out, qr{conf/bad\.yaml:2:\d+: routes\[0\]\.plugins\.$re}, "$cfg: message") or diag($out);
    }
}
