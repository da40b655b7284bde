# GET /metrics and the plugins: calls, errors and time per plugin and phase, CPU-budget
# and stall kills, each worker's Lua memory; mg.metrics counters, gauges and histograms
# with labels, the bound on label sets folding into "_other", declarations refused at
# load, counts kept across a reload for names that stay and gone with their plugin.
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



=== TEST 2: mg.metrics: a counter, a gauge and a histogram with labels
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { cache: {} }
--- lua_plugins
>>> cache.lua
local mg = require "moongate"
local hits = mg.metrics.counter("cache_hits", "Cache hits by zone.", { "zone" })
local q = mg.metrics.gauge("queue_depth", "Items waiting.")
local h = mg.metrics.histogram("backend_seconds", "Backend time.", { "backend", "dc" },
    { 0.01, 0.1, 1 })
return {
    name = "cache", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local path = mg.request.get_path()
        if path == "/eu" then
            hits:inc(1, { "eu" })
        elseif path == "/us" then
            hits:inc(2.5, "us")
        elseif path == "/q" then
            q:set(12)
            q:dec(2)
        else
            h:observe(0.05, { "b1", "west" })
            h:observe(5, { "b1", "west" })
            h:observe(0.005, { "b2", 7 })
        end
    end,
}
--- request eval
["GET /eu", "GET /eu", "GET /us", "GET /q", "GET /h"]
--- test_code eval
sub {
    my $t = shift;
    my $p = scrape($t);
    like($p, qr/^# TYPE moongate_ext_cache_hits_total counter$/m, 'a counter family, _total added');
    is(value($p, 'moongate_ext_cache_hits_total{plugin="cache",zone="eu"}'), 2, 'eu counted twice');
    is(value($p, 'moongate_ext_cache_hits_total{plugin="cache",zone="us"}'), 2.5, 'us by 2.5');
    is(value($p, 'moongate_ext_queue_depth{plugin="cache"}'), 10, 'gauge set then decreased');
    my $l = 'plugin="cache",backend="b1",dc="west"';
    is(value($p, "moongate_ext_backend_seconds_bucket{$l,le=\"0.01\"}"), 0, 'le 0.01');
    is(value($p, "moongate_ext_backend_seconds_bucket{$l,le=\"0.1\"}"), 1, 'le 0.1');
    is(value($p, "moongate_ext_backend_seconds_bucket{$l,le=\"1\"}"), 1, 'le 1');
    is(value($p, "moongate_ext_backend_seconds_bucket{$l,le=\"+Inf\"}"), 2, 'le +Inf');
    is(value($p, "moongate_ext_backend_seconds_sum{$l}"), 5.05, 'sum');
    is(value($p, "moongate_ext_backend_seconds_count{$l}"), 2, 'count');
    is(value($p, 'moongate_ext_backend_seconds_count{plugin="cache",backend="b2",dc="7"}'), 1,
       'a number as a label value');
    is(value($p, 'moongate_plugin_metric_folded_total{plugin="cache",metric="moongate_ext_cache_hits_total"}'),
       0, 'nothing folded');
    promtool_ok($p, 'plugin metrics');
    my $om = scrape($t, 'application/openmetrics-text');
    like($om, qr/^# TYPE moongate_ext_cache_hits counter$/m, 'OpenMetrics: family without _total');
    like($om, qr/^moongate_ext_cache_hits_total\{plugin="cache",zone="eu"\} 2$/m,
         'OpenMetrics: the sample keeps it');
    like($om, qr/# EOF\n\z/, 'OpenMetrics: # EOF last');
}



=== TEST 3: past max_series label sets a metric folds into "_other", counted
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { zones: {} }
--- lua_plugins
>>> zones.lua
local mg = require "moongate"
local hits = mg.metrics.counter("zone_hits_total", "Hits by zone.", { "zone" },
    { max_series = 2 })
return {
    name = "zones", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        hits:inc(1, mg.request.get_path():sub(2))
    end,
}
--- request eval
["GET /a", "GET /b", "GET /c", "GET /a", "GET /d", "GET /c", "GET /" . ("x" x 200)]
--- test_code eval
sub {
    my $t = shift;
    my $p = scrape($t);
    is(value($p, 'moongate_ext_zone_hits_total{plugin="zones",zone="a"}'), 2, 'a: its own series');
    is(value($p, 'moongate_ext_zone_hits_total{plugin="zones",zone="b"}'), 1, 'b: its own series');
    is(value($p, 'moongate_ext_zone_hits_total{plugin="zones",zone="c"}'), undef, 'c: none');
    is(value($p, 'moongate_ext_zone_hits_total{plugin="zones",zone="_other"}'), 4,
       'c, d, c and a 200-byte value in _other');
    is(value($p, 'moongate_plugin_metric_folded_total{plugin="zones",metric="moongate_ext_zone_hits_total"}'),
       4, 'each fold counted');
    promtool_ok($p, 'folded series');
}



=== TEST 4: an invalid metric name is refused when the plugin loads
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { bad: {} }
--- lua_plugins
>>> bad.lua
local mg = require "moongate"
local hits = mg.metrics.counter("cache-hits", "Hits.")
return {
    name = "bad", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
}
--- must_die
--- error_log eval
[qr/bad\.lua:2: mg\.metrics\.counter: invalid metric name "cache-hits": expected letters, digits and _/]



=== TEST 5: reserved label names, suffixes and shapes are refused at load too
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { a: {}, b: {} }
--- lua_plugins
>>> a.lua
local mg = require "moongate"
local function refused(f, ...)
    local ok, err = pcall(f, ...)
    assert(not ok, "accepted")
    return err
end
local errs = {
    refused(mg.metrics.histogram, "lat_seconds", "Latency.", { "le" }),
    refused(mg.metrics.gauge, "items_total", "Items."),
    refused(mg.metrics.counter, "hits", "Hits.", { "a", "a" }),
    refused(mg.metrics.histogram, "size_bytes", "Sizes.", {}, { 10, 5 }),
    refused(mg.metrics.counter, "x", "X.", {}, { max_series = 0 }),
}
mg.metrics.gauge("shared", "Shared.", { "k" })
_G.A_ERRS = table.concat(errs, "\n")
return {
    name = "a", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
}
>>> b.lua
local mg = require "moongate"
mg.log(mg.NOTICE, "A said: ", _G.A_ERRS)
mg.metrics.counter("shared", "Shared too.", { "k" })
return {
    name = "b", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
}
--- must_die
--- error_log eval
[qr/label name "le" is reserved/,
 qr/metric name "items_total" ends with "_total", a suffix the exposition formats give samples/,
 qr/label "a" given twice/,
 qr/buckets must be finite numbers in increasing order, got 5 at 2/,
 qr/max_series must be an integer from 1 to 10000/,
 qr/b\.lua:3: mg\.metrics\.counter: "shared" is already declared by plugin "a" as gauge \{k\}/]



=== TEST 6: declaring a metric in a phase is an error of the request
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { late: {} }
--- lua_plugins
>>> late.lua
local mg = require "moongate"
return {
    name = "late", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        mg.metrics.counter("late_total", "Too late.")
    end,
}
--- request
GET /x
--- error_code: 500
--- error_log eval
[qr/late\.lua:6: mg\.metrics\.counter: declare metrics when the plugin loads \(at the top level of its file\)/]



=== TEST 7: counts stay across a reload for names that stay; a removed plugin's go
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { keep: {}, drop: {} }
--- lua_plugins
>>> keep.lua
local mg = require "moongate"
local n = mg.metrics.counter("kept_total", "Kept.", { "k" })
return {
    name = "keep", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf) n:inc(1, "x") end,
}
>>> drop.lua
local mg = require "moongate"
local n = mg.metrics.counter("dropped_total", "Dropped.")
return {
    name = "drop", version = "1.0", priority = 90,
    schema = { type = "record", fields = {} },
    access = function(conf) n:inc() end,
}
--- request eval
["GET /1", "GET /2", "GET /3"]
--- test_code eval
sub {
    my $t = shift;
    my $p = scrape($t);
    is(value($p, 'moongate_ext_kept_total{plugin="keep",k="x"}'), 3, 'three before');
    is(value($p, 'moongate_ext_dropped_total{plugin="drop"}'), 3, 'the other plugin too');
    my $err = $t->reload(<<'YAML', 'admin');
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { keep: {} }
  - name: new
    paths: ["/new"]
    return: { status: 204 }
YAML
    is($err, '', 'reloaded in place');
    is($t->request("GET /4")->{status}, 200, 'served after the reload') for 1 .. 2;
    $p = scrape($t);
    is(value($p, 'moongate_ext_kept_total{plugin="keep",k="x"}'), 5, 'five: the count went on');
    is(value($p, 'moongate_plugin_calls_total{plugin="keep",phase="access"}'), 5,
       'the plugin calls too');
    unlike($p, qr/moongate_ext_dropped_total|plugin="drop"/, 'nothing of the plugin no longer loaded');
    promtool_ok($p, 'after the reload');
}



=== TEST 8: a runaway plugin stopped by the CPU budget is counted
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



=== TEST 9: a worker killed for a stall counts a kill of the plugin it was in
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



=== TEST 10: with metrics off, mg.metrics declares and updates without counting
--- yaml_config
metrics: { enabled: false }
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "ok\n" }
    plugins: { quiet: {} }
--- lua_plugins
>>> quiet.lua
local mg = require "moongate"
local n = mg.metrics.counter("quiet_total", "Quiet.", { "k" })
local h = mg.metrics.histogram("quiet_seconds", "Quiet.", {}, { 1 })
return {
    name = "quiet", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        n:inc(1, "a")
        h:observe(0.5)
        return 200, "counted nowhere\n"
    end,
}
--- request
GET /x
--- response_body
counted nowhere
--- test_code eval
sub {
    my $t = shift;
    my $r = Test::Moongate::Client::request($t->admin_port, "GET /metrics", [], 3);
    is($r->{status}, 404, 'no page');
}
