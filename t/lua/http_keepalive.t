# mg.http keep-alive: calls to the same host reuse one pooled connection; chunked
# answers too; "Connection: close", keepalive = false, an oversized body are not
# pooled; a connection the server closed while idle is not used (or the call is tried
# again on a new one); https reuses too. The server (Test::Moongate::KeepaliveServer)
# names the connection each answer came on.
use Test::Moongate;
use Test::Moongate::KeepaliveServer;

if (!Test::Moongate::KeepaliveServer::available()) {
    Test::More::plan(skip_all => '/usr/bin/python3 is missing (Debian package python3)');
}

# GET $path through the gateway: "status body"
sub Test::Base::Filter::via {
    my ($t, $path) = @_;
    my $r = $t->request("GET $path", [], 5);
    return ($r->{status} // 'none') . ' ' . ($r->{body} // '');
}

run_tests();

__DATA__

=== TEST 1: calls to one host share a connection; chunked answers too; Connection: close, keepalive = false and an oversized body are not pooled
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { base: "http://127.0.0.1:$MG_RAND_PORT_1" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { base = { type = "string", required = true } } },
    access = function(conf)
        local args = mg.request.get_query_args()
        local n = tonumber(args.n or 1)
        local out = {}
        for i = 1, n do
            local res, err = mg.http.request{
                url = conf.base .. mg.request.get_path(),
                keepalive = args.ka ~= "0",
                max_body = tonumber(args.max or 1048576),
            }
            out[#out + 1] = res and res.body or ("err: " .. err)
        end
        return 200, table.concat(out, ",")
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my $pid = Test::Moongate::KeepaliveServer::start($t->fill('$MG_RAND_PORT_1'), 0);
    is(via($t, "/n?n=5"), "200 c1,c1,c1,c1,c1", 'five calls of one request on one connection');
    is(via($t, "/n?n=2"), "200 c1,c1", 'the next request takes it from the pool');
    is(via($t, "/chunked?n=2"), "200 c1,c1", 'a chunked answer leaves it reusable');
    is(via($t, "/close"), "200 c1", 'Connection: close from the server');
    is(via($t, "/n?n=2"), "200 c2,c2", '... was not pooled: a new connection');
    is(via($t, "/n?n=2&ka=0"), "200 c3,c4", 'keepalive = false: a connection per call');
    is(via($t, "/n"), "200 c2", 'the pooled connection is still there');
    is(via($t, "/big?max=1000"), "200 err: response body too large",
       'an answer over max_body (on the pooled connection)');
    is(via($t, "/n"), "200 c5", '... closed it: a new connection');
    Test::Moongate::KeepaliveServer::stop($pid);
}




=== TEST 2: the server closes idle connections: the next call opens a new one and succeeds; a keep-alive liar is retried
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { base: "http://127.0.0.1:$MG_RAND_PORT_1" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { base = { type = "string", required = true } } },
    access = function(conf)
        local n = tonumber(mg.request.get_query_args().n or 1)
        local out = {}
        for i = 1, n do
            local res, err = mg.http.request{ url = conf.base .. mg.request.get_path() }
            out[#out + 1] = res and res.body or ("err: " .. err)
        end
        return 200, table.concat(out, ",")
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my $pid = Test::Moongate::KeepaliveServer::start($t->fill('$MG_RAND_PORT_1'), 0.3);
    is(via($t, "/n?n=2"), "200 c1,c1", 'reused while the server keeps it');
    Time::HiRes::sleep(0.8);
    is(via($t, "/n"), "200 c2", 'the server closed it while idle: a new connection');
    # the server says nothing but closes after each answer: a call back to back may meet
    # the closed connection before the loop saw the close, and is then tried again
    is(via($t, "/liar?n=6"), "200 c2,c3,c4,c5,c6,c7", 'every call answered, each on its own connection');
    my @retries = $t->error_log =~ /mg\.http: the peer closed the pooled connection/g;
    cmp_ok(scalar @retries, '>=', 1, 'a call that met a connection the server had closed was tried again');
    Test::Moongate::KeepaliveServer::stop($pid);
    unlike($t->error_log, qr/\[(alert|crit)\]/, 'nothing logged above error');
}




=== TEST 3: a reload retires the generation's pool: its idle connections are closed, the new generation opens its own
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: { base: "http://127.0.0.1:$MG_RAND_PORT_1" } }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = { base = { type = "string", required = true } } },
    access = function(conf)
        local res, err = mg.http.request{ url = conf.base .. mg.request.get_path() }
        return 200, res and res.body or ("err: " .. err)
    end,
}
--- test_code eval
sub {
    my ($t) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $pid = Test::Moongate::KeepaliveServer::start($port, 0);
    is(via($t, "/n"), "200 c1", 'first call');
    is(via($t, "/n"), "200 c1", 'reused');
    is(Test::Moongate::KeepaliveServer::open_count($port), 1, 'one connection open');
    is($t->reload, '', 'reloaded');
    my $open;
    my $end = Time::HiRes::time() + 3;
    while (Time::HiRes::time() < $end) {
        $open = Test::Moongate::KeepaliveServer::open_count($port);
        last if $open == 0;
        Time::HiRes::sleep(0.05);
    }
    is($open, 0, "the retired generation's idle connection was closed");
    # (the server counts the connections open_count made too)
    like(via($t, "/n"), qr/^200 c([2-9]|\d\d+)\z/, 'the new generation opens its own');
    Test::Moongate::KeepaliveServer::stop($pid);
}




=== TEST 4: bad keep-alive options are refused before anything is sent
--- yaml_config
routes:
  - name: all
    paths: ["/*"]
    plugins: { fetch: {} }
--- lua_plugins
>>> fetch.lua
local mg = require "moongate"
return {
    name = "fetch", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local out = {}
        for _, o in ipairs({ { keepalive = "yes" }, { keepalive_timeout = 0 },
                             { keepalive_timeout = "1s" }, { keepalive_pool = 0 },
                             { keepalive_pool = 1.5 }, { keepalive_pool = 257 } }) do
            o.url = "http://127.0.0.1:1/"
            local res, err = mg.http.request(o)
            out[#out + 1] = tostring(res) .. " " .. err
        end
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /x
--- error_code: 200
--- response_body
nil keepalive must be a boolean
nil keepalive_timeout must be a number of milliseconds > 0
nil keepalive_timeout must be a number of milliseconds > 0
nil keepalive_pool must be an integer 1-256
nil keepalive_pool must be an integer 1-256
nil keepalive_pool must be an integer 1-256
