package Test::Moongate;

# Data-driven tests for moongate in the Test::Nginx block format (see docs/testing.md):
#
#     use Test::Moongate;
#     run_tests();
#     __DATA__
#     === TEST 1: hello
#     --- yaml_config
#     routes: [{ paths: ["/hello"], return: { status: 200, body: "hi\n" } }]
#     --- request
#     GET /hello
#     --- response_body
#     hi
#
# Each block gets a fresh server root and its own moongate master, started in the
# foreground as our child and stopped with QUIT, TERM, KILL. Written on Test::Base;
# every function here has a prototype because `-Base` would otherwise take its first
# argument as $self.

use Test::Base -Base;

use Cwd ();
use Fcntl qw(:flock);
use File::Basename ();
use File::Path ();
use File::Spec ();
use POSIX ();
use Time::HiRes ();
use Test::Moongate::Client;
use Test::Moongate::Echo;
use Test::Moongate::Redis;
use Test::Moongate::Scripted;
use Test::Moongate::Server;

our @EXPORT = qw(run_tests repeat_each mg_root mg_bin);

# `eval` sections run in Test::Base::Filter: give test_code and check subs Test::More.
{
    package Test::Base::Filter;
    Test::More->import(import => [qw(ok is isnt like unlike is_deeply cmp_ok pass fail diag note)]);
}

our $RepeatEach = 1;
my $MainPid = $$;
my (%Echo, $LockFh, $Current, $CurrentRedis);

# The repository root: three levels above this file (t/lib/Test/Moongate.pm).
sub mg_root () {
    my $here = File::Spec->rel2abs(__FILE__);
    return Cwd::abs_path(File::Basename::dirname($here) . '/../../..');
}

# The binary under test: $MG_BIN, or build/moongate in the repository.
sub mg_bin () {
    return File::Spec->rel2abs($ENV{MG_BIN}) if $ENV{MG_BIN};
    return mg_root() . '/build/moongate';
}

# repeat_each(N): runs every block N times (a block's `repeat` overrides it).
sub repeat_each (@) {
    $RepeatEach = shift if @_;
    return $RepeatEach;
}

# echo_port($n) -> port of echo upstream number $n (1 or 2), started on first use and
# kept for the whole file.
sub echo_port ($) {
    my $n = shift;
    return $Echo{$n}{port} if $Echo{$n};
    my $port = Test::Moongate::Server::free_port();
    $Echo{$n} = { port => $port, pid => Test::Moongate::Echo::start($port) };
    return $port;
}

END {
    if ($$ == $MainPid) {
        local $?;    # keep the test's exit status: waitpid() would overwrite it
        $Current->stop if $Current;
        $CurrentRedis->stop if $CurrentRedis;
        Test::Moongate::Echo::stop($_->{pid}) for values %Echo;
    }
}

