package Test::Moongate::Dnsmasq;

# A dnsmasq of a test's own on a free port of 127.0.0.1, the suite's real name server:
# it answers from the records the test gives it and asks no other server. Tests that
# need it skip with skip_reason() when it is not installed.

use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();
use Test::Moongate::Server;

# bin() -> the dnsmasq binary, or undef.
sub bin {
    for my $d (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/sbin') {
        return "$d/dnsmasq" if -x "$d/dnsmasq";
    }
    return undef;
}

sub skip_reason {
    return 'dnsmasq is not installed (Debian package dnsmasq-base; tools/install-deps '
        . 'installs it)';
}

# answers($port) -> true when a query (A of ping.test) gets any reply within 0.2 s.
sub answers {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(Proto => 'udp', PeerAddr => '127.0.0.1', PeerPort => $port)
        or return 0;
    $s->send(pack('nnnnnn', 0x4d47, 0x0100, 1, 0, 0, 0) . "\4ping\4test\0" . pack('nn', 1, 1));
    my $rin = '';
    vec($rin, fileno($s), 1) = 1;
    my $ok = select($rin, undef, undef, 0.2) > 0 && defined $s->recv(my $buf, 512);
    close $s;
    return $ok;
}

# start(@args) -> ($pid, $port): dnsmasq in the foreground, our child, with @args after
# the common ones (no /etc/resolv.conf, no /etc/hosts, no conf file unless @args names
# one), once it answers. Dies when it cannot start.
sub start {
    my (@extra) = @_;
    my $bin = bin() or die skip_reason() . "\n";
    my $port = Test::Moongate::Server::free_port();
    my @args = ('--keep-in-foreground', "--port=$port", '--listen-address=127.0.0.1',
                '--bind-interfaces', '--no-resolv', '--no-hosts', '--pid-file=');
    push @args, '--conf-file=/dev/null' unless grep { /^--conf-file=/ } @extra;
    push @args, '--user=root', '--group=root' if $> == 0; # no dnsmasq user with dnsmasq-base
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec($bin, @args, @extra) or POSIX::_exit(127);
    }
    for (1 .. 50) {
        return ($pid, $port) if answers($port);
        die "dnsmasq exited at start\n" if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.1);
    }
    stop($pid);
    die "dnsmasq did not answer on 127.0.0.1:$port within 5 s\n";
}

# stop($pid): ends it (a stopped one too) and reaps it.
sub stop {
    my ($pid) = @_;
    return unless $pid;
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

1;
