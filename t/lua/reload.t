# Reloading plugin code: new code takes effect (signal, admin API, file watch), bad
# code (syntax, schema, load-time errors) is rejected while the old code keeps serving,
# and requests in flight finish with the code they started with.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

run_tests();

__DATA__

=== TEST 1: changed plugin code takes effect after a reload (signal)
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { hello: { greeting: "hi" } }
--- lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = { greeting = { type = "string", required = true } } },
    access = function(conf, ctx)
        return 200, "v1 " .. conf.greeting .. "\n"
    end,
}
--- request eval
["GET /a", "GET /a", "GET /b"]
--- reload_after: 1
--- reload_lua_plugins
>>> hello.lua
return {
    name = "hello", version = "2.0", priority = 100,
    schema = { type = "record", fields = { greeting = { type = "string", required = true } } },
    access = function(conf, ctx)
        return 200, "v2 " .. conf.greeting:upper() .. "\n"
    end,
}
--- response_body eval
["v1 hi\n", "v2 HI\n", "v2 HI\n"]
--- no_error_log
reload failed



=== TEST 2: changed plugin code takes effect after a reload (admin POST /reload)
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { hello: {} }
--- lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "one\n" end,
}
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_by: admin
--- reload_lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "two\n" end,
}
--- response_body eval
["one\n", "two\n"]



=== TEST 3: with watch_plugins, saving the plugin file is enough
--- yaml_config
watch_plugins: true
routes:
  - name: r
    paths: ["/*"]
    plugins: { hello: {} }
--- lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "before\n" end,
}
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_by: watch
--- reload_lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "after\n" end,
}
--- response_body eval
["before\n", "after\n"]



=== TEST 4: a syntax error in the new code is rejected; the old code keeps serving
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { hello: {} }
--- lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "old\n" end,
}
--- request eval
["GET /", "GET /", "GET /"]
--- reload_after: 1
--- reload_fails
--- reload_lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "new\n" en,
}
--- response_body eval
["old\n", "old\n", "old\n"]
--- error_log eval
[qr/reload failed, generation 1 keeps serving: .*plugins\/hello\.lua:4: 'end' expected near 'en'/]



=== TEST 5: a schema error in the new code is rejected with the key path; old code serves
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins:
      hello: { greeting: "hi" }
--- lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = { greeting = { type = "string" } } },
    access = function(conf, ctx) return 200, "old " .. conf.greeting .. "\n" end,
}
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_fails
--- reload_lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = { greeting = { type = "integer" } } },
    access = function(conf, ctx) return 200, "new\n" end,
}
--- response_body eval
["old hi\n", "old hi\n"]
--- error_log eval
[qr/reload failed, generation 1 keeps serving: .*conf\/moongate\.yaml:5:26: routes\[0\]\.plugins\.hello\.greeting: expected an integer, got "hi"/]



=== TEST 6: a new plugin that fails while loading is rejected; old code serves
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { hello: {} }
--- lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "old\n" end,
}
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_fails
--- reload_lua_plugins
>>> hello.lua
error("cannot load this one")
--- response_body eval
["old\n", "old\n"]
--- error_log eval
[qr/reload failed, generation 1 keeps serving: .*plugins\/hello\.lua:1: cannot load this one/]



=== TEST 7: a YAML reload that adds a plugin to a route, and one with a bad plugin config
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "plain\n" }
--- lua_plugins
>>> hello.lua
return {
    name = "hello", version = "1.0", priority = 100,
    schema = { type = "record", fields = { n = { type = "integer", required = true } } },
    access = function(conf, ctx) return 200, "hello " .. conf.n .. "\n" end,
}
--- test_code eval
sub {
    my $t = shift;
    is($t->request("GET /")->{body}, "plain\n", 'no plugin at first');
    is($t->reload(<<'YAML'), '', 'reload adding the plugin');
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "plain\n" }
    plugins: { hello: { n: 7 } }
YAML
    is($t->request("GET /")->{body}, "hello 7\n", 'the plugin runs');
    is($t->reload(<<'YAML', 'signal', fails => 1), '', 'a bad plugin config is rejected');
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "plain\n" }
    plugins: { hello: { n: seven } }
YAML
    is($t->request("GET /")->{body}, "hello 7\n", 'the previous generation serves');
    like($t->error_log, qr/reload failed, generation \d+ keeps serving: .*routes\[0\]\.plugins\.hello\.n: expected an integer, got "seven"/,
         'the rejection names the key');
    is($t->reload(<<'YAML'), '', 'reload removing the plugin');
routes:
  - name: r
    paths: ["/*"]
    return: { status: 200, body: "plain\n" }
YAML
    is($t->request("GET /")->{body}, "plain\n", 'the plugin is gone');
}



=== TEST 8: module-level state starts afresh with the new generation
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { counter: {} }
--- lua_plugins
>>> counter.lua
local n = 0
return {
    name = "counter", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        n = n + 1
        return 200, "count " .. n .. "\n"
    end,
}
--- request eval
["GET /", "GET /", "GET /", "GET /"]
--- reload_after: 2
--- reload_lua_plugins
>>> counter.lua
local n = 100
return {
    name = "counter", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        n = n + 1
        return 200, "count " .. n .. "\n"
    end,
}
--- response_body eval
["count 1\n", "count 2\n", "count 101\n", "count 102\n"]



=== TEST 9: a request sleeping in a plugin during a reload finishes with the old code
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
    access = function(conf, ctx)
        if mg.request.get_path() == "/slow" then
            mg.sleep(600)
        end
        return 200, "old code\n"
    end,
}
--- test_code eval
sub {
    my $t = shift;
    my $s = Test::Moongate::Client::connect_to($t->port, 5);
    Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET /slow", []));
    Time::HiRes::sleep(0.1);
    $t->write_file('plugins/slow.lua', <<'LUA');
return {
    name = "slow", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx) return 200, "new code\n" end,
}
LUA
    is($t->reload(undef, 'signal'), '', 'reloaded while the request sleeps');
    is($t->request("GET /fast")->{body}, "new code\n", 'new requests run the new code');
    my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 5),
                                                  'GET');
    is($r && $r->{status}, 200, 'the sleeping request completed');
    is($r && $r->{body}, "old code\n", 'with the old code');
}



=== TEST 10: a reload rejected for one bad plugin keeps every plugin at its old version
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - name: r
    paths: ["/*"]
    upstream: echo
    plugins: { good: {}, other: {} }
--- lua_plugins
>>> good.lua
local mg = require "moongate"
return {
    name = "good", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx) mg.response.set_header("X-Good", "v1") end,
}
>>> other.lua
local mg = require "moongate"
return {
    name = "other", version = "1.0", priority = 50,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx) mg.response.set_header("X-Other", "v1") end,
}
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_fails
--- reload_lua_plugins
>>> good.lua
local mg = require "moongate"
return {
    name = "good", version = "2.0", priority = 100,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx) mg.response.set_header("X-Good", "v2") end,
}
>>> other.lua
local mg = require "moongate"
return {
    name = "other", version = "2.0", priority = 50,
    schema = { type = "record", fields = {} },
    header_filter = function(conf, ctx) mg.response.set_header("X-Other", "v2") end,
    unknown_thing = true,
}
--- response_headers eval
["X-Good: v1\nX-Other: v1", "X-Good: v1\nX-Other: v1"]
--- error_log eval
[qr/reload failed, generation 1 keeps serving: .*plugins\/other\.lua: unknown key "unknown_thing" in the plugin table/]
