# TLS termination through real sockets: certificate choice by SNI (exact names, then
# one-label wildcards, the first certificate as the default, strict_sni), RSA beside
# ECDSA for the same names, ALPN, protocol versions, renegotiation, the scheme upstream.
use Test::Moongate;
use Test::Moongate::TLS;
use IPC::Open3 ();
use JSON::PP ();

BEGIN {
    my $why = Test::Moongate::TLS::have_openssl() || Test::Moongate::TLS::have_curl();
    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

sub main::tls_port { $_[0]->fill('$MG_RAND_PORT_1') }
sub main::sc { my $t = shift; Test::Moongate::TLS::s_client(port => main::tls_port($t), @_) }
sub main::show { my $r = shift; "$r->{cmd}\n$r->{out}" }

$SIG{PIPE} = "IGNORE";
run_tests();

__DATA__

=== TEST 1: TLS 1.3 and 1.2 handshakes serve the certificate and the route
--- tls_certs
root  ca
inter ca     issuer=root
api   server issuer=inter names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/hello"], return: { status: 200, body: "hello tls\n" } }
--- test_code eval
sub {
    my $t = shift;
    for my $v ('1.3', '1.2') {
        my $r = main::sc($t, servername => 'api.example.com', tls => $v, path => '/hello',
                         cafile => $t->servroot . '/certs/root.crt');
        is($r->{protocol}, "TLSv$v", "TLS $v negotiated") or diag(main::show($r));
        is($r->{cn}, 'api.example.com', "TLS $v: the certificate");
        is($r->{verify}, '0', "TLS $v: the chain (leaf + intermediate) verifies against the root");
        is($r->{http_status}, '200', "TLS $v: the route answers");
        like($r->{body} // '', qr/^hello tls$/m, "TLS $v: the body");
    }
}



=== TEST 2: SNI: exact names before wildcards, one label only, the first certificate by default
--- tls_certs
root  ca
dflt  server issuer=root names=default.test
wild  server issuer=root names=*.example.com
exact server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/dflt.pem, key: certs/dflt.key }
    - { cert: certs/wild.pem, key: certs/wild.key }
    - { cert: certs/exact.pem, key: certs/exact.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    # the wildcard entry comes first in the file: the exact name must still win
    my @cases = (['api.example.com', 'api.example.com', 'exact name'],
                 ['API.Example.COM', 'api.example.com', 'names are case-insensitive'],
                 ['www.example.com', '*.example.com', 'one-label wildcard'],
                 ['a.b.example.com', 'default.test', 'a wildcard covers one label only'],
                 ['example.com', 'default.test', 'a wildcard does not cover its parent'],
                 ['unknown.test', 'default.test', 'an unknown name gets the first certificate'],
                 [undef, 'default.test', 'no SNI gets the first certificate']);
    for my $c (@cases) {
        my $r = main::sc($t, servername => $c->[0], request => undef);
        is($r->{cn}, $c->[1], "$c->[2] (" . ($c->[0] // 'no SNI') . ")") or diag(main::show($r));
    }
}



=== TEST 3: snis in the config override the certificate's SANs
--- tls_certs
root  ca
one   server issuer=root names=one.test
two   server issuer=root names=two.test
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/one.pem, key: certs/one.key }
    - { cert: certs/two.pem, key: certs/two.key, snis: ["api.example.com", "*.example.com"] }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    is(main::sc($t, servername => 'two.test', request => undef)->{cn}, 'one.test',
       'a SAN not listed in snis is not served by that entry');
    is(main::sc($t, servername => 'api.example.com', request => undef)->{cn}, 'two.test',
       'an exact name from snis');
    is(main::sc($t, servername => 'x.example.com', request => undef)->{cn}, 'two.test',
       'a wildcard from snis');
}



=== TEST 4: strict_sni refuses unknown names and clients without SNI with unrecognized_name
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  strict_sni: true
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $r = main::sc($t, servername => 'api.example.com');
    is($r->{http_status}, '200', 'a configured name is served') or diag(main::show($r));
    for my $sni ('other.test', undef) {
        for my $v ('1.3', '1.2') {
            $r = main::sc($t, servername => $sni, tls => $v);
            ok(!$r->{handshake_ok}, "TLS $v, " . ($sni // 'no SNI') . ": no handshake")
                or diag(main::show($r));
            is($r->{alert}, 'unrecognized name', "TLS $v, " . ($sni // 'no SNI') . ": the alert")
                or diag(main::show($r));
        }
    }
    my $st = $t->status;
    is($st->{tls}{handshakes}{failed}{sni}, 4, '/status counts 4 failures as sni')
        or diag(explain($st->{tls}));
}
--- error_log eval
[qr/TLS handshake failed: [^\n]*, client: 127\.0\.0\.1/]



=== TEST 5: RSA and ECDSA certificates for the same names: each client gets the one it supports
--- tls_certs
root    ca
api-ec  server issuer=root names=api.example.com key=ec
api-rsa server issuer=root names=api.example.com key=rsa
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api-ec.pem, key: certs/api-ec.key }
    - { cert: certs/api-rsa.pem, key: certs/api-rsa.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my @cases = ([{tls => '1.3', sigalgs => 'RSA-PSS+SHA256'}, 2048, 'TLS 1.3, RSA-PSS only'],
                 [{tls => '1.3', sigalgs => 'ECDSA+SHA256'}, 256, 'TLS 1.3, ECDSA only'],
                 [{tls => '1.2', cipher => 'ECDHE-RSA-AES128-GCM-SHA256'}, 2048,
                  'TLS 1.2, an RSA suite'],
                 [{tls => '1.2', cipher => 'ECDHE-ECDSA-AES128-GCM-SHA256'}, 256,
                  'TLS 1.2, an ECDSA suite']);
    for my $c (@cases) {
        my $r = main::sc($t, servername => 'api.example.com', %{ $c->[0] });
        is($r->{key_bits}, $c->[1], "$c->[2]: the server key") or diag(main::show($r));
        is($r->{http_status}, '200', "$c->[2]: served");
    }
    my $r = main::sc($t, servername => 'api.example.com', tls => '1.3', sigalgs => 'RSA-PSS+SHA256');
    like($r->{out}, qr/^Peer signature type: RSA-PSS$/m, 'the RSA key signed');
    $r = main::sc($t, servername => 'api.example.com', tls => '1.3', sigalgs => 'ECDSA+SHA256');
    like($r->{out}, qr/^Peer signature type: ECDSA$/m, 'the ECDSA key signed');
}



=== TEST 6: ALPN selects http/1.1; a client offering only h2 gets no_application_protocol
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $r = main::sc($t, servername => 'api.example.com', alpn => 'h2,http/1.1');
    is($r->{alpn}, 'http/1.1', 'h2 and http/1.1 offered: http/1.1') or diag(main::show($r));
    is($r->{http_status}, '200', 'and served');
    $r = main::sc($t, servername => 'api.example.com');
    is($r->{http_status}, '200', 'no ALPN: served');
    for my $v ('1.3', '1.2') {
        $r = main::sc($t, servername => 'api.example.com', alpn => 'h2', tls => $v);
        ok(!$r->{handshake_ok}, "TLS $v, h2 only: no handshake") or diag(main::show($r));
        is($r->{alert}, 'no application protocol', "TLS $v, h2 only: the alert")
            or diag(main::show($r));
    }
    is($t->status->{tls}{handshakes}{failed}{alpn}, 2, '/status counts them as alpn');
}



=== TEST 7: only TLS 1.2 and 1.3: TLS 1.1 and 1.0 get protocol_version
--- tls_certs
root  ca
api   server issuer=root names=api.example.com key=rsa
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    for my $v ('1.1', '1.0') {
        # the client's own security level would refuse to offer them: lower it
        my $r = main::sc($t, servername => 'api.example.com', tls => $v,
                         cipher => 'DEFAULT@SECLEVEL=0');
        ok(!$r->{handshake_ok}, "TLS $v refused") or diag(main::show($r));
        is($r->{alert}, 'protocol version', "TLS $v: protocol_version alert")
            or diag(main::show($r));
    }
    ok($t->status->{tls}{handshakes}{failed}{protocol} >= 2, '/status counts them as protocol');
}



=== TEST 8: protocols: [TLSv1.3] refuses TLS 1.2
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  protocols: [TLSv1.3]
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $r = main::sc($t, servername => 'api.example.com', tls => '1.2');
    ok(!$r->{handshake_ok}, 'TLS 1.2 refused') or diag(main::show($r));
    is($r->{alert}, 'protocol version', 'protocol_version alert') or diag(main::show($r));
    $r = main::sc($t, servername => 'api.example.com', tls => '1.3');
    is($r->{http_status}, '200', 'TLS 1.3 served') or diag(main::show($r));
}



