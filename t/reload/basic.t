# Reloads: new routes take effect, bad files are rejected while the old configuration
# keeps serving, and connections or requests open across a reload are not disturbed.
use Test::Moongate;
use Test::Moongate::Client;

# start_load($t, $n) -> pids of $n clients, each sending GETs over one keep-alive
# connection (reopened when the server closes it) until <servroot>/stop exists. Each
# writes "ok failed idle_closed" and the reasons to <servroot>/load.N. A connection
# closed before any byte of the answer, right after a previous answer on it, is the
# usual keep-alive race every HTTP client retries: counted apart, and retried.
sub start_load {
    my ($t, $n) = @_;
    my $dir = $t->servroot;
    my @kids;
    for my $k (1 .. $n) {
        my $pid = fork();
        if ($pid == 0) {
            my ($ok, $bad, $idle, $rd, $used, $why) = (0, 0, 0, undef, 0, '');
            while (!-e "$dir/stop") {
                if (!$rd) {
                    my $s = Test::Moongate::Client::connect_to($t->port, 3)
                        or do { $bad++; $why .= "connect: $!\n"; next };
                    $rd = Test::Moongate::Client::new_reader($s, 3);
                    $used = 0;
                }
                my $path = $k % 2 ? "/hello" : "/k$k";
                my $r = Test::Moongate::Client::write_all($rd->{sock},
                            Test::Moongate::Client::build("GET $path", []))
                    && Test::Moongate::Client::read_response($rd, 'GET');
                if ($r && ($r->{status} // 0) == 200 && !$r->{truncated}) {
                    $ok++;
                } elsif (!$r && $used && $rd->{eof} && !$rd->{timed_out}) {
                    $idle++;
                } else {
                    $bad++;
                    $why .= ($r ? "status " . ($r->{status} // 'none') : "no answer") . "\n";
                }
                $used++;
                if (!$r || Test::Moongate::Client::closes($r) || $r->{truncated}) {
                    close $rd->{sock};
                    undef $rd;
                }
            }
            open my $fh, '>', "$dir/load.$k";
            print $fh "$ok $bad $idle\n$why";
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    return @kids;
}

# stop_load($t, @pids) -> (ok, failed, idle_closed, reasons) summed over the clients.
sub stop_load {
    my ($t, @kids) = @_;
    my $dir = $t->servroot;
    open my $fh, '>', "$dir/stop";
    close $fh;
    waitpid($_, 0) for @kids;
    my ($ok, $bad, $idle, $why) = (0, 0, 0, '');
    for my $k (1 .. @kids) {
        my $text = Test::Moongate::Server::slurp("$dir/load.$k");
        my ($o, $b, $i, $w) = $text =~ /^(\d+) (\d+) (\d+)\n(.*)\z/s or next;
        ($ok, $bad, $idle, $why) = ($ok + $o, $bad + $b, $idle + $i, $why . $w);
    }
    unlink "$dir/stop";
    return ($ok, $bad, $idle, $why);
}

# The configuration of reload number $i under load; $workers alternates when given.
sub load_yaml {
    my ($t, $i, $workers) = @_;
    my $port = $t->echo_port;
    my $yaml = "upstreams:\n  - name: echo\n    nodes: [{ address: \"127.0.0.1:$port\" }]\n"
        . "routes:\n  - { name: a, paths: [\"/*\"], upstream: echo }\n"
        . "  - { name: r$i, paths: [\"/r$i\"], return: { status: 200, body: \"$i\" } }\n";
    $yaml .= "worker_processes: $workers\n" if $workers;
    return $yaml;
}

run_tests();

__DATA__

=== TEST 1: a route change takes effect (signal)
--- yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "one\n" } }
--- request eval
["GET /r", "GET /r", "GET /new"]
--- reload_after: 1
--- reload_yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "two\n" } }
  - { name: n, paths: ["/new"], return: { status: 201, body: "new\n" } }
--- error_code eval
[200, 200, 201]
--- response_body eval
["one\n", "two\n", "new\n"]



=== TEST 2: a route change takes effect (admin POST /reload)
--- yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "one\n" } }
--- request eval
["GET /r", "GET /r"]
--- reload_after: 1
--- reload_by: admin
--- reload_yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "two\n" } }
--- response_body eval
["one\n", "two\n"]



=== TEST 3: a bad file is rejected with file:line:column and the old routes keep serving
--- yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "one\n" } }
--- request eval
["GET /r", "GET /r"]
--- reload_after: 1
--- reload_yaml_config
routes:
  - { name: r, paths: ["/r"], upstream: userz }
--- reload_fails
--- response_body eval
["one\n", "one\n"]
--- error_log eval
[qr/reload failed/, qr{conf/moongate\.yaml:\d+:\d+: routes\[0\]\.upstream: .*userz}]



