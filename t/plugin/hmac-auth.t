# hmac-auth: HTTP Message Signatures (RFC 9421). The RFC's own example B.2.5 (HMAC
# over date, @authority and content-type, with its shared key and Content-Digest),
# signatures made here with HMAC (Perl) and with Ed25519, ECDSA P-256 and RSA-PSS
# (t/lib/jwt_tool.py: python3-cryptography); tampering, wrong keys and algorithms,
# clock skew, expires, required components, component parameters (@query-param with
# RFC 9421 2.2.8's example query, key, bs), Content-Digest against the body, nonce
# replay through a shared dict, malformed headers (401, never 500), anonymous, and the
# configuration errors.
use Test::Moongate;
use JSON::PP ();
use MIME::Base64 ();
use Digest::SHA ();
use File::Temp ();
use POSIX ();

my $PY = '/usr/bin/python3';
if (system($PY, '-c', 'import jwt, cryptography') != 0) {
    print "1..0 # SKIP $PY cannot import cryptography: install python3-cryptography and python3-jwt (tools/install-deps)\n";
    exit 0;
}
our $KEYS = File::Temp::tempdir(CLEANUP => 1);
system($PY, 't/lib/jwt_tool.py', 'keys', $KEYS) == 0 or die "jwt_tool.py keys failed\n";

our $RFC_KEY = 'uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==';
our $SECRET = 'alice-hmac-secret-of-32-bytes-or-more';
our @RFC_HEADERS = ('Host: example.com', 'Date: Tue, 20 Apr 2021 02:07:55 GMT',
    'Content-Type: application/json',
    'Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
    'Signature-Input: sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
    'Signature: sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:');

sub pem {
    open my $fh, '<', "$KEYS/$_[0]" or die;
    local $/;
    my $s = <$fh>;
    $s =~ s/\n/\\n/g;
    return "\"$s\"";
}

