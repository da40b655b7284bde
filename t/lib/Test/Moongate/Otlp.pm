# Test::Moongate::Otlp -- a stand-in OpenTelemetry collector for the tracing tests:
# t/lib/otlp_receiver.py on a free 127.0.0.1 port, run as a child and stopped when the
# test file ends. It keeps every POST it gets (decoded OTLP JSON) in a file this module
# reads back.
#
#   my $rx = Test::Moongate::Otlp::start();                  # answers 200 at once
#   my $slow = Test::Moongate::Otlp::start(sleep => 3);      # a slow collector
#   my $bad = Test::Moongate::Otlp::start(status => 500);    # a failing one
#   $rx->url                 "http://127.0.0.1:PORT/v1/traces"
#   $rx->requests            every POST: {path, headers, content_type, body, error}
#   $rx->spans               every span, each with _resource (its resource's attributes
#                            as a hash) and _request (the POST it came in)
#   $rx->wait_spans($pred, $n, $secs)   the spans $pred accepts, once $n of them came
#                                       (or $secs passed)
#   Test::Moongate::Otlp::attrs($span)  its attributes as {key => value}
package Test::Moongate::Otlp;

use strict;
use warnings;
use File::Spec ();
use File::Temp ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();
use Test::Moongate::Server;

my $main_pid = $$;
my @all;

sub python_bin {
    for my $d (split(/:/, $ENV{PATH} // ''), '/usr/bin') {
        return "$d/python3" if -x "$d/python3";
    }
    return undef;
}

sub script {
    my $here = File::Spec->rel2abs(__FILE__);
    (my $dir = $here) =~ s{/Test/Moongate/Otlp\.pm$}{};
    return "$dir/otlp_receiver.py";
}

# start(%opt) -> a receiver, listening when it returns. Dies when it does not come up.
sub start {
    my (%o) = @_;
    require File::Spec;
    my $py = python_bin() or die "python3 is not installed\n";
    my $dir = File::Temp::tempdir('mg-otlp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $port = Test::Moongate::Server::free_port();
    my $file = "$dir/received.jsonl";
    my @cmd = ($py, script(), '--port', $port, '--out', $file);
    push @cmd, '--sleep', $o{sleep} if $o{sleep};
    push @cmd, '--status', $o{status} if $o{status};
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/receiver.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    my $self = bless { pid => $pid, port => $port, file => $file, dir => $dir }, __PACKAGE__;
    push @all, $self;
    my $end = Time::HiRes::time() + 10;
    until (Test::Moongate::Server::port_open($port)) {
        die "the OTLP receiver did not listen on $port\n" if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
    return $self;
}

sub port { $_[0]{port} }
sub url { "http://127.0.0.1:$_[0]{port}/v1/traces" }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    for (1 .. 40) {
        last if waitpid($self->{pid}, POSIX::WNOHANG()) == $self->{pid};
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', $self->{pid};
    waitpid($self->{pid}, 0);
    $self->{pid} = undef;
}

END {
    if ($$ == $main_pid) {
        local $?;
        $_->stop for @all;
    }
}

# requests() -> every POST received so far, in order.
sub requests {
    my ($self) = @_;
    open my $fh, '<', $self->{file} or return ();
    my @r;
    while (my $line = <$fh>) {
        my $d = eval { JSON::PP::decode_json($line) } or next;
        push @r, $d;
    }
    close $fh;
    return @r;
}

sub attrs {
    my ($x) = @_;
    my %a;
    for my $kv (@{ $x->{attributes} // [] }) {
        my $v = $kv->{value} // {};
        my ($type) = keys %$v;
        $a{ $kv->{key} } = defined $type ? $v->{$type} : undef;
    }
    return \%a;
}

# spans() -> every span received so far.
sub spans {
    my ($self) = @_;
    my @s;
    for my $req ($self->requests) {
        for my $rs (@{ ($req->{body} // {})->{resourceSpans} // [] }) {
            my $res = attrs($rs->{resource} // {});
            for my $ss (@{ $rs->{scopeSpans} // [] }) {
                push @s, map { { %$_, _resource => $res, _request => $req, _scope => $ss->{scope} } }
                    @{ $ss->{spans} // [] };
            }
        }
    }
    return @s;
}

sub wait_spans {
    my ($self, $pred, $n, $secs) = @_;
    my $end = Time::HiRes::time() + ($secs // 5);
    while (1) {
        my @s = grep { $pred->($_) } $self->spans;
        return @s if @s >= $n || Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

1;
