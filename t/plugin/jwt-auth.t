# jwt-auth: tokens signed in the test (t/lib/jwt_tool.py: PyJWT and cryptography, keys
# made fresh for each run) with every algorithm; route keys (secret, public_key) and
# consumers' keys found by iss; expired, not yet valid, tampered, wrong key, wrong alg,
# alg none, algorithm confusion (an RS256 key's PEM as an HS256 secret), malformed
# tokens (always 401, never 500); leeway, issuers, audiences, required claims,
# maximum_expiration; claims_to_headers after clearing the client's copies; the token
# from a header, a cookie or a query argument, hide_credentials, anonymous; a JWKS
# server of the test's own (kid selection, refetch on an unknown kid with its rate cap,
# Cache-Control, fail closed when no key was ever fetched); the configuration errors.
use Test::Moongate;
use JSON::PP ();
use File::Temp ();
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

my $PY = '/usr/bin/python3';
if (system($PY, '-c', 'import jwt, cryptography') != 0) {
    print "1..0 # SKIP $PY cannot import jwt and cryptography: install python3-jwt and python3-cryptography (tools/install-deps)\n";
    exit 0;
}
our $KEYS = File::Temp::tempdir(CLEANUP => 1);
system($PY, 't/lib/jwt_tool.py', 'keys', $KEYS) == 0 or die "jwt_tool.py keys failed\n";

our $SECRET = 'a-shared-secret-of-32-bytes-or-more!';
our $NOW = time;

# mint(name => { alg, key, claims, headers }, ...) -> fills %T with the tokens
our %T;
sub mint {
    my @pairs = @_;
    my (@names, @specs);
    while (my ($n, $s) = splice @pairs, 0, 2) {
        push @names, $n;
        push @specs, $s;
    }
    my $in = File::Temp->new;
    print $in JSON::PP::encode_json(\@specs);
    close $in;
    my @tok = `$PY t/lib/jwt_tool.py sign $KEYS < $in`;
    die "jwt_tool.py sign failed\n" if $? || @tok != @names;
    chomp @tok;
    @T{@names} = @tok;
}

