# GET /metrics on the admin listener: the figures themselves, read back through real
# sockets. Requests are sent on fresh connections (Connection: close), ten at a time, so
# that with two workers both serve some and the page must sum their regions.
use Test::Moongate;
use Test::Moongate::Client;
use JSON::PP ();
use Time::HiRes ();

our @DEFAULT_LE = qw(0.001 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60);
our @HISTS = qw(moongate_http_request_duration_seconds moongate_http_upstream_duration_seconds
                moongate_http_gateway_duration_seconds);

sub admin { Test::Moongate::Client::request($_[0]->admin_port, $_[1], $_[2] // [], 3) }

# parse($text) -> { types => {family => type}, samples => [[name, {labels}, value]], bad => [lines] }
sub parse {
    my ($text) = @_;
    my %p = (types => {}, samples => [], bad => []);
    for my $line (split /\n/, $text // '') {
        if ($line =~ /^# TYPE (\S+) (\S+)$/) {
            $p{types}{$1} = $2;
            next;
        }
        next if $line =~ /^#/;
        my ($name, $lab, $v) = $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
            or do { push @{ $p{bad} }, $line; next };
        my %l;
        pos($lab) = 0 if defined $lab;
        while (defined $lab && $lab =~ /\G([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)",?/gc) {
            my ($k, $s) = ($1, $2);
            $s =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
            $l{$k} = $s;
        }
        push @{ $p{bad} }, $line if defined $lab && (pos($lab) // 0) != length $lab;
        push @{ $p{samples} }, [$name, \%l, $v];
    }
    return \%p;
}

# scrape($t, $openmetrics) -> (response, parsed page)
sub scrape {
    my ($t, $om) = @_;
    my $r = admin($t, "GET /metrics", $om ? ['Accept: application/openmetrics-text'] : []);
    return ($r, parse($r && $r->{status} == 200 ? $r->{body} : ''));
}

# matching($page, $name, %labels) -> the samples named $name whose labels include these
sub matching {
    my ($p, $name, %want) = @_;
    return grep {
        my $l = $_->[1];
        $_->[0] eq $name && !grep { !defined $l->{$_} || $l->{$_} ne $want{$_} } keys %want
    } @{ $p->{samples} };
}

# val($page, $name, %labels) -> the value of the one matching sample (undef: none or several)
sub val {
    my @m = matching(@_);
    return @m == 1 ? $m[0][2] : undef;
}

# hit($t, $path, $n) -> { codes => {status => count}, sent => bytes, got => bytes }:
# $n GETs, each on its own connection, ten connections at a time.
sub hit {
    my ($t, $path, $n) = @_;
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my %r = (codes => {}, sent => 0, got => 0);
    while ($n > 0) {
        my $k = $n < 10 ? $n : 10;
        my @s = grep { $_ } map { Test::Moongate::Client::connect_to($t->port, 3) } 1 .. $k;
        for my $s (@s) {
            $r{sent} += length $req if Test::Moongate::Client::write_all($s, $req);
        }
        for my $s (@s) {
            my $rd = Test::Moongate::Client::new_reader($s, 3);
            1 while Test::Moongate::Client::fill($rd);
            $r{got} += length $rd->{buf};
            my ($code) = $rd->{buf} =~ m{^HTTP/1\.1 (\d{3}) };
            $r{codes}{ $code // 'none' }++;
            close $s;
        }
        $n -= $k;
    }
    return \%r;
}

# worker_requests($t) -> { slot => requests finished } from /status
sub worker_requests {
    my $s = $_[0]->status or return {};
    return { map { $_->{slot} => $_->{requests} } @{ $s->{workers} } };
}

# spread($t, $path) -> (requests sent, hit() totals): batches of 20 until every worker
# finished at least 3 more requests than before (one of them may be our /status).
sub spread {
    my ($t, $path) = @_;
    my $before = worker_requests($t);
    my %tot = (codes => {}, sent => 0, got => 0);
    my $n = 0;
    for my $round (1 .. 20) {
        my $r = hit($t, $path, 20);
        $n += 20;
        $tot{sent} += $r->{sent};
        $tot{got} += $r->{got};
        $tot{codes}{$_} += $r->{codes}{$_} for keys %{ $r->{codes} };
        my $after = worker_requests($t);
        my @short = grep { ($after->{$_} // 0) - ($before->{$_} // 0) < 3 } keys %$after;
        last if keys %$after >= 2 && !@short;
    }
    return ($n, \%tot);
}

# check_hist($page, $name, \%labels, $count, \@le) -> checks one histogram's series:
# the bounds in order, cumulative counts, +Inf == _count == $count.
sub check_hist {
    my ($p, $name, $labels, $count, $le, $what) = @_;
    $what //= "$name" . join('', map { " $_=$labels->{$_}" } sort keys %$labels);
    my @b = matching($p, "${name}_bucket", %$labels);
    is_deeply([map { $_->[1]{le} } @b], [@$le, '+Inf'], "$what: le values in order");
    my @v = map { $_->[2] } @b;
    ok(!grep({ $v[$_] < $v[$_ - 1] } 1 .. $#v), "$what: buckets cumulative") or diag("@v");
    is($v[-1], $count, "$what: +Inf bucket");
    is(val($p, "${name}_count", %$labels), $count, "$what: _count");
    my $sum = val($p, "${name}_sum", %$labels);
    ok(defined $sum && $sum >= 0 && $sum <= $count * 5, "$what: _sum ($sum) in range");
    return \@v;
}

# wait_for($t, $secs, $cond) -> the last page once $cond->($page) holds, or after $secs
sub wait_for {
    my ($t, $secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs;
    my $p;
    while (1) {
        (undef, $p) = scrape($t);
        return $p if $cond->($p) || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

run_tests();

__DATA__

=== TEST 1: N requests to a return: route count exactly N, summed over both workers
--- yaml_config
worker_processes: 2
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
  - { name: quiet, paths: ["/quiet"], return: { status: 200, body: "never asked\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($n, $res) = main::spread($t, '/hello');
    is_deeply($res->{codes}, { 200 => $n }, "$n answers, all 200");
    my $w = main::worker_requests($t);
    ok(!grep({ $_ < 3 } values %$w), 'both workers served some') or diag(JSON::PP::encode_json($w));

    my ($r, $p) = main::scrape($t);
    is($r->{status}, 200, '/metrics: 200');
    is_deeply($p->{bad}, [], 'every sample line parses');
    my %l = (route => 'hello', upstream => '');
    is(main::val($p, 'moongate_http_requests_total', %l, class => '2xx'), $n, "2xx == $n");
    is(main::val($p, 'moongate_http_requests_total', %l, class => $_), 0, "$_ == 0")
        for qw(1xx 3xx 4xx 5xx);
    is(scalar(main::matching($p, 'moongate_http_requests_total', route => 'quiet')), 0,
       'a route never asked is left out');
    main::check_hist($p, 'moongate_http_request_duration_seconds', \%l, $n, \@main::DEFAULT_LE);
    main::check_hist($p, 'moongate_http_gateway_duration_seconds', \%l, $n, \@main::DEFAULT_LE);
    main::check_hist($p, 'moongate_http_upstream_duration_seconds', \%l, 0, \@main::DEFAULT_LE,
                     'no upstream: upstream histogram');
    is(main::val($p, 'moongate_http_request_bytes_total', %l), $res->{sent},
       "request bytes == the $res->{sent} bytes sent");
    is(main::val($p, 'moongate_http_response_bytes_total', %l), $res->{got},
       "response bytes == the $res->{got} bytes received");
    is(main::val($p, 'moongate_workers'), 2, 'moongate_workers 2');
    is(main::val($p, 'moongate_config_generation'), 1, 'generation 1');
    my ($bi) = main::matching($p, 'moongate_build_info');
    is($bi && $bi->[2], 1, 'build_info 1');
    like($bi && $bi->[1]{version}, qr/^\d+\.\d+/, 'with the version');

    # a 404 lands in route "_other", and the route's count does not move
    my $r404 = main::hit($t, '/nope', 3);
    is_deeply($r404->{codes}, { 404 => 3 }, 'three 404');
    (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_http_requests_total', route => '_other', upstream => '',
                 class => '4xx'), 3, '_other 4xx == 3');
    is(main::val($p, 'moongate_http_requests_total', route => '_other', class => '2xx'), 0,
       '_other 2xx == 0');
    is(main::val($p, 'moongate_http_requests_total', %l, class => '2xx'), $n, "hello still $n");
    main::check_hist($p, 'moongate_http_request_duration_seconds',
                     { route => '_other', upstream => '' }, 3, \@main::DEFAULT_LE);
    is(main::val($p, 'moongate_http_response_bytes_total', route => '_other'), $r404->{got},
       '_other response bytes');
}



=== TEST 2: proxied routes: a dead node gives 5xx and counts tries and failures; a live one the upstream time
--- yaml_config
upstreams:
  - name: dead
    nodes: ["127.0.0.1:$MG_RAND_PORT_1", "127.0.0.1:$MG_RAND_PORT_2"]
    retries: 1
  - name: live
    nodes: ["127.0.0.1:$MG_ECHO_PORT"]
routes:
  - { name: dead, paths: ["/dead"], upstream: dead }
  - { name: live, paths: ["/live/*"], upstream: live }
--- test_code eval
sub {
    my $t = shift;
    my $d = main::hit($t, '/dead', 3);
    is_deeply($d->{codes}, { 502 => 3 }, 'three 502');
    my $l = main::hit($t, '/live/x', 4);
    is_deeply($l->{codes}, { 200 => 4 }, 'four 200');
    my (undef, $p) = main::scrape($t);
    my %dl = (route => 'dead', upstream => 'dead');
    is(main::val($p, 'moongate_http_requests_total', %dl, class => '5xx'), 3, 'dead: 5xx == 3');
    is(main::val($p, 'moongate_http_requests_total', %dl, class => '2xx'), 0, 'dead: 2xx == 0');
    my ($port1, $port2) = ($t->fill('$MG_RAND_PORT_1'), $t->fill('$MG_RAND_PORT_2'));
    for my $node ("127.0.0.1:$port1", "127.0.0.1:$port2") {
        # each request tries one node, then the other (retries: 1)
        is(main::val($p, 'moongate_upstream_tries_total', upstream => 'dead', node => $node), 3,
           "$node: 3 tries");
        is(main::val($p, 'moongate_upstream_try_failures_total', upstream => 'dead',
                     node => $node), 3, "$node: 3 failures");
        is(main::val($p, 'moongate_upstream_node_inflight', upstream => 'dead', node => $node),
           0, "$node: none in flight");
    }
    my $echo = '127.0.0.1:' . $t->echo_port;
    my %ll = (route => 'live', upstream => 'live');
    is(main::val($p, 'moongate_http_requests_total', %ll, class => '2xx'), 4, 'live: 2xx == 4');
    is(main::val($p, 'moongate_upstream_tries_total', upstream => 'live', node => $echo), 4,
       'live node: 4 tries');
    is(main::val($p, 'moongate_upstream_try_failures_total', upstream => 'live', node => $echo),
       0, 'live node: no failure');
    is(main::val($p, 'moongate_upstream_node_healthy', upstream => 'live', node => $echo), 1,
       'live node healthy');
    is(main::val($p, 'moongate_upstream_node_breaker_state', upstream => 'live', node => $echo),
       0, 'no breaker: 0');
    is(main::val($p, 'moongate_upstream_node_ejections_total', upstream => 'live',
                 node => $echo), 0, 'no ejection');
    for my $h (@main::HISTS) {
        main::check_hist($p, $h, \%ll, 4, \@main::DEFAULT_LE);
    }
    # the whole time is the upstream's plus the gateway's own
    my $whole = main::val($p, 'moongate_http_request_duration_seconds_sum', %ll);
    my $up = main::val($p, 'moongate_http_upstream_duration_seconds_sum', %ll);
    my $own = main::val($p, 'moongate_http_gateway_duration_seconds_sum', %ll);
    ok($up > 0 && $own > 0, "upstream ($up) and gateway ($own) time both counted");
    ok(abs($whole - $up - $own) < 1e-6, "whole ($whole) == upstream + gateway");
    main::check_hist($p, 'moongate_http_upstream_duration_seconds', \%dl, 3, \@main::DEFAULT_LE,
                     'failed tries count as upstream time');
    ok(main::val($p, 'moongate_http_request_bytes_total', %ll) == $l->{sent}, 'live: bytes in');
    ok(main::val($p, 'moongate_http_response_bytes_total', %ll) == $l->{got}, 'live: bytes out');
}
--- error_log
127.0.0.1:$MG_RAND_PORT_1



=== TEST 3: moongate_http_connections counts open client connections by state
--- yaml_config
worker_processes: 2
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $conn = sub {
        my %want = @_;
        return main::wait_for($t, 3, sub {
            my $p = shift;
            !grep { (main::val($p, 'moongate_http_connections', state => $_) // -1) != $want{$_} }
                keys %want;
        });
    };
    my $p = $conn->(idle => 0, reading => 0);
    is(main::val($p, 'moongate_http_connections', state => 'idle'), 0, 'no idle connection');
    is(main::val($p, 'moongate_http_connections', state => 'reading'), 0, 'none reading');
    ok(main::val($p, 'moongate_http_connections', state => 'active') >= 1,
       'the scrape itself is an active connection');
    # two keep-alive connections that finished a request, one in the middle of a head
    my @idle;
    for (1 .. 2) {
        my $s = Test::Moongate::Client::connect_to($t->port, 3);
        Test::Moongate::Client::write_all($s, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 3), 'GET');
        is($r->{status}, 200, 'keep-alive request answered');
        push @idle, $s;
    }
    my $half = Test::Moongate::Client::connect_to($t->port, 3);
    Test::Moongate::Client::write_all($half, "GET /hello HTTP/1.1\r\nHo");
    $p = $conn->(idle => 2, reading => 1);
    is(main::val($p, 'moongate_http_connections', state => 'idle'), 2, 'idle == 2');
    is(main::val($p, 'moongate_http_connections', state => 'reading'), 1, 'reading == 1');
    is(main::val($p, 'moongate_http_connections', state => $_), 0, "$_ == 0")
        for qw(closing handshake);
    close $_ for @idle, $half;
    $p = $conn->(idle => 0, reading => 0, closing => 0);
    is(main::val($p, 'moongate_http_connections', state => 'idle'), 0, 'closed: idle 0');
    is(main::val($p, 'moongate_http_connections', state => $_), 0, "closed: $_ 0")
        for qw(reading closing handshake);
}



=== TEST 4: Prometheus text by default, OpenMetrics when asked, with their Content-Types
--- yaml_config
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    main::hit($t, '/hello', 2);
    my ($r, $p) = main::scrape($t);
    is($r->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
       'text: Content-Type');
    unlike($r->{body}, qr/# EOF/, 'text: no # EOF');
    like($r->{body}, qr/\n\z/, 'text: ends with a newline');
    my @counters = grep { $p->{types}{$_} eq 'counter' } keys %{ $p->{types} };
    ok(@counters >= 10, scalar(@counters) . ' counter families');
    is_deeply([grep { !/_total$/ } @counters], [], 'text: every counter family ends in _total');
    my @le = map { $_->[1]{le} } main::matching($p, 'moongate_http_request_duration_seconds_bucket',
                                                route => 'hello');
    is_deeply(\@le, [@main::DEFAULT_LE, '+Inf'], 'text: le as Prometheus writes them');

    my ($ro, $po) = main::scrape($t, 1);
    is($ro->{status}, 200, 'OpenMetrics: 200');
    is($ro->{headers}{'content-type'},
       'application/openmetrics-text; version=1.0.0; charset=utf-8', 'OpenMetrics: Content-Type');
    like($ro->{body}, qr/\n# EOF\n\z/, 'OpenMetrics: ends with # EOF');
    is(scalar(() = $ro->{body} =~ /^# EOF$/mg), 1, 'one # EOF');
    is_deeply($po->{bad}, [], 'OpenMetrics: every sample line parses');
    my @omc = sort grep { $po->{types}{$_} eq 'counter' } keys %{ $po->{types} };
    is_deeply(\@omc, [sort map { s/_total$//r } @counters],
              'OpenMetrics: the same counter families, named without _total');
    # families with samples on this page (no upstream here: the node families have none)
    for my $f (@omc) {
        ok(!grep({ $_->[0] eq $f } @{ $po->{samples} }), "OpenMetrics: no sample named $f");
        my $text_has = grep { $_->[0] eq "${f}_total" } @{ $p->{samples} };
        my $om_has = grep { $_->[0] eq "${f}_total" } @{ $po->{samples} };
        is($om_has, $text_has, "OpenMetrics: ${f}_total samples as in the text");
    }
    ok(scalar(main::matching($po, 'moongate_http_requests_total')) >= 5,
       'OpenMetrics: requests counted under moongate_http_requests_total');
    my %same = map { $_ => 1 } grep { !/_total$/ } keys %{ $p->{types} };
    is_deeply([sort grep { $po->{types}{$_} ne 'counter' } keys %{ $po->{types} }], [sort keys %same],
              'OpenMetrics: the same other families');
    @le = map { $_->[1]{le} } main::matching($po, 'moongate_http_request_duration_seconds_bucket',
                                             route => 'hello');
    is_deeply(\@le, [(map { /\./ ? $_ : "$_.0" } @main::DEFAULT_LE), '+Inf'],
              'OpenMetrics: le as canonical floats ("1.0")');
    is(main::val($po, 'moongate_http_requests_total', route => 'hello', class => '2xx'), 2,
       'OpenMetrics: the same figures');
    # a HEAD has the headers and no body
    my $h = main::admin($t, "HEAD /metrics");
    is($h->{status}, 200, 'HEAD /metrics: 200');
    is($h->{body}, '', 'HEAD: no body');
}



=== TEST 5: metrics: { enabled: false } answers 404 and /status says nothing of metrics
--- yaml_config
metrics: { enabled: false }
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- request
GET /hello
--- test_code eval
sub {
    my $t = shift;
    my $r = main::admin($t, "GET /metrics");
    is($r->{status}, 404, '/metrics: 404');
    like($r->{body}, qr/metrics are off/, 'says why');
    my $s = $t->status;
    ok($s && !exists $s->{metrics}, '/status has no metrics entry');
}



=== TEST 6: custom latency_buckets are the le values, and a 300 ms answer lands between 0.2 and 0.5
--- yaml_config
metrics: { latency_buckets: [0.1, 200ms, 0.5, 1, 1m] }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: slow, paths: ["/delay/*"], upstream: echo }
--- request
GET /delay/300
--- test_code eval
sub {
    my $t = shift;
    my (undef, $p) = main::scrape($t);
    my %l = (route => 'slow', upstream => 'echo');
    my @le = qw(0.1 0.2 0.5 1 60);
    my $whole = main::check_hist($p, 'moongate_http_request_duration_seconds', \%l, 1, \@le);
    is_deeply($whole, [0, 0, 1, 1, 1, 1], 'the whole request: in le=0.5, not le=0.2');
    my $up = main::check_hist($p, 'moongate_http_upstream_duration_seconds', \%l, 1, \@le);
    is_deeply($up, [0, 0, 1, 1, 1, 1], 'the upstream time: in le=0.5');
    my $own = main::check_hist($p, 'moongate_http_gateway_duration_seconds', \%l, 1, \@le);
    is_deeply($own, [1, 1, 1, 1, 1, 1], 'the gateway time: in le=0.1');
    my $sum = main::val($p, 'moongate_http_upstream_duration_seconds_sum', %l);
    ok($sum >= 0.3 && $sum < 0.5, "upstream _sum $sum s");
    my (undef, $po) = main::scrape($t, 1);
    is_deeply([map { $_->[1]{le} } main::matching($po, 'moongate_http_request_duration_seconds_bucket', %l)],
              [qw(0.1 0.2 0.5 1.0 60.0 +Inf)], 'OpenMetrics le values');
}



=== TEST 7: bad latency_buckets fail moongate -t with file:line:column and the item's key path
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my @cases = (
        ['[0.1, 0.1]', 3, '0.1]', '[1]', qr/expected bounds in increasing order: 0\.1 does not follow 0\.1/],
        ['[1, 2, 0.5, 3]', 3, '0.5', '[2]', qr/expected bounds in increasing order: 0\.5 does not follow 2/],
        ['[0.1, fast]', 3, 'fast', '[1]', qr/expected a duration above 0 .*got "fast"/],
        ['[0.1, 0]', 3, '0]', '[1]', qr/expected a duration above 0/],
        ['[]', 3, '[]', '', qr/expected from 1 to 40 bucket bounds in seconds, got 0/],
        ['"fast"', 3, '"fast"', '', qr/expected a list/],
        ['[' . CORE::join(', ', 1 .. 41) . ']', 3, '[', '', qr/expected from 1 to 40 .* got 41/],
    );
    for my $c (@cases) {
        my ($value, $line, $at, $idx, $why) = @$c;
        my $yaml = "routes: []\nmetrics:\n  latency_buckets: $value\n";
        $t->write_file('conf/bad.yaml', $yaml);
        my $text = (split /\n/, $yaml)[$line - 1];
        my $col = index($text, $at) + 1;
        my ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $t->servroot . '/conf/bad.yaml');
        is($code, 1, "$value: moongate -t exits 1");
        like($out, qr{conf/bad\.yaml:$line:$col: metrics\.latency_buckets\Q$idx\E: $why},
             "$value: file:$line:$col: metrics.latency_buckets$idx");
    }
    $t->write_file('conf/good.yaml', "routes: []\nmetrics: { latency_buckets: [1ms, 0.5, 2m] }\n");
    my ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $t->servroot . '/conf/good.yaml');
    is($code, 0, 'increasing bounds pass') or diag($out);
}



=== TEST 8: an in-place reload keeps a route's counts and drops a removed route; reloads are counted
--- yaml_config
worker_processes: 2
routes:
  - { name: stays, paths: ["/stays"], return: { status: 200, body: "stays\n" } }
  - { name: goes, paths: ["/goes"], return: { status: 201, body: "goes\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($n) = main::spread($t, '/stays');
    main::hit($t, '/goes', 3);
    my (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_http_requests_total', route => 'stays', class => '2xx'), $n,
       "stays: $n before");
    is(main::val($p, 'moongate_http_requests_total', route => 'goes', class => '2xx'), 3,
       'goes: 3 before');
    is(main::val($p, 'moongate_config_reloads_total', result => $_), 0, "reloads $_: 0")
        for qw(ok failed);

    my $err = $t->reload("worker_processes: 2\nroutes:\n"
        . "  - { name: stays, paths: [\"/stays\"], return: { status: 200, body: \"still\\n\" } }\n"
        . "  - { name: new, paths: [\"/new\"], return: { status: 200, body: \"new\\n\" } }\n",
        'admin');
    is($err, '', 'reloaded by POST /reload');
    like($t->error_log, qr/switched in place/, 'in place');
    my $r = main::hit($t, '/stays', 10);
    is_deeply($r->{codes}, { 200 => 10 }, 'ten more');
    is($t->request('GET /stays')->{body}, "still\n", 'the new generation answers');
    (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_http_requests_total', route => 'stays', class => '2xx'), $n + 11,
       'stays: the count went on from where it was');
    is(main::val($p, 'moongate_http_request_duration_seconds_count', route => 'stays'), $n + 11,
       'and its histogram');
    is(scalar(main::matching($p, 'moongate_http_requests_total', route => 'goes')), 0,
       'the removed route is gone from the page');
    is(main::val($p, 'moongate_config_generation'), 2, 'generation 2');
    is(main::val($p, 'moongate_config_reloads_total', result => 'ok'), 1, 'reloads ok: 1');
    is(main::val($p, 'moongate_config_reloads_total', result => 'failed'), 0, 'reloads failed: 0');

    $err = $t->reload("routes:\n  - { name: stays, paths: [\"/stays\"], upstream: nowhere }\n",
                      'admin', fails => 1);
    is($err, '', 'a bad file is rejected');
    (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_config_reloads_total', result => 'ok'), 1, 'reloads ok: still 1');
    is(main::val($p, 'moongate_config_reloads_total', result => 'failed'), 1, 'reloads failed: 1');
    is(main::val($p, 'moongate_http_requests_total', route => 'stays', class => '2xx'), $n + 11,
       'the counts stay');
}
--- error_log
reload failed



=== TEST 9: counts survive a reload that replaces the workers
--- yaml_config
worker_processes: 2
routes:
  - { name: stays, paths: ["/stays"], return: { status: 200, body: "stays\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($n) = main::spread($t, '/stays');
    my $err = $t->reload("worker_processes: 3\nroutes:\n"
        . "  - { name: stays, paths: [\"/stays\"], return: { status: 200, body: \"still\\n\" } }\n");
    is($err, '', 'reloaded');
    # wait until the old workers are gone: their regions stay in the sums
    my $end = Time::HiRes::time() + 5;
    my $s;
    do { Time::HiRes::sleep(0.05); $s = $t->status }
        while ($s && grep({ $_->{generation} != 2 } @{ $s->{workers} }) && Time::HiRes::time() < $end);
    is(scalar @{ $s->{workers} }, 3, 'three new workers');
    my $r = main::hit($t, '/stays', 10);
    my (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_http_requests_total', route => 'stays', class => '2xx'), $n + 10,
       'the count went on');
    is(main::val($p, 'moongate_workers'), 3, 'moongate_workers 3');
    is(main::val($p, 'moongate_config_reloads_total', result => 'ok'), 1, 'reloads ok: 1');
}



=== TEST 10: a worker killed with SIGKILL is restarted; the counts go on in its slot
--- yaml_config
worker_processes: 2
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($n) = main::spread($t, '/hello');
    my (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_http_requests_total', route => 'hello', class => '2xx'), $n,
       "$n before");
    is(main::val($p, 'moongate_worker_restarts_total'), 0, 'no restart yet');
    my $bytes = main::val($p, 'moongate_http_response_bytes_total', route => 'hello');
    my ($victim) = grep { $_->{slot} == 0 } @{ $t->status->{workers} };
    ok(kill('KILL', $victim->{pid}), "killed worker $victim->{pid} (slot 0)");
    my $end = Time::HiRes::time() + 5;
    my $new;
    while (Time::HiRes::time() < $end) {
        my $s = $t->status;
        ($new) = grep { $_->{slot} == 0 && $_->{pid} != $victim->{pid} } @{ $s ? $s->{workers} : [] };
        last if $new && @{ $s->{workers} } == 2;
        Time::HiRes::sleep(0.05);
    }
    ok($new, 'a new worker took slot 0' . ($new ? " ($new->{pid})" : ''));
    (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_worker_restarts_total'), 1, 'moongate_worker_restarts_total 1');
    is(main::val($p, 'moongate_http_requests_total', route => 'hello', class => '2xx'), $n,
       'the count did not go down');
    is(main::val($p, 'moongate_http_response_bytes_total', route => 'hello'), $bytes,
       'nor the bytes');
    my ($m) = main::spread($t, '/hello');
    (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_http_requests_total', route => 'hello', class => '2xx'), $n + $m,
       'and it goes on, both workers counting');
    is(main::val($p, 'moongate_http_request_duration_seconds_count', route => 'hello'), $n + $m,
       'the histogram too');
}
--- error_log
killed by signal 9



=== TEST 11: /status shows the series of the worker's region and the ceiling
--- yaml_config
routes:
  - { name: a, paths: ["/a"], return: { status: 200, body: "a\n" } }
  - { name: b, paths: ["/b"], return: { status: 200, body: "b\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $s = $t->status;
    my $m = $s->{metrics} // {};
    ok(($m->{series} // 0) >= 3, "series $m->{series}: the routes and _other at least");
    is($m->{series_limit}, 8192, 'series_limit 8192');
    my (undef, $p) = main::scrape($t);
    is(main::val($p, 'moongate_metrics_series', kind => 'limit'), $m->{series_limit},
       'the page says the same ceiling');
    my $exported = main::val($p, 'moongate_metrics_series', kind => 'exported');
    is($exported, scalar @{ $p->{samples} }, "exported == the $exported sample lines");
    my $err = $t->reload("routes:\n"
        . CORE::join('', map { "  - { name: $_, paths: [\"/$_\"], return: { status: 200, body: \"x\" } }\n" }
               qw(a b c d)));
    is($err, '', 'reloaded with two more routes');
    my $m2 = $t->status->{metrics} // {};
    is($m2->{series}, $m->{series} + 2, "two more series ($m2->{series})");
}



=== TEST 12: label values with a quote or a backslash are escaped
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: 'we"ird\name', paths: ["/w"], return: { status: 200, body: "w\n" } }
  - { name: 'back\\slash', paths: ["/b/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    main::hit($t, '/w', 2);
    main::hit($t, '/b/x', 1);
    my ($r, $p) = main::scrape($t);
    like($r->{body}, qr/^moongate_http_requests_total\{route="we\\"ird\\\\name",upstream="",class="2xx"\} 2$/m,
         'quote and backslash escaped in the text');
    like($r->{body}, qr/^moongate_http_requests_total\{route="back\\\\\\\\slash",upstream="echo",class="2xx"\} 1$/m,
         'two backslashes: four');
    is_deeply($p->{bad}, [], 'every line parses');
    is(main::val($p, 'moongate_http_requests_total', route => 'we"ird\\name', class => '2xx'), 2,
       'read back as the route name');
    my ($ro, $po) = main::scrape($t, 1);
    is(main::val($po, 'moongate_http_requests_total', route => 'back\\\\slash', class => '2xx'), 1,
       'OpenMetrics too');
}



=== TEST 13: promtool check metrics finds nothing to say about the page
--- yaml_config
worker_processes: 2
metrics: { latency_buckets: [0.001, 0.01, 0.1, 1, 10] }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT", "127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: hello, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
  - { name: 'q"uo\te', paths: ["/q"], return: { status: 503, body: "q\n" } }
  - { name: api, paths: ["/api/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    SKIP: {
        my $promtool = `command -v promtool 2>/dev/null`;
        CORE::chomp($promtool);
        Test::More::skip('promtool not found: install the Debian package "prometheus"', 2)
            unless $promtool;
        main::hit($t, $_, 5) for qw(/hello /q /api/x /nope);
        my $r = main::admin($t, 'GET /metrics');
        $t->write_file('page.prom', $r->{body});
        my $out = `$promtool check metrics < ${\ $t->servroot}/page.prom 2>&1`;
        is($? >> 8, 0, 'promtool check metrics: exit 0');
        is($out, '', 'and no remark') or diag($out);
    }
}
--- error_log
127.0.0.1:$MG_RAND_PORT_1



=== TEST 14: the Grafana dashboard is valid JSON and uses only metric names that exist
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: api, paths: ["/api/*"], upstream: echo }
--- request
GET /api/x
--- test_code eval
sub {
    my $t = shift;
    my $root = Test::Moongate::mg_root();
    my $out = `$root/tools/dashboard-check $root/docs/grafana/moongate.json http://127.0.0.1:${\ $t->admin_port}/metrics 2>&1`;
    is($? >> 8, 0, 'tools/dashboard-check passes') or diag($out);
    like($out, qr/^ok: \d+ panels, \d+ metric names/m, 'it says what it checked') or diag($out);
}
