package Test::Moongate::Server;

# One moongate instance under test: its server root, its configuration, the running
# master (started in the foreground as our child, so we hold its pid) and the admin
# API used to wait for reloads. A block's `test_code` gets this object as `$t`.

use strict;
use warnings;
use File::Path ();
use File::Basename ();
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use Test::Moongate::Client;

# free_port() -> a TCP port on 127.0.0.1 nobody listens on right now.
# A port nothing listens on now, and not one this process handed out lately: the
# kernel may give the same ephemeral port twice in a row, and two ports of one block
# (listen and admin) must differ.
my %Handed;
my @HandedOrder;

sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
                                      Proto => 'tcp', ReuseAddr => 1)
            or die "cannot find a free port: $!\n";
        my $p = $s->sockport;
        close $s;
        next if $Handed{$p};
        $Handed{$p} = 1;
        push @HandedOrder, $p;
        delete $Handed{ shift @HandedOrder } while @HandedOrder > 256;
        return $p;
    }
    die "cannot find a port not handed out already\n";
}

sub port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 0.5);
    return 0 unless $s;
    close $s;
    return 1;
}

# new(%args): bin, servroot, port, vars (placeholder => value), name, redis (the
# block's Test::Moongate::Redis, if any).
sub new {
    my ($class, %a) = @_;
    my $self = bless { %a }, $class;
    $self->{admin_port} = undef;
    return $self;
}