my $hs = { secret => $SECRET };
my %ok = (iss => 'gw-test', sub => 'alice', exp => $NOW + 3600);
mint(
    hs256 => { alg => 'HS256', key => $hs, claims => { %ok, role => 'admin', groups => ['a', 'b'] } },
    hs256_noexp => { alg => 'HS256', key => $hs, claims => { sub => 'bob' } },
    hs256_numsub => { alg => 'HS256', key => $hs, claims => { %ok, sub => 123456789012345, role => 0.1,
                                                              groups => [1.5, 9007199254740992] } },
    hs256_nosub => { alg => 'HS256', key => $hs, claims => { iss => 'gw-test' } },
    hs256_expired => { alg => 'HS256', key => $hs, claims => { %ok, exp => $NOW - 30 } },
    hs256_expired_long => { alg => 'HS256', key => $hs, claims => { %ok, exp => $NOW - 600 } },
    hs256_nbf => { alg => 'HS256', key => $hs, claims => { %ok, nbf => $NOW + 600 } },
    hs256_nbf_soon => { alg => 'HS256', key => $hs, claims => { %ok, nbf => $NOW + 20 } },
    hs256_badexp => { alg => 'HS256', key => $hs, claims => { %ok, exp => "tomorrow" } },
    hs256_wrongsecret => { alg => 'HS256', key => { secret => 'another-secret-of-32-bytes-or-more!' }, claims => \%ok },
    hs384 => { alg => 'HS384', key => $hs, claims => \%ok },
    hs256_aud => { alg => 'HS256', key => $hs, claims => { %ok, aud => ['other', 'api'] } },
    hs256_aud_bad => { alg => 'HS256', key => $hs, claims => { %ok, aud => 'other' } },
    hs256_iss_bad => { alg => 'HS256', key => $hs, claims => { %ok, iss => 'evil' } },
    hs256_long => { alg => 'HS256', key => $hs, claims => { %ok, exp => $NOW + 86400 * 30 } },
    none => { alg => 'none', claims => \%ok },
    rs256 => { alg => 'RS256', key => 'rsa.pem', claims => \%ok },
    rs256_other => { alg => 'RS256', key => 'rsa2.pem', claims => \%ok },
    rs384 => { alg => 'RS384', key => 'rsa.pem', claims => \%ok },
    confusion => { alg => 'HS256', key => 'rsa.pub', claims => \%ok },
    # consumers' tokens: iss names the consumer
    c_hs512 => { alg => 'HS512', key => { secret => 'carol-secret-of-at-least-32-bytes!!' }, claims => { iss => 'carol', exp => $NOW + 60 } },
    c_rs512 => { alg => 'RS512', key => 'rsa.pem', claims => { iss => 'rs512-user' } },
    c_ps256 => { alg => 'PS256', key => 'rsa.pem', claims => { iss => 'ps256-user' } },
    c_ps384 => { alg => 'PS384', key => 'rsa.pem', claims => { iss => 'ps384-user' } },
    c_ps512 => { alg => 'PS512', key => 'rsa.pem', claims => { iss => 'ps512-user' } },
    c_es256 => { alg => 'ES256', key => 'ec256.pem', claims => { iss => 'es256-user' } },
    c_es384 => { alg => 'ES384', key => 'ec384.pem', claims => { iss => 'es384-user' } },
    c_eddsa => { alg => 'EdDSA', key => 'ed.pem', claims => { iss => 'ed-user' } },
    c_eddsa_wrongkey => { alg => 'ES256', key => 'ec256.pem', claims => { iss => 'ed-user' } },
    c_unknown => { alg => 'HS256', key => $hs, claims => { iss => 'nobody' } },
    # JWKS tokens: kid picks the key
    k_rsa => { alg => 'RS256', key => 'rsa.pem', claims => \%ok, headers => { kid => 'rsa' } },
    k_ec => { alg => 'ES256', key => 'ec256.pem', claims => \%ok, headers => { kid => 'ec256' } },
    k_ed => { alg => 'EdDSA', key => 'ed.pem', claims => \%ok, headers => { kid => 'ed' } },
    k_rsa_as_ps => { alg => 'PS256', key => 'rsa.pem', claims => \%ok, headers => { kid => 'rsa' } },
    k_ec_wrongalg => { alg => 'ES384', key => 'ec384.pem', claims => \%ok, headers => { kid => 'ec256' } },
    k_nokid => { alg => 'ES384', key => 'ec384.pem', claims => \%ok },
    k_new => { alg => 'RS256', key => 'rsa2.pem', claims => \%ok, headers => { kid => 'rotated' } },
    k_hs => { alg => 'HS256', key => $hs, claims => \%ok, headers => { kid => 'rsa' } },
    (map { ("k_rand$_" => { alg => 'RS256', key => 'rsa.pem', claims => \%ok, headers => { kid => "random-$_" } }) } 1 .. 20),
);

# tamper($token) -> the same token with another payload, the signature kept
sub tamper {
    my ($h, $p, $s) = split /\./, $_[0];
    my $claims = JSON::PP::decode_json(MIME::Base64::decode_base64url($p));
    $claims->{sub} = 'root';
    return join '.', $h, MIME::Base64::encode_base64url(JSON::PP::encode_json($claims)), $s;
}
use MIME::Base64 ();

# pem($stem) -> the key file as a YAML double-quoted string
sub pem {
    open my $fh, '<', "$KEYS/$_[0]" or die;
    local $/;
    my $s = <$fh>;
    $s =~ s/\n/\\n/g;
    return "\"$s\"";
}

sub bearer { "Authorization: Bearer $T{$_[0]}" }
sub echoed { JSON::PP::decode_json($_[0]{body}) }

# conf($plugin_config, $consumers) -> YAML: route /api/* with jwt-auth and whoami on
# the echo upstream
sub conf {
    my ($pc, $consumers) = @_;
    $consumers = $consumers ? "consumers:\n$consumers" : '';
    return <<"YAML";
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:\$MG_ECHO_PORT" }]
$consumers
routes:
  - name: api
    paths: ["/api/*"]
    upstream: echo
    plugins:
      jwt-auth: $pc
      whoami: {}
YAML
}

