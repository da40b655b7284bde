# traffic-split: shares and matches send requests to other upstreams of the
# configuration, through real upstreams; sticky keys keep a client on one side; bad
# configs (unknown upstreams among them) are refused at load with the place and key.
use Test::Moongate;

# split($t, $n, $make) -> { echo port => count } of $n GETs; $make->($i) gives
# [path, [headers]].
sub split_count {
    my ($t, $n, $make) = @_;
    my %c;
    for my $i (1 .. $n) {
        my ($path, $h) = @{ $make->($i) };
        my $r = $t->request("GET $path", $h // [], 3) // {};
        $c{ ($r->{status} // 0) == 200 ? $r->{headers}{'x-echo-port'} // 'none' : 'failed' }++;
    }
    return \%c;
}

run_tests();

__DATA__

=== TEST 1: weights 10 / 90: 1,000 requests over 2 workers, 10 % to the canary
--- yaml_config
worker_processes: 2
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    upstream: stable
    plugins:
      traffic-split:
        rules:
          - weighted_upstreams: [{ upstream: canary, weight: 10 }, { weight: 90 }]
--- timeout: 30
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::split_count($t, 1000, sub { ['/x'] });
    my ($canary, $stable) = map { $c->{ $t->fill($_) } // 0 } '$MG_ECHO_PORT2', '$MG_ECHO_PORT';
    is($canary + $stable, 1000, 'every request answered') or diag(explain($c));
    # each worker's round robin is exact: 1 in 10 of its requests, whatever the share
    # of each worker, so the whole is 100 give or take one per worker
    ok($canary >= 98 && $canary <= 102, "10 % to the canary: $canary of 1000");
}



=== TEST 2: sticky by cookie: one user stays on one side; 1,000 users split about 20 / 80
--- yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    upstream: stable
    plugins:
      traffic-split:
        sticky: "cookie:uid"
        rules:
          - weighted_upstreams: [{ upstream: canary, weight: 20 }, { weight: 80 }]
--- timeout: 30
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::split_count($t, 1000, sub { ['/x', ["Cookie: theme=dark; uid=user$_[0]"]] });
    my $canary = $c->{ $t->fill('$MG_ECHO_PORT2') } // 0;
    ok($canary >= 160 && $canary <= 240, "about 20 % of the users on the canary: $canary of 1000")
        or diag(explain($c));
    for my $u (qw(user1 user2 user3 user77)) {
        my $one = main::split_count($t, 20, sub { ['/x', ["Cookie: uid=$u"]] });
        is(scalar(keys %$one), 1, "$u: 20 requests, one side") or diag(explain($one));
    }
    # without the cookie: the weights, round robin (4 of 20 to the canary)
    my $none = main::split_count($t, 20, sub { ['/x'] });
    is($none->{ $t->fill('$MG_ECHO_PORT2') } // 0, 4, 'no key: 4 of 20 by weight');
}



=== TEST 3: matches: header, query, cookie; the first rule that matches applies; none: the route's upstream
--- yaml_config
access_log: { path: logs/access.log, format: '$uri $upstream $status' }
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    upstream: stable
    plugins:
      traffic-split:
        rules:
          - match: [{ header: X-Canary, values: ["1", "yes"] }]
            weighted_upstreams: [{ upstream: canary }]
          - match: [{ query: beta, values: ["on"] }, { cookie: plan, values: ["pro"] }]
            weighted_upstreams: [{ upstream: canary }]
          - match: [{ cookie: plan, values: ["free"] }]
            weighted_upstreams: [{ upstream: stable }]
--- request eval
["GET /h1", "GET /h2", "GET /h3", "GET /q1?beta=on", "GET /q2?beta=on", "GET /q3?beta=off", "GET /none"]
--- more_headers
Cookie: a=b; plan=pro
--- error_code eval
[(200) x 7]
--- response_headers eval
["X-Echo-Port: $MG_ECHO_PORT", "X-Echo-Port: $MG_ECHO_PORT", "X-Echo-Port: $MG_ECHO_PORT",
 "X-Echo-Port: $MG_ECHO_PORT2", "X-Echo-Port: $MG_ECHO_PORT2", "X-Echo-Port: $MG_ECHO_PORT",
 "X-Echo-Port: $MG_ECHO_PORT"]
--- access_log
/q1?beta=on canary 200
/none stable 200



=== TEST 4: a header match sends everything that carries it; header values compared exactly
--- yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    upstream: stable
    plugins:
      traffic-split:
        rules:
          - match: [{ header: X-Canary, values: ["1"] }]
            weighted_upstreams: [{ upstream: canary, weight: 1 }]
--- test_code eval
sub {
    my ($t) = @_;
    my ($e1, $e2) = map { $t->fill($_) } '$MG_ECHO_PORT', '$MG_ECHO_PORT2';
    is_deeply(main::split_count($t, 10, sub { ['/x', ['X-Canary: 1']] }), { $e2 => 10 }, 'X-Canary: 1 -> canary');
    is_deeply(main::split_count($t, 10, sub { ['/x', ['X-Canary: 11']] }), { $e1 => 10 }, 'X-Canary: 11 -> stable');
    is_deeply(main::split_count($t, 10, sub { ['/x'] }), { $e1 => 10 }, 'none -> stable');
}



=== TEST 5: a canary with a dead node and health checks: its own retries and ejection keep every request served
--- yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - name: canary
    retries: 1
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_ECHO_PORT2"]
    health_check:
      passive: { consecutive_failures: 1, max_ejection_percent: 50, base_ejection_time: 30s }
routes:
  - paths: ["/*"]
    upstream: stable
    plugins:
      traffic-split:
        rules:
          - weighted_upstreams: [{ upstream: canary, weight: 1 }, { weight: 1 }]
--- test_code eval
sub {
    my ($t) = @_;
    my $c = main::split_count($t, 40, sub { ['/x'] });
    my ($e1, $e2) = map { $t->fill($_) } '$MG_ECHO_PORT', '$MG_ECHO_PORT2';
    is_deeply($c, { $e1 => 20, $e2 => 20 }, 'half each, none failed') or diag(explain($c));
    my $port = $t->fill('$MG_RAND_PORT_1');
    like($t->error_log, qr/upstream "canary" node 127\.0\.0\.1:$port ejected/, 'the dead canary node ejected');
}



=== TEST 6: a route with no upstream of its own: the plugin decides everything
--- yaml_config
upstreams:
  - { name: blue, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: green, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    plugins:
      traffic-split:
        rules:
          - match: [{ query: env, values: ["green"] }]
            weighted_upstreams: [{ upstream: green }]
          - weighted_upstreams: [{ upstream: blue }]
--- request eval
["GET /a?env=green", "GET /b"]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Echo-Port: $MG_ECHO_PORT2", "X-Echo-Port: $MG_ECHO_PORT"]



=== TEST 7: bad config: an upstream that does not exist, named with the closest one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    plugins:
      traffic-split:
        rules:
          - weighted_upstreams: [{ upstream: canery, weight: 10 }, { weight: 90 }]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:9:46: routes\[0\]\.plugins\.traffic-split\.rules\[0\]\.weighted_upstreams\[0\]\.upstream: no upstream "canery" in the configuration \(did you mean "canary"\?\)}]



=== TEST 8: bad config: a match entry with two sources
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    plugins:
      traffic-split:
        rules:
          - match: [{ header: X-A, cookie: b, values: ["1"] }]
            weighted_upstreams: [{ upstream: canary }]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:9:21: routes\[0\]\.plugins\.traffic-split\.rules\[0\]\.match\[0\]: give exactly one of header, cookie or query}]