# use_random_ports() -> true when the fixed port/server root cannot be ours: asked
# for, parallel prove, or another run of this checkout holds the lock file.
sub use_random_ports () {
    return 1 if $ENV{MG_TEST_RANDOM_PORTS};
    return 1 if ($ENV{HARNESS_OPTIONS} // '') =~ /(?:^|:)j\d*/;
    return 0 if $LockFh;
    (my $key = mg_root()) =~ s/[^A-Za-z0-9]+/_/g;
    my $lock = File::Spec->tmpdir . "/moongate-test$key.lock";
    open my $fh, '>>', $lock or return 1;
    return 1 unless flock($fh, LOCK_EX | LOCK_NB);
    $LockFh = $fh;
    return 1 if Test::Moongate::Server::port_open($ENV{MG_TEST_PORT} // 1984);
    return 0;
}

# run_tests(): runs every selected block. Plans no_plan itself when the file did not.
sub run_tests () {
    Test::More::plan('no_plan') unless Test::More->builder->has_plan;
    my $random = use_random_ports();
    my $sel = $ENV{MG_TEST_BLOCK};
    for my $block (Test::Base::blocks()) {
        if (defined $sel && length $sel) {
            next unless $sel =~ /^\d+$/ ? block_number($block) == $sel
                                        : index($block->name, $sel) >= 0;
        }
        my $n = defined $block->repeat ? trim_val($block->repeat) : $RepeatEach;
        for my $i (1 .. $n) {
            run_block($block, $random);
        }
    }
}

# The number written in "TEST n: ...", else the block's position.
sub block_number ($) {
    my $block = shift;
    return $1 if $block->name =~ /^TEST\s+(\d+)/;
    return $block->seq_num;
}

sub trim_val ($) {
    my $v = shift;
    return $v if ref $v;
    $v //= '';
    $v =~ s/^\s+|\s+$//g;
    return $v;
}

# is_eval($block, $name) -> true when the section was written `--- name eval`.
sub is_eval ($$) {
    my ($block, $name) = @_;
    my $map = $block->{_section_map} && $block->{_section_map}[0];
    return (($map && $map->{$name} && $map->{$name}{filters}) // '') =~ /\beval\b/;
}

# section($block, $name) -> the section's value, or undef when absent.
sub section ($$) {
    my ($block, $name) = @_;
    return undef unless exists $block->{$name};
    my $v = $block->$name;
    return $v;
}

sub run_block ($$) {
    my ($block, $random) = @_;
    my $name = $block->name;
    my $port = $random ? Test::Moongate::Server::free_port() : ($ENV{MG_TEST_PORT} // 1984);
    my $root = mg_root() . '/t/' . ($random ? "servroot_$port" : 'servroot');
    my $text = join "\n", map { !ref $_ ? $_ // '' : ref $_ eq 'ARRAY' ? "@$_" : '' }
        map { @{ $block->{$_} } } grep { ref $block->{$_} eq 'ARRAY' } keys %$block;
    my %vars = (MG_PORT => $port, MG_SERVROOT => $root, MG_PLUGINS => "$root/plugins",
                MG_ECHO_PORT => echo_port(1));
    $vars{MG_ECHO_PORT2} = echo_port(2) if $text =~ /\$MG_ECHO_PORT2/;
    my $failed_before = failures();
    # `--- redis` (or $MG_REDIS_PORT): a redis-server of the block's own
    my $redis;
    if (defined section($block, 'redis') || $text =~ /\$MG_REDIS_PORT/) {
        $redis = eval { Test::Moongate::Redis->new };
        if (!$redis) {
            fail("$name - redis-server");
            diag($@);
            return;
        }
        $vars{MG_REDIS_PORT} = $redis->port;
        $CurrentRedis = $redis;
    }
    my $t = Test::Moongate::Server->new(bin => mg_bin(), servroot => $root, port => $port,
                                        vars => \%vars, name => $name, redis => $redis);
    if (!-x $t->bin) {
        fail("$name - server binary");
        diag("no executable at " . $t->bin . " (run `make`, or set MG_BIN)");
        return;
    }
    $t->prepare_root;
    if (defined(my $spec = section($block, 'tls_certs'))) {
        # certificates made now by the openssl command (Test::Moongate::TLS), under
        # certs/ of the server root
        require Test::Moongate::TLS;
        if (!eval { Test::Moongate::TLS::make_certs($root, $t->fill($spec)); 1 }) {
            fail("$name - tls_certs");
            diag($@);
            return;
        }
    }
    $t->write_files(section($block, 'user_files'), '');
    $t->write_files(section($block, 'lua_plugins'), 'plugins');
    my $scripted;
    $Current = $t;
    my $ok = eval {
        $scripted = start_scripted($t, $block);
        if (defined section($block, 'must_die')) {
            run_must_die($t, $block);
        } else {
            run_live($t, $block);
        }
        1;
    };
    if (!$ok) {
        fail("$name - block ran to the end");
        diag($@);
        $t->stop;
    }
    undef $Current;
    if ($redis) {
        $redis->stop;
        undef $CurrentRedis;
    }
    Test::Moongate::Scripted::stop($_) for @{ $scripted // [] };
    File::Path::remove_tree($root)
        if !$ENV{MG_TEST_NO_CLEAN} && failures() == $failed_before;
}

sub failures () {
    return scalar grep { !$_ } Test::More->builder->summary;
}

# Starts the scripted upstream of `upstream_listen` + `upstream_reply`, if any.
sub start_scripted ($$) {
    my ($t, $block) = @_;
    my $listen = section($block, 'upstream_listen');
    return undef unless defined $listen;
    my $reply = section($block, 'upstream_reply') // '';
    my @replies = map { $t->fill($_) } ref $reply eq 'ARRAY' ? @$reply : ($reply);
    my @pids;
    for my $port (split ' ', $t->fill($listen)) {
        # listening before start() returns: no probe connection that would be counted
        push @pids, Test::Moongate::Scripted::start($port, \@replies,
                                                    $t->servroot . '/upstream_accepted');
    }
    return \@pids;
}

# must_die: the server must refuse to start (exit non-zero, or the given code).
sub run_must_die ($$) {
    my ($t, $block) = @_;
    my $name = $block->name;
    $t->write_file('conf/moongate.yaml', $t->config(section($block, 'yaml_config'), 1));
    $t->start;
    my $st = $t->wait_exit($ENV{MG_TEST_VALGRIND} ? 30 : 5);
    if (!defined $st) {
        fail("$name - the server must refuse to start");
        diag("it is still running after 5 s");
        $t->stop;
        return;
    }
    my $code = $st >> 8;
    my $want = trim_val(section($block, 'must_die'));
    if (length $want) {
        is($code, $want, "$name - exit code");
    } else {
        ok($code != 0 || ($st & 127), "$name - exits with an error")
            or diag("exit status $code");
    }
    check_logs($t, $block, $t->stderr_log . $t->error_log);
}

# A normal block: start, wait until serving, send the requests, check, stop.
sub run_live ($$) {
    my ($t, $block) = @_;
    my $name = $block->name;
    $t->write_file('conf/moongate.yaml', $t->config(section($block, 'yaml_config')));
    $t->start;
    my $why = $t->wait_ready(10);
    if ($why) {
        fail("$name - server start");
        diag("$why\n" . log_tail($t));
        $t->stop;
        return;
    }
    my $res = send_requests($t, $block);
    if (defined(my $code = section($block, 'test_code'))) {
        my $ok = eval { die "test_code must be an eval section returning a sub\n"
                            unless ref $code eq 'CODE';
                        $code->($t, $block, $res); 1 };
        ok($ok, "$name - test_code") or diag($@);
    }
    my $wait = section($block, 'wait');
    Time::HiRes::sleep(trim_val($wait)) if defined $wait;
    check_responses($t, $block, $res);
    check_accepted($t, $block);
    check_logs($t, $block, undef);
    $t->stop;
    check_bad_lines($t, $block);
}

sub log_tail ($) {
    my $t = shift;
    my @l = split /\n/, $t->stderr_log . $t->error_log;
    splice @l, 0, @l - 20 if @l > 20;
    return "last log lines:\n" . join("\n", map { "  $_" } @l);
}

sub timeout_of ($) {
    my $block = shift;
    my $v = trim_val(section($block, 'timeout') // 3);
    $v =~ s/s$//;
    return $v;
}

# Builds the list of request byte strings from the block's request sections.
sub build_requests ($$) {
    my ($t, $block) = @_;
    my @hdr = grep { length } split /\n/, $t->fill(section($block, 'more_headers') // '');
    my $mk = sub {
        my $spec = $t->fill(shift);
        $spec =~ s/\n\z// unless is_eval($block, 'request');
        return Test::Moongate::Client::build($spec, \@hdr);
    };
    my $req = section($block, 'request');
    return () unless defined $req;
    return map { $mk->($_) } ref $req eq 'ARRAY' ? @$req : ($req);
}

# send_requests() -> [responses], in order (undef where nothing came back).
sub send_requests ($$) {
    my ($t, $block) = @_;
    my $to = timeout_of($block);
    if (defined(my $p = section($block, 'pipelined_requests'))) {
        my @hdr = grep { length } split /\n/, $t->fill(section($block, 'more_headers') // '');
        my @reqs = map { Test::Moongate::Client::build($t->fill($_), \@hdr) }
            ref $p eq 'ARRAY' ? @$p : split /\n/, $p;
        return send_on_one($t, join('', @reqs), [map { method_of($_) } @reqs], $to);
    }
    if (defined(my $raw = section($block, 'raw_request'))) {
        my $codes = section($block, 'error_code');
        my $n = ref $codes eq 'ARRAY' ? @$codes : 1;
        my @pieces = map { $t->fill($_) } ref $raw eq 'ARRAY' ? @$raw : ($raw);
        my $delay = section($block, 'raw_request_middle_delay');
        return send_on_one($t, defined $delay ? \@pieces : join('', @pieces),
                           [(method_of($pieces[0])) x $n], $to, trim_val($delay // 0));
    }
    my @reqs = build_requests($t, $block);
    my $reload_after = section($block, 'reload_after');
    $reload_after = defined $reload_after ? trim_val($reload_after) : 1
        if defined section($block, 'reload_yaml_config')
            || defined section($block, 'reload_lua_plugins')
            || defined section($block, 'reload_user_files');
    my (@res, $rd);
    do_reload($t, $block) if defined $reload_after && $reload_after == 0;
    for my $i (0 .. $#reqs) {
        if (!$rd) {
            my $s = Test::Moongate::Client::connect_to($t->port, $to);
            $rd = Test::Moongate::Client::new_reader($s, $to) if $s;
        }
        my $r = $rd && Test::Moongate::Client::write_all($rd->{sock}, $reqs[$i])
            ? Test::Moongate::Client::read_response($rd, method_of($reqs[$i])) : undef;
        push @res, $r;
        if (!$r || Test::Moongate::Client::closes($r) || $r->{truncated}) {
            close $rd->{sock} if $rd;
            undef $rd;
        }
        do_reload($t, $block) if defined $reload_after && $reload_after == $i + 1;
    }
    close $rd->{sock} if $rd;
    return \@res;
}

sub method_of ($) { Test::Moongate::Client::method_of(shift) }

# Writes $bytes at once on one connection (or, for an array, the pieces with $delay
# seconds between them), then reads one response per method given.
sub send_on_one ($$$$;$) {
    my ($t, $bytes, $methods, $to, $delay) = @_;
    my $s = Test::Moongate::Client::connect_to($t->port, $to) or return [];
    my $rd = Test::Moongate::Client::new_reader($s, $to);
    my $pid = fork();
    if (defined $pid && $pid == 0) {
        # a separate writer, so a large pipeline cannot deadlock against our reads
        my @pieces = ref $bytes ? @$bytes : ($bytes);
        for my $i (0 .. $#pieces) {
            Time::HiRes::sleep($delay) if $i && $delay;
            Test::Moongate::Client::write_all($s, $pieces[$i]) or last;
        }
        POSIX::_exit(0);
    }
    my @res;
    for my $m (@$methods) {
        my $r = Test::Moongate::Client::read_response($rd, $m);
        push @res, $r;
        last if !$r || $r->{truncated};
    }
    close $s;
    waitpid($pid, 0) if $pid;
    return \@res;
}

# The block's reload step: new files, the trigger, then wait for the generation.
sub do_reload ($$) {
    my ($t, $block) = @_;
    my $name = $block->name;
    $t->write_files(section($block, 'reload_lua_plugins'), 'plugins');
    $t->write_files(section($block, 'reload_user_files'), '');
    my $yaml = section($block, 'reload_yaml_config');
    my $by = trim_val(section($block, 'reload_by') // 'signal');
    my $fails = defined section($block, 'reload_fails');
    my $err = $t->reload($yaml, $by, fails => $fails);
    ok(!$err, "$name - reload" . ($fails ? " rejected" : "")) or diag($err . "\n" . log_tail($t));
}

# Expected value for response $i: an array gives one per response, a scalar all.
sub expect_for ($$) {
    my ($want, $i) = @_;
    return ref $want eq 'ARRAY' ? $want->[$i] : $want;
}

sub check_responses ($$$) {
    my ($t, $block, $res) = @_;
    my $name = $block->name;
    my $abort = defined section($block, 'abort');
    my $codes = section($block, 'error_code');
    my $count = ref $codes eq 'ARRAY' ? @$codes : scalar @$res;
    return unless $count || defined $codes;
    my @timed = grep { $res->[$_] && $res->[$_]{timed_out} } 0 .. $#$res;
    if (@timed && !$abort) {
        fail("$name - request " . ($timed[0] + 1) . " timed out");
        return;
    }
    $codes //= 200;
    compare_each($name, 'status code', $res, $codes, $count, $abort, sub {
        my ($r, $w) = @_;
        $w = trim_val($w);
        my $got = $r ? $r->{status} // '' : '';
        return $got eq $w ? '' : "got \"$got\", expected \"$w\"";
    }) if defined $codes;
    check_bodies($t, $block, $res, $count, $abort);
    check_headers($t, $block, $res, $count, $abort);
    if (defined(my $c = section($block, 'check'))) {
        my $ok = eval { $c->($res, $t, $block) };
        ok($ok, "$name - check") or diag($@ || "the check sub returned false");
    }
}

# One test for a kind of check over all responses; diag names the first mismatch.
sub compare_each ($$$$$$$) {
    my ($name, $what, $res, $want, $count, $abort, $cmp) = @_;
    for my $i (0 .. $count - 1) {
        next if $abort && $res->[$i] && $res->[$i]{timed_out};
        my $err = $cmp->($res->[$i], expect_for($want, $i));
        next unless $err;
        fail("$name - $what");
        diag(($count > 1 ? "response " . ($i + 1) . ": " : '') . $err);
        return;
    }
    pass("$name - $what");
}

sub check_bodies ($$$$$) {
    my ($t, $block, $res, $count, $abort) = @_;
    my $name = $block->name;
    if (defined(my $b = section($block, 'response_body'))) {
        $b = ref $b eq 'ARRAY' ? [map { $t->fill($_) } @$b] : $t->fill($b);
        compare_each($name, 'response body', $res, $b, $count, $abort, sub {
            my ($r, $w) = @_;
            my $got = $r ? $r->{body} : undef;
            return '' if defined $got && $got eq $w;
            return "got " . show($got) . "\nexpected " . show($w);
        });
    }
    if (defined(my $l = section($block, 'response_body_like'))) {
        $l =~ s/\n\z// unless is_eval($block, 'response_body_like');    # the section's line end
        compare_each($name, 'response body like', $res, $l, $count, $abort, sub {
            my ($r, $w) = @_;
            my $re = ref $w eq 'Regexp' ? $w : qr/$w/s;
            my $got = $r ? $r->{body} : undef;
            return '' if defined $got && $got =~ $re;
            return "got " . show($got) . "\ndoes not match $re";
        });
    }
}

sub show ($) {
    my $s = shift;
    return 'no response' unless defined $s;
    $s = substr($s, 0, 400) . '...(' . length($s) . ' bytes)' if length $s > 400;
    return "\"$s\"";
}

sub check_headers ($$$$$) {
    my ($t, $block, $res, $count, $abort) = @_;
    my $name = $block->name;
    for my $kind (qw(response_headers response_headers_like)) {
        my $spec = section($block, $kind);
        next unless defined $spec;
        my $want = ref $spec eq 'ARRAY' ? [map { $t->fill($_) } @$spec] : $t->fill($spec);
        compare_each($name, $kind eq 'response_headers' ? 'headers' : 'headers like',
                     $res, $want, $count, $abort, sub {
            my ($r, $w) = @_;
            return 'no response' unless $r;
            for my $line (grep { /\S/ } split /\n/, $w) {
                if ($line =~ /^\s*!\s*(\S+?)\s*$/) {
                    my $v = $r->{headers}{lc $1};
                    return "header \"$1\" present (\"$v\"), expected absent" if defined $v;
                    next;
                }
                my ($k, $v) = $line =~ /^\s*([^:]+?)\s*:\s*(.*?)\s*$/ or next;
                my $got = $r->{headers}{lc $k};
                next if defined $got && ($kind eq 'response_headers' ? $got eq $v
                                                                     : $got =~ /$v/);
                return "header \"$k\": got " . show($got) . ", expected \"$v\"";
            }
            return '';
        });
    }
}

sub check_accepted ($$) {
    my ($t, $block) = @_;
    my $want = section($block, 'upstream_accepted');
    return unless defined $want;
    my @lines = split /\n/, Test::Moongate::Server::slurp($t->servroot . '/upstream_accepted');
    my $got = scalar @lines;
    is($got, trim_val($want), $block->name . " - upstream connections");
}

# patterns($t, $value) -> [ [text, regex-or-undef], ... ] from a list or eval array.
sub patterns ($$) {
    my ($t, $v) = @_;
    return [] unless defined $v;
    my @items = ref $v eq 'ARRAY' ? @$v : grep { /\S/ } split /\n/, $v;
    return [map { ref $_ eq 'Regexp' ? $_ : $t->fill($_) } @items];
}

sub log_match ($$) {
    my ($log, $p) = @_;
    return ref $p eq 'Regexp' ? $log =~ $p : index($log, $p) >= 0;
}

# error_log, no_error_log, grep_error_log. $log given (must_die) or read from files.
sub check_logs ($$$) {
    my ($t, $block, $log) = @_;
    my $name = $block->name;
    my $read = sub { defined $log ? $log : $t->stderr_log . $t->error_log };
    my $want = patterns($t, section($block, 'error_log'));
    my $end = Time::HiRes::time() + (@$want ? 2 : 0.05);
    my @missing;
    do {
        my $text = $read->();
        @missing = grep { !log_match($text, $_) } @$want;
        Time::HiRes::sleep(0.05) if @missing;
    } while (@missing && Time::HiRes::time() < $end);
    for my $p (@$want) {
        my $missing = grep { $_ eq $p } @missing;
        ok(!$missing, "$name - error_log has \"$p\"") or diag(log_tail($t));
    }
    check_access_log($t, $block) unless defined $log;
    my $text = $read->();
    for my $p (@{ patterns($t, section($block, 'no_error_log')) }) {
        ok(!log_match($text, $p), "$name - no_error_log \"$p\"")
            or diag(join "\n", grep { log_match($_, $p) } split /\n/, $text);
    }
    if (defined(my $g = section($block, 'grep_error_log'))) {
        my $re = ref $g eq 'Regexp' ? $g : qr/\Q${\ trim_val($t->fill($g))}\E/;
        my $out = '';
        $out .= "$&\n" while $text =~ /$re/g;
        my $exp = section($block, 'grep_error_log_out') // '';
        if (ref $exp eq 'Regexp') {
            like($out, $exp, "$name - grep_error_log_out");
        } else {
            is($out, $t->fill($exp), "$name - grep_error_log_out");
        }
    }
}

# access_log: patterns the access log must contain (waited for up to 2 s, since
# workers may buffer lines).
sub check_access_log ($$) {
    my ($t, $block) = @_;
    my $want = patterns($t, section($block, 'access_log'));
    return unless @$want;
    my $end = Time::HiRes::time() + 2;
    my @missing;
    do {
        my $text = $t->access_log;
        @missing = grep { !log_match($text, $_) } @$want;
        Time::HiRes::sleep(0.05) if @missing;
    } while (@missing && Time::HiRes::time() < $end);
    for my $p (@$want) {
        my $missing = grep { $_ eq $p } @missing;
        ok(!$missing, $block->name . " - access_log has \"$p\"")
            or diag("access log:\n" . $t->access_log);
    }
}

# Every block fails on [crit], [alert], sanitizer reports, unless it expects them.
sub check_bad_lines ($$) {
    my ($t, $block) = @_;
    my $want = patterns($t, section($block, 'error_log'));
    my @bad = grep { my $l = $_; !grep { log_match($l, $_) } @$want }
        grep { /\[(?:crit|alert)\]|AddressSanitizer|runtime error:/ }
        split /\n/, $t->stderr_log . $t->error_log;
    ok(!@bad, $block->name . " - no [crit], [alert] or sanitizer lines")
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);
    return unless $ENV{MG_TEST_VALGRIND};
    my @reports = grep { -s $_ } glob($t->servroot . '/logs/valgrind.*.log');
    ok(!@reports, $block->name . " - no valgrind reports")
        or diag(substr(join('', map { Test::Moongate::Server::slurp($_) } @reports), 0, 4000));
}

1;
