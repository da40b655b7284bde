# Faulty plugins: errors (500, plugin name, file:line, traceback), runaway loops (the CPU
# budget for interpreted code, the stall watchdog for compiled code), memory blow-ups,
# and plugins or plugin configs the server refuses to start with.
use Test::Moongate;
use Time::HiRes ();

# wait_new_worker($t, $old_pid) -> a pid of a live worker other than $old_pid (5 s max).
sub wait_new_worker {
    my ($t, $old) = @_;
    my $end = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $end) {
        my $st = $t->status;
        my @pids = grep { $_ && $_ != $old } map { $_->{pid} } @{ $st ? $st->{workers} : [] };
        return $pids[0] if @pids;
        Time::HiRes::sleep(0.05);
    }
    return undef;
}

run_tests();

__DATA__

=== TEST 1: a plugin error: 500, logged with the plugin, file:line and a traceback
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: echo
    plugins: { boom: {} }
--- lua_plugins
>>> boom.lua
local mg = require "moongate"
local function deeper(path)
    if path == "/boom" then
        error("kaboom in " .. path)
    end
end
return {
    name = "boom", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        deeper(mg.request.get_path())
    end,
}
--- request eval
["GET /boom", "GET /fine", "GET /boom", "GET /fine"]
--- error_code eval
[500, 200, 500, 200]
--- response_body_like eval
["", '"uri":"/fine"', "", '"uri":"/fine"']
--- response_headers eval
["!X-Echo-Port", "", "!X-Echo-Port", ""]
--- error_log eval
[qr/\[error\] \d+#\d+: plugin "boom" failed in access: \S*plugins\/boom\.lua:4: kaboom in \/boom/,
 qr/stack traceback:.*boom\.lua:4: in function .*boom\.lua:11: in function/s,
 qr/plugin "boom" failed in access: .*, client: 127\.0\.0\.1, request_id: \S+/]



=== TEST 2: a runtime error (nil index) in rewrite; the same connection goes on
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { oops: {} }
--- lua_plugins
>>> oops.lua
local mg = require "moongate"
return {
    name = "oops", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx)
        if mg.request.get_path() == "/bad" then
            local t
            return t.missing
        end
        return 200, "fine\n"
    end,
}
--- pipelined_requests eval
["GET /bad", "GET /good"]
--- error_code eval
[500, 200]
--- response_body_like eval
["", "^fine\n\$"]
--- error_log eval
[qr/plugin "oops" failed in rewrite: \S*oops\.lua:8: attempt to index local 't' \(a nil value\)/]



=== TEST 3: an error with a non-string value and an error in log do not crash anything
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: t, paths: ["/table"], upstream: echo, plugins: { odd: { how: table } } }
  - { name: l, paths: ["/log"], upstream: echo, plugins: { odd: { how: log } } }
--- lua_plugins
>>> odd.lua
local mg = require "moongate"
return {
    name = "odd", version = "1.0", priority = 100,
    schema = { type = "record", fields = { how = { type = "string", required = true } } },
    access = function(conf, ctx)
        if conf.how == "table" then
            error({ code = 42 })
        end
    end,
    log = function(conf, ctx)
        if conf.how == "log" then
            error("late failure")
        end
    end,
}
--- request eval
["GET /table", "GET /log", "GET /log"]
--- error_code eval
[500, 200, 200]
--- error_log eval
[qr/plugin "odd" failed in access: table: 0x[0-9a-f]+/,
 qr/plugin "odd" failed in log: \S*odd\.lua:12: late failure/]



=== TEST 4: a runaway interpreted loop is stopped by the CPU budget: 500, then serving
--- yaml_config
lua: { cpu_budget: 50ms }
routes:
  - name: spin
    paths: ["/spin"]
    plugins: { spin: {} }
  - name: ok
    paths: ["/ok"]
    return: { status: 200, body: "ok\n" }
--- lua_plugins
>>> spin.lua
jit.off()
local mg = require "moongate"
return {
    name = "spin", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local x = 0
        while true do
            x = x + 1
        end
    end,
}
--- request eval
["GET /spin", "GET /ok", "GET /spin", "GET /ok"]
--- timeout: 3
--- error_code eval
[500, 200, 500, 200]
--- response_body_like eval
["", "^ok\n\$", "", "^ok\n\$"]
--- error_log eval
[qr/plugin "spin" failed in access: .*spin\.lua:[89]: CPU budget exceeded/]
--- no_error_log
stalled for



