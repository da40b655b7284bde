# Upstreams over TLS (upstreams[].tls), against Debian's nginx on 127.0.0.1 with
# certificates made for this run (Test::Moongate::TlsUpstream): verification against a
# CA file, its failures (502 and the reason in the error log), SNI, verify: false, a
# client certificate, keep-alive over one TLS connection, session resumption, and
# health probes that speak TLS.
use Test::Moongate;
use Test::Moongate::TlsUpstream;
use Time::HiRes ();

our $U;
if (!Test::Moongate::TlsUpstream::nginx_bin()) {
    Test::More::plan(skip_all => 'nginx is not installed (Debian package nginx-light or nginx)');
}
$U = Test::Moongate::TlsUpstream::start();

sub port { $U->{port}{ $_[0] } }
sub file { "$U->{dir}/$_[0]" }

# upstreams: one named u on `server`'s port with the tls block given, a route to it
sub conf {
    my ($server, $tls, $more) = @_;
    my $p = port($server);
    return "upstreams:\n  - name: u\n    nodes: [{ address: \"127.0.0.1:$p\" }]\n"
        . "    tls: $tls\n" . ($more // '')
        . "routes:\n  - { paths: [\"/*\"], upstream: u }\n";
}

sub wait_for {
    my ($secs, $cond) = @_;
    my $end = Time::HiRes::time() + $secs;
    while (Time::HiRes::time() < $end) {
        return 1 if $cond->();
        Time::HiRes::sleep(0.02);
    }
    return $cond->();
}

run_tests();

__DATA__

=== TEST 1: verified against `ca`: an IP node checks the IP SAN and sends no SNI
--- yaml_config eval
main::conf('good', '{ ca: "' . main::file('ca.crt') . '" }')
--- request
GET /x
--- error_code: 200
--- response_body_like: ^sni= conn=\d+ req=1 reused=\. cn=$
--- no_error_log
[error]



=== TEST 2: a certificate from a CA we do not trust: 502, the node and the reason logged
--- yaml_config eval
main::conf('good', '{ ca: "' . main::file('other-ca.crt') . '" }', "    retries: 0\n")
--- request
GET /x
--- error_code: 502
--- error_log eval
[qr{\[error\] .*upstream "u" node 127\.0\.0\.1:\d+: TLS handshake failed: unable to get local issuer certificate}]



=== TEST 3: a name the certificate does not carry: 502, "hostname mismatch"
--- yaml_config eval
main::conf('good', '{ ca: "' . main::file('ca.crt') . '", sni: wrong.test }', "    retries: 0\n")
--- request
GET /x
--- error_code: 502
--- error_log eval
[qr{upstream "u" node 127\.0\.0\.1:\d+: TLS handshake failed: hostname mismatch}]



=== TEST 4: SNI: `tls.sni`, else the host of the upstream's `host:`
--- yaml_config eval
"upstreams:\n"
. "  - { name: a, nodes: [{ address: \"127.0.0.1:" . main::port('good') . "\" }], tls: { ca: \"" . main::file('ca.crt') . "\", sni: upstream.test } }\n"
. "  - { name: b, host: \"upstream.test:8443\", nodes: [{ address: \"127.0.0.1:" . main::port('good') . "\" }], tls: { ca: \"" . main::file('ca.crt') . "\" } }\n"
. "routes:\n  - { paths: [\"/a\"], upstream: a }\n  - { paths: [\"/b\"], upstream: b }\n"
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^sni=upstream\.test /, qr/^sni=upstream\.test /]



=== TEST 5: verify: false accepts a certificate from an unknown CA
--- yaml_config eval
main::conf('other', '{ verify: false }')
--- request
GET /x
--- error_code: 200
--- response_body_like: ^sni= conn=\d+ req=1



=== TEST 6: `tls: true` verifies against the system's store: a private CA fails
--- yaml_config eval
main::conf('good', 'true', "    retries: 0\n")
--- request
GET /x
--- error_code: 502
--- error_log eval
[qr{TLS handshake failed: unable to get local issuer certificate}]



=== TEST 7: a client certificate the upstream requires: sent with cert/key
--- yaml_config eval
main::conf('mtls', '{ ca: "' . main::file('ca.crt') . '", cert: "' . main::file('client.crt')
           . '", key: "' . main::file('client.key') . '" }')
