# mg.http.request to host names: resolved by the worker's resolver without blocking,
# against a dnsmasq of our own on 127.0.0.1 that knows api.test (TTL 60 s) and answers
# NXDOMAIN for every other name under test. Nothing here asks any other server.
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::Server;
use Test::Moongate::Dnsmasq;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

our ($DNS_PORT, $DNS_PID, $SILENT, $SILENT_PORT, $CLOSED_PORT);
my $main_pid = $$;

sub start_dnsmasq {
    ($DNS_PID, $DNS_PORT) = Test::Moongate::Dnsmasq::start(
        '--local=/test/', '--host-record=api.test,127.0.0.1', '--local-ttl=60');
}

END {
    if ($$ == $main_pid && $DNS_PID) {
        local $?;
        Test::Moongate::Dnsmasq::stop($DNS_PID);
    }
}

if (!Test::Moongate::Dnsmasq::bin()) {
    Test::More::plan(skip_all => Test::Moongate::Dnsmasq::skip_reason());
}
start_dnsmasq();
# a name server that never answers: a UDP socket nobody reads
$SILENT = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
    or die "udp socket: $!\n";
$SILENT_PORT = $SILENT->sockport;
# one where nothing listens: the kernel refuses at once
$CLOSED_PORT = Test::Moongate::Server::free_port();

sub resolver { "resolver: { servers: [\"127.0.0.1:$_[0]\"], timeout: " . ($_[1] // '2s') . " }\n" }

sub admin { Test::Moongate::Client::request($_[0]->admin_port, $_[1], [], 2) }

run_tests();

__DATA__

=== TEST 1: a name that resolves: the call reaches the upstream by name, Host as written
--- yaml_config eval
main::resolver($main::DNS_PORT) . <<'YAML'
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
YAML
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local res, err = mg.http.request{ url = "http://api.test:$MG_ECHO_PORT/hello" }
        if not res then
            return 502, "err: " .. err
        end
        local echo, err2 = mg.http.request{ url = "http://API.Test.:$MG_ECHO_PORT/x" }
        return 200, res.status .. " " .. res.body .. " " .. (echo and echo.body or err2)
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body_like: ^200 hello world\n .*"host":"API.Test.:\d+"



=== TEST 2: names that do not exist: an error at once, nothing hangs; .invalid is never asked
--- yaml_config eval
main::resolver($main::DNS_PORT) . <<'YAML'
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
YAML
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local out = {}
        for _, u in ipairs{ "http://nope.test:$MG_ECHO_PORT/", "http://nope.test:$MG_ECHO_PORT/",
                            "http://x.invalid/", "http://bad_name!/" } do
            local res, err = mg.http.request{ url = u }
            out[#out + 1] = res and tostring(res.status) or err
        end
        return 200, table.concat(out, "|")
    end,
}
--- request
GET /x
--- timeout: 2
--- error_code: 200
--- response_body: host not found|host not found|host not found|bad host name



=== TEST 3: a name server that never answers (timeout), one that refuses (unreachable)
--- yaml_config eval
"resolver: { servers: [\"127.0.0.1:$main::SILENT_PORT\"], timeout: 300ms }\n" . <<'YAML'
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
YAML
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local t0 = mg.now()
        local res, err = mg.http.request{ url = "http://api.test:$MG_ECHO_PORT/" }
        local took = mg.now() - t0
        local res2, err2 = mg.http.request{ url = "http://api.test:$MG_ECHO_PORT/", timeout = 100 }
        return 200, tostring(err) .. " " .. tostring(took >= 0.25 and took < 1.5)
            .. " " .. tostring(err2)
    end,
}
--- request
GET /x
--- timeout: 3
--- error_code: 200
--- response_body: DNS timeout true DNS timeout



=== TEST 4: a name server where nothing listens: an error, not a hang
--- yaml_config eval
main::resolver($main::CLOSED_PORT, '1s') . <<'YAML'
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
YAML
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local res, err = mg.http.request{ url = "http://api.test:$MG_ECHO_PORT/" }
        return 200, tostring(err)
    end,
}
--- request
GET /x
--- timeout: 3
--- error_code: 200
--- response_body_like: ^DNS (server unreachable|timeout)$



=== TEST 5: the cache: with the name server stopped, the name still resolves within its TTL
--- yaml_config eval
main::resolver($main::DNS_PORT, '300ms') . <<'YAML'
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
YAML
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        local host = mg.request.get_query_arg("host") or "api.test"
        local res, err = mg.http.request{ url = "http://" .. host .. ":$MG_ECHO_PORT/hello" }
        return 200, res and res.body or err
    end,
}
--- request
GET /x
--- response_body
hello world
--- test_code eval
sub {
    my $t = shift;
    kill 'STOP', $main::DNS_PID;
    my $ok = eval {
        my $r = Test::Moongate::Client::request($t->port, "GET /x", [], 3);
        is($r && $r->{body}, "hello world\n", 'answered from the cache');
        $r = Test::Moongate::Client::request($t->port, "GET /x?host=other.test", [], 3);
        is($r && $r->{body}, "DNS timeout", 'a name not cached needs the stopped server');
        my $s = JSON::PP::decode_json(main::admin($t, "GET /status")->{body});
        my $res = $s->{resolver} // {};
        is($res->{queries}, 2, 'two lookups: api.test once, other.test once');
        ok($res->{hits} >= 1, "a cache hit ($res->{hits})");
        is($res->{cached}, 2, 'two names in the cache (the failure is stale at once)');
        1;
    };
    kill 'CONT', $main::DNS_PID;
    die $@ unless $ok;
}



=== TEST 6: a reload that changes resolver: uses the new name server
--- yaml_config eval
main::resolver($main::CLOSED_PORT, '1s') . <<'YAML'
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
YAML
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local res, err = mg.http.request{ url = "http://api.test:$MG_ECHO_PORT/hello" }
        return 200, res and res.body or err
    end,
}
--- request eval
["GET /x", "GET /x"]
--- reload_after: 1
--- reload_yaml_config eval
main::resolver($main::DNS_PORT) . <<'YAML'
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
YAML
--- timeout: 3
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^DNS (server unreachable|timeout)$/, qr/^hello world$/]