=== TEST 5: jit.off for one function: its runaway loop is stopped by the budget too
--- yaml_config
lua: { cpu_budget: 50ms }
routes:
  - name: all
    paths: ["/*"]
    plugins: { spin: {} }
--- lua_plugins
>>> spin.lua
local mg = require "moongate"
local function rewrite(conf, ctx)
    if mg.request.get_path() ~= "/spin" then
        return 200, "ok\n"
    end
    local t, n = { a = 1, b = 2 }, 0
    while true do
        for k in pairs(t) do
            n = n + 1
        end
    end
end
jit.off(rewrite, true)
return {
    name = "spin", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    rewrite = rewrite,
}
--- test_code eval
sub {
    my $t = shift;
    my $t0 = Time::HiRes::time();
    my $r = $t->request("GET /spin", [], 3);
    my $dt = Time::HiRes::time() - $t0;
    is($r && $r->{status}, 500, 'the runaway request gets a 500');
    ok($dt >= 0.04 && $dt < 1.5, sprintf('after about the budget (%.3f s)', $dt));
    my $ok = $t->request("GET /fine", [], 3);
    is($ok && $ok->{body}, "ok\n", 'the worker serves on');
}
--- error_log eval
[qr/plugin "spin" failed in rewrite: .*spin\.lua:\d+: CPU budget exceeded/]
--- no_error_log
stalled for



=== TEST 6: the CPU budget counts running code, not a sleep
--- yaml_config
lua: { cpu_budget: 50ms }
routes:
  - name: nap
    paths: ["/nap"]
    plugins: { nap: {} }
--- lua_plugins
>>> nap.lua
local mg = require "moongate"
return {
    name = "nap", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.sleep(150)
        return 200, "rested\n"
    end,
}
--- request
GET /nap
--- response_body
rested
--- no_error_log
CPU budget exceeded



=== TEST 7: a compiled infinite loop: the stall watchdog kills the worker, a new one serves
--- yaml_config
lua: { stall_timeout: 500ms }
routes:
  - name: spin
    paths: ["/spin"]
    plugins: { spin: {} }
  - name: ok
    paths: ["/ok"]
    return: { status: 200, body: "ok\n" }
--- lua_plugins
>>> spin.lua
local mg = require "moongate"
return {
    name = "spin", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local x = 0
        while true do x = x + 1 end
    end,
}
--- request
GET /spin
--- abort
--- timeout: 0.4
--- test_code eval
sub {
    my $t = shift;
    my $end = Time::HiRes::time() + 5;
    my $killed;
    until ($killed || Time::HiRes::time() > $end) {
        ($killed) = $t->error_log =~ /worker (\d+) stalled for/;
        Time::HiRes::sleep(0.05) unless $killed;
    }
    ok($killed, 'the master reports the stalled worker') or return;
    ok(main::wait_new_worker($t, $killed), 'a new worker is up');
    my $r = $t->request("GET /ok", [], 3);
    is($r && $r->{body}, "ok\n", 'and answers');
}
--- error_log eval
[qr/\[alert\] \d+#-: worker \d+ stalled for \d+\.\d s in Lua, plugin "spin" phase access; killing it/,
 qr/worker \d+ \(slot 0\) killed by signal 9/]



=== TEST 8: a memory blow-up past lua.memory_limit: 500, logged, then the next request works
--- yaml_config
lua: { memory_limit: 16m, cpu_budget: 2s } # a slow machine must meet the memory limit first
routes:
  - name: hog
    paths: ["/hog"]
    plugins: { hog: {} }
  - name: small
    paths: ["/small"]
    plugins: { hog: {} }
--- lua_plugins
>>> hog.lua
local mg = require "moongate"
return {
    name = "hog", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        if mg.request.get_path() == "/hog" then
            local keep = {}
            for i = 1, 100000 do
                keep[i] = string.rep("x", 65536) .. i
            end
            return 200, "kept " .. #keep .. "\n"
        end
        local s = string.rep("y", 1024 * 1024)
        return 200, "small " .. #s .. "\n"
    end,
}
--- request eval
["GET /hog", "GET /small", "GET /hog", "GET /small"]
--- error_code eval
[500, 200, 500, 200]
--- response_body_like eval
["", "^small 1048576\n\$", "", "^small 1048576\n\$"]
--- error_log eval
[qr/plugin "hog" failed in access: .*not enough memory.*Lua memory limit reached/]



