# What is not a TLS handshake, on real sockets: plain HTTP on a TLS port (400 in clear),
# a ClientHello on a plain port (closed without an answer), garbage, truncated and
# stalled handshakes (handshake_timeout), and a burst of them that must leave the worker
# alive, serving, and its log rate-limited.
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::TLS;
use Time::HiRes ();

BEGIN {
    my $why = Test::Moongate::TLS::have_openssl();
    if ($why) {
        require Test::More;
        Test::More::plan(skip_all => $why);
    }
}

$SIG{PIPE} = 'IGNORE';

sub main::tls_port { $_[0]->fill('$MG_RAND_PORT_1') }

# raw($port, $bytes, $timeout) -> { data, eof, elapsed }: writes the bytes (if any) on a
# new connection and reads until the server closes or $timeout passes.
sub main::raw {
    my ($port, $bytes, $timeout) = @_;
    return Test::Moongate::Client::exchange($port, $bytes, timeout => $timeout);
}

sub main::worker_pids { my $st = $_[0]->status; [sort map { $_->{pid} } @{ $st->{workers} }] }

sub main::failed { $_[0]->status->{tls}{handshakes}{failed}{$_[1]} }

sub main::serves {
    my ($t) = @_;
    my $r = Test::Moongate::TLS::s_client(port => main::tls_port($t),
                                          servername => 'api.example.com');
    return ($r->{http_status} // '') eq '200';
}

run_tests();

__DATA__

=== TEST 1: plain HTTP on a TLS port: 400 in clear text, then the connection is closed
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    for my $req ("GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                 "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
                 "GET /" . ("a" x 20000) . " HTTP/1.1\r\nHost: a\r\n\r\n") {
        my $r = main::raw(main::tls_port($t), $req);
        my ($head, $body) = split /\r\n\r\n/, $r->{data}, 2;
        like($head // '', qr{\AHTTP/1\.1 400 }, 'status 400 in clear text (' . length($req) . ' bytes sent)')
            or diag($r->{data});
        like($head // '', qr{^Connection: close\r?$}mi, 'Connection: close');
        is($body, "The plain HTTP request was sent to a TLS port.\n", 'the body');
        ok($r->{eof}, 'then closed');
    }
    is(main::failed($t, 'plain_http'), 3, '/status counts plain_http');
    ok(main::serves($t), 'TLS still served');
}
--- error_log eval
[qr/\[info\] .*TLS handshake failed: plain HTTP request sent to a TLS port, client: 127\.0\.0\.1/]



=== TEST 2: a TLS ClientHello on a plain port is closed without an answer
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $hello = Test::Moongate::TLS::client_hello('api.example.com');
    # the bytes are a real ClientHello: the TLS port answers with a ServerHello
    my $r = main::raw(main::tls_port($t), $hello, 1);
    like($r->{data}, qr/\A\x16\x03\x03..\x02/s, 'the TLS port answers it with a ServerHello')
        or diag(unpack 'H*', substr($r->{data}, 0, 16));
    $r = main::raw($t->port, $hello, 3);
    is($r->{data}, '', 'the plain port sends nothing back');
    ok($r->{eof}, 'and closes');
    ok($r->{elapsed} < 2, 'at once, not at a timeout (' . sprintf('%.2f', $r->{elapsed}) . ' s)');
    is($t->request("GET /")->{status}, 200, 'the plain port still serves HTTP');
}
--- error_log eval
[qr/\[info\] .*TLS handshake sent to a plain HTTP port, client: 127\.0\.0\.1/]
--- no_error_log
[error]



=== TEST 3: garbage on a TLS port: closed without an answer, counted as not_tls
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my @inputs = ("\x00\x01\x02\x03garbage\xff\xfe",
                  "\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10",   # an SSLv2-style hello
                  "get / HTTP/1.1\r\n\r\n",                        # not a method in upper case
                  "\r\n\r\n");
    for my $in (@inputs) {
        my $r = main::raw(main::tls_port($t), $in, 3);
        is($r->{data}, '', 'no answer to ' . unpack('H*', substr($in, 0, 6)));
        ok($r->{eof} && $r->{elapsed} < 2, 'closed at once');
    }
    is(main::failed($t, 'not_tls'), 4, '/status counts not_tls');
    ok(main::serves($t), 'TLS still served');
}
--- error_log eval
[qr/TLS handshake failed: not a TLS handshake, client: 127\.0\.0\.1/]



=== TEST 4: broken TLS records (a handshake record of garbage, an oversized length, an alert) are closed
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  handshake_timeout: 2s
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $hello = Test::Moongate::TLS::client_hello('api.example.com');
    my @inputs = (["\x16\x03\x01\x00\x10" . ("\xaa" x 16), 'a record of garbage'],
                  ["\x16\x03\x01\xff\xff" . ("\x01" x 300), 'a record longer than allowed'],
                  ["\x16\x03\x01\x00\x04\x01\x00\xff\xff", 'a ClientHello claiming 64 KiB'],
                  [substr($hello, 0, 5) . "\x02" . substr($hello, 6), 'a ServerHello to a server'],
                  ["\x15\x03\x03\x00\x02\x02\x28", 'an alert first'],
                  ["\x17\x03\x03\x00\x05hello", 'application data before the handshake']);
    for my $c (@inputs) {
        my $r = main::raw(main::tls_port($t), $c->[0], 4);
        ok($r->{eof}, "$c->[1]: closed") or diag(unpack 'H*', $r->{data});
        ok($r->{elapsed} < 3, "$c->[1]: within the handshake timeout (" . sprintf('%.2f', $r->{elapsed}) . " s)");
        unlike($r->{data}, qr/HTTP/, "$c->[1]: no HTTP answer");
    }
    ok(main::serves($t), 'TLS still served');
}



