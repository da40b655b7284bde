# OCSP stapling: ocsp.fetch against a real responder (`openssl ocsp`), ocsp.file with
# good and bad responses, a responder that is down, and a reload that keeps the staple.
# Every certificate is made here, at test time, under a temporary directory.
use strict;
use warnings;
use Test::Moongate;
use Test::More;
use File::Temp ();
use POSIX ();
use Time::HiRes ();

BEGIN {
    if (system('openssl version >/dev/null 2>&1') != 0) {
        plan(skip_all => 'openssl is missing (Debian package: openssl)');
    }
}

our $D = File::Temp::tempdir('mg-ocsp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
our $OCSP_PORT = Test::Moongate::Server::free_port();
our $ONCE_PORT = Test::Moongate::Server::free_port();
our $DEAD_PORT = Test::Moongate::Server::free_port();
my @responders;

sub sh {
    my $cmd = shift;
    my $out = `$cmd 2>&1`;
    die "failed: $cmd\n$out" if $?;
    return $out;
}

sub write_text {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!\n";
    binmode $fh;
    print $fh $text;
    close $fh;
}

# A leaf for $name signed by the test CA, its AIA naming a responder on $port; also
# $name.chain.pem (leaf, then the CA). Returns its serial.
sub leaf {
    my ($name, $port) = @_;
    write_text("$D/$name.ext", "basicConstraints=CA:FALSE\nsubjectAltName=DNS:$name\n"
        . "authorityInfoAccess=OCSP;URI:http://127.0.0.1:$port\n");
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $D/$name.key"
        . " -out $D/$name.csr -subj /CN=$name");
    sh("openssl x509 -req -in $D/$name.csr -CA $D/ca.pem -CAkey $D/ca.key -CAcreateserial"
        . " -days 10 -out $D/$name.pem -extfile $D/$name.ext");
    sh("cat $D/$name.pem $D/ca.pem > $D/$name.chain.pem");
    my ($serial) = sh("openssl x509 -in $D/$name.pem -noout -serial") =~ /=(\w+)/;
    return $serial;
}

# `openssl ocsp` answering from index.txt on 127.0.0.1:$port, signed by the CA itself.
sub responder {
    my ($port, $n) = @_;
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$D/responder-$port.log";
        open STDERR, '>&', \*STDOUT;
        { exec 'openssl', 'ocsp', '-index', "$D/index.txt", '-port', $port, '-rsigner',
            "$D/ca.pem", '-rkey', "$D/ca.key", '-CA', "$D/ca.pem", '-nrequest', $n,
            '-ignore_err' };
        POSIX::_exit(127);
    }
    push @responders, $pid;
    # its log says when it listens; a probe connection would not do: this responder
    # spins on a connection closed without a request
    my $end = Time::HiRes::time() + 5;
    until (Test::Moongate::Server::slurp("$D/responder-$port.log") =~ /waiting for OCSP client/) {
        die "the OCSP responder did not start on $port\n" if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

END {
    kill 'TERM', @responders if @responders;
    waitpid($_, 0) for @responders;
}

sub make_pki {
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $D/ca.key"
        . " -out $D/ca.pem -days 30 -subj '/CN=moongate test OCSP CA'"
        . " -addext basicConstraints=critical,CA:TRUE"
        . " -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature");
    my %serial = map { $_->[0] => leaf(@$_) }
        (['good.test', $OCSP_PORT], ['revoked.test', $OCSP_PORT], ['down.test', $DEAD_PORT],
         ['once.test', $ONCE_PORT]);
    my $exp = '301231235959Z';
    write_text("$D/index.txt", join '',
        map({ "V\t$exp\t\t$serial{$_}\tunknown\t/CN=$_\n" } qw(good.test down.test once.test)),
        "R\t$exp\t240101000000Z\t$serial{'revoked.test'}\tunknown\t/CN=revoked.test\n");
    responder($OCSP_PORT, 1000);
    # answers one request: the fetch at start; after that only the cache can staple
    responder($ONCE_PORT, 1);
    for my $name (qw(good.test revoked.test)) {
        sh("openssl ocsp -issuer $D/ca.pem -cert $D/$name.pem -url http://127.0.0.1:$OCSP_PORT"
            . " -respout $D/$name.der -noverify");
    }
    write_text("$D/garbage.der", "this is not DER\n");
    stale_response();
}