=== TEST 4: a YAML syntax error is rejected too
--- yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "one\n" } }
--- request eval
["GET /r", "GET /r"]
--- reload_after: 1
--- reload_yaml_config
routes:
  - { name: r, paths: ["/r"
--- reload_fails
--- response_body eval
["one\n", "one\n"]
--- error_log eval
[qr{conf/moongate\.yaml:\d+:\d+:}]



=== TEST 5: a proxied keep-alive connection opened before a reload keeps working
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: a, paths: ["/*"], upstream: echo }
--- request eval
["GET /before", "GET /after", "GET /hello"]
--- reload_after: 1
--- reload_yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    retries: 0
routes:
  - { name: a, paths: ["/*"], upstream: echo }
  - { name: h, paths: ["/hello"], return: { status: 200, body: "from the new config\n" } }
--- error_code eval
[200, 200, 200]
--- response_body_like eval
['"uri":"/before"', '"uri":"/after"', "^from the new config\n\$"]



=== TEST 6: an in-flight slow request started before a reload completes after it
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
    Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("GET /delay/800", []));
    select undef, undef, undef, 0.1;
    my $err = $t->reload(<<'YAML');
routes:
  - { name: gone, paths: ["/*"], return: { status: 410, body: "gone\n" } }
YAML
    is($err, '', 'reloaded while the request is in flight');
    my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 5),
                                                  'GET');
    is($r && $r->{status}, 200, 'the slow request completed');
    like($r ? $r->{body} : '', qr{"uri":"/delay/800"}, 'with the old route');
    is($t->request("GET /x")->{status}, 410, 'new requests use the new config');
}



=== TEST 7: a listen address change replaces the workers
--- yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    my @old = map { $_->{pid} } @{ $t->status->{workers} };
    my $port2 = $t->fill('$MG_RAND_PORT_1');
    my $err = $t->reload(<<"YAML");
listen: ["127.0.0.1:$port2"]
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "two\\n" } }
YAML
    is($err, '', 'reloaded');
    my $r = Test::Moongate::Client::request($port2, "GET /r", [], 2);
    is($r && $r->{body}, "two\n", 'the new address serves the new config');
    my $end = time + 5;
    my %old = map { $_ => 1 } @old;
    my @now;
    do {
        @now = map { $_->{pid} } grep { $_->{generation} == $t->generation }
            @{ $t->status->{workers} };
        select undef, undef, undef, 0.05;
    } while (!@now && time < $end);
    ok(@now && !grep({ $old{$_} } @now), "new worker pids (@old -> @now)");
    $end = time + 5;
    select undef, undef, undef, 0.05
        while Test::Moongate::Server::port_open($t->port) && time < $end;
    ok(!Test::Moongate::Server::port_open($t->port), 'the old address is closed');
}



=== TEST 8: 20 in-place reloads under continuous keep-alive load lose no request
--- yaml_config
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: a, paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my @kids = main::start_load($t, 4);
    my $failed_reloads = 0;
    for my $i (1 .. 20) {
        $failed_reloads++ if $t->reload(main::load_yaml($t, $i));
        select undef, undef, undef, 0.05;
    }
    my ($ok, $bad, $idle, $why) = main::stop_load($t, @kids);
    is($failed_reloads, 0, '20 reloads done');
    ok($ok > 100, "requests served during the reloads ($ok)");
    is($bad, 0, 'no failed request') or diag(substr($why, 0, 2000));
    is($idle, 0, 'no keep-alive connection closed: in-place reloads keep them');
}



=== TEST 9: 10 reloads that replace the workers under load lose no request
--- yaml_config
worker_processes: 1
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
routes:
  - { name: a, paths: ["/*"], upstream: echo }
--- timeout: 20
--- test_code eval
sub {
    my $t = shift;
    my @kids = main::start_load($t, 4);
    my $failed_reloads = 0;
    for my $i (1 .. 10) {
        $failed_reloads++ if $t->reload(main::load_yaml($t, $i, $i % 2 ? 2 : 1));
        select undef, undef, undef, 0.1;
    }
    my ($ok, $bad, $idle, $why) = main::stop_load($t, @kids);
    is($failed_reloads, 0, '10 reloads done');
    ok($ok > 100, "requests served during the reloads ($ok, $idle idle keep-alive closes)");
    is($bad, 0, 'no failed request') or diag(substr($why, 0, 2000));
}



=== TEST 10: a bad file reloaded through the admin API: 422 there, and the old routes keep serving
--- yaml_config
routes:
  - { name: r, paths: ["/r"], return: { status: 200, body: "one\n" } }
--- request eval
["GET /r", "GET /r"]
--- reload_after: 1
--- reload_by: admin
--- reload_yaml_config
routes:
  - { name: r, paths: ["/r"], upstream: userz }
--- reload_fails
--- response_body eval
["one\n", "one\n"]
--- error_log eval
[qr/reload failed/, qr{conf/moongate\.yaml:\d+:\d+: routes\[0\]\.upstream: .*userz}]
