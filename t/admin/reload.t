# POST /reload answers with the master's verdict: 202 and the new generation when the
# reload was accepted, 422 and the error (file:line:column) when the file is invalid,
# as JSON. The answer waits for the verdict without holding the worker up.
use Test::Moongate;
use Test::Moongate::Client;
use JSON::PP ();
use Time::HiRes ();

# post_reload($t, $timeout) -> (status, decoded JSON body or {}, seconds taken)
sub post_reload {
    my ($t, $timeout) = @_;
    my $t0 = Time::HiRes::time();
    my $r = Test::Moongate::Client::request($t->admin_port, "POST /reload", [], $timeout // 3);
    my $d = eval { JSON::PP::decode_json($r->{body} // '') } // {};
    return ($r ? $r->{status} // 0 : 0, $d, Time::HiRes::time() - $t0);
}

run_tests();

__DATA__

=== TEST 1: a valid file: 202 with the new generation
--- yaml_config
routes:
  - { name: a, paths: ["/a"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    $t->write_file('conf/moongate.yaml', $t->config(
        "routes:\n  - { name: a, paths: [\"/a\"], return: { status: 200, body: \"two\\n\" } }\n"));
    my ($status, $d) = main::post_reload($t);
    is($status, 202, '202 Accepted');
    is($d->{status}, 'accepted', 'status "accepted"');
    is($d->{generation}, 2, 'the new generation');
    like($d->{message} // '', qr/generation 2, switched in place/, 'how it was applied');
    my $end = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.02) while ($t->generation // 0) < 2 && Time::HiRes::time() < $end;
    is($t->request("GET /a")->{body}, "two\n", 'the new configuration serves');
}



=== TEST 2: an invalid file: 422 with file:line:column, and nothing changes
--- yaml_config
routes:
  - { name: a, paths: ["/a"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    $t->write_file('conf/moongate.yaml', $t->config(
        "routes:\n  - name: a\n    paths: [\"/a\"]\n    upstream: nowhere\n"));
    my ($status, $d) = main::post_reload($t);
    is($status, 422, 'status 422');
    is($d->{status}, 'rejected', 'status "rejected"');
    is($d->{generation}, 1, 'generation 1 keeps serving');
    like($d->{error} // '', qr{conf/moongate\.yaml:4:\d+: routes\[0\]\.upstream: .*nowhere},
         'the error names file:line:column and the key');
    is($t->request("GET /a")->{body}, "one\n", 'the old configuration serves');
}
--- error_log eval
[qr/reload failed, generation 1 keeps serving: .*routes\[0\]\.upstream/]



=== TEST 3: a YAML syntax error and a broken plugin are rejected with their position
--- yaml_config
routes:
  - { name: a, paths: ["/a"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    $t->write_file('conf/moongate.yaml', "routes: [\n  - { name: a\n");
    my ($status, $d) = main::post_reload($t);
    is($status, 422, 'YAML syntax error: 422');
    like($d->{error} // '', qr{conf/moongate\.yaml:\d+:\d+: }, 'with file:line:column');
    $t->write_file('plugins/p.lua', "return {\n  name = \"p\", priority = 1,\n  schema = {\n");
    $t->write_file('conf/moongate.yaml', $t->config(
        "plugins_dir: plugins\nroutes:\n  - { name: a, paths: [\"/a\"], plugins: { p: {} } }\n"));
    ($status, $d) = main::post_reload($t);
    is($status, 422, 'plugin syntax error: 422');
    like($d->{error} // '', qr{plugins/p\.lua:4: .*near '<eof>'}, 'with the plugin file and line');
    ok(JSON::PP->new->encode($d), 'the body is valid JSON (quotes escaped)');
}



=== TEST 4: a plugin whose top level loops: 422 after the load limit, the worker serves meanwhile
--- yaml_config
lua: { stall_timeout: 2s }
routes:
  - { name: a, paths: ["/a"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    $t->write_file('plugins/p.lua', "local x = 0\nwhile true do x = x + 1 end\n");
    $t->write_file('conf/moongate.yaml', $t->config(
        "lua: { stall_timeout: 2s }\nplugins_dir: plugins\n"
        . "routes:\n  - { name: a, paths: [\"/a\"], plugins: { p: {} } }\n"));
    my $pid = fork();
    if ($pid == 0) {
        my ($status, $d, $secs) = main::post_reload($t, 5);
        open my $fh, '>', $t->servroot . '/verdict';
        print $fh JSON::PP::encode_json([$status, $d, $secs]);
        close $fh;
        POSIX::_exit(0);
    }
    Time::HiRes::sleep(0.3);
    my $t0 = Time::HiRes::time();
    my $r = $t->request("GET /a");
    is($r->{status}, 200, 'the worker answers while the reload waits');
    ok(Time::HiRes::time() - $t0 < 0.5, 'at once');
    waitpid($pid, 0);
    my ($status, $d, $secs) = @{ JSON::PP::decode_json(
        Test::Moongate::Server::slurp($t->servroot . '/verdict') || '[0,{},0]') };
    is($status, 422, 'status 422');
    like($d->{error} // '', qr{plugins/p\.lua:2: plugin code did not finish loading within 1\.0 s},
         'the error names the plugin file and line');
    ok($secs > 0.9 && $secs < 3, sprintf('after the limit (%.2f s)', $secs));
}



=== TEST 5: two reloads asked at once each get a verdict
--- yaml_config
routes:
  - { name: a, paths: ["/a"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    my @s = map {
        my $s = Test::Moongate::Client::connect_to($t->admin_port, 3);
        Test::Moongate::Client::write_all($s, Test::Moongate::Client::build("POST /reload", []));
        $s
    } 1 .. 3;
    for my $s (@s) {
        my $r = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 3),
                                                      'POST');
        is($r && $r->{status}, 202, 'accepted');
    }
}
