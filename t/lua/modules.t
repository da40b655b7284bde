# Shared Lua modules (lua_path): plugins require modules from the configured
# directories; the modules are read, compiled and checked with the plugins, run under
# the load time limit, and bad ones refuse the start with file and line.
use Test::Moongate;

run_tests();

__DATA__

=== TEST 1: a plugin requires modules from a lua_path directory (NAME.lua and NAME/init.lua)
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { greeter: { who: alice } }
--- user_files
>>> conf/lib/mylib/greet.lua
local M = {}
function M.hello(who) return "hello " .. who end
return M
>>> conf/lib/mylib/util/init.lua
return { upper = function(s) return s:upper() end }
--- lua_plugins
>>> greeter.lua
local greet = require "mylib.greet"
local util = require "mylib.util"
return {
    name = "greeter", version = "1.0", priority = 100,
    schema = { type = "record", fields = { who = { type = "string", required = true } } },
    access = function(conf)
        return 200, util.upper(greet.hello(conf.who)) .. "\n"
    end,
}
--- request
GET /
--- response_body
HELLO ALICE



=== TEST 2: two plugins share one instance of a module in a worker
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { one: {}, two: {} }
--- user_files
>>> conf/lib/counter.lua
local M = { n = 0 }
function M.bump() M.n = M.n + 1 return M.n end
return M
--- lua_plugins
>>> one.lua
local counter = require "counter"
return {
    name = "one", priority = 200, schema = { type = "record", fields = {} },
    access = function() counter.bump() end,
}
>>> two.lua
local counter = require "counter"
return {
    name = "two", priority = 100, schema = { type = "record", fields = {} },
    access = function() return 200, "n=" .. counter.bump() .. "\n" end,
}
--- request eval
["GET /", "GET /"]
--- response_body eval
["n=2\n", "n=4\n"]



=== TEST 3: an OpenResty-style template ("lib/?.lua;...") works too
--- yaml_config
lua_path: "lib/?.lua;other/?.lua"
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/a.lua
return "from a"
>>> conf/other/b.lua
return "from b"
--- lua_plugins
>>> p.lua
local a, b = require "a", require "b"
return {
    name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, a .. ", " .. b .. "\n" end,
}
--- request
GET /
--- response_body
from a, from b



=== TEST 4: the first lua_path entry that has a name wins
--- yaml_config
lua_path: [first, second]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/first/dup.lua
return "first"
>>> conf/second/dup.lua
return "second"
--- lua_plugins
>>> p.lua
local d = require "dup"
return {
    name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, d .. "\n" end,
}
--- request
GET /
--- response_body
first



=== TEST 5: a name not found gives Lua's message, the lua_path places first, then the built-in ones
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/present.lua
return 1
--- lua_plugins
>>> p.lua
return {
    name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function()
        local ok, err = pcall(require, "nope.missing")
        return 200, tostring(ok) .. "\n" .. err .. "\n"
    end,
}
--- request
GET /
--- response_body_like
^false
module 'nope.missing' not found:
\tno field package.preload\['nope.missing'\]
\tno file '[^']*/conf/lib/nope/missing.lua'
\tno file '[^']*/conf/lib/nope/missing/init.lua'
\tno file '[^']*/lua/nope/missing.lua'



=== TEST 6: a syntax error in a module refuses the start with its file and line, even unused
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/broken.lua
local M = {}
function M.f(
return M
--- lua_plugins
>>> p.lua
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, "ok\n" end }
--- must_die
--- error_log eval
[qr{conf/lib/broken\.lua:3: .*near 'return'}]



=== TEST 7: an error at a module's top level refuses the start with its file and line
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/bad.lua
local M = {}
error("cannot start: no key")
return M
--- lua_plugins
>>> p.lua
local bad = require "bad"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, "ok\n" end }
--- must_die
--- error_log eval
[qr{conf/lib/bad\.lua:2: cannot start: no key}]



=== TEST 8: a module that loops at load is stopped by the load time limit, naming its line
--- yaml_config
lua: { stall_timeout: 400ms }
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/spin.lua
local n = 0
while true do
    n = n + 1
end
--- lua_plugins
>>> p.lua
require "spin"
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, "ok\n" end }
--- must_die
--- error_log eval
[qr{conf/lib/spin\.lua:[23]: plugin code did not finish loading within 0\.2 s}]



=== TEST 9: a module named moongate.* is refused: that name space is the runtime's
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/moongate/core.lua
return {}
--- lua_plugins
>>> p.lua
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, "ok\n" end }
--- must_die
--- error_log eval
[qr{moongate\.yaml:1:12: lua_path\[0\]: .*conf/lib/moongate/core\.lua would be the module "moongate\.core": the moongate\.\* names belong to the bundled runtime}]



=== TEST 10: a lua_path directory that does not exist is an error at its line and column
--- yaml_config
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
lua_path:
  - lib
  - missing
--- user_files
>>> conf/lib/x.lua
return 1
--- lua_plugins
>>> p.lua
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function() return 200, "ok\n" end }
--- must_die
--- error_log eval
[qr{moongate\.yaml:7:5: lua_path\[1\]: cannot open the directory .*conf/missing: No such file or directory}]



=== TEST 11: a template with two '?' is refused at its position
--- yaml_config
lua_path: ["lib/?/?.lua"]
routes: []
--- must_die
--- error_log eval
[qr{moongate\.yaml:1:12: lua_path\[0\]: a template has one '\?'}]



=== TEST 12: moongate -t checks the modules too
--- yaml_config
routes: []
--- test_code eval
sub {
    my $t = shift;
    my $root = $t->servroot;
    $t->write_file('conf/lib/ok.lua', "return { v = 1 }\n");
    $t->write_file('conf/lib/typo.lua', "return { v = = 1 }\n");
    $t->write_file('plugins/p.lua', "local ok = require 'ok'\nreturn { name = 'p', priority = 1, schema = { type = 'record', fields = {} } }\n");
    my $yaml = "lua_path: [lib]\nroutes:\n  - { name: r, paths: ['/*'], plugins: { p: {} } }\n";
    $t->write_file('conf/t.yaml', $yaml);
    my ($code, $out) = $t->run('-t', '-p', $root, '-c', "$root/conf/t.yaml");
    is($code, 1, 'moongate -t exits 1 on a module with a syntax error');
    like($out, qr{conf/lib/typo\.lua:1: unexpected symbol near '='}, 'file and line of the module');
    $t->write_file('conf/lib/typo.lua', "return { v = 1 }\n");
    ($code, $out) = $t->run('-t', '-p', $root, '-c', "$root/conf/t.yaml");
    is($code, 0, 'moongate -t passes once fixed') or diag($out);
}



=== TEST 13: a module required in a phase runs then, and a module's error there fails only that request
--- yaml_config
lua_path: [lib]
routes:
  - name: r
    paths: ["/*"]
    plugins: { p: {} }
--- user_files
>>> conf/lib/late.lua
local M = { loaded_at = "phase" }
return M
>>> conf/lib/failing.lua
error("failing at load")
--- lua_plugins
>>> p.lua
return { name = "p", priority = 1, schema = { type = "record", fields = {} },
    access = function(conf)
        if mg.var.uri == "/fail" then
            require "failing"
        end
        return 200, require("late").loaded_at .. "\n"
    end }
--- request eval
["GET /", "GET /fail", "GET /"]
--- error_code eval
[200, 500, 200]
--- error_log eval
[qr{plugin "p" failed in access: .*conf/lib/failing\.lua:1: failing at load}]
