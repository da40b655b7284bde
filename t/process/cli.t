# The command line against a running master: `-s reload` refuses a file other than the
# one the master reloads (checking one file while another is loaded would report on
# the wrong one), and `-t` warns about an address that cannot be bound.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

# gen_after($t, $gen) -> the generation /status shows once it went past $gen (or after
# a second).
sub gen_after {
    my ($t, $gen) = @_;
    my $end = Time::HiRes::time() + 1;
    Time::HiRes::sleep(0.02) while ($t->generation // 0) <= $gen && Time::HiRes::time() < $end;
    return $t->generation;
}

run_tests();

__DATA__

=== TEST 1: -s reload with another file is refused, naming both files; nothing is signalled
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $other = $t->servroot . '/conf/other.yaml';
    my $text = Test::Moongate::Server::slurp($t->conf_file);
    $text =~ s/one\\n/two\\n/;
    $t->write_file('conf/other.yaml', $text);
    my ($code, $out) = $t->run('-s', 'reload', '-p', $t->servroot, '-c', $other);
    is($code, 1, 'exit 1');
    like($out, qr{reload refused: the running master \(pid \d+\) reloads \S*conf/moongate\.yaml, not \S*conf/other\.yaml},
         'the message names the file the master reloads and the one given');
    is(main::gen_after($t, 1), 1, 'no reload happened');
    is($t->request("GET /hello")->{body}, "one\n", 'the running configuration serves');
}



=== TEST 2: -s reload with the master's file, by another name (relative, a symlink), reloads
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $link = $t->servroot . '/conf/current.yaml';
    symlink($t->conf_file, $link) or die "symlink: $!";
    my ($code, $out) = $t->run('-s', 'reload', '-p', $t->servroot, '-c', $link);
    is($code, 0, 'through a symlink: exit 0') or diag($out);
    is(main::gen_after($t, 1), 2, 'reloaded');
    # no conf/current.yaml in the current directory: the name is taken under the prefix
    ($code, $out) = $t->run('-s', 'reload', '-p', $t->servroot, '-c', 'conf/current.yaml');
    is($code, 0, 'relative to the prefix: exit 0') or diag($out);
    is(main::gen_after($t, 2), 3, 'reloaded');
}



=== TEST 3: -t warns about a listen address in use and still passes the file
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



=== TEST 4: -t on free addresses prints no warning
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
