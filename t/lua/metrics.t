# GET /metrics and the plugins: calls, errors and time per plugin and phase, CPU-budget
# and stall kills, each worker's Lua memory.
# Pages are checked with `promtool check metrics` when promtool is installed.
use Test::Moongate;
use Time::HiRes ();
use File::Temp ();

# The /metrics page of server $t (Prometheus text), '' without an answer.
sub Test::Base::Filter::scrape {
    my ($t, $accept) = @_;
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /metrics",
                                            $accept ? ["Accept: $accept"] : [], 3);
    return $r && ($r->{status} // 0) == 200 ? $r->{body} : '';
}

# The value of sample `name{labels}` (as the page writes it) on page $p, undef if absent.
sub Test::Base::Filter::value {
    my ($p, $sample) = @_;
    return $p =~ /^\Q$sample\E (\S+)$/m ? $1 + 0 : undef;
}

# Polls $cond every 50 ms for $secs seconds; true once it held.
sub Test::Base::Filter::eventually {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs * ($ENV{MG_TEST_VALGRIND} ? 5 : 1);
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.05);
    }
    return $cond->();
}

# `promtool check metrics` on page $p: passes, or skips when promtool is missing.
sub Test::Base::Filter::promtool_ok {
    my ($p, $what) = @_;
    my $tool = (grep { -x "$_/promtool" } split /:/, $ENV{PATH} // '')[0];
    if (!$tool) {
        Test::More::note("promtool not found (Debian package `prometheus`): $what not checked");
        return;
    }
    my $tmp = File::Temp->new;
    print $tmp $p;
    close $tmp;
    my $out = `$tool/promtool check metrics < $tmp 2>&1`;
    is($?, 0, "promtool check metrics: $what") or diag($out);
}

run_tests();

__DATA__

=== TEST 1: calls, errors and time of an access plugin; the Lua memory gauge
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { gate: {} }
--- lua_plugins
>>> gate.lua
local mg = require "moongate"
return {
    name = "gate", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        if mg.request.get_path() == "/fail" then
            error("refused")
        end
    end,
    header_filter = function(conf) end,
}
--- request eval
["GET /a", "GET /fail", "GET /b", "GET /fail", "GET /c"]
--- error_code eval
[200, 500, 200, 500, 200]
--- test_code eval
sub {
    my $t = shift;
    my $p = scrape($t);
    is(value($p, 'moongate_plugin_calls_total{plugin="gate",phase="access"}'), 5,
       'five access calls');
    is(value($p, 'moongate_plugin_errors_total{plugin="gate",phase="access"}'), 2,
       'two of them failed');
    is(value($p, 'moongate_plugin_duration_seconds_count{plugin="gate",phase="access"}'), 5,
       'five times taken');
    is(value($p, 'moongate_plugin_duration_seconds_bucket{plugin="gate",phase="access",le="+Inf"}'),
       5, 'in the +Inf bucket');
    is(value($p, 'moongate_plugin_calls_total{plugin="gate",phase="header_filter"}'), 5,
       'header_filter ran for each answer, the 500s too');
    is(value($p, 'moongate_plugin_calls_total{plugin="gate",phase="rewrite"}'), undef,
       'no series for a phase the plugin has no function for');
    is(value($p, 'moongate_plugin_budget_kills_total{plugin="gate"}'), 0, 'no budget kill');
    like($p, qr/^# TYPE moongate_plugin_duration_seconds histogram$/m, 'a histogram');
    ok(eventually(3, sub { (value(scrape($t), 'moongate_lua_memory_bytes') // 0) > 100000 }),
       'the worker reports its Lua memory (within a tick)');
    promtool_ok(scrape($t), 'plugin families');
}
--- error_log
plugin "gate" failed in access



=== TEST 2: a runaway plugin stopped by the CPU budget is counted
--- yaml_config
lua: { cpu_budget: 50ms }
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { spin: {} }
--- lua_plugins
>>> spin.lua
jit.off()
local mg = require "moongate"
return {
    name = "spin", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        if mg.request.get_path() == "/spin" then
            local x = 0
            while true do x = x + 1 end
        end
    end,
}
--- request eval
["GET /spin", "GET /ok"]
--- error_code eval
[500, 200]
--- test_code eval
sub {
    my $t = shift;
    my $p = scrape($t);
    is(value($p, 'moongate_plugin_budget_kills_total{plugin="spin"}'), 1, 'one kill');
    is(value($p, 'moongate_plugin_errors_total{plugin="spin",phase="access"}'), 1,
       'and one error');
    is(value($p, 'moongate_plugin_calls_total{plugin="spin",phase="access"}'), 2, 'of two calls');
}
--- error_log
CPU budget exceeded



=== TEST 3: a worker killed for a stall counts a kill of the plugin it was in
--- yaml_config
lua: { stall_timeout: 500ms }
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { spin: {} }
--- lua_plugins
>>> spin.lua
local mg = require "moongate"
return {
    name = "spin", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        if mg.request.get_path() == "/spin" then
            local x = 0
            while true do x = x + 1 end
        end
    end,
}
--- request
GET /spin
--- abort
--- timeout: 0.4
--- test_code eval
sub {
    my $t = shift;
    ok(eventually(5, sub { $t->error_log =~ /worker \d+ stalled for/ }), 'the stall is reported');
    ok(eventually(5, sub { (($t->request("GET /ok", [], 1) // {})->{status} // 0) == 200 }),
       'a new worker serves');
    ok(eventually(5, sub { defined value(scrape($t), 'moongate_plugin_budget_kills_total{plugin="spin"}') }),
       'the page answers');
    is(value(scrape($t), 'moongate_plugin_budget_kills_total{plugin="spin"}'), 1, 'one kill');
}
--- error_log eval
[qr/\[alert\] \d+#-: worker \d+ stalled for \d+\.\d s in Lua, plugin "spin" phase access; killing it/,
 qr/worker \d+ \(slot 0\) killed by signal 9/]