# the JWKS server: serves <dir>/jwks.json with the Cache-Control in <dir>/cc (if any),
# counting the fetches in <dir>/count; 503 while <dir>/down exists
package JwksServer {
    sub new {
        my ($class, $port, $dir) = @_;
        mkdir $dir;
        my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                        Listen => 64, ReuseAddr => 1, Proto => 'tcp')
            or die "jwks server: cannot listen on $port: $!\n";
        my $pid = fork();
        die "fork: $!\n" unless defined $pid;
        if ($pid == 0) {
            $SIG{TERM} = sub { POSIX::_exit(0) };
            my $n = 0;
            while (my $c = $srv->accept) {
                my ($head, $buf) = ('', '');
                while ($head !~ /\r\n\r\n/) {
                    my $got = sysread($c, $buf, 65536);
                    last unless $got;
                    $head .= $buf;
                }
                $n++;
                open my $cf, '>', "$dir/count.tmp" or die;
                print $cf $n;
                close $cf;
                rename "$dir/count.tmp", "$dir/count";
                if (-e "$dir/down") {
                    syswrite $c, "HTTP/1.1 503 Down\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                    close $c;
                    next;
                }
                my $body = do { local $/; open my $f, '<', "$dir/jwks.json" or die; <$f> };
                my $cc = -e "$dir/cc" ? do { local $/; open my $f, '<', "$dir/cc"; <$f> } : '';
                chomp $cc;
                syswrite $c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    . ($cc ne '' ? "Cache-Control: $cc\r\n" : '')
                    . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
                close $c;
            }
            POSIX::_exit(0);
        }
        close $srv;
        return bless { pid => $pid, dir => $dir }, $class;
    }
    sub count {
        my ($self) = @_;
        open my $f, '<', "$self->{dir}/count" or return 0;
        my $n = <$f>;
        return $n + 0;
    }
    # keys(@stems): serve only these keys of the generated set (kid = stem), plus
    # extra JWKs given as hashes
    sub keys {
        my ($self, @keys) = @_;
        my $all = JSON::PP::decode_json(do { local $/; open my $f, '<', "$main::KEYS/jwks.json" or die; <$f> });
        my %by = map { $_->{kid} => $_ } @{ $all->{keys} };
        my @out = map { ref $_ ? $_ : $by{$_} } @keys;
        open my $f, '>', "$self->{dir}/jwks.tmp" or die;
        print $f JSON::PP::encode_json({ keys => \@out });
        close $f;
        rename "$self->{dir}/jwks.tmp", "$self->{dir}/jwks.json";
    }
    sub DESTROY {
        my ($self) = @_;
        kill 'TERM', $self->{pid};
        waitpid($self->{pid}, 0);
    }
}

package main;

sub jwks_server {
    my ($t, @keys) = @_;
    my $s = JwksServer->new($t->fill('$MG_RAND_PORT_1'), $t->servroot . '/jwks');
    $s->keys(@keys);
    return $s;
}

# a JWK of the rsa2 key under another kid, for rotation
sub rotated_jwk {
    my $all = JSON::PP::decode_json(do { local $/; open my $f, '<', "$KEYS/jwks.json" or die; <$f> });
    my ($k) = grep { $_->{kid} eq 'rsa2' } @{ $all->{keys} };
    return { %$k, kid => 'rotated' };
}

our $WHOAMI = <<'LUA';
>>> whoami.lua
local mg = require "moongate"
return {
    name = "whoami", version = "1.0", priority = 1000,
    schema = { type = "record", fields = {} },
    access = function(conf, ctx)
        mg.request.set_header("X-Consumer", mg.var.consumer or "-")
    end,
}
LUA

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('lua_plugins', $WHOAMI) unless defined $block->lua_plugins;
}) if defined &add_block_preprocessor;

run_tests();

__DATA__

