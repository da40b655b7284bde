# Certificate swaps by reload (SIGHUP, POST /reload): the same workers serve the new
# certificate to new handshakes, connections opened before keep working, and a bad new
# pair is refused while the old one keeps serving.
use Test::Moongate;
use Test::Moongate::TLS;

BEGIN {
    my $why = Test::Moongate::TLS::have_openssl();
    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

$SIG{PIPE} = 'IGNORE';

sub main::cn {
    my ($t) = @_;
    my $r = Test::Moongate::TLS::s_client(port => $t->fill('$MG_RAND_PORT_1'),
                                          servername => 'api.example.com', request => undef);
    return $r->{cn};
}

sub main::pids { [sort map { $_->{pid} } @{ $_[0]->status->{workers} }] }

# swap($t, $from): certs/api.{pem,key} replaced by certs/$from.{pem,key}, each file
# renamed into place.
sub main::swap {
    my ($t, $from) = @_;
    my $c = $t->servroot . '/certs';
    for my $ext ('pem', 'key') {
        $t->write_file("certs/api.$ext", Test::Moongate::Server::slurp("$c/$from.$ext"));
    }
}

# The reload test shared by the SIGHUP and POST /reload blocks.
sub main::swap_and_reload {
    my ($t, $by) = @_;
    is(main::cn($t), 'one.example.com', 'before: the first certificate');
    my $before = main::pids($t);
    my $keep = Test::Moongate::TLS::Conn->open($t, 'api.example.com');
    my $r = $keep->get('/a');
    is($r && $r->{status}, 200, 'a keep-alive connection opened before the reload');
    Test::Moongate::TLS::make_certs($t->servroot,
                                    "two server issuer=root names=api.example.com cn=two.example.com");
    main::swap($t, 'two');
    my $err = $t->reload(undef, $by);
    is($err, '', "reloaded by $by");
    is(main::cn($t), 'two.example.com', 'after: a new handshake gets the new certificate');
    is_deeply(main::pids($t), $before, 'the same workers (no worker replaced)');
    $r = $keep->get('/b');
    is($r && $r->{status}, 200, 'the connection opened before the reload still serves');
    like($r ? $r->{body} : '', qr/ok/, 'with an answer');
    $keep->close;
    my @c = grep { $_->{subject} } @{ $t->status->{tls}{certificates} // [] };
    like(join(' ', map { $_->{subject} } @c), qr/two\.example\.com/, '/status lists the new certificate')
        or diag(explain($t->status->{tls}));
}

run_tests();

__DATA__

=== TEST 1: SIGHUP swaps the certificate in place: same workers, new handshakes see it, open connections go on
--- tls_certs
root  ca
one   server issuer=root names=api.example.com cn=one.example.com
api   server issuer=root names=api.example.com cn=one.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
worker_processes: 2
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub { main::swap_and_reload($_[0], 'signal') }
--- timeout: 10



=== TEST 2: POST /reload on the admin API does the same
--- tls_certs
root  ca
api   server issuer=root names=api.example.com cn=one.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
worker_processes: 2
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub { main::swap_and_reload($_[0], 'admin') }
--- timeout: 10



=== TEST 3: a new certificate with the old key (a half-done renewal) is refused; the old pair keeps serving
--- tls_certs
root  ca
api   server issuer=root names=api.example.com cn=one.example.com
two   server issuer=root names=api.example.com cn=two.example.com
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
    my $before = main::pids($t);
    $t->write_file('certs/api.pem', Test::Moongate::Server::slurp($t->servroot . '/certs/two.pem'));
    my $err = $t->reload(undef, 'signal', fails => 1);
    is($err, '', 'the reload is rejected');
    like($t->error_log, qr{tls\.certificates\[0\]\.key: the key in \S+/certs/api\.key does not match},
         'the log says why, with the key');
    is(main::cn($t), 'one.example.com', 'the old certificate still serves');
    is_deeply(main::pids($t), $before, 'the same workers');
    # the key arrives: the next reload takes the pair
    $t->write_file('certs/api.key', Test::Moongate::Server::slurp($t->servroot . '/certs/two.key'));
    is($t->reload(undef, 'signal'), '', 'reloaded once the key matches');
    is(main::cn($t), 'two.example.com', 'the new pair serves');
}
--- timeout: 10



=== TEST 4: a reload that adds a certificate for a new name and turns on strict_sni
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
www   server issuer=root names=www.other.test
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
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $sc = sub { Test::Moongate::TLS::s_client(port => $port, servername => $_[0], request => undef) };
    is($sc->('www.other.test')->{cn}, 'api.example.com', 'before: an unknown name gets the default');
    my $before = main::pids($t);
    my $err = $t->reload(<<"YAML");
listen:
  - "127.0.0.1:@{[ $t->port ]}"
  - { address: "127.0.0.1:$port", tls: true }
tls:
  strict_sni: true
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
    - { cert: certs/www.pem, key: certs/www.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\\n" } }
YAML
    is($err, '', 'reloaded');
    is($sc->('www.other.test')->{cn}, 'www.other.test', 'after: the new name has its certificate');
    my $r = $sc->('nobody.test');
    is($r->{alert}, 'unrecognized name', 'after: strict_sni refuses an unknown name');
    is_deeply(main::pids($t), $before, 'the same workers');
}
--- timeout: 10