=== TEST 9: a plugin config that breaks the plugin's schema: refuses to start
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
    plugins:
      typed: { count: many }
--- lua_plugins
>>> typed.lua
return {
    name = "typed", version = "1.0", priority = 100,
    schema = { type = "record", fields = {
        count = { type = "integer", required = true },
    } },
    access = function() end,
}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:23: routes\[0\]\.plugins\.typed\.count: expected an integer, got "many"}]



=== TEST 10: a schema error deeper in a global plugin's config
--- yaml_config
global_plugins:
  typed:
    count: 1
    limits: { rate: fast }
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
--- lua_plugins
>>> typed.lua
return {
    name = "typed", version = "1.0", priority = 100,
    schema = { type = "record", fields = {
        count = { type = "integer", required = true },
        limits = { type = "record", fields = { rate = { type = "number" } } },
    } },
    access = function() end,
}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:4:21: global_plugins\.typed\.limits\.rate: expected a number, got "fast"}]



=== TEST 11: a missing required field is named with its path
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
  - name: s
    paths: ["/s"]
    return: { status: 200, body: "x" }
    plugins:
      typed: { other: 1 }
--- lua_plugins
>>> typed.lua
return {
    name = "typed", version = "1.0", priority = 100,
    schema = { type = "record", fields = {
        count = { type = "integer", required = true },
        other = { type = "integer" },
    } },
    access = function() end,
}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+: routes\[1\]\.plugins\.typed(?:\.count)?: .*count}]



=== TEST 12: a plugin syntax error: refuses to start, naming the file and line
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
    plugins: { broken: {} }
--- lua_plugins
>>> broken.lua
return {
    name = "broken", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local x = = 1
    end,
}
--- must_die
--- error_log eval
[qr{plugins/broken\.lua:5: unexpected symbol near '='}]



=== TEST 13: a plugin that fails while loading, or returns something else than a table
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
    plugins: { loader: {} }
--- lua_plugins
>>> loader.lua
local cfg = nil
local n = cfg.size
return { name = "loader", version = "1.0", priority = 1, schema = { type = "record", fields = {} } }
--- must_die
--- error_log eval
[qr{plugins/loader\.lua:2: attempt to index local 'cfg' \(a nil value\)}]



=== TEST 14: a misspelt phase in the plugin table: refuses to start
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
    plugins: { typo: {} }
--- lua_plugins
>>> typo.lua
return {
    name = "typo", version = "1.0", priority = 1,
    schema = { type = "record", fields = {} },
    acess = function() end,
}
--- must_die
--- error_log eval
[qr{plugins/typo\.lua: unknown key "acess" in the plugin table \(did you mean "access"\?\)}]



=== TEST 15: a plugin whose name is not its file's name: refuses to start
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
    plugins: { named: {} }
--- lua_plugins
>>> named.lua
return {
    name = "other", version = "1.0", priority = 1,
    schema = { type = "record", fields = {} },
}
--- must_die
--- error_log eval
[qr{plugins/named\.lua: name "other" must be the file's name "named"}]



=== TEST 16: an unknown plugin name: refuses to start, with the key path
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
  - name: s
    paths: ["/s"]
    return: { status: 200, body: "x" }
    plugins: { no-such-plugin: {} }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+: routes\[1\]\.plugins\.no-such-plugin: unknown plugin "no-such-plugin": no no-such-plugin\.lua in plugins_dir \(/\S+/plugins\) nor among the bundled plugins}]



=== TEST 17: an unknown plugin in global_plugins and in a consumer: the key path
--- yaml_config
consumers:
  - name: alice
    plugins: { ghost: {} }
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+: consumers\[0\]\.plugins\.ghost: unknown plugin "ghost"}]



=== TEST 18: a fractional number for an integer field: refuses to start
--- yaml_config
routes:
  - name: r
    paths: ["/"]
    return: { status: 200, body: "x" }
    plugins:
      typed: { count: 1.5 }
