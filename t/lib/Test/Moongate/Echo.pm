package Test::Moongate::Echo;

# The built-in echo upstream of the t/ suite: a forking HTTP/1.1 server on 127.0.0.1.
# It answers every request with JSON describing what it received, so a test can see
# exactly what the gateway forwarded. One process accepts; each connection gets its
# own child, so slow (/delay) requests never hold up the others. Every answer carries
# X-Echo-Port (which echo server answered) and X-Echo-Peer (the client port of the
# connection it came on, to see upstream connection reuse). /delay-on/PORT/MS waits MS
# milliseconds only in the echo server listening on PORT, so one of two echo servers can
# play a slow node.

use strict;
use warnings;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

my $json = JSON::PP->new->canonical(1);

# start($port) -> pid of the accepting process. The process leads its own process
# group, so stop($pid) also ends the per-connection children.
sub start {
    my ($port) = @_;
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 1024, ReuseAddr => 1, Proto => 'tcp')
        or die "echo upstream: cannot listen on 127.0.0.1:$port: $!\n";
    my $pid = fork();
    die "echo upstream: fork: $!\n" unless defined $pid;
    if ($pid) {
        close $srv;
        return $pid;
    }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{TERM} = sub { POSIX::_exit(0) };
    while (1) {
        my $c = $srv->accept or next;
        my $kid = fork();
        if (defined $kid && $kid == 0) {
            close $srv;
            eval { serve($c, $port, $c->peerport) };
            POSIX::_exit(0);
        }
        close $c;
    }
}

# stop($pid): ends the accepting process and every connection child.
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

# Reads from the socket into $$buf; false on EOF or error.
sub fill {
    my ($c, $buf) = @_;
    my $n = sysread($c, $$buf, 65536, length $$buf);
    return $n && $n > 0;
}

# Serves one connection until the client closes it or asks for Connection: close.
sub serve {
    my ($c, $port, $peer) = @_;
    binmode $c;
    my $buf = '';
    while (1) {
        my $req = read_request($c, \$buf) or return;
        my $close = respond($c, $req, $port, $peer);
        return if $close;
    }
}

sub read_request {
    my ($c, $buf) = @_;
    while ($$buf !~ /\r?\n\r?\n/) {
        fill($c, $buf) or return;
    }
    $$buf =~ s/\A(.*?)\r?\n\r?\n//s;
    my @lines = split /\r?\n/, $1;
    my $line = shift @lines;
    my ($method, $uri, $proto) = split / /, $line, 3;
    my (%h, @order);
    for my $l (@lines) {
        my ($k, $v) = $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $k = lc $k;
        if (exists $h{$k}) { $h{$k} .= ", $v" } else { $h{$k} = $v; push @order, $k }
    }
    my $body = '';
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($$buf !~ /\r\n/) { fill($c, $buf) or return }
            $$buf =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n// or return;
            my $size = hex $1;
            if ($size == 0) {
                while ($$buf !~ /\A\r\n/ && $$buf !~ /\r\n\r\n/) { fill($c, $buf) or return }
                $$buf =~ s/\A(?:.*?\r\n)?\r\n//s;
                last;
            }
            while (length($$buf) < $size + 2) { fill($c, $buf) or return }
            $body .= substr($$buf, 0, $size);
            substr($$buf, 0, $size + 2) = '';
        }
    } elsif (my $len = $h{'content-length'}) {
        while (length($$buf) < $len) { fill($c, $buf) or return }
        $body = substr($$buf, 0, $len);
        substr($$buf, 0, $len) = '';
    }
    return { method => $method, uri => $uri, proto => $proto // 'HTTP/1.0',
             headers => \%h, body => $body };
}

# Writes the answer; returns true when the connection must close afterwards.
sub respond {
    my ($c, $req, $port, $peer) = @_;
    my $conn = lc($req->{headers}{connection} // '');
    my $close = $conn =~ /close/ || ($req->{proto} eq 'HTTP/1.0' && $conn !~ /keep-alive/);
    my ($status, $type, $body) = (200, 'application/json', undef);
    my $path = $req->{uri};
    $path =~ s/\?.*//s;
    if ($path =~ m{^/delay/(\d+)}) {
        Time::HiRes::sleep($1 / 1000);
    }
    if ($path =~ m{^/delay-on/(\d+)/(\d+)} && $1 == $port) {
        Time::HiRes::sleep($2 / 1000);
    }
    if ($path =~ m{^/status/(\d{3})}) {
        $status = $1;
    }
    if ($path eq '/hello') {
        ($type, $body) = ('text/plain', "hello world\n");
    } else {
        $body = $json->encode({ method => $req->{method}, uri => $req->{uri},
                                headers => $req->{headers}, body => $req->{body} });
    }
    $body = '' if $status == 204 || $status == 304 || $status < 200;
    my $head = "HTTP/1.1 $status Echo\r\nContent-Type: $type\r\nX-Echo-Port: $port\r\n"
        . "X-Echo-Peer: $peer\r\n";
    $head .= "Content-Length: " . length($body) . "\r\n"
        unless $status == 204 || $status == 304 || $status < 200;
    $head .= "Connection: close\r\n" if $close;
    my $out = $head . "\r\n";
    $out .= $body unless $req->{method} eq 'HEAD';
    write_all($c, $out);
    return $close;
}

sub write_all {
    my ($c, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($c, $data, length($data) - $off, $off);
        return unless defined $n && $n > 0;
        $off += $n;
    }
}

1;