=== TEST 9: bad config: weights that add up to 0
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    plugins:
      traffic-split:
        rules:
          - weighted_upstreams: [{ upstream: canary, weight: 0 }]
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:9:13: routes\[0\]\.plugins\.traffic-split\.rules\[0\]: the weights of weighted_upstreams add up to 0}]



=== TEST 10: bad config: a sticky key of an unknown kind, and no rules
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
upstreams:
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/a"]
    plugins:
      traffic-split: { sticky: "ip", rules: [{ weighted_upstreams: [{ upstream: canary }] }] }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:32: routes\[0\]\.plugins\.traffic-split\.sticky: expected remote_addr, consumer, header:NAME, cookie:NAME or query:NAME, got "ip"}]



=== TEST 11: bad config: rules missing
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - paths: ["/a"]
    plugins:
      traffic-split: {}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: routes\[0\]\.plugins\.traffic-split: missing required key "rules"}]



=== TEST 12: a reload that removes an upstream a rule still names is refused; the split keeps serving
--- yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
  - { name: canary, nodes: ["127.0.0.1:$MG_ECHO_PORT2"] }
routes:
  - paths: ["/*"]
    upstream: stable
    plugins:
      traffic-split:
        rules:
          - match: [{ query: c, values: ["1"] }]
            weighted_upstreams: [{ upstream: canary }]
--- request eval
["GET /x?c=1", "GET /x?c=1"]
--- reload_after: 1
--- reload_fails
--- reload_yaml_config
upstreams:
  - { name: stable, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - paths: ["/*"]
    upstream: stable
    plugins:
      traffic-split:
        rules:
          - match: [{ query: c, values: ["1"] }]
            weighted_upstreams: [{ upstream: canary }]
--- error_code eval
[200, 200]
--- response_headers eval
["X-Echo-Port: $MG_ECHO_PORT2", "X-Echo-Port: $MG_ECHO_PORT2"]
--- error_log eval
[qr/reload failed, generation 1 keeps serving: .*conf\/moongate\.yaml:10:46: routes\[0\]\.plugins\.traffic-split\.rules\[0\]\.weighted_upstreams\[0\]\.upstream: no upstream "canary" in the configuration/]
