# Reloading shared Lua modules (lua_path): a reload that changes only a module takes
# it; a bad module is refused and the old generation keeps serving; watch_plugins
# sees module files; a request in flight keeps the module code it started with.
use Test::Moongate;
use Test::Moongate::Client;

run_tests();

__DATA__

=== TEST 1: a reload that changes only a module's file replaces it in the new generation
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/helpers/version.lua
return { text = "module v1" }
--- lua_plugins
>>> p.lua
local v = require "helpers.version"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, v.text .. "\n" end }
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_user_files
>>> conf/lib/helpers/version.lua
return { text = "module v2" }
--- response_body eval
["module v1\n", "module v2\n"]
--- no_error_log
reload failed



=== TEST 2: a reload whose module has a syntax error is refused; the old module keeps serving
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/helpers/version.lua
return { text = "module v1" }
--- lua_plugins
>>> p.lua
local v = require "helpers.version"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, v.text .. "\n" end }
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_user_files
>>> conf/lib/helpers/version.lua
return { text = "module v2"
--- reload_fails
--- response_body eval
["module v1\n", "module v1\n"]
--- error_log eval
[qr{reload failed.*conf/lib/helpers/version\.lua:2: '\}' expected}]



=== TEST 3: a reload whose module errors at load is refused with its file and line
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/helpers/version.lua
return { text = "module v1" }
--- lua_plugins
>>> p.lua
local v = require "helpers.version"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, v.text .. "\n" end }
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_user_files
>>> conf/lib/helpers/version.lua
local key = os.getenv("MG_TEST_NO_SUCH_KEY") or error("no signing key")
return { text = key }
--- reload_fails
--- response_body eval
["module v1\n", "module v1\n"]
--- error_log eval
[qr{reload failed.*conf/lib/helpers/version\.lua:1: no signing key}]



=== TEST 4: a module looping at load on reload is stopped by the time limit and refused
--- yaml_config
lua: { stall_timeout: 600ms }
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/helpers/version.lua
return { text = "module v1" }
--- lua_plugins
>>> p.lua
local v = require "helpers.version"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, v.text .. "\n" end }
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_user_files
>>> conf/lib/helpers/version.lua
local x = 0
repeat x = x + 1 until false
return { text = "never" }
--- reload_fails
--- response_body eval
["module v1\n", "module v1\n"]
--- error_log eval
[qr{reload failed.*conf/lib/helpers/version\.lua:2: plugin code did not finish loading within 0\.3 s}]



=== TEST 5: with watch_plugins, saving a module file is enough
--- yaml_config
watch_plugins: true
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/deep/er/version.lua
return { text = "before" }
--- lua_plugins
>>> p.lua
local v = require "deep.er.version"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, v.text .. "\n" end }
--- request eval
["GET /", "GET /"]
--- reload_after: 1
--- reload_by: watch
--- reload_user_files
>>> conf/lib/deep/er/version.lua
return { text = "after" }
--- response_body eval
["before\n", "after\n"]



=== TEST 6: a request in flight keeps the module it started with; new requests get the new one
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/helpers/version.lua
return { text = "old module" }
--- lua_plugins
>>> p.lua
local v = require "helpers.version"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function()
        if mg.var.uri == "/slow" then mg.sleep(600) end
        return 200, v.text .. " " .. require("helpers.version").text .. "\n"
    end }
--- test_code eval
sub {
    my $t = shift;
    my $s = Test::Moongate::Client::connect_to($t->port, 5);
    Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET /slow", []));
    select undef, undef, undef, 0.1;
    $t->write_file('conf/lib/helpers/version.lua', "return { text = \"new module\" }\n");
    is($t->reload(undef), '', 'reloaded while the request is in flight');
    my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 5),
                                                  'GET');
    is($r && $r->{body}, "old module old module\n", 'the slow request kept the old module');
    is($t->request("GET /x")->{body}, "new module new module\n", 'new requests get the new one');
}