--- request
GET /x
--- error_code: 200
--- response_body_like: cn=CN=moongate-client$



=== TEST 8: without the client certificate nginx answers 400 itself, and it is relayed
--- yaml_config eval
main::conf('mtls', '{ ca: "' . main::file('ca.crt') . '" }', "    retries: 0\n")
--- request
GET /x
--- error_code: 400
--- response_body_like: No required SSL certificate was sent



=== TEST 9: keep-alive: requests share one TLS connection (no new handshake)
--- yaml_config eval
main::conf('good', '{ ca: "' . main::file('ca.crt') . '" }')
--- request eval
["GET /1", "GET /2", "GET /3"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/ req=1 reused=\. /, qr/ req=2 reused=\. /, qr/ req=3 reused=\. /]



=== TEST 10: no pooling (keepalive: 0): a new connection resumes the node's session
--- yaml_config eval
main::conf('good', '{ ca: "' . main::file('ca.crt') . '" }', "    keepalive: 0\n")
--- request eval
["GET /1", "GET /2", "GET /3"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
[qr/ req=1 reused=\. /, qr/ req=1 reused=r /, qr/ req=1 reused=r /]



=== TEST 11: health probes speak TLS and verify: the good node stays, the other goes down
--- yaml_config eval
"upstreams:\n  - name: u\n    nodes:\n"
. "      - { address: \"127.0.0.1:" . main::port('good') . "\" }\n"
. "      - { address: \"127.0.0.1:" . main::port('other') . "\" }\n"
. "    retries: 0\n    tls: { ca: \"" . main::file('ca.crt') . "\" }\n"
. "    health_check:\n      active: { path: /health, interval: 100ms, timeout: 500ms, unhealthy_threshold: 1, healthy_threshold: 1 }\n"
. "routes:\n  - { paths: [\"/*\"], upstream: u }\n"
--- test_code eval
sub {
    my ($t) = @_;
    my ($good, $other) = (main::port('good'), main::port('other'));
    ok(main::wait_for(5, sub { $t->error_log =~ m{upstream "u" node 127\.0\.0\.1:$other is unhealthy: 1 failed probe\(s\) of /health, last: unable to get local issuer certificate} }),
       'the node with the untrusted certificate is marked down') or diag($t->error_log);
    Time::HiRes::sleep(0.3);
    unlike($t->error_log, qr{node 127\.0\.0\.1:$good is unhealthy}, 'the good node passes its TLS probes');
    my @st = map { ($t->request('GET /x', [], 3) // {})->{status} // 0 } 1 .. 6;
    is("@st", "200 200 200 200 200 200", 'only the healthy node answers');
}



=== TEST 12: a node whose certificate fails is a connect failure: the try moves to the other node
--- yaml_config eval
"upstreams:\n  - name: u\n    nodes:\n"
. "      - { address: \"127.0.0.1:" . main::port('other') . "\" }\n"
. "      - { address: \"127.0.0.1:" . main::port('good') . "\" }\n"
. "    retries: 1\n    tls: { ca: \"" . main::file('ca.crt') . "\" }\n"
. "routes:\n  - { paths: [\"/*\"], upstream: u }\n"
--- request eval
["GET /1", "GET /2", "GET /3", "GET /4"]
--- error_code eval
[200, 200, 200, 200]
--- error_log eval
[qr{upstream "u" node 127\.0\.0\.1:\d+: TLS handshake failed: unable to get local issuer certificate}]



=== TEST 13: a reload retires a generation with pooled TLS connections; the new one connects anew
--- yaml_config eval
main::conf('good', '{ ca: "' . main::file('ca.crt') . '" }')
--- reload_after: 2
--- reload_yaml_config eval
main::conf('good', '{ ca: "' . main::file('ca.crt') . '" }', "    keepalive: 8\n")
--- request eval
["GET /1", "GET /2", "GET /3", "GET /4"]
--- error_code eval
[200, 200, 200, 200]
--- response_body_like eval
[qr/ req=1 reused=\. /, qr/ req=2 reused=\. /, qr/ req=1 /, qr/ req=2 /]
