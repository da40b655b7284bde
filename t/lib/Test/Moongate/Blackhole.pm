package Test::Moongate::Blackhole;

# A connect blackhole on 127.0.0.1, for blocks about connect timeouts: a listener that
# never accepts, with its queue full, leaves further SYNs unanswered on kernels that drop
# them (Linux does; the only blackhole loopback offers).

use strict;
use warnings;
use IO::Socket::INET;

# make($port) -> [the listener and its fillers] (keep them while the hole is wanted;
# closing them ends it), or undef when connects to the port still complete: the block
# then skips, naming the kernel's behaviour.
sub make {
    my ($port) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                  Listen => 1, ReuseAddr => 1) or die "listen: $!";
    $l->listen(0);
    my @fill;
    for (1 .. 64) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Timeout => 0.3) or return [$l, @fill];
        push @fill, $c;
    }
    return undef;
}

1;
