# Rate limits and plugins: limits keyed on the consumer an auth plugin names, and
# mg.ratelimit for plugins' own keys (a per-consumer plan).
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

sub get { Test::Moongate::Client::request($_[0]->port, $_[1], $_[2] // [], 5) }

run_tests();

__DATA__

=== TEST 1: a limit keyed on the consumer runs after access, once key-auth named it
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
consumers:
  - { name: alice, credentials: { key-auth: { key: "alice-secret-1" } } }
  - { name: bob, credentials: { key-auth: { key: "bob-secret-22" } } }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins: { key-auth: {} }
    rate_limit:
      - { algorithm: fixed_window, rate: 2/h, key: consumer }
--- request
GET /a
--- error_code: 401
--- test_code eval
sub {
    my $t = shift;
    my @s = map { main::get($t, "GET /a", ["apikey: alice-secret-1"])->{status} } 1 .. 3;
    is("@s", "200 200 429", 'alice: two, then limited');
    is(main::get($t, "GET /a", ["apikey: bob-secret-22"])->{status}, 200, 'bob has his own');
    is(main::get($t, "GET /a")->{status}, 401, 'no key: access answers before the limit');
}



=== TEST 2: a consumer limit on a route without an auth plugin: the key is missing
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: open
    paths: ["/open"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: consumer }
  - name: closed
    paths: ["/closed"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h, key: consumer, missing_key: reject, status: 401 }
--- request eval
["GET /open", "GET /open", "GET /closed"]
--- error_code eval
[200, 200, 401]



=== TEST 3: mg.ratelimit: a per-consumer plan (the consumer's plugin config sets its rate)
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
consumers:
  - name: gold
    credentials: { key-auth: { key: "gold-secret-1" } }
    plugins: { plan-limit: { rate: "3/h" } }
  - name: free
    credentials: { key-auth: { key: "free-secret-1" } }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins:
      key-auth: {}
      plan-limit: { rate: "1/h" }
--- lua_plugins
>>> plan-limit.lua
-- plan-limit: one token bucket per plan rate, keyed on the consumer. The route's
-- config is the default plan; a consumer's own plan-limit config overrides it.
local mg = require "moongate"

local limiters = {} -- rate -> limiter, made once per worker

local function limiter_for(rate)
    local lim = limiters[rate]
    if lim == nil then
        local err
        lim, err = mg.ratelimit.new{ name = "plan:" .. rate, algorithm = "token_bucket",
            rate = rate }
        if lim == nil then
            error(err)
        end
        limiters[rate] = lim
    end
    return lim
end

return {
    name = "plan-limit", version = "1.0", priority = 900, -- after key-auth (1250)
    schema = {
        type = "record",
        fields = { rate = { type = "string", required = true, description = "the plan" } },
    },
    access = function(conf)
        local who = mg.var.consumer or mg.var.remote_addr
        local ok, info = limiter_for(conf.rate):take(who)
        if not ok then
            return 429, { error = "plan limit reached", plan = conf.rate },
                mg.ratelimit.headers(info)
        end
        mg.ctx.remaining = info.remaining
    end,
    header_filter = function(conf, ctx)
        if ctx.remaining then
            mg.response.set_header("X-Plan-Remaining", tostring(ctx.remaining))
        end
    end,
}
--- request
GET /a
--- more_headers
apikey: free-secret-1
--- error_code: 200
--- response_headers
X-Plan-Remaining: 0
--- test_code eval
sub {
    my $t = shift;
    my @g = map { main::get($t, "GET /a", ["apikey: gold-secret-1"]) } 1 .. 4;
    is(CORE::join(' ', map { $_->{status} } @g), "200 200 200 429", 'gold: three an hour');
    is($g[0]{headers}{'x-plan-remaining'}, '2', 'remaining seen by the plugin');
    my $f = main::get($t, "GET /a", ["apikey: free-secret-1"]);
    is($f->{status}, 429, 'free: the first request used its one');
    like($f->{headers}{'retry-after'} // '', qr/^(3599|3600)$/, 'Retry-After');
    is($f->{headers}{'ratelimit-limit'}, '1', 'RateLimit-Limit');
    like($f->{body}, qr/plan limit reached/, 'the plugin\'s body');
}



=== TEST 4: mg.ratelimit.new validates its options once: nil and a message
--- yaml_config
routes:
  - name: api
    paths: ["/*"]
    plugins: { probe: {} }
--- lua_plugins
>>> probe.lua
local mg = require "moongate"
local cases = {
    { algorithm = "token_bucket", rate = "10/s", limit = 3 },
    { algorithm = "concurrency", rate = "1/s" },
    { algorithm = "fixed_window", rate = "10/s", delay = true },
    { algorithm = "nope", rate = "1/s" },
    { rate = "ten" },
    { rate = "1/s", zone = "missing" },
    { rate = "1/s", scope = "cluster" },
    { rate = "1/s", colour = "red" },
    { algorithm = "concurrency", limit = 0 },
}
return {
    name = "probe", version = "1.0", priority = 1,
    schema = { type = "record", fields = {} },
    access = function()
        local out = {}
        for _, o in ipairs(cases) do
            local lim, err = mg.ratelimit.new(o)
            out[#out + 1] = (lim == nil and err or "accepted")
        end
        local lim = assert(mg.ratelimit.new{ algorithm = "concurrency", limit = 1,
            name = "probe-slots" })
        local a = lim:take("k")
        local b = lim:take("k")
        lim:release("k")
        local c = lim:take("k")
        lim:release("k")
        out[#out + 1] = string.format("slots %s %s %s", tostring(a), tostring(b), tostring(c))
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
--- request
GET /a
--- error_code: 200
--- response_body
mg.ratelimit.new: limit: is for the concurrency algorithm; token_bucket takes rate
mg.ratelimit.new: rate: concurrency counts requests in flight: use limit
mg.ratelimit.new: delay: is for leaky_bucket only
mg.ratelimit.new: algorithm: expected token_bucket | leaky_bucket | fixed_window | sliding_window | concurrency, got nope
mg.ratelimit.new: rate: expected N/s, N/m, N/h, N/d or N/<duration> (e.g. "10/s"), got ten
mg.ratelimit.new: zone: no rate limit zone "missing" (declare it in rate_limit_zones)
mg.ratelimit.new: scope: cluster needs the top-level `redis` block
mg.ratelimit.new: unknown option "colour"
mg.ratelimit.new: limit: expected an integer >= 1, got 0
slots true false true



=== TEST 5: a limit of a rewritten route: the final route's limits apply
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: old
    paths: ["/old"]
    upstream: echo
    plugins: { move: {} }
  - name: new
    paths: ["/new"]
    upstream: echo
    rate_limit:
      - { algorithm: fixed_window, rate: 1/h }
--- lua_plugins
>>> move.lua
local mg = require "moongate"
return {
    name = "move", version = "1.0", priority = 1,
    schema = { type = "record", fields = {} },
    rewrite = function()
        mg.request.set_path("/new")
        mg.request.reroute()
    end,
}
--- request eval
["GET /old", "GET /old", "GET /new"]
--- error_code eval
[200, 429, 429]



=== TEST 6: a delay inside the plugin coroutine: the request waits, its body arrives upstream
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins: { mark: {} }
    rate_limit:
      - { algorithm: leaky_bucket, rate: 4/s, burst: 2, delay: true }
--- lua_plugins
>>> mark.lua
local mg = require "moongate"
return {
    name = "mark", version = "1.0", priority = 1,
    schema = { type = "record", fields = {} },
    rewrite = function() mg.request.set_header("X-Mark", "rewrite") end,
    access = function() mg.request.add_header("X-Mark", "access") end,
}
--- request
GET /warm
--- test_code eval
sub {
    my $t = shift;
    Time::HiRes::sleep(0.3);
    my $t0 = Time::HiRes::time();
    my @s = map {
        my $s = Test::Moongate::Client::connect_to($t->port, 5);
        Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("POST /p\nbody-$_", []));
        $s
    } 1 .. 3;
    my @r = map {
        my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($_, 5), 'POST');
        close $_;
        $r
    } @s;
    my $dt = Time::HiRes::time() - $t0;
    is(CORE::join(' ', map { $_->{status} } @r), "200 200 200", 'all three pass');
    ok($dt >= 0.4, "the third waited about 0.5 s ($dt s)");
    my @b = sort map { $_->{body} =~ /"body":"(body-\d)"/ ? $1 : '?' } @r;
    is("@b", "body-1 body-2 body-3", 'each body reached the upstream');
    like($r[0]{body}, qr/"x-mark":"rewrite, ?access"|"x-mark":\["rewrite","access"\]/, 'access ran after the wait');
}
