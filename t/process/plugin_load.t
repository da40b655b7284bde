# Plugin code that runs while it loads (a file's top level) never hangs the master nor
# a worker: `-t` and reloads reject a plugin that loops or blocks with its file and
# line once half of lua.stall_timeout has passed, and meanwhile the master goes on
# serving signals and replacing workers.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

# plugin($top) -> the source of plugin "p" whose top level runs $top first.
sub plugin {
    my ($top) = @_;
    return "$top\nreturn { name = \"p\", version = \"1\", priority = 1,\n"
        . "    schema = { type = \"record\", fields = {} },\n"
        . "    access = function() return 200, \"p\\n\" end }\n";
}

# timed($t, @args) -> (exit code, output, seconds) of the binary, killed after 10 s
# (exit code 124) should it hang.
sub timed {
    my ($t, @args) = @_;
    my $cmd = join ' ', map { quotemeta } 'timeout', '10', $t->bin, @args;
    my $t0 = Time::HiRes::time();
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out, Time::HiRes::time() - $t0);
}

run_tests();

__DATA__

=== TEST 1: -t stops a top-level loop (even inside pcall) after the limit, naming file and line
--- yaml_config
lua: { stall_timeout: 600ms }
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- user_files
>>> conf/loop.yaml
lua: { stall_timeout: 600ms }
plugins_dir: plugins
routes:
  - { name: p, paths: ["/*"], plugins: { p: {} } }
--- test_code eval
sub {
    my $t = shift;
    my $conf = $t->servroot . '/conf/loop.yaml';
    for my $loop ('local n = 0 while true do n = n + 1 end',
                  'while true do pcall(function() while true do end end) end') {
        $t->write_file('plugins/p.lua', main::plugin("local x = 1\n$loop"));
        my ($code, $out, $secs) = main::timed($t, '-t', '-p', $t->servroot, '-c', $conf);
        is($code, 1, "-t exits 1 ($loop)");
        like($out, qr{plugins/p\.lua:2: plugin code did not finish loading within 0\.3 s},
             'the error names the plugin file and line');
        ok($secs > 0.25 && $secs < 2, sprintf('after the limit (%.2f s)', $secs));
    }
}



=== TEST 2: -t ends a top-level call that blocks in C, naming the line that made it
--- yaml_config
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- user_files
>>> conf/block.yaml
lua: { stall_timeout: 600ms }
plugins_dir: plugins
routes:
  - { name: p, paths: ["/*"], plugins: { p: {} } }
--- test_code eval
sub {
    my $t = shift;
    # opening a FIFO nobody writes to blocks inside the C library, with no child process
    my $fifo = $t->servroot . '/fifo';
    POSIX::mkfifo($fifo, 0600) or die "mkfifo: $!";
    $t->write_file('plugins/p.lua', main::plugin("local x = 1\nlocal f = io.open('$fifo')"));
    my ($code, $out, $secs) = main::timed($t, '-t', '-p', $t->servroot,
                                          '-c', $t->servroot . '/conf/block.yaml');
    is($code, 1, '-t exits 1');
    like($out, qr{plugins/p\.lua:2: plugin code did not finish loading within 0\.3 s.*C function},
         'the error names the line that called into C');
    ok($secs < 2.5, sprintf('within the limit and the grace (%.2f s)', $secs));
}



