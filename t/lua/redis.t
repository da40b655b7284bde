# mg.redis: a plugin's Redis commands on the worker's loop, against a redis-server of
# the block's own (`--- redis`: Debian package redis-server): every reply type, error
# replies, pipelines in one round trip, AUTH and SELECT, Redis going away and coming
# back, deadlines, many requests sharing the pool, timers, the `redis:` block.
use Test::Moongate;

if (!grep { -x "$_/redis-server" } split /:/, $ENV{PATH} // '') {
    Test::More::plan(skip_all => 'redis-server is not installed (Debian package redis-server)');
}

run_tests();

__DATA__

=== TEST 1: every reply type: status, integer, bulk, nil bulk, arrays, nested arrays
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
local function show(v)
    if v == mg.redis.null then return "null" end
    if type(v) ~= "table" then return type(v) .. ":" .. tostring(v) end
    local out = {}
    for i = 1, #v do out[i] = show(v[i]) end
    return "[" .. table.concat(out, ",") .. "]"
end
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000 })
        local out = {}
        out[#out + 1] = show(red:set("k1", "v\0one"))
        out[#out + 1] = show(#red:get("k1"))
        out[#out + 1] = show(red:get("nope"))
        out[#out + 1] = show(red:incr("n"))
        out[#out + 1] = show(red:incrby("n", 41))
        red:del("l")
        out[#out + 1] = show(red:rpush("l", "a", "b", 3))
        out[#out + 1] = show(red:lrange("l", 0, -1))
        out[#out + 1] = show(red:lrange("empty", 0, -1))
        red:hmset("h", { f = "x" })
        out[#out + 1] = show(red:hmget("h", "f", "g"))
        out[#out + 1] = show(red:call("eval", "return {1, {2, 'x'}, redis.status_reply('S')}", 0))
        out[#out + 1] = show(red:ping())
        return 200, table.concat(out, " ") .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
string:OK number:5 null number:1 number:42 number:3 [string:a,string:b,string:3] [] [string:x,null] [number:1,[number:2,string:x],string:S] string:PONG




=== TEST 2: an error reply is nil, "ERR ..."; refused commands and bad arguments
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000 })
        local out = {}
        red:set("s", "str")
        local v, err = red:lpush("s", "x")
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:call("nosuchcommand", "a")
        out[#out + 1] = tostring(v) .. " " .. err:sub(1, 24)
        v, err = red:blpop("l", 0)
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:select(2)
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:multi()
        out[#out + 1] = tostring(v) .. " " .. err
        v, err = red:set("k", {})
        out[#out + 1] = tostring(v) .. " " .. err
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
nil WRONGTYPE Operation against a key holding the wrong kind of value
nil ERR unknown command 'NOS
nil blpop is not allowed on a shared connection (blocking)
nil select is not allowed on a shared connection (connection state: give db to mg.redis.new)
nil multi needs a pipeline (init_pipeline ... commit_pipeline)
nil bad argument #2 to set (a table)




=== TEST 3: a pipeline goes out in one write: results in order, error replies as {false, msg}, MULTI/EXEC inside it
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000,
                                         pool_size = 1 })
        local function reads()
            return tonumber(red:info("stats"):match("total_reads_processed:(%d+)"))
        end
        local before = reads()
        red:init_pipeline()
        red:set("p", "1")
        red:incr("p")
        red:lpush("p", "x")
        red:multi()
        red:incr("p")
        red:incr("p")
        red:exec()
        red:get("p")
        local res, err = red:commit_pipeline()
        if not res then return 500, err end
        local out = {}
        for i, v in ipairs(res) do
            out[i] = type(v) == "table" and (v[1] == false and "false:" .. v[2]:sub(1, 9)
                or "[" .. table.concat(v, ",") .. "]") or tostring(v)
        end
        -- Redis read the 9 commands at once: one read for them, one for the INFO after
        local after = reads()
        return 200, table.concat(out, " ") .. "\nreads " .. (after - before) .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
OK 2 false:WRONGTYPE OK QUEUED QUEUED [3,4] 4
reads 2




=== TEST 4: AUTH with requirepass (the default user and an ACL user) and SELECT db, done once per connection
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local addr = "127.0.0.1:" .. conf.port
        local out = {}
        local red = assert(mg.redis.new{ address = addr, password = "s3cret", db = 3,
                                         timeout = 2000 })
        out[#out + 1] = tostring(red:set("where", "db3"))
        local alice = assert(mg.redis.new{ address = addr, username = "alice", password = "pw",
                                           timeout = 2000 })
        out[#out + 1] = tostring(alice:get("where")) -- db 0: not there
        out[#out + 1] = tostring(alice:call("acl", "whoami"))
        local bad = assert(mg.redis.new{ address = addr, password = "wrong", timeout = 2000 })
        local v, err = bad:get("where")
        out[#out + 1] = tostring(v) .. " " .. tostring(err)
        local none = assert(mg.redis.new{ address = addr, db = 3, timeout = 2000 })
        v, err = none:get("where")
        out[#out + 1] = tostring(v) .. " " .. tostring(err)
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my $r = $t->redis;
    is($r->command('ACL', 'SETUSER', 'alice', 'on', '>pw', '~*', '+@all'), '+OK', 'user alice');
    is($r->command('CONFIG', 'SET', 'requirepass', 's3cret'), '+OK', 'requirepass');
    my $res = $t->request("GET /x", [], 5);
    is($res->{status}, 200, 'answered');
    like($res->{body}, qr/\AOK\nnull\nalice\nnil WRONGPASS invalid username-password pair[^\n]*\nnil NOAUTH Authentication required\.\n\z/,
         'db 3 with the password; alice on db 0; a wrong password and none are refused')
        or diag($res->{body});
}




=== TEST 5: Redis killed mid-test answers nil, err at once, and the pool recovers when it is back
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 1000 })
        local ok, err = red:set("k", mg.var.uri)
        if not ok then
            return 503, "err: " .. err .. "\n"
        end
        return 200, red:get("k") .. "\n"
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my $res = $t->request("GET /one", [], 5);
    is("$res->{status} $res->{body}", "200 /one\n", 'Redis up');
    $t->redis->stop;
    my $t0 = Time::HiRes::time();
    my @down = map { $t->request("GET /down$_", [], 5) } 1 .. 3;
    my $took = Time::HiRes::time() - $t0;
    is(CORE::join(',', map { $_->{status} } @down), '503,503,503', 'nil, err while Redis is down');
    like($down[-1]{body}, qr/^err: (connection refused|closed|Connection reset by peer|Server closed the connection)\n\z/i,
         'the error says why') or diag($down[-1]{body});
    cmp_ok($took, '<', 2.5, 'no command waits for its deadline while Redis is down');
    $t->redis->start;
    my $back;
    my $end = Time::HiRes::time() + 6;
    while (Time::HiRes::time() < $end) {
        $res = $t->request("GET /back", [], 5);
        if ($res->{status} == 200) { $back = $res->{body}; last }
        Time::HiRes::sleep(0.1);
    }
    is($back, "/back\n", 'the pool reconnects by itself');
    unlike($t->error_log, qr/\[(alert|crit)\]/, 'nothing worse than an error logged');
}




=== TEST 6: a Redis that does not answer (SIGSTOP): "timeout" within the deadline, then recovery
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 300 })
        local v, err = red:incr("n")
        if not v then
            return 503, "err: " .. err .. "\n"
        end
        return 200, v .. "\n"
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    is($t->request("GET /a", [], 5)->{status}, 200, 'Redis answers');
    $t->redis->pause;
    my $t0 = Time::HiRes::time();
    my $res = $t->request("GET /b", [], 5);
    my $took = Time::HiRes::time() - $t0;
    $t->redis->resume;
    is("$res->{status} $res->{body}", "503 err: timeout\n", 'timeout');
    cmp_ok($took, '>=', 0.25, 'after the deadline');
    cmp_ok($took, '<', 2, 'not much later');
    my $ok;
    my $end = Time::HiRes::time() + 5;
    while (!$ok && Time::HiRes::time() < $end) {
        $ok = $t->request("GET /c", [], 5)->{status} == 200;
        Time::HiRes::sleep(0.05) unless $ok;
    }
    ok($ok, 'answers again once Redis does');
}




=== TEST 7: a request that goes away while its command is in flight: the late reply is dropped, the worker goes on
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 3000 })
        local v, err = red:incr("n")
        return v and 200 or 503, tostring(v or err) .. "\n"
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    is($t->request("GET /a", [], 5)->{body}, "1\n", 'first');
    $t->redis->pause;
    # clients that give up after 0.3 s, while their commands wait in Redis
    for (1 .. 5) {
        my $res = $t->request("GET /gone$_", [], 0.3);
        ok(!$res->{status}, "client $_ gave up");
    }
    Time::HiRes::sleep(0.2);
    $t->redis->resume;
    my $res = $t->request("GET /after", [], 5);
    is("$res->{status} $res->{body}", "200 7\n", 'the abandoned commands ran, the worker goes on');
    ok($t->alive, 'the server is up');
    unlike($t->error_log, qr/\[(alert|crit)\]|signal/, 'no crash');
}




=== TEST 8: many concurrent requests share the pool: 400 requests from 8 clients, 2 connections
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 3000 })
        if mg.var.uri == "/clients" then
            return 200, red:info("clients"):match("connected_clients:(%d+)") .. " "
                .. red:get("total") .. "\n"
        end
        red:init_pipeline()
        red:incr("total")
        red:get("total")
        local res, err = red:commit_pipeline()
        if not res then
            return 503, err .. "\n"
        end
        return 200, "ok\n"
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my @pids;
    for my $c (1 .. 8) {
        my $pid = fork();
        die "fork: $!" unless defined $pid;
        if (!$pid) {
            my $bad = 0;
            for (1 .. 50) {
                my $res = Test::Moongate::Client::request($t->port, "GET /n", [], 10);
                $bad++ unless $res->{status} && $res->{status} == 200;
            }
            POSIX::_exit($bad > 255 ? 255 : $bad);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid($_, 0); $bad += $? >> 8 }
    is($bad, 0, 'every request answered 200');
    my $clients = $t->request("GET /clients", [], 5)->{body};
    is($clients, "2 400\n", 'the 400 increments reached Redis over two connections');
}




=== TEST 9: from a timer (and a job the log phase queues through mg.timer.at)
--- redis
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
local function write(premature, port, key)
    local red = assert(mg.redis.new{ address = "127.0.0.1:" .. port, timeout = 2000 })
    red:set(key, "yes")
end
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000 })
        if mg.var.uri == "/start" then
            assert(mg.timer.at(0.05, write, conf.port, "from_timer"))
            return 200, "started\n"
        end
        return 200, tostring(red:get("from_timer")) .. " " .. tostring(red:get("from_log")) .. "\n"
    end,
    log = function(conf)
        if mg.var.uri == "/start" then
            assert(mg.timer.at(0, write, conf.port, "from_log"))
        end
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    is($t->request("GET /start", [], 5)->{body}, "started\n", 'timer armed');
    my $body = '';
    my $end = Time::HiRes::time() + 3;
    while (Time::HiRes::time() < $end) {
        $body = $t->request("GET /check", [], 5)->{body};
        last if $body eq "yes yes\n";
        Time::HiRes::sleep(0.05);
    }
    is($body, "yes yes\n", 'the timer and the queued job wrote to Redis');
}




