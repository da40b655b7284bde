package Test::Moongate::Client;

# The raw HTTP/1.1 client of the t/ suite. Requests are written byte for byte as built
# (or as given, for raw requests) so tests see exactly what the gateway does with them;
# responses are parsed with Content-Length, chunked and close-delimited bodies.

use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes ();

# build("METHOD /uri[ PROTO]\nbody", \@extra_header_lines) -> request bytes.
# Adds Host (unless given) and Content-Length for a body (unless framing is given).
sub build {
    my ($spec, $headers) = @_;
    my ($line, $body) = split /\n/, $spec, 2;
    $line =~ s/\r$//;
    $body //= '';
    $line .= ' HTTP/1.1' unless $line =~ m{ HTTP/\d\.\d$};
    my @h = @{ $headers // [] };
    my $has = sub { my $n = shift; scalar grep { /^\Q$n\E\s*:/i } @h };
    unshift @h, 'Host: localhost' unless $has->('Host');
    push @h, 'Content-Length: ' . length($body)
        if length($body) && !$has->('Content-Length') && !$has->('Transfer-Encoding');
    return join('', map { "$_\r\n" } $line, @h) . "\r\n" . $body;
}

# method_of($request_bytes) -> "GET" etc., to know whether a response has a body.
sub method_of {
    my ($req) = @_;
    return $req =~ /^([A-Z]+) / ? $1 : 'GET';
}

sub connect_to {
    my ($port, $timeout) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout // 3);
    binmode $s if $s;
    return $s;
}

sub write_all {
    my ($s, $data) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless defined $n && $n > 0;
        $off += $n;
    }
    return 1;
}