=== TEST 5: a truncated ClientHello then silence is closed at handshake_timeout
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  handshake_timeout: 1s
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $hello = Test::Moongate::TLS::client_hello('api.example.com');
    for my $c ([substr($hello, 0, 40), 'a truncated ClientHello'],
               [substr($hello, 0, 3), 'three bytes of a record header'],
               ['', 'nothing at all']) {
        my $r = main::raw(main::tls_port($t), $c->[0], 5);
        ok($r->{eof}, "$c->[1]: closed") or diag("still open after 5 s");
        ok($r->{elapsed} > 0.8 && $r->{elapsed} < 2.5,
           "$c->[1]: at the 1 s handshake timeout (" . sprintf('%.2f', $r->{elapsed}) . " s)");
        is($r->{data}, '', "$c->[1]: nothing sent");
    }
    is(main::failed($t, 'timeout'), 3, '/status counts timeouts');
    ok(main::serves($t), 'TLS still served');
}
--- timeout: 10
--- error_log eval
[qr/TLS handshake timed out, client: 127\.0\.0\.1/]



=== TEST 6: a slow but complete handshake inside handshake_timeout is served
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  handshake_timeout: 2s
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    # the ClientHello in two pieces 0.5 s apart: the server answers with its flight
    my $hello = Test::Moongate::TLS::client_hello('api.example.com');
    my $s = Test::Moongate::Client::connect_to(main::tls_port($t), 3);
    Test::Moongate::Client::write_all($s, substr($hello, 0, 20));
    Time::HiRes::sleep(0.5);
    Test::Moongate::Client::write_all($s, substr($hello, 20));
    my $rd = Test::Moongate::Client::new_reader($s, 3);
    Test::Moongate::Client::fill($rd);
    like($rd->{buf}, qr/\A\x16\x03\x03..\x02/s, 'a split ClientHello gets a ServerHello');
    close $s;
}



=== TEST 7: 200 connections of garbage at once: the worker lives, serves, and its log is rate-limited
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true }
tls:
  handshake_timeout: 2s
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $port = main::tls_port($t);
    my $before = main::worker_pids($t);
    my $hello = Test::Moongate::TLS::client_hello('api.example.com');
    my @kinds = ("\x00garbage\xff" x 10, "\x16\x03\x01\x00\x10" . ("\xaa" x 16),
                 substr($hello, 0, 30), "GET / HTTP/1.1\r\n\r\n", "\x16\x03\x01\xff\xff" . ("x" x 500),
                 $hello . ("\x17\x03\x03\x00\x20" . ("z" x 32)));
    my $t0 = Time::HiRes::time();
    my @socks;
    for my $i (0 .. 199) {
        my $s = Test::Moongate::Client::connect_to($port, 3) or next;
        Test::Moongate::Client::write_all($s, $kinds[$i % @kinds]);
        push @socks, $s;
        if ($i % 3 == 0) { close $s; pop @socks }   # a third hang up at once
    }
    is(scalar(@socks) + 67, 200, '200 connections opened') or diag(scalar @socks);
    # every connection ends: at once, or at the 2 s handshake timeout
    my $open = 0;
    for my $s (@socks) {
        my $rd = Test::Moongate::Client::new_reader($s, 4);
        1 while Test::Moongate::Client::fill($rd);
        $open++ unless $rd->{eof};
        close $s;
    }
    my $elapsed = Time::HiRes::time() - $t0;
    is($open, 0, 'the server closed every one (' . sprintf('%.1f', $elapsed) . ' s)');
    is_deeply(main::worker_pids($t), $before, 'the same worker, still alive');
    ok(main::serves($t), 'TLS still served');
    is($t->request("GET /")->{status}, 200, 'plain HTTP still served');
    my $st = $t->status->{tls}{handshakes};
    my $failed = 0;
    $failed += $_ for values %{ $st->{failed} };
    ok($failed >= 190, "/status counted the failures ($failed)") or diag(explain($st));
    # at most 10 handshake lines a second in the worker's log
    Time::HiRes::sleep(1.1);
    main::raw($port, "\x00", 1);    # the next line says how many were dropped
    my $log = '';
    my $end = time + 3;
    do { $log = $t->error_log; Time::HiRes::sleep(0.1) }
        until $log =~ /more such lines in the last second were not logged/ || time > $end;
    my $n = () = $log =~ /TLS handshake (?:failed|timed out)/g;
    my $secs = int($elapsed + 2.5);
    ok($n >= 10 && $n <= 10 * $secs, "handshake lines logged: $n, at most 10 a second over $secs s");
    like($log, qr/\[info\] .*\d+ more such lines in the last second were not logged/,
         'the dropped lines are counted in the log');
}
--- timeout: 20
