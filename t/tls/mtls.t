# Client certificates: required (none, good, wrong CA, expired, revoked by a CRL),
# optional (the handshake goes on; the verdict goes upstream), and per server name.
use Test::Moongate;
use Test::Moongate::TLS;
use JSON::PP ();

BEGIN {
    my $why = Test::Moongate::TLS::have_openssl();
    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

$SIG{PIPE} = 'IGNORE';

# sc($t, $client, %opt): s_client to the TLS port as $client (a tls_certs name, or undef
# for no certificate).
sub main::sc {
    my ($t, $who, %o) = @_;
    my $c = $t->servroot . '/certs';
    return Test::Moongate::TLS::s_client(port => $t->fill('$MG_RAND_PORT_1'),
                                         servername => 'api.example.com',
                                         (defined $who ? (cert => "$c/$who.pem", key => "$c/$who.key") : ()),
                                         %o);
}
sub main::show { my $r = shift; "$r->{cmd}\n$r->{out}" }

run_tests();

__DATA__

=== TEST 1: client_verify required: no certificate, a wrong CA or an expired one fail the handshake; a good one is served
--- tls_certs
root    ca
api     server issuer=root names=api.example.com
cca     ca
alice   client issuer=cca
mallory client issuer=root
oldie   client issuer=cca expired
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      client_ca: certs/cca.crt
      client_verify: required
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    for my $v ('1.3', '1.2') {
        my $r = main::sc($t, 'alice', tls => $v);
        is($r->{http_status}, '200', "TLS $v: a good certificate is served") or diag(main::show($r));
        like($r->{out}, qr{^Acceptable client certificate CA names\n/?CN\s*=\s*cca$}m,
             "TLS $v: the request names the client CA");
        $r = main::sc($t, undef, tls => $v);
        ok(!$r->{http_status}, "TLS $v: no certificate: no answer") or diag(main::show($r));
        is($r->{alert}, $v eq '1.3' ? 'certificate required' : 'handshake failure',
           "TLS $v: no certificate: the alert") or diag(main::show($r));
        $r = main::sc($t, 'mallory', tls => $v);
        ok(!$r->{http_status}, "TLS $v: a certificate of another CA: no answer");
        is($r->{alert}, 'unknown ca', "TLS $v: another CA: unknown_ca") or diag(main::show($r));
        $r = main::sc($t, 'oldie', tls => $v);
        ok(!$r->{http_status}, "TLS $v: an expired certificate: no answer");
        is($r->{alert}, 'certificate expired', "TLS $v: expired: certificate_expired")
            or diag(main::show($r));
    }
    is($t->status->{tls}{handshakes}{failed}{client_cert}, 6, '/status counts client_cert failures');
}
--- error_log eval
[qr/TLS handshake failed: [^\n]+, client: 127\.0\.0\.1/]



=== TEST 2: client_verify optional: no certificate is served; the verdict goes upstream
--- tls_certs
root    ca
api     server issuer=root names=api.example.com
cca     ca
alice   client issuer=cca
mallory client issuer=root
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  client_cert_headers: true
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      client_ca: certs/cca.crt
      client_verify: optional
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my %want = (none => 'NONE', alice => 'SUCCESS', mallory => qr/^FAILED:/);
    for my $who (sort keys %want) {
        for my $v ('1.3', '1.2') {
            my $r = main::sc($t, $who eq 'none' ? undef : $who, tls => $v);
            is($r->{http_status}, '200', "TLS $v, $who: served") or diag(main::show($r));
            my $json = $r->{body} // "";
            my $h = (eval { JSON::PP::decode_json($json) } // {})->{headers} // {};
            my $got = $h->{'x-client-cert-verify'} // '(none)';
            ref $want{$who} ? like($got, $want{$who}, "TLS $v, $who: X-Client-Cert-Verify")
                            : is($got, $want{$who}, "TLS $v, $who: X-Client-Cert-Verify");
        }
    }
}



=== TEST 3: a CRL: a revoked certificate fails with required, the others pass
--- tls_certs
root    ca
api     server issuer=root names=api.example.com
cca     ca
alice   client issuer=cca
bob     client issuer=cca
revoked crl    issuer=cca revoke=bob
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      client_ca: certs/cca.crt
      client_verify: required
      crl: certs/revoked.pem
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    for my $v ('1.3', '1.2') {
        my $r = main::sc($t, 'alice', tls => $v);
        is($r->{http_status}, '200', "TLS $v: alice (not revoked) is served") or diag(main::show($r));
        $r = main::sc($t, 'bob', tls => $v);
        ok(!$r->{http_status}, "TLS $v: bob (revoked) is not") or diag(main::show($r));
        is($r->{alert}, 'certificate revoked', "TLS $v: certificate_revoked")
            or diag(main::show($r));
    }
}
--- error_log eval
[qr/TLS handshake failed: certificate revoked, client: 127\.0\.0\.1/]



=== TEST 4: client certificates per server name: required for one name, not asked for another
--- tls_certs
root     ca
api      server issuer=root names=api.example.com
partners server issuer=root names=partners.example.com
cca      ca
alice    client issuer=cca
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
    - cert: certs/partners.pem
      key: certs/partners.key
      client_ca: certs/cca.crt
      client_verify: required
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    for my $v ('1.3', '1.2') {
        my $r = main::sc($t, undef, tls => $v);
        is($r->{http_status}, '200', "TLS $v: api.example.com without a certificate") or diag(main::show($r));
        like($r->{out}, qr/^No client certificate CA names sent$/m, "TLS $v: api.example.com asks for none");
        $r = main::sc($t, undef, tls => $v, servername => undef);
        is($r->{http_status}, '200', "TLS $v: no SNI (the first entry) without a certificate");
        $r = main::sc($t, undef, tls => $v, servername => 'partners.example.com');
        ok(!$r->{http_status}, "TLS $v: partners.example.com without a certificate fails")
            or diag(main::show($r));
        $r = main::sc($t, 'alice', tls => $v, servername => 'partners.example.com');
        is($r->{http_status}, '200', "TLS $v: partners.example.com with one is served")
            or diag(main::show($r));
        is($r->{cn}, 'partners.example.com', "TLS $v: with its own certificate");
    }
}



=== TEST 5: a client chain deeper than verify_depth is refused
--- tls_certs
root    ca
api     server issuer=root names=api.example.com
cca     ca
sub1    ca     issuer=cca
sub2    ca     issuer=sub1
carol   client issuer=sub2
dave    client issuer=cca
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      client_ca: certs/cca.crt
      client_verify: required
      verify_depth: 1
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $r = main::sc($t, 'dave');
    is($r->{http_status}, '200', 'a certificate issued by the CA itself is served') or diag(main::show($r));
    # carol.pem holds carol, sub2 and sub1: a chain of 3 below cca
    $r = main::sc($t, 'carol');
    ok(!$r->{http_status}, 'a chain longer than verify_depth: 1 is refused') or diag(main::show($r));
    ok(defined $r->{alert}, 'with an alert (' . ($r->{alert} // 'none') . ')');
}
