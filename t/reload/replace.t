# Reloads that replace the workers: the old workers hand over without failing a
# request. A connection an old worker holds when it starts to drain is still answered
# (with Connection: close) when its request arrives after that; one that stays idle is
# closed after a short grace; under wrk load no request fails, with keep-alive or with
# Connection: close. (tools/reload-soak is the long version of the wrk blocks.)
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

# The configuration of reload $i: the worker count alternates, so each one replaces
# the workers.
sub conf_for {
    my ($i) = @_;
    my $w = $i % 2 ? 2 : 1;
    return "worker_processes: $w\nroutes:\n"
        . "  - { name: r$i, paths: [\"/*\"], return: { status: 200, body: \"gen $i\\n\" } }\n";
}

# wait_draining($t, $pid) -> true once /status shows worker $pid draining (or gone).
sub wait_draining {
    my ($t, $pid) = @_;
    my $end = Time::HiRes::time() + 3;
    while (Time::HiRes::time() < $end) {
        my ($w) = grep { $_->{pid} == $pid } @{ ($t->status // {})->{workers} // [] };
        return 1 if !$w || $w->{draining};
        Time::HiRes::sleep(0.01);
    }
    return 0;
}

# wrk_soak($t, $reloads, @wrk_args) -> (total, failed, reloads done, wrk output)
sub wrk_soak {
    my ($t, $reloads, @args) = @_;
    my $out = $t->servroot . '/wrk.txt';
    my $secs = int($reloads * 0.5) + 2;
    my $pid = fork();
    if ($pid == 0) {
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec 'wrk', '-t2', '-c50', "-d${secs}s", @args, 'http://127.0.0.1:' . $t->port . '/'
            or POSIX::_exit(127);
    }
    Time::HiRes::sleep(0.5);
    my $done = 0;
    for my $i (1 .. $reloads) {
        $done++ unless $t->reload(main::conf_for($i));
        Time::HiRes::sleep(0.2);
    }
    waitpid($pid, 0);
    my $text = Test::Moongate::Server::slurp($out);
    my ($total) = $text =~ /(\d+) requests in /;
    my $failed = 0;
    $failed += $1 if $text =~ /Non-2xx or 3xx responses: (\d+)/;
    if ($text =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
        $failed += $1 + $2 + $3 + $4;
    }
    return ($total // 0, $failed, $done, $text);
}

sub have_wrk { system('sh', '-c', 'command -v wrk >/dev/null 2>&1') == 0 }

run_tests();

__DATA__

=== TEST 1: connections an old worker holds are answered when their request comes after the drain started
--- yaml_config
worker_processes: 1
routes:
  - { name: r0, paths: ["/*"], return: { status: 200, body: "gen 0\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($old) = map { $_->{pid} } @{ $t->status->{workers} };
    # a keep-alive connection that served one request, and one that sent nothing yet
    my $ka = Test::Moongate::Client::new_reader(Test::Moongate::Client::connect_to($t->port));
    Test::Moongate::Client::write_all($ka->{sock}, Test::Moongate::Client::build("GET /a", []));
    my $r = Test::Moongate::Client::read_response($ka, 'GET');
    is($r && $r->{status}, 200, 'first answer on the keep-alive connection');
    my $fresh = Test::Moongate::Client::new_reader(Test::Moongate::Client::connect_to($t->port));
    Time::HiRes::sleep(0.1); # accepted by the old worker
    is($t->reload(main::conf_for(1)), '', 'a reload that replaces the worker');
    ok(main::wait_draining($t, $old), 'the old worker drains');
    for my $c (['keep-alive', $ka], ['fresh', $fresh]) {
        Test::Moongate::Client::write_all($c->[1]{sock},
                                          Test::Moongate::Client::build("GET /b", []));
        $r = Test::Moongate::Client::read_response($c->[1], 'GET');
        is($r && $r->{status}, 200, "$c->[0] connection: the request is answered");
        is($r && $r->{body}, "gen 0\n", "$c->[0] connection: by the old generation");
        like($r ? $r->{headers}{connection} // '' : '', qr/close/i,
             "$c->[0] connection: with Connection: close");
    }
    is($t->request("GET /c")->{body}, "gen 1\n", 'a new connection gets the new workers');
}



=== TEST 2: an idle connection of a draining worker is closed after the grace, and the worker exits
--- yaml_config
worker_processes: 1
routes:
  - { name: r0, paths: ["/*"], return: { status: 200, body: "gen 0\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($old) = map { $_->{pid} } @{ $t->status->{workers} };
    my $ka = Test::Moongate::Client::new_reader(Test::Moongate::Client::connect_to($t->port), 4);
    Test::Moongate::Client::write_all($ka->{sock}, Test::Moongate::Client::build("GET /a", []));
    my $r = Test::Moongate::Client::read_response($ka, 'GET');
    is($r && $r->{status}, 200, 'first answer');
    is($t->reload(main::conf_for(1)), '', 'a reload that replaces the worker');
    ok(main::wait_draining($t, $old), 'the old worker drains');
    my $t0 = Time::HiRes::time();
    my $more = Test::Moongate::Client::fill($ka);
    my $took = Time::HiRes::time() - $t0;
    ok(!$more && $ka->{eof}, 'the idle connection is closed by the server');
    ok($took > 0.5 && $took < 2, sprintf('after the grace (%.2f s)', $took));
    my $end = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.05) while kill(0, $old) && Time::HiRes::time() < $end;
    ok(!kill(0, $old), 'the old worker exited');
}



=== TEST 3: worker-replacing reloads under wrk -c50 with keep-alive fail no request
--- yaml_config
worker_processes: 2
routes:
  - { name: r0, paths: ["/*"], return: { status: 200, body: "gen 0\n" } }
--- timeout: 20
--- test_code eval
sub {
    my $t = shift;
    {
        return Test::More->builder->skip('wrk is not installed') unless main::have_wrk();
        my ($total, $failed, $done, $text) = main::wrk_soak($t, 6);
        is($done, 6, '6 reloads done');
        ok($total > 1000, "requests made ($total)");
        is($failed, 0, "no failed request ($failed/$total)") or diag($text);
    }
}



=== TEST 4: worker-replacing reloads under wrk -c50 with Connection: close fail no request
--- yaml_config
worker_processes: 2
routes:
  - { name: r0, paths: ["/*"], return: { status: 200, body: "gen 0\n" } }
--- timeout: 20
--- test_code eval
sub {
    my $t = shift;
    {
        return Test::More->builder->skip('wrk is not installed') unless main::have_wrk();
        my ($total, $failed, $done, $text) = main::wrk_soak($t, 6, '-H', 'Connection: close');
        is($done, 6, '6 reloads done');
        ok($total > 1000, "requests made ($total)");
        is($failed, 0, "no failed request ($failed/$total)") or diag($text);
    }
}
