# What a request over TLS knows: mg.tls in plugins, the client certificate's headers
# upstream (tls.client_cert_headers), the bundled tls-auth plugin, the JSON access
# log's TLS fields, /status, and tls.watch_certificates.
use Test::Moongate;
use Test::Moongate::TLS;
use JSON::PP ();
use IO::Socket::INET ();

BEGIN {
    my $why = Test::Moongate::TLS::have_openssl() || Test::Moongate::TLS::have_curl();
    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

sub main::tls_port { $_[0]->fill('$MG_RAND_PORT_1') }
sub main::curl {
    my ($t, %o) = @_;
    Test::Moongate::TLS::curl_https(port => main::tls_port($t), host => 'api.example.com',
                                    cacert => $t->servroot . '/certs/root.crt', %o);
}
sub main::alice {
    my $t = shift;
    my $d = $t->servroot . '/certs';
    return (args => ['--cert', "$d/alice.crt", '--key', "$d/alice.key"]);
}
sub main::fingerprint {
    my ($t, $name) = @_;
    my $out = `openssl x509 -in @{[$t->servroot]}/certs/$name.crt -noout -fingerprint -sha256`;
    $out =~ s/^.*=//; $out =~ s/[:\s]//g;
    return lc $out;
}

run_tests();

__DATA__

=== TEST 1: mg.tls over TLS, nil over plain HTTP; a client certificate with optional
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
alice client issuer=root cn=alice
other ca
mallory client issuer=other cn=mallory
--- lua_plugins
>>> tlsinfo.lua
local mg = require "moongate"
return {
    name = "tlsinfo", version = "1.0.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function()
        local v = {}
        for _, k in ipairs({ "version", "cipher", "sni", "alpn", "client_verify",
                             "client_subject", "client_issuer", "client_fingerprint",
                             "client_san", "client_not_after", "client_serial" }) do
            v[k] = mg.tls[k]() or mg.json.null
        end
        v.resumed = mg.tls.resumed()
        if v.resumed == nil then v.resumed = mg.json.null end
        v.pem = mg.tls.client_cert() ~= nil and #mg.tls.client_cert() > 100
        v.scheme = mg.request.get_scheme()
        return 200, v
    end,
}
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key, client_ca: certs/root.crt, client_verify: optional }
routes:
  - { paths: ["/info"], plugins: { tlsinfo: {} } }
