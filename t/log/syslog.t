# The access log sent to syslog: RFC 3164 messages (PRI, time, host, tag), one datagram
# per line, over UDP and over a unix datagram socket, each read back by a receiver this
# file binds before the server starts; with no receiver, requests are still answered
# and the lines are counted as dropped (log_dropped in the admin API's /status).
use Test::Moongate;
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use JSON::PP ();
use Socket qw(SOCK_DGRAM);
use Sys::Hostname ();
use Time::HiRes ();

our (%RX, $TMPDIR);

# A UDP receiver on 127.0.0.1 (a free port the kernel picks), kept under $name.
sub udp_receiver {
    my ($name) = @_;
    $RX{$name} = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'udp')
        or die "cannot bind a UDP socket: $!\n";
    return $RX{$name}->sockport;
}

# A unix datagram receiver in a temporary directory, kept under $name; its path.
sub unix_receiver {
    my ($name) = @_;
    $TMPDIR //= File::Temp::tempdir('mg-syslog-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $path = "$TMPDIR/$name.sock";
    unlink $path;
    $RX{$name} = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
        or die "cannot bind $path: $!\n";
    return $path;
}

# A free UDP port nobody listens on (bound, then closed).
sub dead_udp_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
        or die "cannot bind a UDP socket: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# The datagrams $name received within $secs that match $re.
