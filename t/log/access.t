# Access-log lines: both formats carry the route, the upstream address, the upstream
# times (connect, head, total), the plugin time of each phase, the total time and the
# request id; `access_log: off` writes nothing.
use Test::Moongate;
use JSON::PP ();
use Time::HiRes ();

# The access log once it holds a line matching $re (workers write asynchronously).
sub wait_line {
    my ($t, $re) = @_;
    my $end = Time::HiRes::time() + 2;
    while (1) {
        my ($line) = grep { $_ =~ $re } split /\n/, $t->access_log;
        return $line if defined $line || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

run_tests();

__DATA__

=== TEST 1: combined format with the moongate fields
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 0 }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: echo-route, paths: ["/*"], upstream: echo }
--- request
GET /logged?x=1
--- more_headers
X-Request-Id: req-combined-1
User-Agent: moongate-test
Referer: http://ref.example/
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr/req-combined-1/);
    my $port = $t->echo_port;
    like($line // '', qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /logged\?x=1 HTTP/1\.1" 200 \d+ "http://ref\.example/" "moongate-test" "echo-route" "127\.0\.0\.1:$port" \d+\.\d{3} \d+\.\d{3} "req-combined-1" \d+\.\d{3} \d+\.\d{3} - - - - - -$},
         'combined line: upstream connect and header times, no plugin times');
}



=== TEST 2: json format with the moongate fields
--- yaml_config
access_log: { path: logs/access.log, format: json, buffer: 0 }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: echo-route, paths: ["/*"], upstream: echo }
--- request
GET /delay/50
--- more_headers
X-Request-Id: req-json-1
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr/req-json-1/) // '{}';
    my $j = eval { JSON::PP::decode_json($line) } // {};
    is($j->{route}, 'echo-route', 'route');
    is($j->{upstream_addr}, '127.0.0.1:' . $t->echo_port, 'upstream_addr');
    is($j->{status}, 200, 'status');
    is($j->{upstream_status}, 200, 'upstream_status');
    is($j->{request_id}, 'req-json-1', 'request_id');
    is($j->{method}, 'GET', 'method');
    is($j->{uri}, '/delay/50', 'uri');
    ok(($j->{upstream_time} // 0) >= 0.04, "upstream_time ($j->{upstream_time})");
    ok(($j->{request_time} // 0) >= ($j->{upstream_time} // 1), 'request_time >= upstream_time');
}



=== TEST 3: a generated request id and an unmatched request are logged too
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 0 }
routes: []
--- request
GET /nowhere
--- error_code: 404
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr{/nowhere});
    like($line // '', qr{" 404 \d+ "-" "-" "-" "-" - \d+\.\d{3} "[A-Za-z0-9._:-]+" - - - - - - - -$},
         'empty fields are "-", upstream and plugin times "-", an id is generated');
}



=== TEST 4: access_log: off writes nothing
--- yaml_config
access_log: off
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- request eval
["GET /hello", "GET /hello"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.2);
    is(-s $t->access_log_file // 0, 0, 'no access log written');
}



=== TEST 5: the buffered access log is flushed at a graceful stop
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 64k }
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- request
GET /hello?flushed
--- test_code eval
sub {
    my $t = shift;
    kill 'QUIT', $t->pid;
    $t->wait_exit(5);
    like($t->access_log, qr{GET /hello\?flushed}, 'line written at exit');
}



