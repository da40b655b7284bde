# TLS configuration errors are load errors with file:line:column and the key; an
# expired or not yet valid certificate loads with a warning.
use Test::Moongate;
use Test::Moongate::TLS;

BEGIN {
    my $why = Test::Moongate::TLS::have_openssl();
    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

run_tests();

__DATA__

=== TEST 1: a certificate file that does not exist
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/nope.pem
      key: certs/api.key
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:13: tls\.certificates\[0\]\.cert: cannot read \S+/certs/nope\.pem: No such file or directory}]



=== TEST 2: a key path that is not a regular file
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:7:12: tls\.certificates\[0\]\.key: cannot read \S+/certs: not a regular file}]



=== TEST 3: a file with no PEM certificate in it
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- user_files
>>> certs/junk.pem
this is not a certificate
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/junk.pem, key: certs/api.key }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:15: tls\.certificates\[0\]\.cert: no PEM certificate in \S+/certs/junk\.pem}]



=== TEST 4: a key that does not match its certificate
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
other server issuer=root names=other.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
    - cert: certs/api.pem
      key: certs/other.key
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:9:12: tls\.certificates\[1\]\.key: the key in \S+/certs/other\.key does not match the certificate in \S+/certs/api\.pem}]



=== TEST 5: an RSA key with an EC certificate
--- tls_certs
root  ca
api   server issuer=root names=api.example.com key=ec
rsa   server issuer=root names=api.example.com key=rsa
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/rsa.key }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:35: tls\.certificates\[0\]\.key: the key in \S+/certs/rsa\.key does not match}]



=== TEST 6: a chain in the wrong order (intermediate before leaf)
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
    - cert: certs/api.rev.pem
      key: certs/api.key
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:13: tls\.certificates\[0\]\.cert: the chain in \S+/certs/api\.rev\.pem is out of order}]



=== TEST 7: client_verify without client_ca
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      client_verify: required
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:22: tls\.certificates\[0\]\.client_verify: client_verify needs client_ca}]



=== TEST 8: a client_ca file with no certificate in it
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- user_files
>>> certs/empty-ca.pem
nothing here
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      client_ca: certs/empty-ca.pem
      client_verify: optional
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:18: tls\.certificates\[0\]\.client_ca: }]



=== TEST 9: a TLS listener without tls.certificates
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+: listen\[1\]: a TLS listener \("127\.0\.0\.1:\d+"\) needs tls\.certificates}]



=== TEST 10: a bad protocols entry
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  protocols: [TLSv1.2, TLSv1.1]
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:5:24: tls\.protocols\[1\]: expected TLSv1\.2 or TLSv1\.3 \(older versions are insecure and not offered\), got "TLSv1\.1"}]



=== TEST 11: a bad name in snis
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key, snis: ["api.example.com", "bad name!"] }
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:6:76: tls\.certificates\[0\]\.snis\[1\]: expected a host name}]



=== TEST 11b: a bad client_verify value
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      client_ca: certs/root.crt
      client_verify: sometimes
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:9:22: tls\.certificates\[0\]\.client_verify: expected required, optional or off, got "sometimes"}]



=== TEST 11c: a crl without client_verify
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
crl   crl    issuer=root
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      key: certs/api.key
      crl: certs/crl.pem
--- must_die
--- error_log eval
[qr{conf/moongate\.yaml:8:12: tls\.certificates\[0\]\.crl: a crl applies to client certificates: set client_verify}]



=== TEST 12: an expired certificate loads, with a warning naming it
--- tls_certs
root  ca
old   server issuer=root names=old.example.com expired
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - cert: certs/old.pem
      key: certs/old.key
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- request
GET /
--- response_body
ok
--- test_code eval
sub {
    my $t = shift;
    my $r = Test::Moongate::TLS::s_client(port => $t->fill('$MG_RAND_PORT_1'),
                                          servername => 'old.example.com',
                                          cafile => $t->servroot . '/certs/root.crt');
    is($r->{cn}, 'old.example.com', 'the expired certificate is served');
    is($r->{verify}, '10', 'and a client sees it expired (verify code 10)');
}
--- error_log eval
[qr{\[warn\] .*conf/moongate\.yaml:6:13: tls\.certificates\[0\]\.cert: the certificate in \S+/certs/old\.pem \(/CN=old\.example\.com\) is expired}]



=== TEST 13: a certificate not valid yet loads, with a warning
--- tls_certs
root  ca
new   server issuer=root names=new.example.com future
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/new.pem, key: certs/new.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- request
GET /
--- error_log eval
[qr{\[warn\] .*tls\.certificates\[0\]\.cert: the certificate in \S+/certs/new\.pem \(/CN=new\.example\.com\) is not yet valid}]



=== TEST 14: moongate -t reports the same errors and exits 1
--- tls_certs
root  ca
inter ca     issuer=root
api   server issuer=inter names=api.example.com
other server issuer=inter names=other.example.com
--- yaml_config
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $root = $t->servroot;
    my $tport = $t->fill('$MG_RAND_PORT_1');
    my %bad = (
        'key: certs/other.key' => qr{bad\.yaml:6:12: tls\.certificates\[0\]\.key: the key in \S+ does not match},
        'key: certs/api.key' => undef,
    );
    for my $key (sort keys %bad) {
        $t->write_file('conf/bad.yaml', <<"YAML");
listen:
  - { address: "127.0.0.1:$tport", tls: true }
tls:
  certificates:
    - cert: certs/api.pem
      $key
YAML
        my ($code, $out) = $t->run('-p', $root, '-t', '-c', "$root/conf/bad.yaml");
        if ($bad{$key}) {
            is($code, 1, "-t with $key: exit 1");
            like($out, $bad{$key}, "-t with $key: the error") or diag($out);
        } else {
            is($code, 0, "-t with $key: valid") or diag($out);
        }
    }
}