sub port { $_[0]{port} }
sub servroot { $_[0]{servroot} }
sub pid { $_[0]{pid} }
sub bin { $_[0]{bin} }
sub admin_port { $_[0]{admin_port} }
sub echo_port { $_[0]{vars}{MG_ECHO_PORT} }
sub redis { $_[0]{redis} }
sub peers { @{ $_[0]{peers} // [] } }
sub conf_file { "$_[0]{servroot}/conf/moongate.yaml" }
sub error_log_file { "$_[0]{servroot}/logs/error.log" }
sub access_log_file { "$_[0]{servroot}/logs/access.log" }

# fill($text) -> $text with $MG_* placeholders replaced; $MG_RAND_PORT_n get free
# ports, the same n giving the same port throughout the block.
sub fill {
    my ($self, $text) = @_;
    return $text unless defined $text;
    $text =~ s{\$MG_RAND_PORT_(\d+)}{$self->{vars}{"MG_RAND_PORT_$1"} //= free_port()}ge;
    $text =~ s{\$(MG_[A-Z0-9_]+)\b}{exists $self->{vars}{$1} ? $self->{vars}{$1} : "\$$1"}ge;
    return $text;
}

# prepare_root(): a fresh, empty server root with conf/, logs/ and plugins/.
sub prepare_root {
    my ($self) = @_;
    my $root = $self->{servroot};
    File::Path::remove_tree($root) if -d $root;
    File::Path::make_path("$root/conf", "$root/logs", "$root/plugins");
}

sub write_file {
    my ($self, $rel, $content) = @_;
    my $path = "$self->{servroot}/$rel";
    File::Path::make_path(File::Basename::dirname($path));
    my $tmp = "$path.tmp.$$";
    open my $fh, '>', $tmp or die "cannot write $tmp: $!\n";
    binmode $fh;
    print $fh $content;
    close $fh;
    rename $tmp, $path or die "cannot rename $tmp: $!\n";
}

# write_files(">>> name\ncontent..." text, $dir): the user_files / lua_plugins format.
sub write_files {
    my ($self, $text, $dir) = @_;
    return unless defined $text;
    my @parts = split /^>>>\s*(\S+)[ \t]*\n/m, $text;
    shift @parts;
    while (my ($name, $body) = splice @parts, 0, 2) {
        $self->write_file(($dir ? "$dir/" : '') . $name, $self->fill($body // ''));
    }
}

# config($yaml, $minimal) -> the text written as conf/moongate.yaml: the block's YAML
# plus what the harness needs when the block does not say it (listen on $MG_PORT,
# one worker, debug error log, pid file, an admin listener for /status).
sub config {
    my ($self, $yaml, $minimal) = @_;
    $self->{yaml_src} = $yaml;
    $yaml = $self->fill($yaml // '');
    return $yaml if $minimal;
    $yaml .= "\n" if length($yaml) && $yaml !~ /\n\z/;
    $yaml .= "listen: [\"127.0.0.1:$self->{port}\"]\n" unless $yaml =~ /^listen\s*:/m;
    $yaml .= "worker_processes: 1\n" unless $yaml =~ /^worker_processes\s*:/m;
    # wait_ready() waits for this many workers (auto: at least one)
    $self->{workers} = $yaml =~ /^worker_processes\s*:\s*(\d+)/m ? $1 : 1;
    # wait_ready() reads this log for the workers' Redis connections when it is ours
    $self->{debug_log} = $yaml !~ /^error_log\s*:/m;
    $yaml .= "error_log: { path: logs/error.log, level: debug }\n" if $self->{debug_log};
    $yaml .= "pid_file: logs/moongate.pid\n" unless $yaml =~ /^pid_file\s*:/m;
    if ($yaml =~ /^admin\s*:.*?(\d+)["']?\s*\}?\s*$/m
        || $yaml =~ /^admin\s*:\s*\n\s+listen\s*:.*?(\d+)["']?\s*$/m) {
        $self->{admin_port} = $1;
    } elsif ($yaml !~ /^admin\s*:/m) {
        $self->{admin_port} //= free_port();
        $yaml .= "admin: { listen: \"127.0.0.1:$self->{admin_port}\" }\n";
    }
    return $yaml;
}

# start(): runs the binary in the foreground as our child, stdout and stderr going to
# <servroot>/stderr.log. Returns the pid.
sub start {
    my ($self) = @_;
    my @cmd = ($self->{bin}, '-p', $self->{servroot}, '-c', $self->conf_file);
    if ($ENV{MG_TEST_VALGRIND}) {
        unshift @cmd, 'valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
            "--log-file=$self->{servroot}/logs/valgrind.%p.log";
    }
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>>', "$self->{servroot}/stderr.log";
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $self->{exit} = undef;
    return $pid;
}

# alive() -> true while the master runs; records its exit status when it has ended.
sub alive {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return 0 if defined $self->{exit};
    my $r = waitpid($self->{pid}, POSIX::WNOHANG());
    return 1 if $r == 0;
    $self->{exit} = $?;
    return 0;
}

# wait_exit($seconds) -> the wait status ($?) once the master has exited, or undef.
sub wait_exit {
    my ($self, $secs) = @_;
    my $end = Time::HiRes::time() + $secs;
    while ($self->alive) {
        return undef if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.02);
    }
    return $self->{exit};
}

# wait_ready($seconds) -> '' when the port accepts and /status lists every configured
# worker, else a reason. The master may also die, which is a reason too. With the
# block's own redis-server in the config (and the harness' debug log), ready also means
# every worker logged its Redis client connected: before that, cluster limits would
# apply their redis_failure to the first requests.
sub wait_ready {
    my ($self, $secs) = @_;
    $secs *= 5 if $ENV{MG_TEST_VALGRIND};
    my $end = Time::HiRes::time() + $secs;
    my $redis = $self->redis_addr;
    while (Time::HiRes::time() < $end) {
        return "the server exited (status " . ($self->{exit} >> 8) . ")" unless $self->alive;
        if (port_open($self->{port})) {
            return '' unless $self->{admin_port};
            my $st = $self->status;
            my @pids = map { $_->{pid} } @{ $st ? $st->{workers} // [] : [] };
            return '' if @pids >= ($self->{workers} // 1)
                && (!$redis || !grep { !$self->redis_connected($_, $redis) } @pids);
        }
        Time::HiRes::sleep(0.02);
    }
    return "port $self->{port} did not accept within $secs s" unless $redis;
    return "port $self->{port} did not accept, or not every worker logged "
        . "\"redis $redis connected\", within $secs s";
}

# redis_addr() -> "127.0.0.1:<port>" of the block's own redis-server when the config
# uses it and the harness wrote the (debug) error log, else undef.
sub redis_addr {
    my ($self) = @_;
    return undef unless $self->{redis} && $self->{debug_log};
    my $addr = "127.0.0.1:" . $self->{redis}->port;
    return $self->fill($self->{yaml_src} // '') =~ /^redis\s*:.*\Q$addr\E/ms ? $addr : undef;
}

# redis_connected($pid, $addr) -> true once worker $pid logged its Redis client up.
sub redis_connected {
    my ($self, $pid, $addr) = @_;
    return $self->error_log =~ /^\S+ \S+ \[info\] \Q$pid\E#\d+: redis \Q$addr\E connected$/m;
}

# start_peer() -> a second moongate instance with the block's configuration (and
# plugins), listening on another port with its own server root and admin port, started
# and ready. For blocks about several instances (e.g. sharing limits through Redis):
# `$t->start_peer->request("GET /x")`. stop() stops the peers too. Dies when it does
# not come up.
sub start_peer {
    my ($self) = @_;
    my $n = @{ $self->{peers} //= [] } + 1;
    my $port = free_port();
    my $root = "$self->{servroot}_peer$n";
    my %vars = (%{ $self->{vars} }, MG_PORT => $port, MG_SERVROOT => $root,
                MG_PLUGINS => "$root/plugins");
    my $p = Test::Moongate::Server->new(bin => $self->{bin}, servroot => $root, port => $port,
                                        vars => \%vars, name => "$self->{name} (peer $n)",
                                        redis => $self->{redis});
    $p->prepare_root;
    for my $f (glob("$self->{servroot}/plugins/*")) {
        $p->write_file('plugins/' . File::Basename::basename($f), slurp($f)) if -f $f;
    }
    $p->write_file('conf/moongate.yaml', $p->config($self->{yaml_src}));
    $p->start;
    push @{ $self->{peers} }, $p;
    my $why = $p->wait_ready(10);
    die "the peer instance did not start: $why\n" . $p->stderr_log . $p->error_log if $why;
    return $p;
}

# stop(): QUIT, then TERM, then KILL, each with a bounded wait (peers first, whose
# server roots are removed unless MG_TEST_NO_CLEAN). Returns the wait status.
sub stop {
    my ($self) = @_;
    for my $p (@{ delete $self->{peers} // [] }) {
        $p->stop;
        File::Path::remove_tree($p->servroot) unless $ENV{MG_TEST_NO_CLEAN};
    }
    return $self->{exit} unless $self->alive;
    for my $step (['QUIT', 3], ['TERM', 3], ['KILL', 3]) {
        kill $step->[0], $self->{pid};
        my $st = $self->wait_exit($step->[1] * ($ENV{MG_TEST_VALGRIND} ? 5 : 1));
        return $st if defined $st;
    }
    return undef;
}

# status() -> the decoded GET /status answer of the admin API, or undef.
sub status {
    my ($self) = @_;
    return undef unless $self->{admin_port};
    my $res = Test::Moongate::Client::request($self->{admin_port}, "GET /status", [], 1);
    return undef unless $res && ($res->{status} // 0) == 200;
    my $d = eval { JSON::PP::decode_json($res->{body}) };
    return $d;
}

sub generation {
    my ($self) = @_;
    my $st = $self->status or return undef;
    return $st->{generation};
}

# trigger_reload($by): signal (SIGHUP, the default), admin (POST /reload) or watch
# (nothing: the new file on disk is the trigger).
sub trigger_reload {
    my ($self, $by, $fails) = @_;
    $by //= 'signal';
    if ($by eq 'admin') {
        # POST /reload answers with the master's verdict: 202 accepted, 422 rejected
        my $want = $fails ? 422 : 202;
        my $res = Test::Moongate::Client::request($self->{admin_port}, "POST /reload", [], 5);
        return "POST /reload answered " . ($res ? $res->{status} // 'nothing' : 'nothing')
            . ", expected $want"
            unless $res && ($res->{status} // 0) == $want;
    } elsif ($by eq 'signal') {
        kill 'HUP', $self->{pid} or return "cannot signal $self->{pid}: $!";
    } elsif ($by ne 'watch') {
        return "unknown reload_by \"$by\" (signal, admin or watch)";
    }
    return '';
}

# reload($yaml, $by, %opt) -> '' once the generation went up (or, with fails => 1, once
# the error log reports the rejection and the generation stayed), else a reason.
sub reload {
    my ($self, $yaml, $by, %opt) = @_;
    my $old = $self->generation;
    return "cannot read the generation from /status before the reload" unless defined $old;
    my $log_before = -s $self->error_log_file // 0;
    $self->write_file('conf/moongate.yaml', $self->config($yaml)) if defined $yaml;
    my $err = $self->trigger_reload($by, $opt{fails});
    return $err if $err;
    my $end = Time::HiRes::time() + ($opt{timeout} // 5);
    while (Time::HiRes::time() < $end) {
        my $g = $self->generation;
        if ($opt{fails}) {
            return "the generation went from $old to $g: the reload was not rejected"
                if defined $g && $g != $old;
            return '' if $self->log_since($log_before) =~ /reload failed/i;
        } elsif (defined $g && $g > $old) {
            $self->{generation} = $g;
            return '';
        }
        Time::HiRes::sleep(0.02);
    }
    return $opt{fails} ? "no \"reload failed\" line in the error log"
                       : "the generation stayed $old";
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    return scalar <$fh>;
}

sub log_since {
    my ($self, $offset) = @_;
    return substr(slurp($self->error_log_file), $offset // 0);
}

sub error_log { slurp($_[0]->error_log_file) }
sub access_log { slurp($_[0]->access_log_file) }
sub stderr_log { slurp("$_[0]{servroot}/stderr.log") }

# request("GET /x\nbody", \@headers, $timeout) -> parsed response on a new connection.
sub request {
    my ($self, $spec, $headers, $timeout) = @_;
    return Test::Moongate::Client::request($self->{port}, $spec, $headers, $timeout);
}

# run($args...) -> (exit code, output) of the binary run with arguments, e.g. -t.
sub run {
    my ($self, @args) = @_;
    my $cmd = join ' ', map { quotemeta } $self->{bin}, @args;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

1;
