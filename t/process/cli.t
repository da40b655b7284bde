# The command line against a running master: `-s reload` refuses a file other than the
# one the master reloads (checking one file while another is loaded would report on
# the wrong one) and checks the file with the master's environment, not the caller's
# (`${NAME}`), and `-t` warns about an address that cannot be bound.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

# the environment the masters start with; each -s reload below runs without them
$ENV{MG_T_KEY} = 'k3y-of-the-master';
$ENV{MG_T_STATUS} = '200';
delete $ENV{MG_T_NEVER};

# reload_from_elsewhere($t, %env, @args) -> (exit code, output) of `-s reload @args`
# run from an environment without the master's variables, with %env set instead.
sub reload_from_elsewhere {
    my ($t, $env, @args) = @_;
    delete local $ENV{MG_T_KEY};
    delete local $ENV{MG_T_STATUS};
    local @ENV{ keys %$env } = values %$env;
    return $t->run('-s', 'reload', '-p', $t->servroot, @args);
}

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



=== TEST 5: -s reload from an environment without the master's variables checks the file with the master's
--- yaml_config
routes:
  - name: h
    paths: ["/hello"]
    return:
      status: ${MG_T_STATUS}
      body: "${MG_T_KEY} one\n"
--- test_code eval
sub {
    my $t = shift;
    is($t->request("GET /hello")->{body}, "k3y-of-the-master one\n", 'the master expands its variables');
    my $text = Test::Moongate::Server::slurp($t->conf_file);
    $text =~ s/ one\\n/ two\\n/ or die 'no body to change';
    $t->write_file('conf/moongate.yaml', $text);
    # MG_T_KEY unset and MG_T_STATUS not a status here: only the master's values pass
    my ($code, $out) = main::reload_from_elsewhere($t, { MG_T_STATUS => 'abc' }, '-c', $t->conf_file);
    is($code, 0, 'exit 0') or diag($out);
    unlike($out, qr/not set|rejected/, 'no complaint about the variables');
    is(main::gen_after($t, 1), 2, 'reloaded');
    my $r = $t->request("GET /hello");
    is($r->{status}, 200, 'the status the master has');
    is($r->{body}, "k3y-of-the-master two\n", 'the new body, with the master\'s secret');
}



=== TEST 6: -s reload still rejects a broken file with file:line:column, and a variable the master lacks
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "${MG_T_KEY} one\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $good = Test::Moongate::Server::slurp($t->conf_file);
    (my $broken = $good) =~ s/^routes:\n/routes:\n  - { name: b, paths: ["\/b"], upstream: missing }\n/m
        or die 'no routes to break';
    $t->write_file('conf/moongate.yaml', $broken);
    my ($code, $out) = main::reload_from_elsewhere($t, {}, '-c', $t->conf_file);
    is($code, 1, 'a broken file: exit 1');
    like($out, qr{conf/moongate\.yaml:2:\d+: routes\[0\]\.upstream: .*missing}, 'file:line:column: key: message');
    like($out, qr/reload rejected, the running configuration stays/, 'rejected');
    unlike($out, qr/MG_T_KEY/, 'the master\'s variable is found');

    (my $unset = $good) =~ s/\$\{MG_T_KEY\} one/\${MG_T_NEVER} one/ or die 'no body to change';
    $t->write_file('conf/moongate.yaml', $unset);
    ($code, $out) = main::reload_from_elsewhere($t, { MG_T_NEVER => 'only-here' }, '-c', $t->conf_file);
    is($code, 1, 'a variable only the caller has: exit 1');
    like($out, qr{conf/moongate\.yaml:\d+:\d+: routes\[0\]\.return\.body: the environment variable MG_T_NEVER is not set},
         'it is not set in the master');
    unlike($out, qr/note:/, 'and the master\'s environment was the one used');
    is(main::gen_after($t, 1), 1, 'no reload happened');
    is($t->request("GET /hello")->{body}, "k3y-of-the-master one\n", 'the running configuration serves');
}



=== TEST 7: -s reload with no master for the file: an unset variable is reported with whose environment was used
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "one\n" } }
--- user_files
>>> conf/other.yaml
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "${MG_T_KEY}\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $other = $t->servroot . '/conf/other.yaml';
    my ($code, $out) = main::reload_from_elsewhere($t, {}, '-c', $other);
    is($code, 1, 'exit 1');
    like($out, qr{other\.yaml:2:\d+: routes\[0\]\.return\.body: the environment variable MG_T_KEY is not set},
         'the error');
    like($out, qr{note: \$\{NAME\} was looked up in this environment, for want of the running master's: reload refused: the running master \(pid \d+\) reloads \S*conf/moongate\.yaml, not \S*conf/other\.yaml},
         'the note says why the master\'s environment was not used');
    like($out, qr/reload rejected/, 'rejected');
    is(main::gen_after($t, 1), 1, 'no reload happened');
}