=== TEST 3: a reload with a looping plugin is rejected; meanwhile the master serves signals
--- yaml_config
lua: { stall_timeout: 4s }
worker_processes: 1
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    my ($old) = map { $_->{pid} } @{ $t->status->{workers} };
    $t->write_file('plugins/p.lua', main::plugin("local x = 1\nwhile true do x = x + 1 end"));
    my $log_before = -s $t->error_log_file;
    $t->write_file('conf/moongate.yaml', $t->config(
        "lua: { stall_timeout: 4s }\nplugins_dir: plugins\n"
        . "routes:\n  - { name: p, paths: [\"/*\"], plugins: { p: {} } }\n"));
    my $t0 = Time::HiRes::time();
    kill 'HUP', $t->pid;
    Time::HiRes::sleep(0.3);
    # the plugin loads for 2 s: the master still replaces a killed worker
    kill 'KILL', $old;
    my ($new, $end) = (undef, Time::HiRes::time() + 1.5);
    while (!$new && Time::HiRes::time() < $end) {
        Time::HiRes::sleep(0.02);
        ($new) = grep { $_ != $old } map { $_->{pid} } @{ ($t->status // {})->{workers} // [] };
    }
    ok($new, 'a killed worker is replaced during the reload') or diag($t->error_log);
    ok(Time::HiRes::time() - $t0 < 1.9, 'before the plugin load ends');
    $end = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.05)
        until $t->log_since($log_before) =~ /reload failed/ || Time::HiRes::time() > $end;
    like($t->log_since($log_before),
         qr{reload failed, generation 1 keeps serving: \S*plugins/p\.lua:2: plugin code did not finish loading within 2\.0 s},
         'rejected with file and line');
    is($t->request("GET /hello")->{body}, "hello\n", 'the old configuration serves');
    is($t->generation, 1, 'generation 1');
}
--- error_log eval
[qr/worker \d+ \(slot 0\) killed by signal 9/]



=== TEST 4: SIGQUIT while a reload's plugin blocks in C: the master exits at once
--- yaml_config
lua: { stall_timeout: 20s }
routes:
  - { name: h, paths: ["/hello"], return: { status: 200, body: "hello\n" } }
--- test_code eval
sub {
    my $t = shift;
    $t->write_file('plugins/p.lua', main::plugin("os.execute('sleep 3')"));
    $t->write_file('conf/moongate.yaml', $t->config(
        "lua: { stall_timeout: 20s }\nplugins_dir: plugins\n"
        . "routes:\n  - { name: p, paths: [\"/*\"], plugins: { p: {} } }\n"));
    kill 'HUP', $t->pid;
    Time::HiRes::sleep(0.3);
    my $t0 = Time::HiRes::time();
    kill 'QUIT', $t->pid;
    my $st = $t->wait_exit(2);
    ok(defined $st, sprintf('the master exited (%.2f s)', Time::HiRes::time() - $t0));
    is(defined $st ? $st >> 8 : -1, 0, 'with status 0');
}



=== TEST 5: a worker whose in-place load overruns keeps its generation and goes on serving
--- yaml_config
lua: { stall_timeout: 1s }
routes:
  - { name: h, paths: ["/*"], return: { status: 200, body: "one\n" } }
--- test_code eval
sub {
    my $t = shift;
    # the first load (the master's check) leaves a mark; the next (the worker's) loops
    my $mark = $t->servroot . '/mark';
    $t->write_file('plugins/p.lua', main::plugin(
        "local f = io.open('$mark')\n"
        . "if f then f:close() while true do end end\n"
        . "io.open('$mark', 'w'):close()"));
    my $log_before = -s $t->error_log_file;
    $t->write_file('conf/moongate.yaml', $t->config(
        "lua: { stall_timeout: 1s }\nplugins_dir: plugins\n"
        . "routes:\n  - { name: p, paths: [\"/*\"], plugins: { p: {} } }\n"));
    kill 'HUP', $t->pid;
    my $end = Time::HiRes::time() + 4;
    Time::HiRes::sleep(0.05)
        until $t->log_since($log_before) =~ /rejected, keeping/ || Time::HiRes::time() > $end;
    like($t->log_since($log_before),
         qr{generation 2 rejected, keeping 1: \S*plugins/p\.lua:2: plugin code did not finish loading within 0\.5 s},
         'the worker names file and line');
    unlike($t->log_since($log_before), qr/stalled for/, 'before the stall watchdog would kill it');
    is($t->request("GET /x")->{body}, "one\n", 'and serves its old generation');
}