=== TEST 6: a 30 ms access plugin is plugin time, not upstream time
--- yaml_config
access_log: { path: logs/access.log, format: json, buffer: 0 }
lua: { cpu_budget: 1s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: slow-auth, paths: ["/*"], upstream: echo, plugins: { spin: {} } }
--- lua_plugins
>>> spin.lua
local mg = require "moongate"
return {
    name = "spin", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function()
        local t0 = mg.now()
        while mg.now() - t0 < 0.030 do end
    end,
    log = function()
        local v = mg.var
        mg.log(mg.INFO, string.format("timings access %.3f upstream %.3f header %.3f "
            .. "connect %.3f rewrite %s", v.plugin_access_time, v.upstream_time,
            v.upstream_header_time, v.upstream_connect_time, tostring(v.plugin_rewrite_time)))
    end,
}
--- request eval
["GET /hello", "GET /hello", "GET /hello", "GET /hello", "GET /hello"]
--- more_headers
X-Request-Id: req-timed-1
--- error_code eval
[200, 200, 200, 200, 200]
--- test_code eval
sub {
    my $t = shift;
    my $end = Time::HiRes::time() + 2;
    my @lines;
    while (Time::HiRes::time() < $end) {
        @lines = grep { /req-timed-1/ } split /\n/, $t->access_log;
        last if @lines >= 5;
        Time::HiRes::sleep(0.05);
    }
    is(scalar @lines, 5, 'five lines');
    my @j = map { eval { JSON::PP::decode_json($_) } // {} } @lines;
    # the fastest of five: a busy machine may stretch any one of them
    my ($best) = sort { ($a->{upstream_time} // 9) <=> ($b->{upstream_time} // 9) } @j;
    my $what = "upstream $best->{upstream_time}, access plugin $best->{plugin_access_time}";
    ok(defined $best->{upstream_time} && $best->{upstream_time} < 0.010,
       "the upstream time leaves the plugin out ($what)");
    for my $j (@j) {
        my $what = "upstream $j->{upstream_time}, access plugin $j->{plugin_access_time}";
        ok(($j->{plugin_access_time} // 0) >= 0.030, "the access plugin's time ($what)");
        ok(($j->{request_time} // 0) >= 0.030, "request_time counts it ($j->{request_time})");
        ok(defined $j->{upstream_header_time}
           && $j->{upstream_header_time} <= $j->{upstream_time},
           "header time ($j->{upstream_header_time}) <= upstream time");
        ok(defined $j->{upstream_connect_time}
           && $j->{upstream_connect_time} <= $j->{upstream_header_time},
           "connect time ($j->{upstream_connect_time}) <= header time");
        ok(defined $j->{plugin_log_time}, 'the log phase is timed');
        ok(!defined $j->{plugin_rewrite_time} && !defined $j->{plugin_balancer_time}
           && !defined $j->{plugin_header_filter_time} && !defined $j->{plugin_body_filter_time},
           'phases without plugins are null');
    }
}
--- error_log eval
[qr/timings access 0\.\d{3} upstream 0\.\d{3} header 0\.\d{3} connect 0\.\d{3} rewrite nil/]



=== TEST 7: plugin times per phase in the combined format
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 0 }
lua: { cpu_budget: 1s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: phased, paths: ["/*"], upstream: echo, plugins: { phased: {} } }
--- lua_plugins
>>> phased.lua
local mg = require "moongate"
-- spins on the wall clock, as plugin time is counted (os.clock counts the CPU time of
-- the whole process, which other threads can advance: a spin could end early)
local function spin(s)
    local t0 = mg.now()
    while mg.now() - t0 < s do end
end
return {
    name = "phased", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    rewrite = function() spin(0.020) end,
    access = function() mg.sleep(200) spin(0.010) end,
    header_filter = function() spin(0.015) end,
    body_filter = function() spin(0.005) end,
    log = function() spin(0.005) end,
}
--- request
GET /hello
--- more_headers
X-Request-Id: req-phased-1
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    my $line = main::wait_line($t, qr/req-phased-1/) // '';
    my ($up, $req, $conn, $head, @p) = $line =~
        m{ (\S+) (\S+) "req-phased-1" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$};
    is(scalar @p, 6, "six plugin fields ($line)") or return;
    my ($rw, $ac, $bal, $hf, $bf, $lg) = @p;
    ok($rw >= 0.020, "rewrite $rw");
    ok($ac >= 0.010 && $ac < 0.150, "access $ac: the 200 ms sleep is not plugin time");
    is($bal, '-', 'no balancer plugin');
    ok($hf >= 0.015, "header_filter $hf");
    ok($bf >= 0.005, "body_filter $bf (every chunk)");
    ok($lg >= 0.005, "log $lg");
    ok($req >= 0.250, "request_time $req counts the sleep and the plugins");
    ok($head <= $up && $up - $head < ($hf + $bf) / 2,
       "upstream header $head, total $up: the filters' time is not in it");
}