sub received {
    my ($name, $re, $want, $secs) = @_;
    my $sel = IO::Select->new($RX{$name});
    my $end = Time::HiRes::time() + ($secs // 3);
    my @got;
    while (@got < $want && (my $left = $end - Time::HiRes::time()) > 0) {
        next unless $sel->can_read($left);
        my $msg;
        $RX{$name}->recv($msg, 65536);
        push @got, $msg if defined $msg && $msg =~ $re;
    }
    return @got;
}

# log_dropped from /status once it reaches $min (the workers report it every second).
sub dropped_at_least {
    my ($t, $min) = @_;
    my $end = Time::HiRes::time() + 4;
    my $d = 0;
    while (Time::HiRes::time() < $end) {
        $d = ($t->status // {})->{log_dropped} // 0;
        return $d if $d >= $min;
        Time::HiRes::sleep(0.1);
    }
    return $d;
}


run_tests();

__DATA__

=== TEST 1: syslog over UDP: PRI, time, host, tag, the template line
--- yaml_config eval
my $port = main::udp_receiver('udp');
<<"EOF"
access_log:
  syslog: "udp:127.0.0.1:$port"
  facility: local3
  severity: notice
  tag: gw-test
  format: '\$request_id \$status "\$request" \$upstream_addr'
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\\n" } }
EOF
--- request eval
["GET /one", "GET /two?x=1"]
--- more_headers
X-Request-Id: req-udp
--- error_code eval
[200, 200]
--- test_code eval
sub {
    my $t = shift;
    my @got = main::received('udp', qr/req-udp/, 2);
    is(scalar @got, 2, 'one datagram per request');
    # local3 (19) * 8 + notice (5) = 157
    my $host = Sys::Hostname::hostname();
    like($got[0] // '', qr{^<157>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \Q$host\E gw-test: req-udp 200 "GET /one HTTP/1\.1" -$},
         "RFC 3164 header, then the line without its newline ($got[0])");
    like($got[1] // '', qr{ gw-test: req-udp 200 "GET /two\?x=1 HTTP/1\.1" -$}, 'the second line');
    is(-s $t->access_log_file // 0, 0, 'nothing in the access-log file');
}



=== TEST 2: syslog over a unix datagram socket: no host name, default facility and tag, JSON fields
--- yaml_config eval
my $path = main::unix_receiver('unix');
<<"EOF"
access_log:
  syslog: "unix:$path"
  format: [request_id, status, uri, route]
routes:
  - { name: r1, paths: ["/*"], return: { status: 204 } }
EOF
--- request
GET /over-unix
--- more_headers
X-Request-Id: req-unix
--- error_code: 204
--- test_code eval
sub {
    my $t = shift;
    my ($msg) = main::received('unix', qr/req-unix/, 1);
    # local7 (23) * 8 + info (6) = 190; like syslog(3), no host name on a local socket
    like($msg // '', qr{^<190>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d moongate: \{},
         "local7.info, the default tag, no host name ($msg)");
    my ($json) = ($msg // '') =~ /moongate: (\{.*\})$/;
    my $j = eval { JSON::PP::decode_json($json // '') } || {};
    is_deeply($j, { request_id => 'req-unix', status => 204, uri => '/over-unix', route => 'r1' },
              'the JSON fields');
}



=== TEST 3: no receiver on the unix socket: requests answered, every line counted as dropped
--- yaml_config eval
my $path = ($main::TMPDIR //= File::Temp::tempdir('mg-syslog-XXXXXX', TMPDIR => 1, CLEANUP => 1))
    . '/nobody.sock';
<<"EOF"
access_log: { syslog: "unix:$path", format: json }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\\n" } }
EOF
--- request eval
["GET /a", "GET /b", "GET /c"]
--- error_code eval
[200, 200, 200]
--- test_code eval
sub {
    my $t = shift;
    # the harness's own /status calls are logged (and dropped) too
    cmp_ok(main::dropped_at_least($t, 3), '>=', 3, 'log_dropped counts the lost lines');
}
--- error_log eval
[qr/syslog "unix:[^"]+nobody\.sock" is not there/,
 qr/\[error\] .*send\(\) to syslog "unix:[^"]+nobody\.sock" failed \(No such file or directory\), 1 lines dropped/]



=== TEST 4: no receiver on the UDP port: requests answered, refused lines counted
--- yaml_config eval
my $port = main::dead_udp_port();
<<"EOF"
access_log: { syslog: "udp:127.0.0.1:$port", format: combined }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\\n" } }
EOF
--- request eval
[map { "GET /r$_" } 1 .. 6]
--- error_code eval
[(200) x 6]
--- test_code eval
sub {
    my $t = shift;
    # a datagram to a closed port leaves; the ICMP refusal comes back on a later send
    cmp_ok(main::dropped_at_least($t, 2), '>=', 2, 'log_dropped counts refused lines');
}
--- error_log eval
[qr/send\(\) to syslog "udp:127\.0\.0\.1:\d+" failed \(Connection refused\)/]



=== TEST 5: the unix receiver comes back: the socket connects again and lines flow
--- yaml_config eval
my $path = main::unix_receiver('late');
close $main::RX{late};
unlink $path;
$main::LATE = $path;
<<"EOF"
access_log: { syslog: "unix:$path", format: '\$request_id' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\\n" } }
EOF
--- request
GET /before
--- more_headers
X-Request-Id: req-lost
--- error_code: 200
--- test_code eval
sub {
    my $t = shift;
    $main::RX{late} = IO::Socket::UNIX->new(Type => Socket::SOCK_DGRAM(), Local => $main::LATE)
        or die "cannot bind $main::LATE: $!\n";
    my @got;
    for my $i (1 .. 30) {   # reconnects are tried at most once a second
        my $r = $t->request("GET /after", ["X-Request-Id: req-back-$i"]);
        @got = main::received('late', qr/req-back/, 1, 0.1);
        last if @got;
    }
    like($got[0] // '', qr/moongate: req-back-\d+$/, 'lines reach the new receiver');
    cmp_ok(main::dropped_at_least($t, 1), '>=', 1, 'the line sent before it is counted');
}
--- error_log eval
[qr/syslog "unix:[^"]+late\.sock" takes lines again, \d+ lines were lost/]



=== TEST 6: path and syslog together are refused
--- yaml_config
access_log: { path: logs/access.log, syslog: "udp:127.0.0.1:514" }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:1:38: access_log: path and syslog are exclusive}]