=== TEST 1: HS256 with the route's secret: a good token passes; claims_to_headers replaces the client's copies; the token stays
--- yaml_config eval
main::conf("{ algorithm: HS256, secret: \"$main::SECRET\", claims_to_headers: { sub: X-User, role: X-Role, groups: X-Groups, email: X-Email } }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /api/a", [main::bearer('hs256'), 'X-User: mallory', 'X-Email: forged@example.com']);
    is($r->{status}, 200, 'status 200');
    my $h = main::echoed($r)->{headers};
    is($h->{'x-user'}, 'alice', 'X-User from sub');
    is($h->{'x-role'}, 'admin', 'X-Role');
    is($h->{'x-groups'}, '["a","b"]', 'a list claim as JSON');
    ok(!exists $h->{'x-email'}, 'a claim the token lacks: the client copy is removed anyway');
    is($h->{authorization}, "Bearer $main::T{hs256}", 'the token goes upstream (hide_credentials false)');
    is($h->{'x-consumer'}, '-', 'no consumer');
    $r = $t->request("GET /api/b", ["Authorization: bearer   $main::T{hs256}  "]);
    is($r->{status}, 200, 'scheme in lower case, extra spaces');
    $r = $t->request("GET /api/c", [main::bearer('hs256_noexp')]);
    is($r->{status}, 200, 'no exp: accepted (not in required_claims)');
    $r = $t->request("GET /api/d", [main::bearer('hs256_numsub')]);
    $h = main::echoed($r)->{headers};
    is($h->{'x-user'}, '123456789012345', 'a numeric sub: every digit');
    is($h->{'x-role'}, '0.1', 'a fraction: its shortest form');
    is($h->{'x-groups'}, '[1.5,9007199254740992]', 'numbers inside a list too');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 2: refusals with the route's HS256 secret: each 401 with Bearer error="invalid_token" and its reason; never a 500
--- yaml_config eval
main::conf("{ algorithm: HS256, secret: \"$main::SECRET\" }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my %want = (
        hs256_expired => 'token expired', hs256_nbf => 'token not valid yet',
        hs256_badexp => 'exp must be a number', hs256_wrongsecret => 'invalid signature',
        none => 'unsigned token (alg none) refused', rs256 => 'algorithm not allowed',
        confusion => 'invalid signature', hs384 => 'algorithm not allowed',
    );
    for my $name (sort keys %want) {
        my $r = $t->request("GET /api/x", [main::bearer($name), 'X-Request-Id: jwt-1']);
        is($r->{status}, 401, "$name: 401");
        is_deeply(main::echoed($r), { error => $want{$name}, status => 401, request_id => 'jwt-1' }, "$name: why");
        is($r->{headers}{'www-authenticate'}, 'Bearer realm="moongate", error="invalid_token"', "$name: WWW-Authenticate");
    }
    my $r = $t->request("GET /api/x", ['Authorization: Bearer ' . main::tamper($main::T{hs256})]);
    is($r->{status}, 401, 'tampered payload: 401');
    like($r->{body}, qr/"invalid signature"/, 'tampered: invalid signature');
    my ($h, $p) = split /\./, $main::T{hs256};
    for my $bad ('abc', 'a.b', 'a.b.c.d', "$h.$p", "$h.$p.!!!", "$h.\$\$\$.sig", 'e30.e30.c2ln', 'W10.e30.c2ln',
                 'bm90IGpzb24.e30.c2ln', "$h.W10.c2ln", "$h.bm90IGpzb24.c2ln", 'x' x 6000,
                 MIME::Base64::encode_base64url('{"alg":5}') . ".e30.c2ln",
                 MIME::Base64::encode_base64url('{"alg":"HS256","crit":["exp"]}') . ".e30.c2ln",
                 MIME::Base64::encode_base64url('{"alg":"NONE"}') . ".e30.c2ln") {
        my $r = $t->request("GET /api/x", ["Authorization: Bearer $bad"]);
        my $show = substr($bad, 0, 30);
        is($r->{status}, 401, "'$show': 401");
        like($r->{body}, qr/"error":"(malformed token|unsigned token \(alg none\) refused|unsupported critical header parameters|invalid signature)"/, "'$show': why");
    }
    $t->stop;
}
--- no_error_log
[error]



=== TEST 3: no token: 401 "missing token" with a bare Bearer challenge; another scheme counts as no token
--- yaml_config eval
main::conf("{ secret: \"$main::SECRET\", realm: api }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    for my $h ([], ['Authorization: Basic YTpi'], ['Authorization: Bearer']) {
        my $r = $t->request("GET /api/x", $h);
        is($r->{status}, 401, "@$h: 401");
        is($r->{headers}{'www-authenticate'}, 'Bearer realm="api"', "@$h: a bare challenge");
        like($r->{body}, qr/"error":"missing token"/, "@$h: missing token");
    }
    $t->stop;
}