--- test_code eval
sub {
    my $t = shift;
    my $j = sub { my $r = shift; eval { JSON::PP::decode_json($r->{body}) } || {} };
    my $r = main::curl($t, path => '/info');
    is($r->{status}, 200, 'no certificate: still served (optional)');
    my $v = $j->($r);
    like($v->{version} // '', qr/^TLSv1\.[23]$/, 'version');
    like($v->{cipher} // '', qr/^TLS_|^ECDHE/, 'cipher');
    is($v->{sni}, 'api.example.com', 'sni');
    is($v->{alpn}, 'http/1.1', 'alpn');
    is($v->{client_verify}, 'NONE', 'client_verify without a certificate');
    is($v->{client_subject}, undef, 'no subject');
    ok(defined $v->{resumed} && !$v->{resumed}, 'a full handshake is not resumed');
    is($v->{scheme}, 'https', 'scheme');

    $r = main::curl($t, path => '/info', main::alice($t));
    $v = $j->($r);
    is($v->{client_verify}, 'SUCCESS', 'a good client certificate verifies');
    is($v->{client_subject}, 'CN=alice', 'subject, RFC 2253');
    like($v->{client_issuer} // '', qr/CN=root/, 'issuer');
    is($v->{client_fingerprint}, main::fingerprint($t, 'alice'), 'SHA-256 fingerprint');
    like($v->{client_not_after} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'not_after');
    like($v->{client_serial} // '', qr/^[0-9A-F]+$/, 'serial in hex');
    ok($v->{pem}, 'the certificate in PEM');

    my $d = $t->servroot . '/certs';
    $r = main::curl($t, path => '/info', args => ['--cert', "$d/mallory.crt", '--key', "$d/mallory.key"]);
    $v = $j->($r);
    like($v->{client_verify} // '', qr/^FAILED:/, 'a certificate from another CA: FAILED, for the plugin to judge');

    my $p = $t->request("GET /info");
    $v = eval { JSON::PP::decode_json($p->{body}) } || {};
    is($v->{version}, undef, 'plain HTTP: mg.tls.version() is nil');
    is($v->{client_verify}, undef, 'plain HTTP: client_verify is nil');
    is($v->{scheme}, 'http', 'plain HTTP: scheme');
}



=== TEST 2: tls-auth maps a verified certificate to a consumer; missing, bad, unknown: 401
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
alice client issuer=root cn=alice
bob   client issuer=root cn=bob
other ca
mallory client issuer=other cn=alice
--- lua_plugins
>>> who.lua
local mg = require "moongate"
return {
    name = "who", version = "1.0.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function() return 200, "consumer=" .. tostring(mg.var.consumer) .. "\n" end,
}
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key, client_ca: certs/root.crt, client_verify: optional }
consumers:
  - name: alice-by-subject
    credentials: { tls-auth: { subject: "CN=alice" } }
  - name: guest
routes:
  - { paths: ["/secure"], plugins: { tls-auth: {}, who: {} } }
  - { paths: ["/open"], plugins: { tls-auth: { anonymous: guest }, who: {} } }
--- test_code eval
sub {
    my $t = shift;
    my $d = $t->servroot . '/certs';
    my $r = main::curl($t, path => '/secure', main::alice($t));
    is($r->{status}, 200, 'alice: known by subject');
    is($r->{body}, "consumer=alice-by-subject\n", 'the consumer is set');
    $r = main::curl($t, path => '/secure');
    is($r->{status}, 401, 'no certificate: 401');
    like($r->{body}, qr/missing client certificate/, 'says why');
    $r = main::curl($t, path => '/secure', args => ['--cert', "$d/bob.crt", '--key', "$d/bob.key"]);
    is($r->{status}, 401, 'bob: verified but unknown: 401');
    like($r->{body}, qr/unknown client certificate/, 'says why');
    $r = main::curl($t, path => '/secure', args => ['--cert', "$d/mallory.crt", '--key', "$d/mallory.key"]);
    is($r->{status}, 401, 'CN=alice from another CA: not verified, 401');
    like($r->{body}, qr/not verified/, 'says why');
    $r = main::curl($t, path => '/open');
    is($r->{body}, "consumer=guest\n", 'anonymous without a certificate');
    my $p = $t->request("GET /secure");
    is($p->{status}, 401, 'plain HTTP: 401');
}



=== TEST 3: tls-auth by fingerprint
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
alice client issuer=root cn=alice
--- lua_plugins
>>> who.lua
local mg = require "moongate"
return {
    name = "who", version = "1.0.0", priority = 10,
    schema = { type = "record", fields = {} },
    access = function() return 200, "consumer=" .. tostring(mg.var.consumer) .. "\n" end,
}
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key, client_ca: certs/root.crt, client_verify: required }
routes:
  - { paths: ["/secure"], plugins: { tls-auth: {}, who: {} } }
--- test_code eval
sub {
    my $t = shift;
    my $fp = main::fingerprint($t, 'alice');
    my $yaml = do { local (@ARGV, $/) = ($t->conf_file); <> };
    $yaml .= "consumers:\n  - name: alice-fp\n    credentials: { tls-auth: { fingerprint: \"$fp\" } }\n";
    is($t->reload($yaml), "", "reload with the fingerprint credential");
    my $r = main::curl($t, path => '/secure', main::alice($t));
    is($r->{status}, 200, 'known by fingerprint');
    is($r->{body}, "consumer=alice-fp\n", 'the consumer');
}



=== TEST 4: client_cert_headers: the certificate goes upstream, a client's own headers never
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
alice client issuer=root cn=alice
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  client_cert_headers: true
  certificates:
    - { cert: certs/api.pem, key: certs/api.key, client_ca: certs/root.crt, client_verify: optional }
upstreams:
  - { name: echo, nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }] }
routes:
  - { paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $forged = ['X-Client-Cert-Subject: CN=admin', 'X-Client-Cert-Verify: SUCCESS'];
    my $r = main::curl($t, path => '/x', main::alice($t), headers => $forged);
    my $h = (eval { JSON::PP::decode_json($r->{body}) } || {})->{headers} || {};
    is($h->{'x-client-cert-verify'}, 'SUCCESS', 'verify result upstream');
    is($h->{'x-client-cert-subject'}, 'CN=alice', 'the real subject, not the forged one');
    is($h->{'x-client-cert-fingerprint'}, main::fingerprint($t, 'alice'), 'fingerprint upstream');
    is($h->{'x-forwarded-proto'}, 'https', 'X-Forwarded-Proto: https');
    $r = main::curl($t, path => '/x', headers => $forged);
    $h = (eval { JSON::PP::decode_json($r->{body}) } || {})->{headers} || {};
    is($h->{'x-client-cert-verify'}, 'NONE', 'no certificate: NONE');
    is($h->{'x-client-cert-subject'}, undef, 'no certificate: the forged subject is removed');
    my $p = $t->request("GET /x", $forged);
    $h = (eval { JSON::PP::decode_json($p->{body}) } || {})->{headers} || {};
    is($h->{'x-client-cert-subject'}, undef, 'plain HTTP: forged headers removed too');
    is($h->{'x-forwarded-proto'}, 'http', 'plain HTTP: X-Forwarded-Proto: http');
}



=== TEST 5: the JSON access log carries the scheme and the TLS fields; /status counts and lists
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
access_log: { path: logs/access.log, format: json, buffer: 0 }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    main::curl($t, path => '/logged-tls');
    $t->request("GET /logged-plain");
    Test::Moongate::TLS::s_client(port => main::tls_port($t), request => "GET / HTTP/1.0\r\n\r\n",
                                  alpn => 'h2');
    my $ctl = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => main::tls_port($t));
    print $ctl "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    my $ans = ''; $ctl->read($ans, 200) for 1 .. 1; close $ctl;
    select(undef, undef, undef, 0.3);
    my ($tls) = grep { /logged-tls/ } split /\n/, $t->access_log;
    my ($plain) = grep { /logged-plain/ } split /\n/, $t->access_log;
    my $a = eval { JSON::PP::decode_json($tls // '') } || {};
    my $b = eval { JSON::PP::decode_json($plain // '') } || {};
    is($a->{scheme}, 'https', 'https in the log');
    like($a->{tls_version} // '', qr/^TLSv1\.[23]$/, 'tls_version');
    ok(length($a->{tls_cipher} // ''), 'tls_cipher');
    is($a->{tls_sni}, 'api.example.com', 'tls_sni');
    is($b->{scheme}, 'http', 'http in the log');
    ok(!exists $b->{tls_version}, 'no TLS fields over plain HTTP');
    my $s = $t->status->{tls} || {};
    cmp_ok($s->{handshakes}{full} // 0, '>=', 1, '/status: full handshakes');
    cmp_ok($s->{handshakes}{failed}{alpn} // 0, '>=', 1, '/status: an ALPN failure');
    cmp_ok($s->{handshakes}{failed}{plain_http} // 0, '>=', 1, '/status: plain HTTP on the TLS port');
    is($s->{certificates}[0]{names}, 'api.example.com', '/status: the names');
    like($s->{certificates}[0]{not_after} // '', qr/^\d{4}-/, '/status: expiry');
    cmp_ok($s->{certificates}[0]{expires_in_days} // 0, '>', 1, '/status: days left');
    like($s->{certificates}[0]{key} // '', qr/^EC-/, '/status: key type');
}



=== TEST 6: watch_certificates: a renewed pair is served by the same workers; a half-written one is refused
--- tls_certs
root  ca
api   server issuer=root names=api.example.com cn=first
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  watch_certificates: true
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $pids = sub { CORE::join ',', sort map { $_->{pid} } @{ $t->status->{workers} } };
    my $before = $pids->();
    my $gen = $t->generation;
    my $cn = sub {
        Test::Moongate::TLS::s_client(port => main::tls_port($t), servername => 'api.example.com')->{cn} // '';
    };
    is($cn->(), 'first', 'the first certificate');
    Test::Moongate::TLS::make_certs($t->servroot, "api2 server issuer=root names=api.example.com cn=second");
    my $d = $t->servroot . '/certs';
    # the key first: the pair does not match until the certificate follows
    system("cp $d/api2.key $d/api.key.new && mv $d/api.key.new $d/api.key");
    select(undef, undef, undef, 1.0);
    is($cn->(), 'first', 'a key without its certificate: the old pair keeps serving');
    like($t->error_log, qr/does not match the certificate/, 'the refused reload says why');
    system("cp $d/api2.pem $d/api.pem.new && mv $d/api.pem.new $d/api.pem");
    my $ok;
    for (1 .. 50) { last if ($ok = $cn->() eq 'second'); select(undef, undef, undef, 0.1) }
    ok($ok, 'the renewed certificate is served');
    is($pids->(), $before, 'by the same workers');
    cmp_ok($t->generation, '>', $gen, 'a new generation');
    like($t->error_log, qr/certificates changed on disk, reloading/, 'logged');
}



=== TEST 7: a session made under one name never opens a name that requires a client certificate; SNI a + Host b is 421
--- tls_certs
root  ca
api   server issuer=root names=api.example.com,www.example.com
mtls  server issuer=root names=mtls.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
    - { cert: certs/mtls.pem, key: certs/mtls.key, client_ca: certs/root.crt, client_verify: required }
routes:
  - { paths: ["/*"], return: { status: 200, body: "served\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $sess = $t->servroot . '/sess';
    for my $v ('1.3', '1.2') {
        unlink $sess;
        my $sc = sub { Test::Moongate::TLS::s_client(port => main::tls_port($t), tls => $v, @_) };
        my $r = $sc->(servername => 'api.example.com', args => ['-sess_out', $sess]);
        is($r->{http_status}, '200', "TLS $v: a session under api.example.com");
        $r = $sc->(servername => 'www.example.com', args => ['-sess_in', $sess]);
        like($r->{out}, qr/^Reused,/m, "TLS $v: it resumes under another name of the same entry");
        $r = $sc->(servername => 'mtls.example.com', args => ['-sess_in', $sess]);
        unlike($r->{out}, qr/^Reused,/m, "TLS $v: not under a name that requires a client certificate");
        isnt($r->{http_status} // '', '200', "TLS $v: and without a certificate nothing is served");
        $r = $sc->(servername => 'api.example.com',
                   request => "GET / HTTP/1.1\r\nHost: mtls.example.com\r\nConnection: close\r\n\r\n");
        is($r->{http_status}, '421', "TLS $v: SNI api.example.com with Host mtls.example.com: 421");
        $r = $sc->(servername => 'api.example.com',
                   request => "GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n");
        is($r->{http_status}, '200', "TLS $v: Host of the same entry: served");
    }
}