# signed(%o) -> the headers of a request signed as the options say:
#   method, path (with the query), host, body, components (list), params (the text
#   after the inner list), alg (hmac-sha256 | ed25519 | ecdsa-p256-sha256 | rsa-pss-sha512),
#   key (the HMAC secret or the private key file), label, digest (1: add Content-Digest),
#   ids (after the components: [identifier as serialized, its value in the base] pairs,
#   for components with parameters)
sub signed {
    my %o = (method => 'GET', path => '/api/x', host => 'localhost', body => '', label => 'sig1',
             components => ['@method', '@authority', '@path'], alg => 'hmac-sha256', key => $SECRET, @_);
    my @h = ("Host: $o{host}");
    my %val;
    if ($o{digest}) {
        my $d = 'sha-256=:' . MIME::Base64::encode_base64(Digest::SHA::sha256($o{body}), '') . ':';
        push @h, "Content-Digest: $d";
        $val{'content-digest'} = $d;
    }
    push @h, @{ $o{headers} // [] };
    for (@{ $o{headers} // [] }) { my ($k, $v) = split /:\s*/, $_, 2; $val{lc $k} = $v }
    my ($p, $q) = split /\?/, $o{path}, 2;
    $val{'@method'} = $o{method};
    $val{'@authority'} = lc $o{host};
    $val{'@path'} = $p;
    $val{'@query'} = '?' . ($q // '');
    $val{'@target-uri'} = "http://" . lc($o{host}) . $o{path};
    $val{'@request-target'} = $o{path};
    $val{'@scheme'} = 'http';
    my $params = $o{params} // ';created=' . time() . ';keyid="alice"';
    my @ids = @{ $o{ids} // [] };
    my $list = '(' . join(' ', (map { "\"$_\"" } @{ $o{components} }), map { $_->[0] } @ids) . ')' . $params;
    my $base = join("\n", (map { "\"$_\": " . ($val{$_} // '') } @{ $o{components} }),
                    (map { "$_->[0]: $_->[1]" } @ids), "\"\@signature-params\": $list");
    my $sig;
    if ($o{alg} eq 'hmac-sha256') {
        $sig = MIME::Base64::encode_base64(Digest::SHA::hmac_sha256($base, $o{key}), '');
    } else {
        my $in = File::Temp->new;
        print $in $base;
        close $in;
        $sig = `$PY t/lib/jwt_tool.py rawsign $KEYS $o{alg} $o{key} < $in`;
        chomp $sig;
    }
    push @h, "Signature-Input: $o{label}=$list", "Signature: $o{label}=:$sig:";
    return \@h;
}


# cavage(%o) -> the headers of a request signed with the Authorization: hmac scheme:
#   user, alg (hmac-sha256...), secret, names (the signed header list), date (epoch),
#   date_header (Date | X-Date), method, path
sub cavage {
    my %o = (user => 'alice', alg => 'hmac-sha256', secret => $SECRET, names => '@request-target date host',
             date => time(), date_header => 'Date', method => 'GET', path => '/api/x', @_);
    my $date = POSIX::strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime($o{date}));
    my %v = ('date' => $date, 'x-date' => $date, host => 'localhost',
             '@request-target' => lc($o{method}) . " $o{path}");
    my $s = join("\n", map { "$_: " . ($v{$_} // "") } split / /, $o{names});
    my %fn = ('hmac-sha1' => \&Digest::SHA::hmac_sha1, 'hmac-sha256' => \&Digest::SHA::hmac_sha256,
              'hmac-sha512' => \&Digest::SHA::hmac_sha512);
    my $sig = MIME::Base64::encode_base64($fn{$o{alg}}->($s, $o{secret}), '');
    return ['Host: localhost', "$o{date_header}: $date",
            qq{Authorization: hmac username="$o{user}", algorithm="$o{alg}", headers="$o{names}", signature="$sig"}];
}

sub echoed { JSON::PP::decode_json($_[0]{body}) }

# conf($plugin_config) -> YAML with consumers alice (hmac), ed, ec, pss, the RFC's
# test-shared-secret, guest; route /* with hmac-auth and whoami
sub conf {
    my ($pc, $top) = @_;
    $top //= '';
    my ($ed, $ec, $rsa) = (pem('ed.pub'), pem('ec256.pub'), pem('rsa.pub'));
    return <<"YAML";
$top
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:\$MG_ECHO_PORT" }]
consumers:
  - name: alice
    credentials: { hmac-auth: { key_id: alice, secret: "$SECRET" } }
  - name: ed-user
    credentials: { hmac-auth: { key_id: ed, algorithm: ed25519, public_key: $ed } }
  - name: ec-user
    credentials: { hmac-auth: { key_id: ec, algorithm: ecdsa-p256-sha256, public_key: $ec } }
  - name: pss-user
    credentials: { hmac-auth: { key_id: pss, algorithm: rsa-pss-sha512, public_key: $rsa } }
  - name: rfc
    credentials: { hmac-auth: { key_id: test-shared-secret, secret: "$RFC_KEY", secret_is_base64: true } }
  - name: guest
routes:
  - name: api
    paths: ["/*"]
    upstream: echo
    plugins:
      hmac-auth: $pc
      whoami: {}
YAML
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

run_tests();

__DATA__

=== TEST 1: RFC 9421 B.2.5: the RFC's HMAC example verifies with its shared key; its Content-Digest matches the body; a change to a covered header or the body is refused
--- yaml_config eval
main::conf('{ required_components: ["@authority"], clock_skew: 315360000 }')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("POST /foo?param=Value&Pet=dog\n{\"hello\": \"world\"}", [@main::RFC_HEADERS]);
    is($r->{status}, 200, 'the RFC example: status 200');
    is(eval { main::echoed($r)->{headers}{'x-consumer'} }, 'rfc', 'consumer rfc');
    my @h = map { s/02:07:55/02:07:56/r } @main::RFC_HEADERS;
    $r = $t->request("POST /foo?param=Value&Pet=dog\n{\"hello\": \"world\"}", \@h);
    is($r->{status}, 401, 'Date changed: 401');
    like($r->{body}, qr/"invalid signature"/, 'invalid signature');
    is($r->{headers}{'www-authenticate'}, 'Signature realm="moongate"', 'WWW-Authenticate');
    $r = $t->request("POST /foo?param=Value&Pet=dog\n{\"hello\": \"World\"}", [@main::RFC_HEADERS]);
    is($r->{status}, 401, 'body changed: 401');
    like($r->{body}, qr/"Content-Digest does not match the body"/, 'Content-Digest checked');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 2: HMAC signatures made here: @method @authority @path @query, with the body's content-digest
--- yaml_config eval
main::conf('{ required_components: ["@method", "@authority", "@path", "@query"], require_content_digest: true }')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my @c = ('@method', '@authority', '@path', '@query');
    my $r = $t->request("GET /api/x?a=1", main::signed(path => '/api/x?a=1', components => \@c));
    is($r->{status}, 200, 'GET: status 200');
    is(main::echoed($r)->{headers}{'x-consumer'}, 'alice', 'alice');
    ok(exists main::echoed($r)->{headers}{signature}, 'Signature kept (hide_credentials false)');
    $r = $t->request("POST /api/x?a=1\nhello body", main::signed(method => 'POST', path => '/api/x?a=1', body => 'hello body',
        digest => 1, components => [@c, 'content-digest']));
    is($r->{status}, 200, 'POST with content-digest: status 200');
    $r = $t->request("POST /api/x?a=1\nhello body", main::signed(method => 'POST', path => '/api/x?a=1', body => 'hello body',
        components => \@c));
    is($r->{status}, 401, 'a body without a covered content-digest: 401');
    like($r->{body}, qr/"the signature does not cover content-digest"/, 'why');
    $r = $t->request("GET /api/x?a=2", main::signed(path => '/api/x?a=1', components => \@c));
    like($r->{body}, qr/"invalid signature"/, 'another query: invalid signature');
    $r = $t->request("GET /api/x?a=1", main::signed(path => '/api/x?a=1', components => \@c, key => 'another-secret-of-32-bytes-or-more!!'));
    like($r->{body}, qr/"invalid signature"/, 'another secret: invalid signature');
    $r = $t->request("GET /api/x?a=1", main::signed(path => '/api/x?a=1', components => ['@method', '@authority', '@path']));
    like($r->{body}, qr/"the signature does not cover \@query"/, 'a required component not covered');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 3: Ed25519, ECDSA P-256 and RSA-PSS-SHA512 signatures with the consumers' public keys; a key of the wrong consumer fails
--- yaml_config eval
main::conf('{}')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my %k = (ed => ['ed25519', 'ed.pem', 'ed-user'], ec => ['ecdsa-p256-sha256', 'ec256.pem', 'ec-user'],
             pss => ['rsa-pss-sha512', 'rsa.pem', 'pss-user']);
    for my $id (sort keys %k) {
        my ($alg, $key, $who) = @{ $k{$id} };
        my $r = $t->request("GET /api/x", main::signed(alg => $alg, key => $key,
            params => ';created=' . time() . ";keyid=\"$id\";alg=\"$alg\""));
        is($r->{status}, 200, "$alg: status 200");
        is(eval { main::echoed($r)->{headers}{'x-consumer'} }, $who, "$alg: $who");
    }
    my $r = $t->request("GET /api/x", main::signed(alg => 'ed25519', key => 'ed.pem', params => ';created=' . time() . ';keyid="ec"'));
    like($r->{body}, qr/"invalid signature"/, 'an Ed25519 signature for the ECDSA consumer');
    $r = $t->request("GET /api/x", main::signed(params => ';created=' . time() . ';keyid="ed"'));
    like($r->{body}, qr/"invalid signature"/, 'an HMAC signature for the Ed25519 consumer (confusion)');
    $r = $t->request("GET /api/x", main::signed(params => ';created=' . time() . ';keyid="alice";alg="ed25519"'));
    like($r->{body}, qr/"algorithm not allowed"/, 'alg naming another algorithm than the key');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 4: created, expires and the clock skew; unknown keyid; no keyid
--- yaml_config eval
main::conf('{ clock_skew: 60 }')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $now = time;
    my %want = (
        ';created=' . ($now - 120) . ';keyid="alice"' => 'created is outside the allowed clock skew',
        ';created=' . ($now + 120) . ';keyid="alice"' => 'created is outside the allowed clock skew',
        ';keyid="alice"' => 'the signature has no created',
        ';created=' . $now . ';expires=' . ($now - 100) . ';keyid="alice"' => 'signature expired',
        ';created=' . $now . ';keyid="bob"' => 'unknown keyid',
        ';created=' . $now => 'the signature has no keyid',
        ';created=' . $now . ';keyid=alice' => 'the signature has no keyid',
    );
    for my $p (sort keys %want) {
        my $r = $t->request("GET /api/x", main::signed(params => $p));
        is($r->{status}, 401, "$p: 401");
        like($r->{body}, qr/"error":"\Q$want{$p}\E"/, "$p: $want{$p}");
    }
    my $r = $t->request("GET /api/x", main::signed(params => ';created=' . ($now - 30) . ';expires=' . ($now + 60) . ';keyid="alice"'));
    is($r->{status}, 200, 'within the skew, not expired: status 200');
    $t->stop;
}



=== TEST 5: a nonce is accepted once when nonce_dict is set; require_nonce
--- yaml_config eval
main::conf('{ nonce_dict: nonces, require_nonce: true }', "shared_dicts:\n  nonces: 1m\n")
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $h = main::signed(params => ';created=' . time() . ';keyid="alice";nonce="n-1"');
    is($t->request("GET /api/x", $h)->{status}, 200, 'first: status 200');
    my $r = $t->request("GET /api/x", $h);
    is($r->{status}, 401, 'replayed: 401');
    like($r->{body}, qr/"nonce already used"/, 'why');
    $r = $t->request("GET /api/x", main::signed());
    like($r->{body}, qr/"the signature has no nonce"/, 'no nonce');
    $t->stop;
}



=== TEST 6: unsigned: 401 "missing signature"; anonymous lets it through; malformed headers are 401, never 500
--- yaml_config eval
main::conf('{ anonymous: guest }')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /api/x", []);
    is($r->{status}, 200, 'anonymous: status 200');
    is(main::echoed($r)->{headers}{'x-consumer'}, 'guest', 'guest');
    my $good = main::signed();
    my ($si) = grep { /^Signature-Input/ } @$good;
    my ($sg) = grep { /^Signature:/ } @$good;
    my @bad = (
        [$si], [$sg],
        ['Signature-Input: sig1=("@method"', $sg], ['Signature-Input: sig1=(@method)', $sg],
        ['Signature-Input: sig1="x"', $sg], ['Signature-Input: sig1=("@method");created=abc;keyid="alice"', $sg],
        ['Signature-Input: sig1=("@method");created=1.5;keyid="alice"', $sg],
        ['Signature-Input: sig1=("@method" "@status");created=' . time() . ';keyid="alice"', $sg],
        ['Signature-Input: sig1=("@method" "@method" "@authority" "@path");created=' . time() . ';keyid="alice"', $sg],
        ['Signature-Input: sig1=("@method" "x-absent" "@authority" "@path");created=' . time() . ';keyid="alice"', $sg],
        ['Signature-Input: sig1=("@query-param";name="a" "@authority" "@path");created=' . time() . ';keyid="alice"', $sg],
        [$si, 'Signature: sig1=:!!!:'], [$si, 'Signature: sig1=::'], [$si, 'Signature: sig2=:AAAA:'],
        [$si, 'Signature: sig1="AAAA"'], [$si, 'Signature: sig1=:AAAA:,'], ["Signature-Input: ;;=,", $sg],
        ['Signature-Input: ' . ('a' x 5000), $sg], ['Signature-Input: sig1=("\\q")', $sg],
    );
    for my $h (@bad) {
        my $r = $t->request("GET /api/x", ['Host: localhost', @$h]);
        my $show = substr(CORE::join(' | ', @$h), 0, 60);
        is($r->{status}, 401, "$show: 401");
        like($r->{headers}{'www-authenticate'} // '', qr/^Signature realm=/, "$show: challenge");
    }
    $t->stop;
}
--- no_error_log
[error]



=== TEST 7: bad config: an HMAC secret shorter than 32 bytes
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: a
    credentials:
      hmac-auth: { key_id: a, secret: "short" }
routes:
  - { name: r, paths: ["/r"], plugins: { hmac-auth: {} } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: consumers\[0\]\.credentials\.hmac-auth: secret must be at least 32 bytes}]



=== TEST 8: bad config: a required component that is neither a header name nor a known derived one
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: r
    paths: ["/r"]
    plugins:
      hmac-auth: { required_components: ["@method", "@status"] }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:\d+: routes\[0\]\.plugins\.hmac-auth\.required_components\[1\]: expected a header name in lower case}]



=== TEST 9: bad config: an Ed25519 consumer given a secret, an unknown algorithm
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: a
    credentials:
      hmac-auth: { key_id: a, algorithm: ed25519, secret: "a-secret-that-is-long-enough-32-bytes" }
routes:
  - { name: r, paths: ["/r"], plugins: { hmac-auth: {} } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: consumers\[0\]\.credentials\.hmac-auth: ed25519 needs a public_key \(and no secret\)}]



=== TEST 10: bad config: an unknown algorithm
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
consumers:
  - name: a
    credentials:
      hmac-auth: { key_id: a, algorithm: hmac-md5, secret: "a-secret-that-is-long-enough-32-bytes" }
routes:
  - { name: r, paths: ["/r"], plugins: { hmac-auth: {} } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:\d+: consumers\[0\]\.credentials\.hmac-auth\.algorithm: expected one of "hmac-sha256", .*got "hmac-md5"}]



=== TEST 11: the Authorization: hmac scheme: hmac-sha256 and hmac-sha512 over @request-target, date and host; X-Date
--- yaml_config eval
main::conf('{ hide_credentials: true }')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request("GET /api/x", main::cavage());
    is($r->{status}, 200, 'hmac-sha256: status 200');
    is(main::echoed($r)->{headers}{'x-consumer'}, 'alice', 'alice');
    ok(!exists main::echoed($r)->{headers}{authorization}, 'Authorization hidden');
    is($t->request("GET /api/x", main::cavage(alg => 'hmac-sha512'))->{status}, 200, 'hmac-sha512: status 200');
    is($t->request("GET /api/x", main::cavage(names => '@request-target x-date', date_header => 'X-Date'))->{status},
       200, 'X-Date: status 200');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 12: the Authorization: hmac scheme refused: stale Date, Date not signed, hmac-sha1 not allowed, wrong secret, another path, an Ed25519 consumer, malformed
--- yaml_config eval
main::conf('{}')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    my @cases = (
        [main::cavage(date => time() - 1000), 'Date is outside the allowed clock skew'],
        [main::cavage(names => '@request-target host'), 'the signature does not cover date'],
        [main::cavage(alg => 'hmac-sha1'), 'algorithm not allowed'],
        [main::cavage(secret => 'another-secret-of-32-bytes-or-more!!'), 'invalid signature'],
        [main::cavage(path => '/api/y'), 'invalid signature'],
        [main::cavage(user => 'ed'), 'algorithm not allowed'],
        [main::cavage(user => 'nobody'), 'unknown keyid'],
        [main::cavage(names => '@request-target date x-absent'), 'covered header x-absent is absent'],
        [['Date: yesterday', 'Authorization: hmac username="alice", algorithm="hmac-sha256", headers="date", signature="AAAA"'], 'malformed Date'],
        [['Authorization: hmac username="alice"'], 'malformed Authorization header'],
        [['Authorization: hmac garbage'], 'malformed Authorization header'],
        [['Authorization: hmac username="a", username="b", algorithm="hmac-sha256", signature="AAAA"'], 'malformed Authorization header'],
        [['Authorization: hmac username="alice", algorithm="hmac-sha256", signature="!!!"'], 'malformed Authorization header'],
    );
    for my $c (@cases) {
        my ($h, $why) = @$c;
        my $r = $t->request("GET /api/x", $h);
        is($r->{status}, 401, "$why: 401");
        like($r->{body}, qr/"error":"\Q$why\E"/, "$why: why");
    }
    $t->stop;
}
--- no_error_log
[error]



=== TEST 13: component parameters: "@query-param";name= (RFC 9421 2.2.8's example query), a dictionary member by key, field lines as byte sequences by bs
--- yaml_config eval
main::conf('{}')
--- lua_plugins eval
$main::WHOAMI
--- test_code eval
sub {
    my $t = shift;
    # the query of RFC 9421 2.2.8, and the values its example signs: names and values
    # decoded, then encoded again (%20 for a space, "+" included)
    my $path = '/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something';
    my @qp = (['"@query-param";name="var"', 'this%20is%20a%20big%0Amultiline%20value'],
              ['"@query-param";name="bar"', 'with%20plus%20whitespace'],
              ['"@query-param";name="fa%C3%A7ade%22%3A%20"', 'something']);
    my $r = $t->request("GET $path", main::signed(path => $path, ids => \@qp));
    is($r->{status}, 200, '@query-param: 200');
    is(main::echoed($r)->{headers}{'x-consumer'}, 'alice', 'alice');
    (my $other = $path) =~ s/with\+plus/with+minus/;
    $r = $t->request("GET $other", main::signed(path => $path, ids => \@qp));
    like($r->{body}, qr/"invalid signature"/, 'a covered query parameter changed: invalid signature');
    $r = $t->request("GET /p?a=1", main::signed(path => '/p?a=1', ids => [['"@query-param";name="b"', '']]));
    like($r->{body}, qr/"covered query parameter b is absent"/, 'an absent query parameter');
    $r = $t->request("GET /p?a=1&a=2", main::signed(path => '/p?a=1&a=2', ids => [['"@query-param";name="a"', '1']]));
    like($r->{body}, qr/"query parameter a is sent more than once"/, 'a repeated query parameter is refused (RFC 9421 2.2.8)');
    $r = $t->request("GET /p?a=&b", main::signed(path => '/p?a=&b', ids => [['"@query-param";name="a"', ''], ['"@query-param";name="b"', '']]));
    is($r->{status}, 200, 'empty values, with and without "="');

    # a dictionary member, serialized again (spaces around it dropped)
    my @dict = ('X-Dict: a=1,   b=(x "y z");q=2', 'X-Dict: c=?0;f=?1, d=:AQI=:');
    for my $m (['b', '(x "y z");q=2'], ['a', '1'], ['c', '?0;f'], ['d', ':AQI=:']) {
        $r = $t->request("GET /api/x", main::signed(headers => \@dict, ids => [["\"x-dict\";key=\"$m->[0]\"", $m->[1]]]));
        is($r->{status}, 200, "key=$m->[0]: 200");
    }
    $r = $t->request("GET /api/x", main::signed(headers => \@dict, ids => [['"x-dict";key="zz"', '']]));
    like($r->{body}, qr/"covered dictionary member zz is absent"/, 'an absent member');
    $r = $t->request("GET /api/x", main::signed(headers => ['X-Dict: not a dictionary'], ids => [['"x-dict";key="a"', '']]));
    like($r->{body}, qr/"covered header x-dict is not a dictionary"/, 'a field that is not a dictionary');

    # bs: every field line, trimmed, as a byte sequence
    my @bin = ('X-Bin: one ', 'X-Bin: two, three');
    $r = $t->request("GET /api/x", main::signed(headers => \@bin, ids => [['"x-bin";bs', ':b25l:, :dHdvLCB0aHJlZQ==:']]));
    is($r->{status}, 200, 'bs: 200');
    $r = $t->request("GET /api/x", main::signed(headers => \@bin, ids => [['"x-bin";bs', 'one, two, three']]));
    like($r->{body}, qr/"invalid signature"/, 'bs signed as plain lines: invalid signature');

    # parameters this verifier does not understand, or that do not go together
    for my $c (['"x-dict";sf', 'unsupported component parameter sf'],
               ['"@method";req', 'unsupported component parameter req'],
               ['"x-bin";bs;key="a"', 'bs goes alone'],
               ['"@query-param"', '@query-param needs a name, alone'],
               ['"@query-param";name=1', '@query-param needs a name, alone'],
               ['"@path";name="a"', 'unsupported component parameters on @path']) {
        $r = $t->request("GET /api/x", main::signed(headers => [@dict, @bin], ids => [[$c->[0], '']]));
        is($r->{status}, 401, "$c->[0]: 401");
        like($r->{body}, qr/"\Q$c->[1]\E"/, "$c->[0]: why");
    }
    $r = $t->request("GET /p?a=1", main::signed(path => '/p?a=1',
        ids => [['"@query-param";name="a"', '1'], ['"@query-param";name="a"', '1']]));
    like($r->{body}, qr/"component \\"\@query-param\\";name=\\"a\\" covered twice"/, 'the same identifier twice');
    $t->stop;
}
--- no_error_log
[error]



=== TEST 14: bad config: a nonce_dict that shared_dicts does not declare (replays would not be caught)
--- yaml_config
listen: ["127.0.0.1:$MG_PORT"]
routes:
  - name: api
    paths: ["/api/*"]
    plugins:
      hmac-auth: { nonce_dict: nosuch }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:32: routes\[0\]\.plugins\.hmac-auth\.nonce_dict: no shared dict "nosuch" in the configuration \(declare it under shared_dicts:\)}]