=== TEST 10: the redis: block is the default (address, db, password, timeout); other settings on the block's server
--- redis
--- yaml_config
redis: { address: "127.0.0.1:$MG_REDIS_PORT", db: 5, timeout: 2s }
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: {} }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local red = assert(mg.redis.new())
        assert(red:set("blk", "five"))
        local db0 = assert(mg.redis.new{ db = 0 })
        local db5 = assert(mg.redis.new{ db = 5 })
        return 200, tostring(db0:get("blk")) .. " " .. db5:get("blk") .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
null five




=== TEST 11: mg.redis.new: bad options, no address without a redis: block, the phases it may run in
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: {} }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local out = {}
        local red, err = mg.redis.new()
        out[#out + 1] = tostring(red) .. " " .. err
        red, err = mg.redis.new{ address = "redis.example:6379" }
        out[#out + 1] = tostring(red) .. " " .. err
        red, err = mg.redis.new{ address = "127.0.0.1:99999" }
        out[#out + 1] = tostring(red) .. " " .. err
        local ok, e = pcall(mg.redis.new, { db = "x" })
        out[#out + 1] = e:match("mg.redis.new: .*")
        ok, e = pcall(mg.redis.new, { pool_size = 100 })
        out[#out + 1] = e:match("mg.redis.new: .*")
        return 200, table.concat(out, "\n") .. "\n"
    end,
    header_filter = function(conf)
        local ok, e = pcall(mg.redis.new, { address = "127.0.0.1:1" })
        mg.response.set_header("X-Filter", ok and "allowed" or "refused")
    end,
}
--- request
GET /x
--- error_code: 200
--- response_headers
X-Filter: refused
--- response_body
nil no address given and no redis: block in the configuration
nil bad address (an IP address, localhost or unix:/path; names are not resolved)
nil bad address port
mg.redis.new: db must be a number, got string
mg.redis.new: pool_size must be an integer 1-16




=== TEST 12: a unix socket address
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { r: { path: "$MG_SERVROOT/redis.sock" } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { path = { type = "string", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "unix:" .. conf.path, timeout = 2000 })
        local ok, err = red:set("u", "over unix")
        if not ok then return 503, err .. "\n" end
        return 200, red:get("u") .. "\n"
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my $sock = $t->servroot . "/redis.sock";
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        exec('redis-server', '--port', '0', '--unixsocket', $sock, '--save', '',
             '--appendonly', 'no') or POSIX::_exit(127);
    }
    my $end = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.02) until -S $sock || Time::HiRes::time() > $end;
    my $res = $t->request("GET /x", [], 5);
    is("$res->{status} $res->{body}", "200 over unix\n", 'set and get over the unix socket');
    kill 'KILL', $pid;
    waitpid($pid, 0);
}




=== TEST 13: from the balancer phase: the node is picked by what Redis says
--- redis
--- yaml_config
upstreams:
  - name: two
    nodes: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: all
    paths: ["/*"]
    upstream: two
    plugins: { r: { port: $MG_REDIS_PORT } }
--- lua_plugins
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    balancer = function(conf, ctx)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 2000 })
        red:set("node", 2)
        local n = tonumber(red:get("node"))
        ctx.node = n
        mg.balancer.set_peer(n)
    end,
    header_filter = function(conf, ctx)
        mg.response.set_header("X-Node", tostring(ctx.node))
    end,
}
--- request
GET /hello
--- error_code: 200
--- response_headers
X-Node: 2
--- response_body
hello world
