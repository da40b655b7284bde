# mg.timer: a function run once after a delay (at) or every interval (every), in the
# generation's Lua state, outside any request: its arguments and `premature`, waits
# (mg.sleep, mg.http.request) inside it, the per-worker cap, errors logged and counted,
# and the end of a generation's timers at a reload or a stop.
use Test::Moongate;
use Test::Moongate::Client;
use JSON::PP ();
use Time::HiRes ();

# wait_log($t, $re, $secs) -> the matches of $re in the error log, waiting up to $secs
# (default 3) for the first.
sub wait_log {
    my ($t, $re, $secs) = @_;
    my $end = Time::HiRes::time() + ($secs // 3);
    while (1) {
        my @m = $t->error_log =~ $re;
        return @m if @m;
        return () if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.02);
    }
}

sub count_log {
    my ($t, $re) = @_;
    my @m = $t->error_log =~ /$re/g;
    return scalar @m;
}

sub timers { ($_[0]->status // {})->{lua_timers} // {} }

run_tests();

__DATA__

=== TEST 1: mg.timer.at runs the function once, after the delay, with its arguments
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { later: {} }
--- lua_plugins
>>> later.lua
local mg = require "moongate"
local function fired(premature, a, b, made)
    mg.log(mg.INFO, "fired premature=", tostring(premature), " a=", a, " b=", tostring(b),
        " after=", string.format("%.3f", mg.now() - made), " phase=", mg.var.phase)
end
return {
    name = "later", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local ok, err = mg.timer.at(0.3, fired, "x", nil, mg.now())
        return 200, "scheduled " .. tostring(ok) .. " " .. tostring(err) .. "\n"
    end,
}
--- request
GET /t
--- response_body
scheduled true nil
--- test_code eval
sub {
    my $t = shift;
    my ($after) = main::wait_log($t, qr/fired premature=false a=x b=nil after=([\d.]+) phase=timer/);
    ok(defined $after, 'the timer ran') or return;
    ok($after >= 0.29 && $after < 1.5, "after the delay ($after s)");
    Time::HiRes::sleep(0.5);
    is(main::count_log($t, qr/fired premature/), 1, 'once');
    my $tm = main::timers($t);
    is($tm->{pending}, 0, 'none pending');
    is($tm->{running}, 0, 'none running');
}
--- no_error_log
[error]



=== TEST 2: a timer may wait: mg.sleep, then mg.http.request yielding; mg.timer.every repeats
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { waits: {} }
--- lua_plugins
>>> waits.lua
local mg = require "moongate"
local n = 0
local function tick(premature)
    n = n + 1
    mg.log(mg.INFO, "tick ", n, " pending=", mg.timer.pending_count(), " running=",
        mg.timer.running_count())
end
local function call(premature, url)
    mg.sleep(50)
    local res, err = mg.http.request({ url = url, timeout = 2000 })
    mg.log(mg.INFO, "called ", res and res.status or err)
    assert(mg.timer.every(0.1, tick))
end
return {
    name = "waits", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        assert(mg.timer.at(0, call, "http://127.0.0.1:$MG_ECHO_PORT/status/201"))
        return 200, "ok\n"
    end,
}
--- request
GET /t
--- test_code eval
sub {
    my $t = shift;
    ok(main::wait_log($t, qr/(called 201)/), 'the HTTP call from the timer came back');
    ok(main::wait_log($t, qr/(tick 3 )/), 'every ran three times');
    my ($pending, $running) = main::wait_log($t, qr/tick 1 pending=(\d+) running=(\d+)/);
    is($running, 1, 'running_count counts the run in progress, alone');
    is($pending, 0, 'pending_count: the every timer is running, not pending');
    my $tm = main::timers($t);
    is($tm->{pending}, 1, '/status: the every timer pending');
}
--- no_error_log
[error]



=== TEST 3: the per-worker cap refuses timers past it, counted in /status
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { many: {} }
--- lua_plugins
>>> many.lua
local mg = require "moongate"
return {
    name = "many", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local ok, refused, why = 0, 0, nil
        for i = 1, 1100 do
            local r, err = mg.timer.at(60, function() end)
            if r then ok = ok + 1 else refused = refused + 1; why = err end
        end
        return 200, ok .. " made, " .. refused .. " refused: " .. tostring(why) .. "\n"
    end,
}
--- request
GET /t
--- response_body
1024 made, 76 refused: too many timers
--- test_code eval
sub {
    my $t = shift;
    my $tm = main::timers($t);
    is($tm->{pending}, 1024, '1024 pending');
    is($tm->{refused}, 76, '76 refused');
}



=== TEST 4: an error in the function is logged with where the timer was made, counted, and harms nothing
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins: { boom: {} }
--- lua_plugins
>>> boom.lua
local mg = require "moongate"
local function bad(premature)
    error("boom in a timer")
end
local function var(premature)
    return mg.var.request_id
end
return {
    name = "boom", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    log = function(conf)
        mg.timer.at(0, bad)
        mg.timer.at(0, var)
    end,
}
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $t = shift;
    ok(main::wait_log($t, qr/(\[error\] .*timer made at \S*boom\.lua:12 failed: \S*boom\.lua:3: boom in a timer)/),
       'the error names the file and line of the timer and of the failure');
    ok(main::wait_log($t, qr/(timer made at \S*boom\.lua:13 failed: \S*boom\.lua:6: mg\.var\.request_id: not allowed in the timer phase)/),
       'request facts are refused in the timer phase');
    Time::HiRes::sleep(0.2);
    is(main::timers($t)->{failed}, 4, 'four failures counted');
    is($t->request("GET /c")->{status}, 200, 'requests go on');
}
--- no_error_log
[crit]



=== TEST 5: a reload retires the old generation's timers: one premature run each, then none
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { ticker: {} }
--- lua_plugins
>>> ticker.lua
local mg = require "moongate"
local started = false
return {
    name = "ticker", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        if not started then
            started = true
            mg.timer.every(0.05, function(premature)
                mg.log(mg.INFO, "tick old premature=", tostring(premature))
            end)
            mg.timer.at(30, function(premature)
                mg.log(mg.INFO, "late old premature=", tostring(premature))
                local ok, err = mg.timer.at(1, function() end)
                mg.log(mg.INFO, "new timer in a retired generation: ", tostring(err))
                ok, err = mg.timer.at(0, function(p)
                    mg.log(mg.INFO, "zero-delay timer in a retired generation premature=", tostring(p))
                end)
            end)
        end
        return 200, "v1\n"
    end,
}
--- request
GET /t
--- test_code eval
sub {
    my $t = shift;
    ok(main::wait_log($t, qr/(tick old premature=false)/), 'the every timer ticks');
    $t->write_file('plugins/ticker.lua', <<'LUA');
return {
    name = "ticker", version = "2.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf) return 200, "v2\n" end,
}
LUA
    is($t->reload(undef, 'signal'), '', 'reloaded');
    is($t->request("GET /t")->{body}, "v2\n", 'the new code serves');
    ok(main::wait_log($t, qr/(late old premature=true)/), 'the pending timer ran at once, premature');
    ok(main::wait_log($t, qr/(new timer in a retired generation: generation retired)/),
       'a retired generation makes no timer with a delay');
    ok(main::wait_log($t, qr/(zero-delay timer in a retired generation premature=true)/),
       'but one of delay 0 runs');
    Time::HiRes::sleep(0.3);
    is(main::count_log($t, qr/tick old premature=true/), 1, 'the every timer ran once premature');
    my $n = main::count_log($t, qr/tick old premature/);
    Time::HiRes::sleep(0.3);
    is(main::count_log($t, qr/tick old premature/), $n, 'and never again');
    # generations_alive is refreshed every second
    my $st;
    for (1 .. 40) {
        $st = $t->status;
        last if $st->{workers}[0]{generations_alive} == 1;
        Time::HiRes::sleep(0.05);
    }
    is($st->{workers}[0]{generations_alive}, 1, 'the old generation is freed');
    is($st->{lua_timers}{pending} + $st->{lua_timers}{running}, 0, 'no timer left');
}
--- no_error_log
[error]



=== TEST 6: a graceful stop runs the pending timers once, premature, before the worker leaves
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { flush: {} }
--- lua_plugins
>>> flush.lua
local mg = require "moongate"
return {
    name = "flush", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        mg.timer.at(60, function(premature)
            local res, err = mg.http.request({ url = "http://127.0.0.1:$MG_ECHO_PORT/delay/100" })
            mg.log(mg.INFO, "last flush premature=", tostring(premature), " status=",
                res and res.status or err)
        end)
        return 200, "ok\n"
    end,
}
--- request
GET /t
--- test_code eval
sub {
    my $t = shift;
    $t->stop;
    like($t->error_log, qr/last flush premature=true status=200/, 'ran at the stop, its call finished');
}
--- no_error_log
[error]



=== TEST 7: mg.timer checks its arguments and is refused while a plugin file loads
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { args: {} }
--- lua_plugins
>>> args.lua
local mg = require "moongate"
return {
    name = "args", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local out = {}
        for _, f in ipairs({
            function() local r = mg.timer.at(-1, print) return r end,
            function() local r = mg.timer.at(1, "print") return r end,
            function() local r = mg.timer.every(0, print) return r end,
        }) do
            local ok, err = pcall(f)
            out[#out + 1] = tostring(err)
        end
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /t
--- response_body_like
^\S*args\.lua:8: mg\.timer\.at: expected a delay in seconds \(a number >= 0\), got -1
\S*args\.lua:9: mg\.timer\.at: expected a function, got string
\S*args\.lua:10: mg\.timer\.every: expected an interval in seconds \(a number > 0\), got 0
$



=== TEST 8: a timer made at the top of a plugin file fails the load
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { top: {} }
--- lua_plugins
>>> top.lua
local mg = require "moongate"
mg.timer.at(1, function() end)
return { name = "top", priority = 1, schema = { type = "record", fields = {} } }
--- must_die
--- error_log
mg.timer.at: not allowed outside a request phase (at load, a plugin's top level may not do this: start timers and background work in init_worker)



=== TEST 9: a fast stop cancels running timers, their waits and calls, and frees everything
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { slow: {} }
--- lua_plugins
>>> slow.lua
local mg = require "moongate"
return {
    name = "slow", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        mg.timer.at(0, function() mg.sleep(10000) end)
        mg.timer.at(0, function()
            mg.http.request({ url = "http://127.0.0.1:$MG_ECHO_PORT/delay/5000" })
        end)
        mg.timer.every(60, function() end)
        return 200, "ok\n"
    end,
}
--- request
GET /t
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.3);
    is(main::timers($t)->{running}, 2, 'two running');
    kill 'TERM', $t->pid;
    ok(defined $t->wait_exit(5), 'stopped at once');
    like($t->error_log, qr/\[warn\] .*timers: 2 run\(s\) cancelled, the worker is leaving/,
         'the cancelled runs are logged');
}
--- no_error_log
[error]