# A response whose nextUpdate is a day past: `openssl ocsp` cannot date one back, so
# python3-cryptography signs it; without it the block that needs it says so.
sub stale_response {
    my $py = <<"EOF";
import datetime
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes, serialization
leaf = x509.load_pem_x509_certificate(open('$D/good.test.pem', 'rb').read())
ca = x509.load_pem_x509_certificate(open('$D/ca.pem', 'rb').read())
key = serialization.load_pem_private_key(open('$D/ca.key', 'rb').read(), None)
now = datetime.datetime.utcnow()
b = ocsp.OCSPResponseBuilder().add_response(
    cert=leaf, issuer=ca, algorithm=hashes.SHA1(), cert_status=ocsp.OCSPCertStatus.GOOD,
    this_update=now - datetime.timedelta(days=2), next_update=now - datetime.timedelta(days=1),
    revocation_time=None, revocation_reason=None,
).responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
open('$D/stale.der', 'wb').write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
EOF
    write_text("$D/stale.py", $py);
    system("python3 $D/stale.py >/dev/null 2>&1");
}

make_pki();

# The block's YAML: one TLS listener serving $name with the given ocsp map.
sub yaml {
    my ($name, $ocsp, %o) = @_;
    my $cert = $o{leaf_only} ? "$D/$name.pem" : "$D/$name.chain.pem";
    return <<"EOF";
listen: [{ address: "127.0.0.1:\$MG_PORT", tls: true }]
routes:
  - { paths: ["/"], return: { status: 200, body: "hi\\n" } }
tls:
  certificates:
    - cert: $cert
      key: $D/$name.key
      ocsp: { $ocsp }
EOF
}

# One handshake asking for a staple: (s_client's output, seconds it took).
sub handshake {
    my ($port, $name) = @_;
    my $t0 = Time::HiRes::time();
    my $out = `timeout 5 openssl s_client -connect 127.0.0.1:$port -servername $name -status </dev/null 2>&1`;
    return ($out, Time::HiRes::time() - $t0);
}

sub stapled {
    my $out = shift;
    return $out =~ /OCSP Response Status: successful/ && $out =~ /Cert Status: good/;
}

sub no_staple {
    my $out = shift;
    return $out =~ /OCSP response: no response sent/ && $out =~ /^Server certificate/m;
}

# The first handshakes may come before the fetch ended: poll, bounded.
sub stapled_within {
    my ($port, $name, $secs) = @_;
    my $end = Time::HiRes::time() + $secs;
    my $out;
    while (1) {
        ($out) = handshake($port, $name);
        return (1, $out) if stapled($out);
        return (0, $out) if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.1);
    }
}

