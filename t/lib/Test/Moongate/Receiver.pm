package Test::Moongate::Receiver;

# A recording HTTP endpoint for plugin tests (http-logger's batches, proxy-mirror's
# copies): a process on 127.0.0.1 that answers each request and records it.

use strict;
use warnings;
use File::Path ();
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

# A receiver: a process on 127.0.0.1:$port answering each request (one at a time, with
# "Connection: close") and recording it as <dir>/<n>.json: { time, status, method, path,
# headers, body }. Options: delay (seconds before answering), fail (the first N
# requests get 500). The object stops the process when it goes out of scope.
sub new {
    my ($class, $port, $dir, %o) = @_;
    File::Path::make_path($dir);
    my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                    Listen => 64, ReuseAddr => 1, Proto => 'tcp')
        or die "receiver: cannot listen on $port: $!\n";
    my $pid = fork();
    die "receiver: fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        $SIG{TERM} = sub { POSIX::_exit(0) };
        my $n = 0;
        while (my $c = $srv->accept) {
            my ($head, $buf) = ('', '');
            while ($head !~ /\r\n\r\n/) {
                my $got = sysread($c, $buf, 65536);
                last unless $got;
                $head .= $buf;
            }
            my ($h, $body) = split /\r\n\r\n/, $head, 2;
            $body //= '';
            my ($len) = $h =~ /^Content-Length:\s*(\d+)/mi;
            while (defined $len && length($body) < $len) {
                my $got = sysread($c, $buf, 65536);
                last unless $got;
                $body .= $buf;
            }
            my ($line, @lines) = split /\r\n/, $h;
            my ($method, $path) = split / /, $line // '';
            my %hdr = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k => $v) } @lines;
            $n++;
            my $status = $n <= ($o{fail} // 0) ? 500 : 200;
            my $rec = JSON::PP->new->canonical->encode({ time => Time::HiRes::time(),
                status => $status, method => $method, path => $path, headers => \%hdr,
                body => $body });
            open my $fh, '>', "$dir/$n.tmp" or die;
            print $fh $rec;
            close $fh;
            rename "$dir/$n.tmp", "$dir/$n.json";
            Time::HiRes::sleep($o{delay}) if $o{delay};
            syswrite $c, "HTTP/1.1 $status X\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
            close $c;
        }
        POSIX::_exit(0);
    }
    close $srv;
    return bless { pid => $pid, dir => $dir }, $class;
}

# posts() -> the requests received so far, in order.
sub posts {
    my ($self) = @_;
    my @f = sort { ($a =~ /(\d+)\.json$/)[0] <=> ($b =~ /(\d+)\.json$/)[0] }
        glob("$self->{dir}/*.json");
    return map {
        open my $fh, '<', $_ or die;
        local $/;
        JSON::PP::decode_json(scalar <$fh>)
    } @f;
}

# wait_posts($n, $secs) -> the posts once there are $n of them, or those there are
# after $secs.
sub wait_posts {
    my ($self, $n, $secs) = @_;
    my $end = Time::HiRes::time() + ($secs // 3);
    while (1) {
        my @p = $self->posts;
        return @p if @p >= $n || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.02);
    }
}

sub DESTROY {
    my ($self) = @_;
    kill 'TERM', $self->{pid};
    waitpid($self->{pid}, 0);
}

1;