=== TEST 9: protocols: [TLSv1.2] refuses TLS 1.3
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  protocols: TLSv1.2
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $r = main::sc($t, servername => 'api.example.com', tls => '1.3');
    ok(!$r->{handshake_ok}, 'TLS 1.3 refused') or diag(main::show($r));
    is($r->{alert}, 'protocol version', 'protocol_version alert') or diag(main::show($r));
    $r = main::sc($t, servername => 'api.example.com');
    is($r->{protocol}, 'TLSv1.2', 'a client offering both gets TLS 1.2') or diag(main::show($r));
    is($r->{http_status}, '200', 'served');
}



=== TEST 10: client-initiated renegotiation (TLS 1.2) is refused and the connection still serves
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $port = main::tls_port($t);
    # "R" on s_client's stdin asks for a renegotiation (commands are read without -ign_eof)
    my $pid = IPC::Open3::open3(my $w, my $rd, undef, 'timeout', 10, 'openssl', 's_client',
        '-connect', "127.0.0.1:$port", '-servername', 'api.example.com', '-tls1_2');
    select undef, undef, undef, 0.5;
    print $w "R\n";
    $w->flush;
    select undef, undef, undef, 0.5;
    print $w "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    $w->flush;
    select undef, undef, undef, 0.5;
    close $w;
    local $/;
    my $out = <$rd> // '';
    waitpid($pid, 0);
    like($out, qr/RENEGOTIATING/, 'the client asked') or diag($out);
    like($out, qr/no renegotiation/i, 'the server answered no_renegotiation') or diag($out);
    my $r = main::sc($t, servername => 'api.example.com', tls => '1.2');
    is($r->{http_status}, '200', 'the listener still serves');
}