=== TEST 4: leeway: 60 s lets a token 30 s past exp or 20 s before nbf pass, not one 600 s past
--- yaml_config eval
main::conf("{ secret: \"$main::SECRET\", leeway: 60 }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    is($t->request("GET /api/1", [main::bearer('hs256_expired')])->{status}, 200, '30 s late: status 200');
    is($t->request("GET /api/2", [main::bearer('hs256_nbf_soon')])->{status}, 200, '20 s early: status 200');
    is($t->request("GET /api/3", [main::bearer('hs256_expired_long')])->{status}, 401, '600 s late: 401');
    is($t->request("GET /api/4", [main::bearer('hs256_nbf')])->{status}, 401, '600 s early: 401');
    $t->stop;
}



=== TEST 5: issuers, audiences, required_claims, maximum_expiration
--- yaml_config eval
main::conf("{ secret: \"$main::SECRET\", issuers: [gw-test, other], audiences: [api], required_claims: [exp, sub], maximum_expiration: 7200 }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my %want = (hs256_aud => 200, hs256 => 401, hs256_aud_bad => 401, hs256_iss_bad => 401,
                hs256_noexp => 401, hs256_long => 401);
    for my $n (sort keys %want) {
        is($t->request("GET /api/x", [main::bearer($n)])->{status}, $want{$n}, "$n: status $want{$n}");
    }
    like($t->request("GET /api/x", [main::bearer('hs256')])->{body}, qr/"audience not accepted"/, 'no aud');
    like($t->request("GET /api/x", [main::bearer('hs256_iss_bad')])->{body}, qr/"issuer not accepted"/, 'iss');
    like($t->request("GET /api/x", [main::bearer('hs256_noexp')])->{body}, qr/"token has no exp"/, 'no exp');
    like($t->request("GET /api/x", [main::bearer('hs256_long')])->{body}, qr/"token exp too far in the future"/, 'too long');
    $t->stop;
}



=== TEST 6: RS256 with the route's public key (PEM): good passes; another key's signature, RS384, tampered, and the HS256 confusion token fail
--- yaml_config eval
main::conf("{ algorithm: RS256, public_key: " . main::pem('rsa.pub') . ", claims_to_headers: { sub: X-User } }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /api/a", [main::bearer('rs256'), 'X-User: mallory']);
    is($r->{status}, 200, 'status 200');
    is(main::echoed($r)->{headers}{'x-user'}, 'alice', 'X-User');
    for my $i (1 .. 3) {
        is($t->request("GET /api/again", [main::bearer('rs256')])->{status}, 200, "again $i (cached)");
    }
    my %want = (rs256_other => 'invalid signature', rs384 => 'algorithm not allowed',
                confusion => 'algorithm not allowed', hs256 => 'algorithm not allowed', none => 'unsigned token (alg none) refused');
    for my $n (sort keys %want) {
        my $r = $t->request("GET /api/x", [main::bearer($n)]);
        is($r->{status}, 401, "$n: 401");
        like($r->{body}, qr/"error":"\Q$want{$n}\E"/, "$n: $want{$n}");
    }
    $r = $t->request("GET /api/x", ['Authorization: Bearer ' . main::tamper($main::T{rs256})]);
    like($r->{body}, qr/"invalid signature"/, 'tampered: invalid signature');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 7: consumers by iss, each with its algorithm and key: HS512, RS512, PS256/384/512, ES256/384, EdDSA; an unknown iss; a token signed with the wrong key type
--- yaml_config eval
my $c = '';
for (['carol', 'HS512', undef], ['rs512-user', 'RS512', 'rsa.pub'], ['ps256-user', 'PS256', 'rsa.pub'],
     ['ps384-user', 'PS384', 'rsa.pub'], ['ps512-user', 'PS512', 'rsa.pub'], ['es256-user', 'ES256', 'ec256.pub'],
     ['es384-user', 'ES384', 'ec384.pub'], ['ed-user', 'EdDSA', 'ed.pub']) {
    my ($name, $alg, $pub) = @$_;
    my $key = $pub ? "public_key: " . main::pem($pub) : 'secret: "carol-secret-of-at-least-32-bytes!!"';
    $c .= "  - name: $name\n    credentials:\n      jwt-auth: { key: $name, algorithm: $alg, $key }\n";
}
main::conf('{}', $c)
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my %who = (c_hs512 => 'carol', c_rs512 => 'rs512-user', c_ps256 => 'ps256-user', c_ps384 => 'ps384-user',
               c_ps512 => 'ps512-user', c_es256 => 'es256-user', c_es384 => 'es384-user', c_eddsa => 'ed-user');
    for my $n (sort keys %who) {
        my $r = $t->request("GET /api/x", [main::bearer($n)]);
        is($r->{status}, 200, "$n: status 200");
        is(eval { main::echoed($r)->{headers}{'x-consumer'} }, $who{$n}, "$n: consumer $who{$n}");
    }
    my $r = $t->request("GET /api/x", [main::bearer('c_unknown')]);
    is($r->{status}, 401, 'unknown iss: 401');
    like($r->{body}, qr/"no consumer for this token"/, 'unknown iss: why');
    $r = $t->request("GET /api/x", [main::bearer('c_eddsa_wrongkey')]);
    like($r->{body}, qr/"algorithm not allowed"/, 'an ES256 token for an EdDSA consumer');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 8: the token from a cookie or a query argument; hide_credentials removes it from there
