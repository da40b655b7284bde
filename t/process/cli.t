# The command line against a running master: `-t` warns about an address that cannot
# be bound.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

run_tests();

__DATA__

=== TEST 1: -t warns about a listen address in use and still passes the file
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $t->conf_file);
    is($code, 0, 'exit 0: the file is valid');
    like($out, qr/warning: listen 127\.0\.0\.1:\Q${\ $t->port}\E cannot be bound now: Address already in use/,
         'the address the running server holds is reported');
    like($out, qr/warning: admin listen 127\.0\.0\.1:\d+ cannot be bound now/, 'the admin one too');
    like($out, qr/test is successful/, 'and the test passes');
}



=== TEST 2: -t on free addresses prints no warning
--- yaml_config
routes: []
--- user_files
>>> conf/free.yaml
listen: ["127.0.0.1:$MG_RAND_PORT_1"]
routes: []
--- test_code eval
sub {
    my $t = shift;
    my ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $t->servroot . '/conf/free.yaml');
    is($code, 0, 'exit 0');
    unlike($out, qr/warning/, 'no warning');
    ok(!Test::Moongate::Server::port_open($t->fill('$MG_RAND_PORT_1')), 'nothing left listening');
}