=== TEST 11: X-Forwarded-Proto is https upstream over TLS (a client's own value is replaced), http in clear
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $port = main::tls_port($t);
    my $r = Test::Moongate::TLS::curl_https(port => $port, host => 'api.example.com',
                                            path => '/x',
                                            cacert => $t->servroot . '/certs/root.crt');
    is($r->{status}, 200, 'curl verifies the certificate and gets an answer') or diag($r->{out});
    my $j = eval { JSON::PP::decode_json($r->{body}) } // {};
    is($j->{headers}{'x-forwarded-proto'}, 'https', 'X-Forwarded-Proto: https upstream');
    $r = Test::Moongate::TLS::curl_https(port => $port, host => 'api.example.com', path => '/x',
                                         headers => ['X-Forwarded-Proto: http']);
    $j = eval { JSON::PP::decode_json($r->{body}) } // {};
    is($j->{headers}{'x-forwarded-proto'}, 'https', "the client's X-Forwarded-Proto is replaced")
        or diag($r->{body});
    my $p = $t->request("GET /x");
    $j = eval { JSON::PP::decode_json($p->{body}) } // {};
    is($j->{headers}{'x-forwarded-proto'}, 'http', 'and http on the plain listener');
}



=== TEST 12: keep-alive over TLS: several requests on one connection, then a pipelined pair
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $c = Test::Moongate::TLS::Conn->open($t, 'api.example.com');
    for my $i (1 .. 3) {
        my $r = $c->get("/n$i");
        is($r && $r->{status}, 200, "request $i on the same connection");
        like($r ? $r->{body} : '', qr{"uri":"/n$i"}, "request $i: its own answer");
    }
    $c->send("GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\n");
    my @r = map { $c->read } 1 .. 2;
    like($r[0] ? $r[0]{body} : '', qr{"uri":"/p1"}, 'pipelined 1');
    like($r[1] ? $r[1]{body} : '', qr{"uri":"/p2"}, 'pipelined 2');
    $c->close;
}