--- yaml_config eval
main::conf("{ secret: \"$main::SECRET\", header_names: [X-Token], cookie_names: [jwt], uri_param_names: [access_token], hide_credentials: true }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /api/q?a=1&access_token=$main::T{hs256}&b=2", []);
    is($r->{status}, 200, 'query: status 200');
    is(main::echoed($r)->{uri}, '/api/q?a=1&b=2', 'the query argument removed');
    $r = $t->request("GET /api/c", ["Cookie: theme=dark; jwt=$main::T{hs256}; lang=en"]);
    is($r->{status}, 200, 'cookie: status 200');
    is(main::echoed($r)->{headers}{cookie}, 'theme=dark; lang=en', 'the cookie removed, the others kept');
    $r = $t->request("GET /api/h", ["X-Token: $main::T{hs256}"]);
    is($r->{status}, 200, 'X-Token without a scheme: status 200');
    ok(!exists main::echoed($r)->{headers}{'x-token'}, 'X-Token removed');
    is($t->request("GET /api/a", [main::bearer('hs256')])->{status}, 401, 'Authorization is not among header_names');
    $t->stop;
}



=== TEST 9: anonymous: no token goes through as guest; a bad token is refused
--- yaml_config eval
main::conf("{ secret: \"$main::SECRET\", anonymous: guest }", "  - name: guest\n")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /api/x", []);
    is($r->{status}, 200, 'status 200');
    is(main::echoed($r)->{headers}{'x-consumer'}, 'guest', 'guest');
    is($t->request("GET /api/x", [main::bearer('hs256_wrongsecret')])->{status}, 401, 'bad token: 401');
    $t->stop;
}



=== TEST 10: JWKS: keys picked by kid and checked against alg and kty; an HS256 token naming an RSA kid is refused
--- yaml_config eval
main::conf("{ jwks_uri: \"http://127.0.0.1:\$MG_RAND_PORT_1/keys\", claims_to_headers: { sub: X-User } }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::jwks_server($t, 'rsa', 'ec256', 'ed');
    for my $n (qw(k_rsa k_ec k_ed k_rsa_as_ps)) {
        my $r = $t->request("GET /api/x", [main::bearer($n)]);
        is($r->{status}, 200, "$n: status 200");
        is(eval { main::echoed($r)->{headers}{'x-user'} }, 'alice', "$n: X-User");
    }
    is($srv->count, 1, 'one fetch');
    my %want = (k_ec_wrongalg => 'no key for this algorithm', k_hs => 'algorithm not allowed',
                k_nokid => 'no key for this algorithm', confusion => 'algorithm not allowed', none => 'unsigned token (alg none) refused');
    for my $n (sort keys %want) {
        my $r = $t->request("GET /api/x", [main::bearer($n)]);
        is($r->{status}, 401, "$n: 401");
        like($r->{body}, qr/"error":"\Q$want{$n}\E"/, "$n: $want{$n}");
    }
    $t->stop;
}
--- no_error_log
[error]