sub log_within {
    my ($t, $re, $secs) = @_;
    my $end = Time::HiRes::time() + $secs;
    until (($t->stderr_log . $t->error_log) =~ $re) {
        return 0 if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
    return 1;
}

run_tests();

__DATA__

=== TEST 1: fetch: the responder's answer is stapled
--- yaml_config eval
main::yaml('good.test', 'fetch: true')
--- test_code eval
sub {
    my ($t) = @_;
    my ($ok, $out) = main::stapled_within($t->port, 'good.test', 10);
    ok($ok, 'a staple within 10 s') or diag($out);
    like($out, qr/Responder Id: CN = moongate test OCSP CA/, 'signed by the CA');
}
--- error_log
OCSP: staple for /CN=good.test fetched from http://127.0.0.1:
--- no_error_log
[warn]



=== TEST 2: fetch: a revoked certificate is not stapled
--- yaml_config eval
main::yaml('revoked.test', 'fetch: true')
--- test_code eval
sub {
    my ($t) = @_;
    ok(main::log_within($t, qr/OCSP: no fresh staple for \/CN=revoked.test .*status is revoked/, 5),
       'the refusal is logged');
    my ($out) = main::handshake($t->port, 'revoked.test');
    ok(main::no_staple($out), 'no staple') or diag($out);
}



=== TEST 3: file: a good response is stapled from the first handshake
--- yaml_config eval
main::yaml('good.test', "file: $main::D/good.test.der")
--- test_code eval
sub {
    my ($t) = @_;
    my ($out) = main::handshake($t->port, 'good.test');
    ok(main::stapled($out), 'stapled at once') or diag($out);
}
--- no_error_log
[warn]



=== TEST 4: file: garbage warns at load and is not stapled
--- yaml_config eval
main::yaml('good.test', "file: $main::D/garbage.der")
--- test_code eval
sub {
    my ($t) = @_;
    my ($out) = main::handshake($t->port, 'good.test');
    ok(main::no_staple($out), 'the certificate serves without a staple') or diag($out);
}
--- error_log eval
[qr{\[warn\].*tls\.certificates\[0\]\.ocsp\.file: the OCSP response in \S+/garbage\.der is not stapled: it is not a DER OCSP response}]



=== TEST 5: file: a revoked answer warns and is not stapled
--- yaml_config eval
main::yaml('revoked.test', "file: $main::D/revoked.test.der")
--- test_code eval
sub {
    my ($t) = @_;
    my ($out) = main::handshake($t->port, 'revoked.test');
    ok(main::no_staple($out), 'no staple') or diag($out);
}
--- error_log eval
[qr{\[warn\].*revoked\.test\.der is not stapled: the certificate's status is revoked}]



=== TEST 6: file: a response past its nextUpdate warns and is not stapled
--- yaml_config eval
main::yaml('good.test', "file: $main::D/stale.der")
--- test_code eval
sub {
    my ($t) = @_;
    SKIP: {
        skip('python3-cryptography is missing: no stale response to test with', 2)
            unless -s "$main::D/stale.der";
        ok(main::log_within($t, qr{\[warn\].*stale\.der is not stapled: it is out of date}, 2),
           'the warning names the file and why');
        my ($out) = main::handshake($t->port, 'good.test');
        ok(main::no_staple($out), 'no staple') or diag($out);
    }
}



=== TEST 7: fetch: responder down, handshakes do not wait and a warning is logged
--- yaml_config eval
main::yaml('down.test', 'fetch: true')
--- test_code eval
sub {
    my ($t) = @_;
    ok(main::log_within($t, qr/\[warn\].*OCSP: no fresh staple for \/CN=down.test from http:\/\/127.0.0.1:$main::DEAD_PORT: connect failed/, 5),
       'the failure is logged');
    for my $i (1 .. 3) {
        my ($out, $secs) = main::handshake($t->port, 'down.test');
        ok(main::no_staple($out), "handshake $i: no staple") or diag($out);
        cmp_ok($secs, '<', 0.5, "handshake $i took ${\ sprintf('%.3f', $secs)} s");
    }
}



=== TEST 8: ocsp without the issuer in the cert file is a config error
--- yaml_config eval
main::yaml('good.test', 'fetch: true', leaf_only => 1)
--- must_die
--- error_log
tls.certificates[0].ocsp: stapling needs the certificate's issuer



=== TEST 9: a reload that keeps the certificate keeps its staple at once
--- yaml_config eval
main::yaml('once.test', 'fetch: true')
--- test_code eval
sub {
    my ($t) = @_;
    my ($ok, $out) = main::stapled_within($t->port, 'once.test', 10);
    ok($ok, 'stapled before the reload') or diag($out);
    # the responder answered its one request and is gone: only the cache can staple now
    (my $yaml = main::yaml('once.test', 'fetch: true')) =~ s/body: "hi/body: "hello/;
    is($t->reload($yaml), '', 'reloaded');
    ($out) = main::handshake($t->port, 'once.test');
    ok(main::stapled($out), 'the first handshake after the reload is stapled') or diag($out);
}



=== TEST 10: file: an answer about another certificate warns and is not stapled
--- yaml_config eval
main::yaml('revoked.test', "file: $main::D/good.test.der")
--- test_code eval
sub {
    my ($t) = @_;
    my ($out) = main::handshake($t->port, 'revoked.test');
    ok(main::no_staple($out), 'no staple') or diag($out);
}
--- error_log eval
[qr{\[warn\].*good\.test\.der is not stapled: it holds no answer for this certificate}]
