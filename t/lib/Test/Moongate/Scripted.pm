package Test::Moongate::Scripted;

# The scripted upstream of the t/ suite (`upstream_listen` + `upstream_reply`): for
# each connection it reads one request head (and a Content-Length body, briefly), then
# writes the scripted bytes as they are and closes. It exists to play broken backends:
# short bodies, bad framing, a close without any answer. Every accepted connection is
# counted in a file (one line per connection, shared by all scripted ports of a block)
# so a block can check how often the gateway connected.

use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

# start($port, $replies, $count_file) -> pid. $replies is an array: connection i gets
# $replies->[i], the last one repeating. An empty reply closes without answering.
sub start {
    my ($port, $replies, $count_file) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 128, ReuseAddr => 1, Proto => 'tcp')
        or die "scripted upstream: cannot listen on 127.0.0.1:$port: $!\n";
    my $pid = fork();
    die "scripted upstream: fork: $!\n" unless defined $pid;
    if ($pid) {
        close $srv;
        return $pid;
    }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $n = 0;
    while (1) {
        my $c = $srv->accept or next;
        my $reply = $replies->[$n < @$replies ? $n : $#$replies] // '';
        $n++;
        if (open my $fh, '>>', $count_file) { syswrite $fh, "$port\n"; close $fh }
        my $kid = fork();
        if (defined $kid && $kid == 0) {
            close $srv;
            eval { serve($c, $reply) };
            POSIX::_exit(0);
        }
        close $c;
    }
}

sub stop {
    my ($pid) = @_;
    return unless $pid;
    kill 'TERM', -$pid;
    kill 'TERM', $pid;
    # bounded: a child that missed the signal must not hang the whole run
    for (1 .. 40) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', -$pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# Reads the request head (and at most 1 s of body), then answers and closes.
sub serve {
    my ($c, $reply) = @_;
    binmode $c;
    my $buf = '';
    my $deadline = Time::HiRes::time() + 2;
    my $want;
    while (Time::HiRes::time() < $deadline) {
        my $rin = '';
        vec($rin, fileno($c), 1) = 1;
        last unless select($rin, undef, undef, 0.2) >= 0;
        if (vec($rin, fileno($c), 1)) {
            my $r = sysread($c, $buf, 65536, length $buf);
            last unless $r;
        }
        if (!defined $want && $buf =~ /\r?\n\r?\n/) {
            my $head_len = $+[0];
            my ($cl) = $buf =~ /^content-length:\s*(\d+)/im;
            $want = $head_len + ($cl // 0);
        }
        last if defined $want && length($buf) >= $want;
    }
    my $off = 0;
    while ($off < length $reply) {
        my $w = syswrite($c, $reply, length($reply) - $off, $off);
        last unless defined $w && $w > 0;
        $off += $w;
    }
    Time::HiRes::sleep(0.05);
    close $c;
}

1;