# exchange($port, $bytes, %opt) -> { data, eof, elapsed }: sends the bytes on a new
# connection (in pieces of `split` bytes, `pause` seconds apart, when given) and reads
# everything until the server closes (a reset too) or `timeout` seconds (3) pass. For
# what is not a well-formed request: a TLS port's plain HTTP, a PROXY listener's input.
sub exchange {
    my ($port, $bytes, %o) = @_;
    my $timeout = $o{timeout} // 3;
    my $s = connect_to($port, 3) or die "connect to $port: $!\n";
    my $t0 = Time::HiRes::time();
    if ($o{split}) {
        for (my $i = 0; $i < length $bytes; $i += $o{split}) {
            write_all($s, substr($bytes, $i, $o{split}));
            Time::HiRes::sleep($o{pause} // 0.005);
        }
    } elsif (length($bytes // '')) {
        write_all($s, $bytes);
    }
    my $rd = new_reader($s, $timeout);
    my $end = $t0 + $timeout;
    while (Time::HiRes::time() < $end) {
        $rd->{timeout} = $end - Time::HiRes::time();
        last unless fill($rd);
    }
    close $s;
    return { data => $rd->{buf}, eof => $rd->{eof}, elapsed => Time::HiRes::time() - $t0 };
}

# A reader keeps the bytes received but not yet parsed between responses.
sub new_reader {
    my ($s, $timeout) = @_;
    return { sock => $s, buf => '', eof => 0, timeout => $timeout // 3, timed_out => 0 };
}

# Reads more bytes; false on EOF, error or timeout (then ->{timed_out} is set).
sub fill {
    my ($rd) = @_;
    return 0 if $rd->{eof};
    my $rin = '';
    vec($rin, fileno($rd->{sock}), 1) = 1;
    my $n = select(my $rout = $rin, undef, undef, $rd->{timeout});
    if (!$n) {
        $rd->{timed_out} = 1;
        return 0;
    }
    my $r = sysread($rd->{sock}, $rd->{buf}, 65536, length $rd->{buf});
    if (!$r) {
        $rd->{eof} = 1;
        return 0;
    }
    return 1;
}

# read_response($reader, $method) -> { status, reason, headers => {lc name => value},
# raw_headers, body, truncated, timed_out, interim => [1xx statuses skipped] } or undef
# when the connection closed before
# any byte arrived. A timeout gives a response with status undef and timed_out set.
sub read_response {
    my ($rd, $method) = @_;
    my @interim;
    while (1) {
        my $res = read_one($rd, $method);
        # 1xx answers (100 Continue) are interim, as for any HTTP client; 101 is final
        if ($res && defined $res->{status} && $res->{status} =~ /^1/ && $res->{status} != 101) {
            push @interim, $res->{status};
            next;
        }
        $res->{interim} = \@interim if $res;
        return $res;
    }
}

sub read_one {
    my ($rd, $method) = @_;
    while ($rd->{buf} !~ /\r?\n\r?\n/) {
        next if fill($rd);
        return undef if $rd->{buf} eq '' && !$rd->{timed_out};
        return { status => undef, body => '', headers => {}, truncated => 1,
                 timed_out => $rd->{timed_out}, garbage => $rd->{buf} };
    }
    $rd->{buf} =~ s/\A(.*?)\r?\n\r?\n//s;
    my $head = $1;
    my @lines = split /\r?\n/, $head;
    my $sl = shift @lines;
    my ($proto, $status, $reason) = $sl =~ m{^(HTTP/\d\.\d) (\d{3})(?: (.*))?$};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
    }
    my $res = { status => $status, reason => $reason, proto => $proto, headers => \%h,
                raw_headers => $head, body => '', truncated => 0, timed_out => 0 };
    return $res unless defined $status;
    read_body($rd, $res, $method);
    return $res;
}

sub read_body {
    my ($rd, $res, $method) = @_;
    my $st = $res->{status};
    my $h = $res->{headers};
    return if $method eq 'HEAD' || $st < 200 || $st == 204 || $st == 304;
    if (($h->{'transfer-encoding'} // '') =~ /chunked/i) {
        return read_chunked($rd, $res);
    }
    if (defined $h->{'content-length'}) {
        my $len = $h->{'content-length'};
        while (length($rd->{buf}) < $len) {
            next if fill($rd);
            $res->{truncated} = 1;
            $res->{timed_out} = $rd->{timed_out};
            $len = length $rd->{buf};
        }
        $res->{body} = substr($rd->{buf}, 0, $len, '');
        return;
    }
    1 while fill($rd);
    $res->{timed_out} = $rd->{timed_out};
    $res->{body} = $rd->{buf};
    $rd->{buf} = '';
}

sub read_chunked {
    my ($rd, $res) = @_;
    my $cut = sub { $res->{truncated} = 1; $res->{timed_out} = $rd->{timed_out} };
    while (1) {
        while ($rd->{buf} !~ /\r\n/) { fill($rd) or return $cut->() }
        $rd->{buf} =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n// or return $cut->();
        my $size = hex $1;
        if ($size == 0) {
            # trailer lines, then the empty line; taken one line at a time, so that a
            # pipelined response already in the buffer is left alone
            while (1) {
                while ($rd->{buf} !~ /\r\n/) { fill($rd) or return $cut->() }
                return if $rd->{buf} =~ s/\A\r\n//;
                $rd->{buf} =~ s/\A[^\r\n]*\r\n//;
            }
        }
        while (length($rd->{buf}) < $size + 2) {
            next if fill($rd);
            $res->{body} .= $rd->{buf};
            $rd->{buf} = '';
            return $cut->();
        }
        $res->{body} .= substr($rd->{buf}, 0, $size);
        substr($rd->{buf}, 0, $size + 2) = '';
    }
}

# True when the response asks for (or HTTP/1.0 implies) closing the connection.
sub closes {
    my ($res) = @_;
    return 1 unless defined $res->{status};
    return 1 if ($res->{headers}{connection} // '') =~ /close/i;
    return ($res->{proto} // '') eq 'HTTP/1.0'
        && ($res->{headers}{connection} // '') !~ /keep-alive/i;
}

# One request on a new connection: request($port, "GET /x", \@headers, $timeout).
sub request {
    my ($port, $spec, $headers, $timeout) = @_;
    my $s = connect_to($port, $timeout) or return undef;
    my $req = build($spec, $headers);
    write_all($s, $req);
    my $res = read_response(new_reader($s, $timeout), method_of($req));
    close $s;
    return $res;
}

1;
