# How a client connection's requests end: a head cut short releases what its request
# held (the configuration generation above all), and the keep-alive clock starts when
# the response ends, not at the last byte read from the client.
use Test::Moongate;
use Test::Moongate::Client;
use IO::Socket::INET;

sub alive_gens {
    my ($t) = @_;
    my $s = $t->status or return undef;
    my $n = 0;
    $n += $_->{generations_alive} // 0 for @{ $s->{workers} // [] };
    return $n;
}

run_tests();

__DATA__

=== TEST 1: a head cut short does not pin the generation across reloads
--- yaml_config
routes:
  - { name: all, paths: ["/*"], return: { status: 200, body: "ok" } }
--- test_code eval
sub {
    my ($t) = @_;
    for my $i (1 .. 3) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
        print $s "GET /api/x HTTP/1.1\r\nHost: a";
        Time::HiRes::sleep(0.1);
        close $s;
    }
    Time::HiRes::sleep(0.2);
    for my $i (1 .. 5) {
        my $err = $t->reload(undef, 'signal');
        ok(!$err, "reload $i") or diag($err);
    }
    # the worker publishes the count on its 1 s tick
    my ($n, $end) = (undef, Time::HiRes::time() + 4);
    while (Time::HiRes::time() < $end) {
        $n = main::alive_gens($t);
        last if defined $n && $n == 1;
        Time::HiRes::sleep(0.2);
    }
    is($n, 1, 'only the current generation is alive after five reloads');
    my $r = Test::Moongate::Client::request($t->port, "GET /", [], 2);
    is($r && $r->{status}, 200, 'still serving');
}
--- error_log
client closed the connection while sending the head
--- no_error_log
[alert]



=== TEST 2: a response slower than keepalive_timeout keeps the connection for the next request
--- yaml_config
http: { keepalive_timeout: 1s }
upstreams:
  - name: echo
    nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }]
    timeouts: { read: 5s }
routes:
  - { name: all, paths: ["/*"], upstream: echo }
--- timeout: 6
--- test_code eval
sub {
    my ($t) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die $!;
    my $rd = Test::Moongate::Client::new_reader($s, 5);
    Test::Moongate::Client::write_all($s, "GET /delay/1500 HTTP/1.1\r\nHost: a\r\n\r\n");
    my $r = Test::Moongate::Client::read_response($rd, 'GET');
    is($r && $r->{status}, 200, 'the slow answer came');
    isnt(lc($r && $r->{headers}{connection} // ''), 'close', 'and did not say close');
    Time::HiRes::sleep(0.05);
    Test::Moongate::Client::write_all($s, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
    $r = Test::Moongate::Client::read_response($rd, 'GET');
    is($r && $r->{status}, 200, 'the next request on the same connection is answered');
    # and the idle deadline then runs from the end of that answer
    my $t0 = Time::HiRes::time();
    local $SIG{ALRM} = sub { die "the idle connection stayed open\n" };
    alarm 4;
    my $n = sysread($s, my $buf, 100);
    alarm 0;
    my $took = Time::HiRes::time() - $t0;
    is($n, 0, 'closed silently when idle');
    ok($took >= 0.7 && $took < 2.5, "at the keep-alive deadline (${took}s)");
}
--- no_error_log
[error]
