# Plugins whose work runs in C (moongate.native): a route whose only plugins are
# ip-restriction and jwt-auth runs them without entering Lua. What a client and the
# upstream see must be what the Lua path gives: the refusal's body, the claim headers
# (the client's copies cleared), hide_credentials, the consumer, expiry while cached, a
# token the fast path does not read (handed to Lua), and a route with a Lua plugin
# besides them (never native). /status counts the phases decided in C ("decided") and
# those handed to Lua ("to_lua").
use Test::Moongate;
use JSON::PP ();
use MIME::Base64 ();
use Digest::SHA ();

our $SECRET = 'a-shared-secret-of-32-bytes-or-more!';

# an HS256 token made here (no external tools): claims as a hash
sub hs256 {
    my ($claims, $secret) = @_;
    my $enc = sub { my $s = MIME::Base64::encode_base64url($_[0]); $s =~ s/=+$//; $s };
    my $in = $enc->('{"alg":"HS256","typ":"JWT"}') . '.'
        . $enc->(JSON::PP->new->canonical->encode($claims));
    return "$in." . $enc->(Digest::SHA::hmac_sha256($in, $secret // $SECRET));
}

sub status { JSON::PP::decode_json(Test::Moongate::Client::request($_[0]->admin_port,
    'GET /status', [], 2)->{body}) }
sub native { my $n = status($_[0])->{lua_native}; [$n->{decided}, $n->{to_lua}] }
sub echoed { JSON::PP::decode_json($_[0]{body}) }

our $WHOAMI = <<'LUA';
>>> whoami.lua
local mg = require "moongate"
return {
    name = "whoami", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf)
        mg.request.set_header("X-Consumer", mg.var.consumer or "-")
    end,
}
LUA

run_tests();

__DATA__

=== TEST 1: ip-restriction alone runs in C: the refusal's status and JSON body (the message escaped), the allowed client passes, deny wins over allow, its calls counted
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: out, paths: ["/out"], upstream: echo,
      plugins: { ip-restriction: { allow: ["10.0.0.0/8", "::1/128"], status: 451, message: "not \"you\" \\ here" } } }
  - { name: in, paths: ["/in"], upstream: echo,
      plugins: { ip-restriction: { allow: ["127.0.0.0/8"] } } }
  - { name: denied, paths: ["/denied"], upstream: echo,
      plugins: { ip-restriction: { allow: ["127.0.0.0/8"], deny: ["127.0.0.1"] } } }
  - { name: deny-only, paths: ["/deny-only"], upstream: echo,
      plugins: { ip-restriction: { deny: ["192.0.2.0/24"] } } }
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /out", []);
    is($r->{status}, 451, 'outside allow: the configured status');
    like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON');
    my $b = JSON::PP::decode_json($r->{body});
    is($b->{error}, 'not "you" \\ here', 'the message, escaped and decoded back');
    is($b->{status}, 451, 'status in the body');
    ok(length($b->{request_id}) > 0, 'request_id in the body');
    is($r->{headers}{'x-request-id'}, $b->{request_id}, 'the same id as the header') if $r->{headers}{'x-request-id'};
    is($t->request("GET /in", [])->{status}, 200, 'inside allow: proxied');
    my $d = $t->request("GET /denied", []);
    is($d->{status}, 403, 'in deny and in allow: deny wins');
    is(JSON::PP::decode_json($d->{body})->{error}, 'your IP address is not allowed', 'the default message');
    is($t->request("GET /deny-only", [])->{status}, 200, 'deny only, not in it: proxied');
    is_deeply(main::native($t), [4, 0], 'four phases decided in C, none handed to Lua');
    my $m = Test::Moongate::Client::request($t->admin_port, 'GET /metrics', [], 2)->{body};
    like($m, qr/^moongate_plugin_calls_total\{plugin="ip-restriction",phase="rewrite"\} 4$/m,
        'the native calls are counted as the plugin\'s');
    $t->stop;
}

=== TEST 2: ip-restriction next to a Lua plugin: the route runs in Lua, with the same answers
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/out"], upstream: echo,
      plugins: { whoami: {}, ip-restriction: { allow: ["10.0.0.0/8"], status: 451, message: "not \"you\"" } } }
  - { paths: ["/in"], upstream: echo, plugins: { whoami: {}, ip-restriction: { allow: ["127.0.0.1"] } } }
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /out", []);
    is($r->{status}, 451, 'refused');
    is(JSON::PP::decode_json($r->{body})->{error}, 'not "you"', 'the same body');
    is($t->request("GET /in", [])->{status}, 200, 'allowed');
    is_deeply(main::native($t), [0, 0], 'nothing ran in C');
    $t->stop;
}

