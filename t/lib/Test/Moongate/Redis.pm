package Test::Moongate::Redis;

# A redis-server of its own for a block: started on a free 127.0.0.1 port without
# persistence, as our child (we hold its pid), stopped by pid. A block that has a
# `--- redis` section (or uses $MG_REDIS_PORT) gets one; its check code reaches it as
# $t->redis to stop, restart (same port), pause (SIGSTOP) or resume it mid-test.

use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

# new(port => N) -> a running server (a free port unless given). Dies with a clear
# message when redis-server is not installed.
sub new {
    my ($class, %a) = @_;
    my $self = bless { port => $a{port} }, $class;
    if (!$self->{port}) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
                                      Proto => 'tcp', ReuseAddr => 1)
            or die "cannot find a free port: $!\n";
        $self->{port} = $s->sockport;
        close $s;
    }
    $self->start;
    return $self;
}

sub port { $_[0]{port} }
sub pid { $_[0]{pid} }

# start(): runs redis-server (again, on the same port) and waits until it answers PING.
sub start {
    my ($self) = @_;
    return if $self->{pid};
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDIN, '<', '/dev/null';
        exec('redis-server', '--port', $self->{port}, '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no') or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    my $end = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $end) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            my $code = $? >> 8;
            delete $self->{pid};
            die $code == 127
                ? "redis-server not found: the cluster rate-limit tests need it "
                  . "(tools/install-deps installs it)\n"
                : "redis-server exited at start (status $code)\n";
        }
        my $r = $self->command('PING');
        return if defined $r && $r eq '+PONG';
        Time::HiRes::sleep(0.02);
    }
    $self->stop;
    die "redis-server did not answer on port $self->{port} within 5 s\n";
}

# stop(): the server goes away at once (SIGKILL: what an outage looks like).
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'CONT', $pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub pause { kill 'STOP', $_[0]{pid} if $_[0]{pid} }
sub resume { kill 'CONT', $_[0]{pid} if $_[0]{pid} }

# command(@args) -> the first line of the answer ("+PONG", ":3", "$5" ...), or undef.
sub command {
    my ($self, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
                                  Proto => 'tcp', Timeout => 1) or return undef;
    my $req = '*' . @args . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @args);
    print $s $req;
    my $line = <$s>;
    close $s;
    $line =~ s/\r?\n\z// if defined $line;
    return $line;
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    $self->stop;
}

1;
