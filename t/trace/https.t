# Spans to an https collector, through the exporter's TLS client context: Debian's nginx
# stands in for the collector (it answers any POST with 200), with certificates made for
# this run (Test::Moongate::TlsUpstream). As in t/lua/http_https.t, SSL_CERT_FILE holds
# only the run's CA in place of the system's store.
use Test::Moongate;
use Time::HiRes ();
use Test::Moongate::TlsUpstream;

our $U;
if (!Test::Moongate::TlsUpstream::nginx_bin()) {
    Test::More::plan(skip_all => 'nginx is not installed (Debian package nginx-light or nginx)');
}
$U = Test::Moongate::TlsUpstream::start();
$ENV{SSL_CERT_FILE} = "$U->{dir}/ca.crt";
delete $ENV{SSL_CERT_DIR};

sub url { "https://127.0.0.1:$U->{port}{$_[0]}/v1/traces" }

sub conf {
    my ($which, $more) = @_;
    return "tracing: { endpoint: \"" . url($which) . "\", flush_interval: 50ms$more }\n"
        . "routes:\n  - { name: r, paths: [\"/*\"], return: { status: 200, body: \"ok\\n\" } }\n";
}

# /status's tracing counters once exported or failed moved (or after 5 s).
sub settled {
    my ($t) = @_;
    my $end = Time::HiRes::time() + 5;
    while (1) {
        my $st = $t->status;
        my $tr = $st ? $st->{tracing} : {};
        return $tr if ($tr->{exported} // 0) + ($tr->{failed} // 0) >= 2
            || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.1);
    }
}

run_tests();

__DATA__

=== TEST 1: a collector whose certificate verifies
--- yaml_config eval
main::conf('good', '')
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $tr = main::settled($_[0]);
    is($tr->{exported}, 2, 'exported over https');
    is($tr->{failed}, 0, 'nothing failed');
}



=== TEST 2: a certificate from a CA nobody trusts: the exports fail, with the reason in the log
--- yaml_config eval
main::conf('other', '')
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $tr = main::settled($_[0]);
    is($tr->{exported}, 0, 'nothing exported');
    is($tr->{failed}, 2, 'two spans failed');
}
--- error_log eval
[qr{tracing: an export of \d+ span\(s\) failed: .*certificate}]



=== TEST 3: tls_verify: false sends to it anyway
--- yaml_config eval
main::conf('other', ', tls_verify: false')
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $tr = main::settled($_[0]);
    is($tr->{exported}, 2, 'exported without verification');
}