=== TEST 3: jwt-auth alone: the first request verifies in Lua, the next ones are answered in C with the same claim headers, the client's copies cleared
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/api/*"], upstream: echo,
      plugins: { jwt-auth: { algorithm: HS256, secret: "a-shared-secret-of-32-bytes-or-more!", claims_to_headers: { sub: X-User, role: X-Role, n: X-N, groups: X-Groups, email: X-Email } } } }
--- test_code eval
sub {
    my $t = shift;
    my $tok = main::hs256({ sub => 'alice', role => 'admin', n => 42, groups => ['a', 'b'], exp => time + 3600 });
    for my $i (1 .. 3) {
        my $r = $t->request("GET /api/$i", ["Authorization: Bearer $tok", 'X-User: mallory', 'X-Email: forged@example.com']);
        is($r->{status}, 200, "request $i: 200");
        my $h = main::echoed($r)->{headers};
        is($h->{'x-user'}, 'alice', "request $i: X-User from sub, not the client's");
        is($h->{'x-role'}, 'admin', "request $i: X-Role");
        is($h->{'x-n'}, '42', "request $i: a number claim");
        is($h->{'x-groups'}, '["a","b"]', "request $i: a list claim as JSON");
        ok(!exists $h->{'x-email'}, "request $i: a claim the token lacks: the client's copy removed");
        is($h->{authorization}, "Bearer $tok", "request $i: the token goes upstream");
    }
    is_deeply(main::native($t), [2, 1], 'one verification in Lua, two answers from C');
    my $bad = $tok;
    $bad =~ s/.$/$& eq 'A' ? 'B' : 'A'/e;
    is($t->request("GET /api/x", ["Authorization: Bearer $bad"])->{status}, 401, 'a tampered token: 401');
    is($t->request("GET /api/y", [])->{status}, 401, 'no token: 401');
    is($t->request("GET /api/z", ["Authorization: bearer   $tok  "])->{status}, 200,
        'a form the fast path does not read: verified in Lua');
    is_deeply(main::native($t), [2, 4], 'those three went to Lua');
    $t->stop;
}

=== TEST 4: jwt-auth in C: hide_credentials, a consumer found by its key, a token past exp while cached, another header
--- yaml_config
access_log: { path: logs/access.log, format: '$uri $status consumer=$consumer' }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
consumers:
  - name: carol
    credentials: { jwt-auth: { key: carol-iss, secret: "carol-secret-of-at-least-32-bytes!!" } }
routes:
  - { paths: ["/hide/*"], upstream: echo,
      plugins: { jwt-auth: { algorithm: HS256, secret: "a-shared-secret-of-32-bytes-or-more!", hide_credentials: true, header_names: [X-Token, Authorization] } } }
  - { paths: ["/exp/*"], upstream: echo,
      plugins: { jwt-auth: { algorithm: HS256, secret: "a-shared-secret-of-32-bytes-or-more!" } } }
  - { paths: ["/c/*"], upstream: echo,
      plugins: { jwt-auth: { claims_to_headers: { iss: X-Iss } } } }
--- test_code eval
sub {
    my $t = shift;
    my $tok = main::hs256({ sub => 'bob', exp => time + 3600 });
    for my $i (1 .. 2) {
        my $h = main::echoed($t->request("GET /hide/$i", ["Authorization: Bearer $tok"]))->{headers};
        ok(!exists $h->{authorization}, "request $i: hide_credentials removes Authorization");
        $h = main::echoed($t->request("GET /hide/x$i", ["X-Token: $tok"]))->{headers};
        ok(!exists $h->{'x-token'}, "request $i: and X-Token (a bare token in another header)");
    }
    my $short = main::hs256({ sub => 'bob', exp => time + 2 });
    is($t->request("GET /exp/1", ["Authorization: Bearer $short"])->{status}, 200, 'valid for 2 s: 200');
    is($t->request("GET /exp/2", ["Authorization: Bearer $short"])->{status}, 200, 'again, from C');
    sleep 4;
    my $r = $t->request("GET /exp/3", ["Authorization: Bearer $short"]);
    is($r->{status}, 401, 'past exp: the cached entry is not used; 401');
    is(JSON::PP::decode_json($r->{body})->{error}, 'token expired', 'token expired');
    my $ctok = main::hs256({ iss => 'carol-iss', exp => time + 3600 }, 'carol-secret-of-at-least-32-bytes!!');
    for my $i (1 .. 2) {
        my $c = $t->request("GET /c/$i", ["Authorization: Bearer $ctok", 'X-Iss: forged']);
        is($c->{status}, 200, "consumer token $i: 200");
        is(main::echoed($c)->{headers}{'x-iss'}, 'carol-iss', "consumer token $i: X-Iss");
    }
    my $n = main::native($t);
    is($n->[0], 5, 'five answered in C: the token in either header once cached (3), exp (1), carol (1)');
    $t->stop;
}
--- access_log
/c/1 200 consumer=carol
/c/2 200 consumer=carol

=== TEST 5: jwt-auth with a Lua plugin on the route, or cache_size 0: never in C
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/mixed/*"], upstream: echo,
      plugins: { whoami: {}, jwt-auth: { algorithm: HS256, secret: "a-shared-secret-of-32-bytes-or-more!", claims_to_headers: { sub: X-User } } } }
  - { paths: ["/nocache/*"], upstream: echo,
      plugins: { jwt-auth: { algorithm: HS256, secret: "a-shared-secret-of-32-bytes-or-more!", cache_size: 0 } } }
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $tok = main::hs256({ sub => 'alice', exp => time + 3600 });
    for my $i (1 .. 3) {
        my $h = main::echoed($t->request("GET /mixed/$i", ["Authorization: Bearer $tok", 'X-User: m']))->{headers};
        is($h->{'x-user'}, 'alice', "mixed $i: X-User");
        is($h->{'x-consumer'}, '-', "mixed $i: the Lua plugin ran");
        is($t->request("GET /nocache/$i", ["Authorization: Bearer $tok"])->{status}, 200, "nocache $i: 200");
    }
    is_deeply(main::native($t), [0, 0], 'nothing ran in C');
    $t->stop;
}

=== TEST 6: a reload keeps the answers right: the new generation starts with an empty cache and the new secret
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/api/*"], upstream: echo,
      plugins: { jwt-auth: { algorithm: HS256, secret: "a-shared-secret-of-32-bytes-or-more!" } } }
--- reload_after: 2
--- reload_yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/api/*"], upstream: echo,
      plugins: { jwt-auth: { algorithm: HS256, secret: "another-secret-of-32-bytes-or-more!" } } }
--- request eval
["GET /api/1", "GET /api/2", "GET /api/3"]
--- more_headers eval
"Authorization: Bearer " . main::hs256({ sub => 'alice', exp => time + 3600 })
--- error_code eval
[200, 200, 401]