--- lua_plugins
>>> typed.lua
return {
    name = "typed", version = "1.0", priority = 100,
    schema = { type = "record", fields = { count = { type = "integer" } } },
    access = function() end,
}
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:23: routes\[0\]\.plugins\.typed\.count: expected an integer, got "1\.5"}]



=== TEST 19: clients that reset while "100 Continue" is due and a plugin reads the body
--- yaml_config
lua: { cpu_budget: 2s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: busy
    paths: ["/busy"]
    return: { status: 200, body: "done\n" }
    plugins: { busy: {} }
  - name: body
    paths: ["/body"]
    upstream: echo
    plugins: { readbody: {} }
--- lua_plugins
>>> busy.lua
return {
    name = "busy", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local t0 = os.clock()
        while os.clock() - t0 < 0.3 do end
    end,
}
>>> readbody.lua
local mg = require "moongate"
return {
    name = "readbody", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local body, err = mg.request.get_body()
        mg.request.set_header("X-Read", body and #body or err)
    end,
}
--- test_code eval
sub {
    my $t = shift;
    my $before = $t->status;
    my $pid = $before && $before->{workers}[0]{pid};
    ok($pid, "a worker is up");
    # While the worker spins in /busy, each client sends its head and resets: the worker
    # then reads a head whose client is gone already, and writing "100 Continue" for the
    # plugin's body read ends the request.
    my $busy = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port)
        or die "connect: $!";
    syswrite($busy, "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n");
    Time::HiRes::sleep(0.05);
    for (1 .. 20) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port)
            or die "connect: $!";
        syswrite($c, "POST /body HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     . "Content-Length: 4\r\n\r\n");
        setsockopt($c, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
        close $c;
    }
    my $got = '';
    my $end = Time::HiRes::time() + 3;
    while ($got !~ /done\n/ && Time::HiRes::time() < $end) {
        my $rin = '';
        vec($rin, fileno($busy), 1) = 1;
        select($rin, undef, undef, 0.1) > 0 or next;
        sysread($busy, $got, 4096, length $got) or last;
    }
    like($got, qr/^HTTP\/1.1 200/, 'the busy request is answered');
    my $r = $t->request("POST /body\nabcd", ['Expect: 100-continue'], 3);
    is($r && $r->{status}, 200, 'a request after the resets is answered');
    like($r && $r->{body}, qr/"x-read":"4"/, 'and its plugin read the 4-byte body');
    my $after = $t->status;
    is($after && $after->{workers}[0]{pid}, $pid, 'by the same worker');
}
--- error_log eval
[qr/client connection reset/]
--- no_error_log eval
[qr/killed by signal/, qr/exited with status/, qr/runtime error/]



=== TEST 20: clients that reset while a proxied route's plugin sleeps and "100 Continue" is due
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: s
    paths: ["/s"]
    upstream: echo
    plugins: { sleepy: {} }
--- lua_plugins
>>> sleepy.lua
local mg = require "moongate"
return {
    name = "sleepy", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.sleep(0.3)
    end,
}
--- test_code eval
sub {
    my $t = shift;
    my $before = $t->status;
    my $pid = $before && $before->{workers}[0]{pid};
    ok($pid, "a worker is up");
    # The plugin wakes after the client has reset: the proxy's "100 Continue" then meets
    # a dead socket and ends the request on the spot (a found case of the whole-server
    # fuzzer: the old code read the freed connection after that write).
    my @c;
    for (1 .. 10) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port)
            or die "connect: $!";
        syswrite($c, "POST /s HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                     . "Content-Length: 4\r\n\r\nab");
        push @c, $c;
    }
    Time::HiRes::sleep(0.1);
    for my $c (@c) {
        setsockopt($c, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
        close $c;
    }
    Time::HiRes::sleep(0.5);
    my $r = $t->request("POST /s\nabcd", ['Expect: 100-continue'], 3);
    is($r && $r->{status}, 200, 'a request after the resets is answered');
    my $after = $t->status;
    is($after && $after->{workers}[0]{pid}, $pid, 'by the same worker');
}
--- no_error_log eval
[qr/killed by signal/, qr/exited with status/, qr/runtime error/, qr/AddressSanitizer/]