=== TEST 11: JWKS: an unknown kid refetches the set (a rotated key is found), at most once per jwks_refetch_interval whatever the flood of random kids
--- yaml_config eval
main::conf("{ jwks_uri: \"http://127.0.0.1:\$MG_RAND_PORT_1/keys\", jwks_refetch_interval: 2 }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::jwks_server($t, 'rsa');
    is($t->request("GET /api/x", [main::bearer('k_rsa')])->{status}, 200, 'rsa: status 200');
    is($srv->count, 1, 'one fetch');
    for my $i (1 .. 20) {
        my $r = $t->request("GET /api/x", [main::bearer("k_rand$i")]);
        is($r->{status}, 401, "random kid $i: 401");
    }
    like($t->request("GET /api/x", [main::bearer('k_rand1')])->{body}, qr/"unknown key id"/, 'unknown key id');
    ok($srv->count <= 2, 'a flood of unknown kids: at most one refetch within the interval (' . $srv->count . ' fetches)');
    $srv->keys('rsa', main::rotated_jwk());
    Time::HiRes::sleep(2.2);
    my $before = $srv->count;
    is($t->request("GET /api/x", [main::bearer('k_new')])->{status}, 200, 'the rotated key: found by a refetch');
    is($srv->count, $before + 1, 'one more fetch');
    is($t->request("GET /api/x", [main::bearer('k_rsa')])->{status}, 200, 'the old key still there');
    $t->stop;
}



=== TEST 12: JWKS: no key ever fetched (the server answers 503): 503, fail closed, logged
--- yaml_config eval
main::conf("{ jwks_uri: \"http://127.0.0.1:\$MG_RAND_PORT_1/keys\" }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::jwks_server($t, 'rsa');
    open my $f, '>', $t->servroot . '/jwks/down';
    close $f;
    my $r = $t->request("GET /api/x", [main::bearer('k_rsa'), 'X-Request-Id: jw-down']);
    is($r->{status}, 503, 'status 503');
    is_deeply(main::echoed($r), { error => 'signing keys unavailable', status => 503, request_id => 'jw-down' }, 'why');
    like($t->error_log, qr/jwt-auth: fetching http:.*failed: status 503/, 'logged');
    unlink $t->servroot . '/jwks/down';
    Time::HiRes::sleep(0.1);
    $r = $t->request("GET /api/x", [main::bearer('k_rsa')]);
    is($r->{status}, 200, 'the server back: status 200');
    $t->stop;
}



=== TEST 13: JWKS: the server unreachable from the start: 503
--- yaml_config eval
main::conf("{ jwks_uri: \"http://127.0.0.1:\$MG_RAND_PORT_1/keys\", jwks_timeout: 500 }")
--- lua_plugins eval
$main::WHOAMI
--- request eval
["GET /api/x"]
--- more_headers eval
main::bearer('k_rsa')
--- error_code eval
[503]
--- error_log
connection refused



=== TEST 14: JWKS: Cache-Control max-age (clamped to jwks_min_ttl) sets when the set is fetched again, in the background
--- yaml_config eval
main::conf("{ jwks_uri: \"http://127.0.0.1:\$MG_RAND_PORT_1/keys\", jwks_min_ttl: 1 }")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::jwks_server($t, 'rsa');
    open my $f, '>', $t->servroot . '/jwks/cc';
    print $f "public, max-age=1";
    close $f;
    is($t->request("GET /api/x", [main::bearer('k_rsa')])->{status}, 200, 'status 200');
    is($srv->count, 1, 'one fetch');
    Time::HiRes::sleep(1.3);
    is($t->request("GET /api/x", [main::bearer('k_ec')])->{status}, 401, 'ec256 not in the set yet');
    my $end = Time::HiRes::time() + 2;
    Time::HiRes::sleep(0.05) while $srv->count < 2 && Time::HiRes::time() < $end;
    ok($srv->count >= 2, 'refreshed after max-age (' . $srv->count . ' fetches)');
    $t->stop;
}



=== TEST 15: bad config: a public key that is not a key
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      jwt-auth: { algorithm: RS256, public_key: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:49: routes\[0\]\.plugins\.jwt-auth\.public_key: not a usable public key \(PEM or JWK\)}]



=== TEST 16: bad config: a secret shorter than 32 bytes
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      jwt-auth: { algorithm: HS256, secret: "short" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.plugins\.jwt-auth\.secret: secret must be at least 32 bytes}]



=== TEST 17: bad config: an EC key for RS256
--- yaml_config eval
"listen: [\"127.0.0.1:\$MG_PORT\"]\nroutes:\n  - name: r\n    paths: [\"/r\"]\n    plugins:\n      jwt-auth: { algorithm: RS256, public_key: " . main::pem('ec256.pub') . " }\n"
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.plugins\.jwt-auth\.public_key: public_key is a EC P-256 key, which does not fit RS256}]



