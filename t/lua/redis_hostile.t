# mg.redis against a Redis that sends replies nobody asked for: one more after each
# real one, or one out of the blue while no command waits. hiredis aborts the process on
# a reply with no command waiting; the client's reader refuses it first, so the
# connection is closed ("the server sent a reply nobody asked for"), the commands on it
# fail, and the worker lives on. The fake server is the block's own (Perl, loopback).
use Test::Moongate;
use IO::Socket::INET;
use POSIX ();

# fake_redis($port, $mode): answers every RESP command (TIME with a time, others with
# "$2 ok"); mode "double" adds "+EXTRA" after each answer, mode "later" sends "+LATER"
# 0.2 s after the answer, when nothing waits. Returns the pid.
sub fake_redis {
    my ($port, $mode) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 16, ReuseAddr => 1, Proto => 'tcp')
        or die "fake redis: cannot listen on $port: $!\n";
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    return $pid if $pid;
    $SIG{TERM} = sub { POSIX::_exit(0) };
    while (my $c = $srv->accept) {
        next if fork(); # one process per connection
        my $buf = '';
        while (sysread($c, $buf, 65536, length $buf)) {
            # complete commands: *N then N bulk strings
            while ($buf =~ /^\*(\d+)\r\n/) {
                my ($n, $off, @args) = ($1, length($&));
                my $ok = 1;
                for (1 .. $n) {
                    if (substr($buf, $off) =~ /^\$(\d+)\r\n/ && length($buf) >= $off + length($&) + $1 + 2) {
                        push @args, substr($buf, $off + length($&), $1);
                        $off += length($&) + $1 + 2;
                    } else {
                        $ok = 0;
                        last;
                    }
                }
                last unless $ok;
                substr($buf, 0, $off) = '';
                my $out = uc($args[0]) eq 'TIME' ? "*2\r\n\$10\r\n1700000000\r\n\$1\r\n0\r\n" : "\$2\r\nok\r\n";
                $out .= "+EXTRA\r\n" if $mode eq 'double';
                syswrite $c, $out;
                if ($mode eq 'later') {
                    select(undef, undef, undef, 0.2);
                    syswrite $c, "+LATER\r\n";
                }
            }
        }
        POSIX::_exit(0);
    }
    POSIX::_exit(0);
}

our $PLUGIN = <<'LUA';
>>> r.lua
local mg = require "moongate"
return {
    name = "r", version = "1.0", priority = 100,
    schema = { type = "record", fields = { port = { type = "integer", required = true } } },
    access = function(conf)
        local red = assert(mg.redis.new{ address = "127.0.0.1:" .. conf.port, timeout = 1000 })
        local out = {}
        for i = 1, 3 do
            local v, err = red:get("k")
            out[#out + 1] = tostring(v) .. " " .. tostring(err)
            mg.sleep(0.3)
        end
        return 200, table.concat(out, "\n") .. "\n"
    end,
}
LUA

# log_has($t, $re): the error log matches $re within 3 s (workers write it as they go;
# on a loaded machine a line can land after the answer that followed it)
sub log_has {
    my ($t, $re) = @_;
    my $end = Time::HiRes::time() + 3;
    while (1) {
        return 1 if $t->error_log =~ $re;
        return 0 if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

sub run_mode {
    my ($t, $mode) = @_;
    my $pid = main::fake_redis($t->fill('$MG_RAND_PORT_1'), $mode);
    my @pids = map { $t->request("GET /x$_", [], 8) } 1 .. 2;
    kill 'TERM', $pid;
    waitpid($pid, 0);
    return @pids;
}

run_tests();

__DATA__

=== TEST 1: one reply too many after each answer: the connection is closed, the commands fail or retry, the worker lives
--- yaml_config
routes:
  - { paths: ["/*"], plugins: { r: { port: $MG_RAND_PORT_1 } } }
--- lua_plugins eval
$main::PLUGIN
--- test_code eval
sub {
    my $t = shift;
    my @r = main::run_mode($t, 'double');
    for my $r (@r) {
        is($r->{status}, 200, 'the plugin answers');
        # a reply the server slipped in before the real one is taken for it (no client
        # can tell); the real one then has no command and closes the connection
        like($r->{body}, qr/^(\S+ nil|nil .+)\n(\S+ nil|nil .+)\n(\S+ nil|nil .+)\n$/, 'each command: a value, or an error');
    }
    like(join('', map { $_->{body} } @r), qr/nil the server sent a reply nobody asked for/,
        'a command on the closed connection says why');
    ok(main::log_has($t, qr/the server sent a reply nobody asked for/), 'the reason is logged');
    unlike($t->error_log, qr/killed by signal|Assertion/, 'no worker died');
    $t->stop;
}
--- error_log
the server sent a reply nobody asked for
--- no_error_log
killed by signal
Assertion

=== TEST 2: a reply out of the blue while nothing waits: the connection is closed, the worker lives
--- yaml_config
routes:
  - { paths: ["/*"], plugins: { r: { port: $MG_RAND_PORT_1 } } }
--- lua_plugins eval
$main::PLUGIN
--- test_code eval
sub {
    my $t = shift;
    my @r = main::run_mode($t, 'later');
    for my $r (@r) {
        is($r->{status}, 200, 'the plugin answers');
    }
    ok(main::log_has($t, qr/the server sent a reply nobody asked for/), 'the reason is logged');
    unlike($t->error_log, qr/killed by signal|Assertion/, 'no worker died');
    $t->stop;
}
--- error_log
the server sent a reply nobody asked for
--- no_error_log
killed by signal
Assertion
