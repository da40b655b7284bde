# mg.shared: get_keys, ttl and expire through requests, and keys written by one worker
# listed by another.
use Test::Moongate;
use Test::Moongate::Client;

run_tests();

__DATA__

=== TEST 1: get_keys (default 1024, max, 0 = all, expired skipped), ttl and expire
--- yaml_config
shared_dicts: { cache: 2m }
routes:
  - { paths: ["/*"], plugins: { dict: {} } }
--- lua_plugins
>>> dict.lua
local function sorted(t) table.sort(t) return table.concat(t, ",") end
return {
  name = "dict", priority = 10,
  schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local d = mg.shared.cache
    local out = {}
    local function say(...)
      local parts = {}
      for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
      out[#out + 1] = table.concat(parts, " ")
    end
    d:flush_all()
    d:set("a", 1)
    d:set("b", "x", 100)
    d:set("c", true, 0.2)
    say("keys", sorted(d:get_keys()))
    say("ttl a", d:ttl("a"))
    local tb = d:ttl("b")
    say("ttl b", tb > 99 and tb <= 100)
    say("ttl missing", d:ttl("missing"))
    say("expire a", d:expire("a", 50))
    local ta = d:ttl("a")
    say("ttl a after", ta > 49 and ta <= 50)
    say("expire b 0", d:expire("b", 0), d:ttl("b"))
    say("expire missing", d:expire("missing", 5))
    say("expire bad", d:expire("a", -1))
    say("max 2", #d:get_keys(2))
    say("bad max", d:get_keys(-1))
    mg.sleep(300)
    say("after expiry", sorted(d:get_keys(0)), d:ttl("c"))
    say("expire expired", d:expire("c", 10))
    for i = 1, 3000 do d:set("k" .. i, i) end
    say("default", #d:get_keys(), "all", #d:get_keys(0), "count", d:count())
    local first = d:get_keys(1)[1]
    say("most recent first", first)
    return 200, table.concat(out, "\n") .. "\n"
  end,
}
--- request
GET /x
--- response_body
keys a,b,c
ttl a 0
ttl b true
ttl missing nil not found
expire a true
ttl a after true
expire b 0 true 0
expire missing nil not found
expire bad nil bad ttl
max 2 2
bad max nil bad max
after expiry a,b nil not found
expire expired nil not found
default 1024 all 3002 count 3002
most recent first k3000



=== TEST 2: keys one worker writes, another lists: 40 connections over 2 workers
--- yaml_config
worker_processes: 2
shared_dicts: { cache: 1m }
routes:
  - { paths: ["/put/{n}"], plugins: { put: {} } }
  - { paths: ["/keys"], plugins: { keys: {} } }
--- lua_plugins
>>> put.lua
local ffi = require "ffi"
pcall(ffi.cdef, "int getpid(void);")
return {
  name = "put", priority = 10,
  schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local d = mg.shared.cache
    d:set("k" .. mg.request.get_param("n"), 1)
    d:set("pid:" .. ffi.C.getpid(), 1)
    return 200, "ok\n"
  end,
}
>>> keys.lua
return {
  name = "keys", priority = 10,
  schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local k, pids = 0, 0
    for _, key in ipairs(mg.shared.cache:get_keys(0)) do
      if key:sub(1, 4) == "pid:" then pids = pids + 1 else k = k + 1 end
    end
    return 200, k .. " keys from " .. pids .. " workers\n"
  end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my $ok = 0;
    for my $n (1 .. 40) {
        my $r = $t->request("GET /put/$n", ['Connection: close'], 3) // {};
        $ok++ if ($r->{status} // 0) == 200;
    }
    is($ok, 40, 'all 40 written');
    my $r = $t->request("GET /keys", [], 3) // {};
    is($r->{body}, "40 keys from 2 workers\n", 'every key listed, written by both workers');
}



=== TEST 3: get_keys while other requests and the other worker write, delete and expire keys
--- yaml_config
worker_processes: 2
shared_dicts: { cache: 256k }
routes:
  - { paths: ["/churn"], plugins: { churn: {} } }
  - { paths: ["/list"], plugins: { list: {} } }
--- lua_plugins
>>> churn.lua
return {
  name = "churn", priority = 10,
  schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local d = mg.shared.cache
    for round = 1, 20 do
      for i = 1, 200 do
        local k = "k" .. math.random(1, 3000)
        local r = math.random(1, 4)
        if r == 1 then d:delete(k)
        elseif r == 2 then d:set(k, string.rep("v", math.random(0, 300)), 0.002)
        else d:set(k, i) end
      end
      mg.sleep(1) -- let the other requests in between
    end
    return 200, "ok\n"
  end,
}
>>> list.lua
return {
  name = "list", priority = 10,
  schema = { type = "record", fields = {} },
  access = function(conf, ctx)
    local d = mg.shared.cache
    for round = 1, 40 do
      local all, some = d:get_keys(0), d:get_keys(50)
      if #some > 50 then return 500, "max broken\n" end
      for _, k in ipairs(all) do
        if not k:match("^k%d+$") then return 500, "bad key " .. k .. "\n" end
      end
      mg.sleep(1)
    end
    return 200, "ok\n"
  end,
}
--- timeout: 20
--- test_code eval
sub {
    my ($t) = @_;
    my @socks = map {
        my $s = Test::Moongate::Client::connect_to($t->port, 10);
        Test::Moongate::Client::write_all($s,
            Test::Moongate::Client::build($_ % 2 ? "GET /churn" : "GET /list", []));
        $s
    } 1 .. 12;
    my %got;
    for my $s (@socks) {
        my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 15), 'GET');
        $got{ ($r ? $r->{status} : 'none') . ' ' . ($r ? $r->{body} : '') }++;
        close $s;
    }
    is_deeply(\%got, { "200 ok\n" => 12 }, 'listing never saw a torn key, never broke max, nothing failed')
        or diag(explain(\%got));
}