=== TEST 18: bad config: an unknown algorithm, and none
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      jwt-auth: { algorithm: none, secret: "a-shared-secret-of-32-bytes-or-more!" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:30: routes\[0\]\.plugins\.jwt-auth\.algorithm: expected one of "HS256", .*, got "none"}]



=== TEST 19: bad config: a consumer's public key with HS256
--- yaml_config eval
"listen: [\"127.0.0.1:\$MG_PORT\"]\nconsumers:\n  - name: a\n    credentials:\n      jwt-auth: { key: a, algorithm: HS256, public_key: " . main::pem('rsa.pub') . " }\nroutes:\n  - { name: r, paths: [\"/r\"], plugins: { jwt-auth: {} } }\n"
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: consumers\[0\]\.credentials\.jwt-auth\.public_key: public_key needs an asymmetric algorithm}]



=== TEST 20: bad config: two consumers with the same key
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: a
    credentials:
      jwt-auth: { key: same, secret: "a-shared-secret-of-32-bytes-or-more!" }
  - name: b
    credentials:
      jwt-auth: { key: same, secret: "a-shared-secret-of-32-bytes-or-more!" }
routes:
  - { name: r, paths: ["/r"], plugins: { jwt-auth: {} } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:\d+: consumers\[1\]\.credentials\.jwt-auth\.key: the same key as consumer "a"; it must be unique}]



=== TEST 21: bad config: a claims_to_headers header that is not a token
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      jwt-auth: { claims_to_headers: { sub: "X User" } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.plugins\.jwt-auth\.claims_to_headers\.sub: does not match pattern .*, got "X User"}]



=== TEST 24: bad config: a jwks_uri that is not http(s)
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      jwt-auth: { jwks_uri: "ftp://idp.example.com/jwks.json" }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.plugins\.jwt-auth\.jwks_uri: expected an http:// or https:// URL, got "ftp://idp\.example\.com/jwks\.json"}]



=== TEST 22: JWKS over https: fetched with jwks_ssl_verify false; with verification on, the untrusted certificate fails closed (503)
--- yaml_config eval
main::conf("{ jwks_uri: \"https://127.0.0.1:\$MG_RAND_PORT_1/keys\", jwks_ssl_verify: false }")
. "  - name: verified\n    paths: [\"/verified/*\"]\n    upstream: echo\n    plugins:\n      jwt-auth: { jwks_uri: \"https://127.0.0.1:\$MG_RAND_PORT_1/keys\", jwks_timeout: 1000 }\n"
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $dir = $t->servroot . '/tlsjwks';
    mkdir $dir;
    system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$dir/key.pem",
           '-out', "$dir/cert.pem", '-days', '1', '-subj', '/CN=127.0.0.1', '-addext',
           'subjectAltName=IP:127.0.0.1') == 0 or die "openssl req failed\n";
    system("cp $main::KEYS/jwks.json $dir/keys") == 0 or die;
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $pid = fork();
    if ($pid == 0) {
        chdir $dir;
        exec('/usr/bin/python3', '-c', <<'PY', $port) or POSIX::_exit(1);
import http.server, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("cert.pem", "key.pem")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
    }
    my $up = 0;
    for (1 .. 50) {
        last if $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
        Time::HiRes::sleep(0.1);
    }
    ok($up, 'the https key server is up');
    close $up if $up;
    my $r = $t->request("GET /api/x", [main::bearer('k_ec')]);
    is($r->{status}, 200, 'https, not verified: status 200');
    $r = $t->request("GET /verified/x", [main::bearer('k_ec')]);
    is($r->{status}, 503, 'https, verified against the system CAs: 503');
    like($t->error_log, qr/jwt-auth: fetching https:.*failed/, 'the failure logged');
    kill 'TERM', $pid;
    waitpid($pid, 0);
    $t->stop;
}



=== TEST 23: bad config: a jwks_shared_dict that shared_dicts does not declare
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      jwt-auth: { jwks_uri: "http://127.0.0.1:1/keys", jwks_shared_dict: nosuch }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.plugins\.jwt-auth\.jwks_shared_dict: no shared dict "nosuch" in the configuration}]
