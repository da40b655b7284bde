# The init_worker plugin hook: run once in each worker when a generation begins to
# serve there (at the start and after each reload), in the timer phase (it may wait
# and make timers), with the plugin's configs; errors are logged and never stop the
# worker.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

# wait_body($t, $uri, $re, $secs) -> the body of GET $uri once it matches $re.
sub wait_body {
    my ($t, $uri, $re, $secs) = @_;
    my $end = Time::HiRes::time() + ($secs // 3);
    while (1) {
        my $r = $t->request("GET $uri", [], 2);
        my $b = $r ? $r->{body} // '' : '';
        return $b if $b =~ $re || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

run_tests();

__DATA__

=== TEST 1: init_worker starts a timer that fills a shared dict; requests see the value
--- yaml_config
shared_dicts: { state: 64k }
routes:
  - name: r
    paths: ["/*"]
    plugins: { refresher: { label: "v1" } }
--- lua_plugins
>>> refresher.lua
return {
    name = "refresher", priority = 1,
    schema = { type = "record", fields = { label = { type = "string" } } },
    init_worker = function(confs)
        assert(mg.var.phase == "timer", "phase " .. tostring(mg.var.phase))
        local label = confs[1].label
        local n = 0
        assert(mg.timer.every(0.05, function(premature)
            if premature then return end
            n = n + 1
            mg.shared.state:set("label", label .. "#" .. n)
        end))
        mg.log(mg.NOTICE, "init_worker of refresher: ", #confs, " config(s)")
    end,
    access = function()
        return 200, tostring(mg.shared.state:get("label")) .. "\n"
    end,
}
--- test_code eval
sub {
    my $t = shift;
    like(main::wait_body($t, '/', qr/^v1#\d+/), qr/^v1#\d+\n\z/, 'the timer of init_worker ran');
    my $a = main::wait_body($t, '/', qr/^v1#/);
    Time::HiRes::sleep(0.3);
    my $b = main::wait_body($t, '/', qr/^v1#/);
    my ($na) = $a =~ /#(\d+)/;
    my ($nb) = $b =~ /#(\d+)/;
    ok($nb > $na, "it keeps running ($na, then $nb)");
}
--- error_log
init_worker of refresher: 1 config(s)



=== TEST 2: after a reload the new generation's init_worker runs and the old one's timers stop
--- yaml_config
shared_dicts: { state: 64k }
routes:
  - name: r
    paths: ["/*"]
    plugins: { refresher: { label: "old" } }
--- lua_plugins
>>> refresher.lua
return {
    name = "refresher", priority = 1,
    schema = { type = "record", fields = { label = { type = "string" } } },
    init_worker = function(confs)
        local label = confs[1].label
        assert(mg.timer.every(0.05, function(premature)
            if premature then
                mg.log(mg.NOTICE, "timer of ", label, " ends")
                return
            end
            mg.shared.state:set("label", label)
            mg.shared.state:incr("ticks:" .. label, 1, 0)
        end))
    end,
    access = function()
        return 200, tostring(mg.shared.state:get("label")) .. "\n"
    end,
}
--- test_code eval
sub {
    my $t = shift;
    is(main::wait_body($t, '/', qr/^old/), "old\n", 'the first generation ran');
    my $err = $t->reload(<<'YAML');
shared_dicts: { state: 64k }
routes:
  - name: r
    paths: ["/*"]
    plugins: { refresher: { label: "new" } }
YAML
    is($err, '', 'reloaded');
    is(main::wait_body($t, '/', qr/^new/), "new\n", 'the new generation ran its init_worker');
    my $log = '';
    my $end = Time::HiRes::time() + 3;
    until ($log =~ /timer of old ends/ || Time::HiRes::time() > $end) {
        Time::HiRes::sleep(0.05);
        $log = $t->error_log;
    }
    like($log, qr/timer of old ends/, 'the old timer ran out (premature)');
    Time::HiRes::sleep(0.2);
    my $r1 = $t->request("GET /", [], 2);
    Time::HiRes::sleep(0.3);
    my $r2 = $t->request("GET /", [], 2);
    is($r2->{body}, "new\n", 'only the new timer writes now');
    unlike($t->error_log, qr/timer of new ends/, 'the new timer goes on');
}



=== TEST 3: an init_worker error is logged with the plugin's name; requests still work
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { broken-init: {} }
--- lua_plugins
>>> broken-init.lua
return {
    name = "broken-init", priority = 1,
    schema = { type = "record", fields = {} },
    init_worker = function()
        error("cannot reach the key server")
    end,
    access = function() return 200, "still serving\n" end,
}
--- request eval
["GET /", "GET /"]
--- response_body eval
["still serving\n", "still serving\n"]
--- error_log eval
[qr{\[error\] .*plugin "broken-init" failed in init_worker: \S*broken-init\.lua:5: cannot reach the key server}]



=== TEST 4: init_worker may wait: mg.sleep and mg.http.request
--- yaml_config
shared_dicts: { state: 64k }
routes:
  - name: r
    paths: ["/*"]
    plugins: { fetcher: { url: "http://127.0.0.1:$MG_ECHO_PORT/hello" } }
--- lua_plugins
>>> fetcher.lua
return {
    name = "fetcher", priority = 1,
    schema = { type = "record", fields = { url = { type = "string" } } },
    init_worker = function(confs)
        local t0 = mg.now()
        mg.sleep(100) -- milliseconds
        local res, err = mg.http.request({ url = confs[1].url })
        mg.shared.state:set("fetched", (res and res.status .. " " .. res.body or err)
            .. " after " .. (mg.now() - t0 >= 0.09 and ">=0.1s" or "<0.1s"))
    end,
    access = function()
        return 200, tostring(mg.shared.state:get("fetched")) .. "\n"
    end,
}
--- test_code eval
sub {
    my $t = shift;
    is(main::wait_body($t, '/', qr/^200/), "200 hello world\n after >=0.1s\n",
       'init_worker slept, then fetched');
}



=== TEST 5: init_worker gets each config of the plugin once (global, routes, consumers)
--- yaml_config
global_plugins: { tagger: { tag: "g" } }
routes:
  - name: a
    paths: ["/a"]
    plugins: { tagger: { tag: "a" } }
  - name: b
    paths: ["/b"]
    upstream: echo
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
consumers:
  - name: c1
    plugins: { tagger: { tag: "c" } }
--- lua_plugins
>>> tagger.lua
return {
    name = "tagger", priority = 1,
    schema = { type = "record", fields = { tag = { type = "string" } } },
    init_worker = function(confs)
        local tags = {}
        for _, c in ipairs(confs) do tags[#tags + 1] = c.tag end
        table.sort(tags)
        mg.log(mg.NOTICE, "tagger confs: ", table.concat(tags, ","))
    end,
    access = function(conf) return 200, conf.tag .. "\n" end,
}
--- request eval
["GET /a", "GET /b"]
--- response_body eval
["a\n", "g\n"]
--- error_log
tagger confs: a,c,g



=== TEST 6: init_worker runs in every worker, once per generation
--- yaml_config
worker_processes: 2
shared_dicts: { state: 64k }
routes:
  - name: r
    paths: ["/*"]
    plugins: { counter: {} }
--- lua_plugins
>>> counter.lua
return {
    name = "counter", priority = 1,
    schema = { type = "record", fields = {} },
    init_worker = function()
        mg.shared.state:incr("runs", 1, 0)
    end,
    access = function() return 200, tostring(mg.shared.state:get("runs")) .. "\n" end,
}
--- test_code eval
sub {
    my $t = shift;
    is(main::wait_body($t, '/', qr/^2$/), "2\n", 'once in each of the 2 workers');
    is($t->reload(undef), '', 'reloaded');
    is(main::wait_body($t, '/', qr/^4$/), "4\n", 'and once more in each after a reload');
}



=== TEST 7: a plugin whose init_worker is not a function is refused
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { odd: {} }
--- lua_plugins
>>> odd.lua
return { name = "odd", priority = 1, schema = { type = "record", fields = {} },
    init_worker = "soon" }
--- must_die
--- error_log eval
[qr{plugins/odd\.lua: init_worker must be a function}]
