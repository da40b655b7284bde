# The master/worker life cycle: crash respawn, graceful stop, log reopening, and the
# command-line modes (-t, -s reload, -v).
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

sub worker_pids { map { $_->{pid} } @{ ($_[0]->status // {})->{workers} // [] } }

run_tests();

__DATA__

=== TEST 1: a worker killed by SIGSEGV is respawned within 1 s, the signal logged
--- yaml_config
worker_processes: 2
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    my @before = main::worker_pids($t);
    is(scalar @before, 2, 'two workers');
    kill 'SEGV', $before[0];
    my $end = Time::HiRes::time() + 1;
    my @now;
    while (Time::HiRes::time() < $end) {
        @now = main::worker_pids($t);
        last if @now == 2 && !grep { $_ == $before[0] } @now;
        Time::HiRes::sleep(0.02);
    }
    ok(@now == 2 && !grep({ $_ == $before[0] } @now), "respawned (@before -> @now)");
    is($t->request("GET /hello")->{status}, 200, 'still serving');
}
--- error_log eval
[qr/killed by signal 11/]



=== TEST 2: SIGQUIT lets an in-flight request finish, then the master exits 0
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: a, paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $s = Test::Moongate::Client::connect_to($t->port, 5);
    Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET /delay/600", []));
    Time::HiRes::sleep(0.15);
    kill 'QUIT', $t->pid;
    my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 5),
                                                  'GET');
    is($r && $r->{status}, 200, 'the in-flight request completed');
    like($r ? $r->{body} : '', qr{"uri":"/delay/600"}, 'with its body');
    like($r ? $r->{headers}{connection} // '' : '', qr/close/i, 'and Connection: close');
    my $st = $t->wait_exit(5);
    ok(defined $st, 'the master exited');
    is(defined $st ? $st >> 8 : -1, 0, 'with status 0');
    ok(!-e $t->servroot . '/logs/moongate.pid', 'the pid file is removed');
}



=== TEST 3: -t accepts a good file and rejects a bad one with file:line:column
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- user_files
>>> conf/bad.yaml
routes:
  - name: h
    paths: ["/hello"]
    upstream: missing
--- test_code eval
sub {
    my $t = shift;
    my ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $t->conf_file);
    is($code, 0, '-t on a good file exits 0');
    like($out, qr/test is successful/, 'and says so');
    my $bad = $t->servroot . '/conf/bad.yaml';
    ($code, $out) = $t->run('-t', '-p', $t->servroot, '-c', $bad);
    is($code, 1, '-t on a bad file exits 1');
    like($out, qr{bad\.yaml:4:\d+: routes\[0\]\.upstream: .*missing}, 'naming file:line:column');
}



=== TEST 4: -s reload with a bad file prints the error, exits 1 and signals nothing
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- user_files
>>> conf/bad.yaml
worker_processes: many
--- test_code eval
sub {
    my $t = shift;
    my $gen = $t->generation;
    my ($code, $out) = $t->run('-s', 'reload', '-p', $t->servroot,
                               '-c', $t->servroot . '/conf/bad.yaml');
    is($code, 1, 'exit 1');
    like($out, qr{bad\.yaml:1:\d+: worker_processes}, 'the error is printed');
    Time::HiRes::sleep(0.3);
    is($t->generation, $gen, 'no reload happened');
    ($code, $out) = $t->run('-s', 'reload', '-p', $t->servroot, '-c', $t->conf_file);
    is($code, 0, '-s reload with the good file exits 0') or diag($out);
    my $end = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.02) while ($t->generation // 0) == $gen && Time::HiRes::time() < $end;
    is($t->generation, $gen + 1, 'and reloads');
}



=== TEST 5: -v prints the versions
--- yaml_config
--- test_code eval
sub {
    my $t = shift;
    my ($code, $out) = $t->run('-v');
    is($code, 0, 'exit 0');
    like($out, qr/moongate\S*\s+\d+\.\d+/i, 'own version');
    like($out, qr/llhttp/i, 'llhttp');
    like($out, qr/libev/i, 'libev');
    like($out, qr/yaml/i, 'libyaml');
}



=== TEST 6: SIGUSR1 reopens the logs after they were renamed
--- yaml_config
access_log: { path: logs/access.log, format: combined, buffer: 0 }
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $logs = $t->servroot . '/logs';
    is($t->request("GET /hello?before")->{status}, 200, 'first request');
    rename "$logs/access.log", "$logs/access.log.1" or die "rename: $!";
    rename "$logs/error.log", "$logs/error.log.1" or die "rename: $!";
    kill 'USR1', $t->pid;
    my $end = Time::HiRes::time() + 2;
    Time::HiRes::sleep(0.05) until -e "$logs/error.log" || Time::HiRes::time() > $end;
    Time::HiRes::sleep(0.2);
    is($t->request("GET /hello?after")->{status}, 200, 'second request');
    $end = Time::HiRes::time() + 2;
    Time::HiRes::sleep(0.05)
        until $t->access_log =~ /after/ || Time::HiRes::time() > $end;
    like($t->access_log, qr{GET /hello\?after}, 'the new access log gets new lines');
    unlike($t->access_log, qr{before}, 'and not the old ones');
    like(Test::Moongate::Server::slurp("$logs/access.log.1"), qr{GET /hello\?before},
         'the renamed file kept the old lines');
    ok(-e "$logs/error.log", 'the error log was reopened');
}



=== TEST 7: SIGUSR2 rotates the session-ticket keys in the master; workers go on
--- yaml_config
worker_processes: 2
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    my @before = sort { $a <=> $b } main::worker_pids($t);
    is(scalar @before, 2, 'two workers');
    kill 'USR2', $t->pid for 1 .. 2;
    my $end = Time::HiRes::time() + 2;
    my $n = 0;
    while (Time::HiRes::time() < $end) {
        $n = () = $t->error_log =~ /session ticket keys rotated \(SIGUSR2\)/g;
        last if $n >= 1;
        Time::HiRes::sleep(0.02);
    }
    ok($n >= 1, "the master logged the rotation ($n)");
    is($t->request("GET /hello")->{status}, 200, 'still serving');
    is_deeply([sort { $a <=> $b } main::worker_pids($t)], \@before, 'the same workers');
    ok(kill(0, $t->pid), 'the master lives');
    # sent to a worker by mistake (a kill to the process group), it is ignored
    kill 'USR2', $before[0];
    Time::HiRes::sleep(0.2);
    is_deeply([sort { $a <=> $b } main::worker_pids($t)], \@before, 'a worker ignores it');
}
