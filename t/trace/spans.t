# OpenTelemetry spans, through real sockets: a stand-in OTLP/HTTP collector
# (t/lib/otlp_receiver.py) receives what the gateway exports; the echo upstream shows
# the traceparent each try carried. Each block uses its own paths and trace ids, so the
# one collector of the file serves them all.
use Test::Moongate;
use JSON::PP ();
use Time::HiRes ();
use Test::Moongate::Otlp;

our $RX;
if (!Test::Moongate::Otlp::python_bin()) {
    Test::More::plan(skip_all => 'python3 is not installed');
}
$RX = Test::Moongate::Otlp::start();

sub url { $RX->url }

sub attrs { Test::Moongate::Otlp::attrs(@_) }

# The spans of one trace, once $n of them came.
sub trace_spans {
    my ($tid, $n, $secs) = @_;
    return $RX->wait_spans(sub { $_[0]{traceId} eq $tid }, $n, $secs);
}

# The spans whose trace has a SERVER span for $path.
sub spans_for_path {
    my ($path, $n, $secs) = @_;
    my @srv = $RX->wait_spans(sub { $_[0]{kind} == 2 && (attrs($_[0])->{'url.path'} // '') eq $path },
                              $n, $secs);
    return @srv;
}

# The access log's JSON line for request id $rid.
sub access_line {
    my ($t, $rid) = @_;
    my $end = Time::HiRes::time() + 3;
    while (1) {
        my ($line) = grep { index($_, "\"$rid\"") >= 0 } split /\n/, $t->access_log;
        return JSON::PP::decode_json($line) if defined $line;
        return {} if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

sub by_kind {
    my ($kind, @s) = @_;
    return grep { $_->{kind} == $kind } @s;
}

run_tests();

__DATA__

=== TEST 1: a sampled request: the resource, a SERVER span with the HTTP attributes, one span per plugin phase, a CLIENT span per try
--- yaml_config eval
"access_log: { path: logs/access.log, format: json, buffer: 0 }
tracing:
  endpoint: \"" . main::url() . "\"
  sample_ratio: 1
  service_name: edge-test
  flush_interval: 100ms
  headers: { X-Otlp-Token: sesame }
upstreams:
  - name: echo
    nodes: [{ address: \"127.0.0.1:\$MG_ECHO_PORT\" }]
routes:
  - { name: traced, paths: [\"/t1/*\"], upstream: echo, plugins: { every-phase: {} } }
"
--- lua_plugins
>>> every-phase.lua
local mg = require "moongate"
return {
    name = "every-phase", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx) mg.sleep(20) end,
    access = function(conf, ctx) end,
    balancer = function(conf, ctx) end,
    header_filter = function(conf, ctx) mg.response.set_header("X-Seen", "1") end,
    body_filter = function(conf, ctx) end,
    log = function(conf, ctx) end,
}
--- request
GET /t1/users?id=7
--- more_headers
X-Request-Id: t1-request
User-Agent: trace-test/1.0
--- error_code: 200
--- test_code eval
sub {
    my ($t) = @_;
    my ($srv) = main::spans_for_path('/t1/users', 1);
    ok($srv, 'a SERVER span came') or return;
    my @all = main::trace_spans($srv->{traceId}, 8);
    is(scalar @all, 8, 'server + 6 phases + 1 client span') or diag(JSON::PP->new->canonical->encode([map { { %$_, _request => undef } } @all]));
    my $req = $srv->{_request};
    is($req->{path}, '/v1/traces', 'POSTed to the endpoint path');
    is($req->{content_type}, 'application/json', 'OTLP/HTTP JSON');
    is($req->{headers}{'x-otlp-token'}, 'sesame', 'the configured header went along');
    is($srv->{_resource}{'service.name'}, 'edge-test', 'service.name');
    ok(length($srv->{_resource}{'service.version'} // ''), 'service.version');
    is($srv->{_scope}{name}, 'moongate', 'scope');
    like($srv->{traceId}, qr/^[0-9a-f]{32}$/, 'trace id: 32 lower-case hex');
    like($srv->{spanId}, qr/^[0-9a-f]{16}$/, 'span id: 16 lower-case hex');
    ok(!exists $srv->{parentSpanId}, 'a new trace: the SERVER span is the root');
    is($srv->{name}, 'GET traced', 'span name: method and route');
    like($srv->{startTimeUnixNano}, qr/^\d{19}$/, 'times: nanoseconds as decimal strings');
    ok($srv->{endTimeUnixNano} >= $srv->{startTimeUnixNano}, 'end after start');
    ok(!exists $srv->{status} || ($srv->{status}{code} // 0) != 2, 'status not ERROR');
    my $a = main::attrs($srv);
    is($a->{'http.request.method'}, 'GET', 'http.request.method');
    is($a->{'url.path'}, '/t1/users', 'url.path');
    is($a->{'url.query'}, 'id=7', 'url.query');
    is($a->{'url.scheme'}, 'http', 'url.scheme');
    is($a->{'http.route'}, 'traced', 'http.route');
    is($a->{'http.response.status_code'}, '200', 'http.response.status_code (an intValue)');
    is($a->{'server.address'}, 'localhost', 'server.address');
    is($a->{'server.port'}, '80', 'server.port: the Host header\'s, else the scheme\'s');
    is($a->{'client.address'}, '127.0.0.1', 'client.address');
    is($a->{'network.peer.address'}, '127.0.0.1', 'network.peer.address');
    like($a->{'network.peer.port'} // '', qr/^\d+$/, 'network.peer.port');
    is($a->{'user_agent.original'}, 'trace-test/1.0', 'user_agent.original');
    is($a->{'network.protocol.version'}, '1.1', 'network.protocol.version');
    is($a->{'moongate.request_id'}, 't1-request', 'request id');
    my @int = main::by_kind(1, @all);
    is(CORE::join(',', sort map { $_->{name} } @int),
       'access,balancer,body_filter,header_filter,log,rewrite', 'an INTERNAL span per phase');
    my %ids = map { $_->{spanId} => 1 } @all;
    is(scalar keys %ids, 8, 'every span has an id of its own');
    for my $s (@int) {
        is($s->{parentSpanId}, $srv->{spanId}, "$s->{name}: child of the SERVER span");
        ok($s->{startTimeUnixNano} >= $srv->{startTimeUnixNano} - 1000000
           && $s->{endTimeUnixNano} <= $srv->{endTimeUnixNano} + 1000000,
           "$s->{name}: inside the request");
    }
    my ($rw) = grep { $_->{name} eq 'rewrite' } @int;
    ok($rw->{endTimeUnixNano} - $rw->{startTimeUnixNano} >= 15_000_000,
       'the rewrite span covers its 20 ms sleep');
    my @cl = main::by_kind(3, @all);
    is(scalar @cl, 1, 'one CLIENT span');
    my $c = main::attrs($cl[0]);
    is($cl[0]{parentSpanId}, $srv->{spanId}, 'CLIENT: child of the SERVER span');
    is($c->{'server.address'}, '127.0.0.1', 'CLIENT server.address');
    is($c->{'server.port'}, $t->echo_port, 'CLIENT server.port');
    is($c->{'http.response.status_code'}, '200', 'CLIENT status');
    is($c->{'http.request.method'}, 'GET', 'CLIENT method');
    ok(!exists $c->{'error.type'}, 'CLIENT without error');
    my $log = main::access_line($t, 't1-request');
    is($log->{trace_id}, $srv->{traceId}, 'the access log line carries the trace id');
}
--- response_headers
X-Seen: 1



=== TEST 2: two tries when the first node refuses: two CLIENT spans, and the upstream's parent is the CLIENT span that reached it
--- yaml_config eval
"access_log: { path: logs/access.log, format: json, buffer: 0 }
tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 1, flush_interval: 100ms }
upstreams:
  - name: flaky
    retries: 1
    nodes: [{ address: \"127.0.0.1:\$MG_RAND_PORT_1\" }, { address: \"127.0.0.1:\$MG_ECHO_PORT\" }]
routes:
  - { name: retried, paths: [\"/t2/*\"], upstream: flaky }
"
--- request eval
["GET /t2/a", "GET /t2/b"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my ($t, $block, $res) = @_;
    my @srv = main::spans_for_path('/t2/a', 1);
    push @srv, main::spans_for_path('/t2/b', 1);
    is(scalar @srv, 2, 'a SERVER span per request') or return;
    my $checked = 0;
    for my $i (0, 1) {
        my $srv = $srv[$i];
        my @cl = sort { $a->{startTimeUnixNano} <=> $b->{startTimeUnixNano} }
            main::by_kind(3, main::trace_spans($srv->{traceId}, 3, 2));
        my $got = JSON::PP::decode_json($res->[$i]{body} // '{}');
        my $tp = $got->{headers}{traceparent} // '';
        like($tp, qr/^00-$srv->{traceId}-[0-9a-f]{16}-01$/, "request $i: traceparent upstream");
        my ($parent) = $tp =~ /^00-[0-9a-f]{32}-([0-9a-f]{16})-01$/;
        is($parent, $cl[-1]{spanId}, "request $i: its parent is the last try's CLIENT span");
        isnt($parent, $srv->{spanId}, "request $i: not the SERVER span");
        is($_->{parentSpanId}, $srv->{spanId}, "request $i: CLIENT under SERVER") for @cl;
        next unless @cl == 2;
        $checked++;
        my ($first, $second) = map { main::attrs($_) } @cl;
        is($first->{'error.type'}, 'connect failed', 'first try: error.type');
        ok(!exists $first->{'http.response.status_code'}, 'first try: no status');
        is(($cl[0]{status} // {})->{code}, 2, 'first try: status ERROR');
        is($first->{'server.port'}, $t->{vars}{MG_RAND_PORT_1}, 'first try: the refusing node');
        is($second->{'http.response.status_code'}, '200', 'second try: 200');
        is($second->{'server.port'}, $t->echo_port, 'second try: the echo node');
        is($second->{'http.request.resend_count'}, '1', 'second try: resend_count');
    }
    ok($checked >= 1, 'a request went to the refusing node first');
}



=== TEST 3: a valid incoming traceparent is continued and its tracestate kept; the client's header is not forwarded as is
--- yaml_config eval
"tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 0, flush_interval: 100ms }
upstreams:
  - name: echo
    nodes: [{ address: \"127.0.0.1:\$MG_ECHO_PORT\" }]
routes:
  - { name: cont, paths: [\"/t3/*\"], upstream: echo }
"
--- request
GET /t3/x
--- more_headers
traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7
--- error_code: 200
--- test_code eval
sub {
    my ($t, $block, $res) = @_;
    my @all = main::trace_spans('0af7651916cd43dd8448eb211c80319c', 2);
    my ($srv) = main::by_kind(2, @all);
    ok($srv, 'a sampled parent is exported even with sample_ratio 0') or return;
    is($srv->{parentSpanId}, 'b7ad6b7169203331', 'the client span is the SERVER span\'s parent');
    is($srv->{traceState}, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7', 'traceState');
    my ($cl) = main::by_kind(3, @all);
    my $got = JSON::PP::decode_json($res->[0]{body});
    is($got->{headers}{traceparent},
       "00-0af7651916cd43dd8448eb211c80319c-$cl->{spanId}-01",
       'upstream: the same trace, the CLIENT span as parent, sampled');
    is($got->{headers}{tracestate}, 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
       'upstream: tracestate as it came');
}



=== TEST 4: sample_ratio 0 exports nothing, yet the upstream gets a traceparent (flags 00) and the access log the trace id
--- yaml_config eval
"access_log: { path: logs/access.log, format: json, buffer: 0 }
tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 0, flush_interval: 100ms }
upstreams:
  - name: echo
    nodes: [{ address: \"127.0.0.1:\$MG_ECHO_PORT\" }]
routes:
  - { name: unsampled, paths: [\"/t4/*\"], upstream: echo }
"
--- request
GET /t4/x
--- more_headers
X-Request-Id: t4-request
--- error_code: 200
--- test_code eval
sub {
    my ($t, $block, $res) = @_;
    my $got = JSON::PP::decode_json($res->[0]{body});
    my $tp = $got->{headers}{traceparent} // '';
    like($tp, qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/, 'a traceparent, not sampled');
    my ($tid) = $tp =~ /^00-([0-9a-f]{32})-/;
    ok($tid && $tid !~ /^0+$/, 'a real trace id');
    ok(!exists $got->{headers}{tracestate}, 'no tracestate of our own');
    is(main::access_line($t, 't4-request')->{trace_id}, $tid, 'the access log shows the trace id');
    my @s = main::spans_for_path('/t4/x', 1, 1.5);
    is(scalar @s, 0, 'nothing exported');
}



=== TEST 5: an unsampled incoming parent is followed: not exported, the upstream gets the same trace with flags 00
--- yaml_config eval
"tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 1, flush_interval: 100ms }
upstreams:
  - name: echo
    nodes: [{ address: \"127.0.0.1:\$MG_ECHO_PORT\" }]
routes:
  - { name: parent-off, paths: [\"/t5/*\"], upstream: echo }
"
--- request
GET /t5/x
--- more_headers
traceparent: 00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00
--- error_code: 200
--- test_code eval
sub {
    my ($t, $block, $res) = @_;
    my $got = JSON::PP::decode_json($res->[0]{body});
    my $tp = $got->{headers}{traceparent} // '';
    like($tp, qr/^00-5bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/, 'same trace, not sampled');
    unlike($tp, qr/00f067aa0ba902b7/, 'the gateway\'s own span id as the parent');
    my @s = main::trace_spans('5bf92f3577b34da6a3ce929d0e0e4736', 1, 1.5);
    is(scalar @s, 0, 'nothing exported');
}



=== TEST 6: an invalid traceparent starts a new trace (and its tracestate is dropped)
--- yaml_config eval
"tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 1, flush_interval: 100ms }
upstreams:
  - name: echo
    nodes: [{ address: \"127.0.0.1:\$MG_ECHO_PORT\" }]
routes:
  - { name: invalid, paths: [\"/t6/*\"], upstream: echo }
"
--- test_code eval
sub {
    my ($t) = @_;
    my %bad = (
        '/t6/upper' => '00-6BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
        '/t6/zero'  => '00-6bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
        '/t6/short' => '00-6bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1',
        '/t6/ff'    => 'ff-6bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    );
    for my $p (sort keys %bad) {
        my $r = $t->request("GET $p", ["traceparent: $bad{$p}", 'tracestate: a=1'], 3);
        is($r && $r->{status}, 200, "$p: 200") or next;
        my $got = JSON::PP::decode_json($r->{body});
        my $tp = $got->{headers}{traceparent} // '';
        like($tp, qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, "$p: a traceparent of ours");
        unlike($tp, qr/6bf92f3577b34da6a3ce929d0e0e4736/i, "$p: a new trace id");
        ok(!exists $got->{headers}{tracestate}, "$p: no tracestate");
        my ($srv) = main::spans_for_path($p, 1);
        ok($srv && !exists $srv->{parentSpanId}, "$p: a root SERVER span");
    }
}



=== TEST 7: without tracing, nothing changes: the client's trace headers pass as they are, no trace id is logged
--- yaml_config eval
"access_log: { path: logs/access.log, format: json, buffer: 0 }
upstreams:
  - name: echo
    nodes: [{ address: \"127.0.0.1:\$MG_ECHO_PORT\" }]
routes:
  - { name: plain, paths: [\"/t7/*\"], upstream: echo }
"
--- request
GET /t7/x
--- more_headers
X-Request-Id: t7-request
traceparent: 00-7bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
tracestate: a=1
--- error_code: 200
--- test_code eval
sub {
    my ($t, $block, $res) = @_;
    my $got = JSON::PP::decode_json($res->[0]{body});
    is($got->{headers}{traceparent}, '00-7bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
       'traceparent untouched');
    is($got->{headers}{tracestate}, 'a=1', 'tracestate untouched');
    ok(!exists main::access_line($t, 't7-request')->{trace_id}, 'no trace_id in the access log');
    my $st = $t->status;
    ok($st && !$st->{tracing}{enabled}, '/status: tracing off');
}



=== TEST 8: a route answering by itself gets a SERVER span; a 5xx marks it ERROR
--- yaml_config eval
"access_log: { path: logs/access.log, format: json, buffer: 0 }
tracing: { endpoint: \"" . main::url() . "\", flush_interval: 100ms }
upstreams:
  - name: dead
    retries: 0
    nodes: [{ address: \"127.0.0.1:\$MG_RAND_PORT_1\" }]
routes:
  - { name: fixed, paths: [\"/t8/fixed\"], return: { status: 200, body: \"ok\\n\" } }
  - { name: broken, paths: [\"/t8/broken\"], upstream: dead }
"
--- request eval
["GET /t8/fixed", "GET /t8/broken"]
--- error_code eval
[200, 502]
--- test_code eval
sub {
    my ($t) = @_;
    my ($ok) = main::spans_for_path('/t8/fixed', 1);
    ok($ok, 'return route: a SERVER span') or return;
    is(scalar main::trace_spans($ok->{traceId}, 1, 0.5), 1, 'and no other span');
    ok(!exists $ok->{status}, 'status unset');
    my ($bad) = main::spans_for_path('/t8/broken', 1);
    ok($bad, 'a SERVER span for the 502') or return;
    is(($bad->{status} // {})->{code}, 2, 'status ERROR');
    is(main::attrs($bad)->{'error.type'}, '502', 'error.type');
    is(main::attrs($bad)->{'http.response.status_code'}, '502', 'status code');
    my ($cl) = main::by_kind(3, main::trace_spans($bad->{traceId}, 2));
    is(main::attrs($cl)->{'error.type'}, 'connect failed', 'the failed try');
}
--- no_error_log
[error]



=== TEST 9: plugins see the trace id (mg.var.trace_id), the same as the access log's
--- yaml_config eval
"access_log: { path: logs/access.log, format: json, buffer: 0 }
tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 0 }
routes:
  - { name: tid, paths: [\"/t9/*\"], plugins: { show-trace: {} } }
"
--- lua_plugins
>>> show-trace.lua
local mg = require "moongate"
return {
    name = "show-trace", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, (mg.var.trace_id or "none") .. "\n" end,
}
--- request
GET /t9/x
--- more_headers
X-Request-Id: t9-request
traceparent: 00-9bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00
--- error_code: 200
--- response_body
9bf92f3577b34da6a3ce929d0e0e4736
--- test_code eval
sub {
    my ($t) = @_;
    is(main::access_line($t, 't9-request')->{trace_id}, '9bf92f3577b34da6a3ce929d0e0e4736',
       'access log');
}



=== TEST 10: a reload that changes tracing applies in place
--- yaml_config eval
"tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 0, flush_interval: 100ms }
routes:
  - { name: before, paths: [\"/t10/*\"], return: { status: 200, body: \"ok\\n\" } }
"
--- reload_yaml_config eval
"tracing: { endpoint: \"" . main::url() . "\", sample_ratio: 1, service_name: after-reload, flush_interval: 100ms }
routes:
  - { name: after, paths: [\"/t10/*\"], return: { status: 200, body: \"ok\\n\" } }
"
--- reload_after: 1
--- request eval
["GET /t10/before", "GET /t10/after"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my ($t) = @_;
    my ($after) = main::spans_for_path('/t10/after', 1);
    ok($after, 'sampled after the reload') or return;
    is($after->{_resource}{'service.name'}, 'after-reload', 'the new service name');
    is(main::attrs($after)->{'http.route'}, 'after', 'the new route');
    is(scalar main::spans_for_path('/t10/before', 1, 0.5), 0, 'nothing before it');
}
