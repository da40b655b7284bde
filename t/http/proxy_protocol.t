# The PROXY protocol on listeners (`listen: [{address, proxy_protocol: true}]`): v1 from
# curl --haproxy-protocol and from raw sockets with made-up addresses, v2 from raw bytes
# (TCP4, TCP6, LOCAL, TLVs), headers split at every byte, a TLS listener with the header
# before the ClientHello, HAProxy's send-proxy-v2 in front; a malformed, missing or
# late header closes the connection without a response.
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::TLS;
use JSON::PP ();
use Socket qw(inet_aton inet_pton AF_INET6);
use Time::HiRes ();

$SIG{PIPE} = 'IGNORE';

sub main::pp_port { $_[0]->fill('$MG_RAND_PORT_1') }

# raw($port, $bytes, %opt): Test::Moongate::Client::exchange (split, pause, timeout).
sub main::raw { Test::Moongate::Client::exchange(@_) }

# A v2 header: command (0 LOCAL, 1 PROXY), family/transport byte, address block, TLVs.
sub main::v2 {
    my ($cmd, $fam, $block, $tlvs) = @_;
    my $body = ($block // '') . ($tlvs // '');
    return "\r\n\r\n\0\r\nQUIT\n" . pack('CCn', 0x20 | $cmd, $fam, length $body) . $body;
}

sub main::v2_tcp4 {
    my ($src, $dst, $sp, $dp, $tlvs) = @_;
    return main::v2(1, 0x11, inet_aton($src) . inet_aton($dst) . pack('nn', $sp, $dp), $tlvs);
}

sub main::v2_tcp6 {
    my ($src, $dst, $sp, $dp) = @_;
    return main::v2(1, 0x21, inet_pton(AF_INET6, $src) . inet_pton(AF_INET6, $dst) . pack('nn', $sp, $dp));
}

sub main::req { "GET $_[0] HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" . ($_[1] // '') . "\r\n" }

sub main::status_of { ($_[0]{data} =~ m{\AHTTP/1\.1 (\d{3}) }) ? $1 : '' }

sub main::body_of { (split /\r\n\r\n/, $_[0]{data}, 2)[1] // '' }

# tls_get($port, $header, $path) -> what a TLS client (Python's ssl) reads after sending
# the header bytes in clear, then a handshake and a GET; "FAILED: ..." when it fails.
my $TlsPy = <<'PY';
import socket, ssl, sys
port, header, path = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=3)
s.sendall(header)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname="api.example.com")
    t.sendall(("GET %s HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n" % path).encode())
    out = b""
    while True:
        d = t.recv(4096)
        if not d:
            break
        out += d
    sys.stdout.write(out.decode("latin-1"))
except (ssl.SSLError, OSError) as e:
    sys.stdout.write("FAILED: %s" % e)
PY

sub main::tls_get {
    my ($port, $hdr, $path) = @_;
    open(my $fh, '-|', '/usr/bin/python3', '-c', $TlsPy, $port, unpack('H*', $hdr), $path) or die $!;
    local $/;
    my $o = <$fh>;
    close $fh;
    return $o;
}

# haproxy($t, $front, $back) -> pid of an haproxy in TCP mode on 127.0.0.1:$front that
# sends each connection to 127.0.0.1:$back with a PROXY v2 header.
sub main::haproxy {
    my ($t, $front, $back) = @_;
    my $cfg = $t->servroot . '/haproxy.cfg';
    open(my $fh, '>', $cfg) or die $!;
    print $fh "global\n    maxconn 100\ndefaults\n    mode tcp\n    timeout connect 2s\n"
        . "    timeout client 5s\n    timeout server 5s\n"
        . "frontend f\n    bind 127.0.0.1:$front\n    default_backend b\n"
        . "backend b\n    server m 127.0.0.1:$back send-proxy-v2\n";
    close $fh;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', $t->servroot . '/haproxy.log');
        open(STDERR, '>&STDOUT');
        exec '/usr/sbin/haproxy', '-db', '-f', $cfg;
        exit 127;
    }
    return $pid;
}

run_tests();

__DATA__

=== TEST 1: curl --haproxy-protocol: the address it sends is the client's, with its port
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
access_log: { path: logs/access.log, format: 'ra=$remote_addr rp=$remote_port pa=$peer_addr $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    SKIP: {
        my $why = Test::Moongate::TLS::have_curl();
        Test::More::skip($why, 2) if $why;
        my $port = main::pp_port($t);
        my $out = `curl -s -i --haproxy-protocol http://127.0.0.1:$port/curl 2>&1`;
        like($out, qr{\AHTTP/1\.1 200 }, 'answered through the PROXY listener') or diag($out);
        $out = `curl -s -i http://127.0.0.1:$port/plain 2>&1`;
        is($out, '', 'a plain request on it gets no answer');
    }
}
--- access_log eval
[qr{^ra=127\.0\.0\.1 rp=[1-9]\d* pa=127\.0\.0\.1 /curl$}m]
--- error_log eval
[qr/\[info\] .*not a PROXY protocol header, client: 127\.0\.0\.1/]



=== TEST 2: v1 with made-up addresses: TCP4, TCP6, UNKNOWN; they go upstream and to the log
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
access_log: { path: logs/access.log, format: 'ra=$remote_addr rp=$remote_port pa=$peer_addr pp=$peer_port $uri' }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $p = main::pp_port($t);
    my $r = main::raw($p, "PROXY TCP4 203.0.113.9 10.0.0.1 5555 443\r\n" . main::req('/v4'));
    is(main::status_of($r), 200, 'TCP4 answered');
    my $h = JSON::PP::decode_json(main::body_of($r))->{headers};
    is($h->{'x-forwarded-for'}, '203.0.113.9', 'X-Forwarded-For: the PROXY source');
    is($h->{'x-real-ip'}, '203.0.113.9', 'X-Real-IP too');
    $r = main::raw($p, "PROXY TCP6 2001:db8::9 ::1 6666 443\r\n" . main::req('/v6'));
    is(main::status_of($r), 200, 'TCP6 answered');
    $r = main::raw($p, "PROXY UNKNOWN\r\n" . main::req('/unknown'));
    is(main::status_of($r), 200, 'UNKNOWN answered: the socket peer stays');
    $r = main::raw($p, "PROXY TCP4 203.0.113.10 10.0.0.1 7777 443\r\n"
                   . "GET /keep1 HTTP/1.1\r\nHost: a\r\n\r\n" . main::req('/keep2'));
    is(scalar(() = $r->{data} =~ m{HTTP/1\.1 200 }g), 2, "two requests on one connection") or diag($r->{data});
}
--- access_log eval
[qr{^ra=203\.0\.113\.9 rp=5555 pa=203\.0\.113\.9 pp=5555 /v4$}m,
 qr{^ra=2001:db8::9 rp=6666 pa=2001:db8::9 pp=6666 /v6$}m,
 qr{^ra=127\.0\.0\.1 rp=\d+ pa=127\.0\.0\.1 pp=\d+ /unknown$}m,
 qr{^ra=203\.0\.113\.10 rp=7777 .* /keep1$}m, qr{^ra=203\.0\.113\.10 rp=7777 .* /keep2$}m]



=== TEST 3: v2 from raw bytes: TCP4 with TLVs, TCP6, LOCAL (a balancer's health check)
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
access_log: { path: logs/access.log, format: 'ra=$remote_addr rp=$remote_port $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $p = main::pp_port($t);
    my $tlvs = "\x03\x00\x04\xde\xad\xbe\xef" . "\x05\x00\x03abc" . "\x04\x00\x02\0\0";
    my $r = main::raw($p, main::v2_tcp4('198.51.100.2', '10.0.0.1', 4444, 80, $tlvs) . main::req('/v2-4'));
    is(main::status_of($r), 200, 'TCP4 with TLVs answered');
    $r = main::raw($p, main::v2_tcp6('2001:db8::77', '::1', 4445, 80) . main::req('/v2-6'));
    is(main::status_of($r), 200, 'TCP6 answered');
    $r = main::raw($p, main::v2(0, 0x00, '') . main::req('/v2-local'));
    is(main::status_of($r), 200, 'LOCAL answered');
    $r = main::raw($p, main::v2(1, 0x31, "\0" x 216) . main::req('/v2-unix'));
    is(main::status_of($r), 200, 'UNIX answered');
    # the longest header taken (2,048 bytes after the 16 fixed ones): more than a fresh
    # read buffer holds
    my $pad = "\x04" . pack('n', 2033) . ("\0" x 2033);
    $r = main::raw($p, main::v2_tcp4('198.51.100.3', '10.0.0.1', 4446, 80, $pad) . main::req('/v2-max'));
    is(main::status_of($r), 200, 'the longest v2 header answered');
}
--- access_log eval
[qr{^ra=198\.51\.100\.2 rp=4444 /v2-4$}m, qr{^ra=2001:db8::77 rp=4445 /v2-6$}m,
 qr{^ra=127\.0\.0\.1 rp=\d+ /v2-local$}m, qr{^ra=127\.0\.0\.1 rp=\d+ /v2-unix$}m,
 qr{^ra=198\.51\.100\.3 rp=4446 /v2-max$}m]



=== TEST 4: headers split across many reads, down to one byte at a time
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
access_log: { path: logs/access.log, format: 'ra=$remote_addr $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $p = main::pp_port($t);
    for my $split (1, 2, 5, 16) {
        my $r = main::raw($p, "PROXY TCP4 203.0.113.$split 10.0.0.1 1000 80\r\n" . main::req("/v1-$split"),
                          split => $split);
        is(main::status_of($r), 200, "v1 in pieces of $split");
        $r = main::raw($p, main::v2_tcp4("198.51.100.$split", '10.0.0.1', 1000, 80, "\x04\x00\x05" . "\0" x 5)
                       . main::req("/v2-$split"), split => $split);
        is(main::status_of($r), 200, "v2 in pieces of $split");
    }
}
--- access_log eval
[qr{^ra=203\.0\.113\.1 /v1-1$}m, qr{^ra=198\.51\.100\.1 /v2-1$}m,
 qr{^ra=203\.0\.113\.16 /v1-16$}m, qr{^ra=198\.51\.100\.16 /v2-16$}m]



=== TEST 5: malformed or missing headers: closed without a byte of answer, nothing forwarded
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $p = main::pp_port($t);
    my @bad = (
        ['a plain request', main::req('/plain')],
        ['a TLS ClientHello', Test::Moongate::TLS::client_hello('a.example')],
        ['v1 with LF only', "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" . main::req('/x')],
        ['v1 with a bad address', "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n" . main::req('/x')],
        ['v1 with a v6 address as TCP4', "PROXY TCP4 ::1 5.6.7.8 1 2\r\n" . main::req('/x')],
        ['v1 with a port over 65535', "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n" . main::req('/x')],
        ['v1 with double spaces', "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n" . main::req('/x')],
        ['v1 over 107 bytes', "PROXY UNKNOWN " . ('a' x 200) . "\r\n" . main::req('/x')],
        ['v1 lower-case', "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n" . main::req('/x')],
        ['v2 version 1', "\r\n\r\n\0\r\nQUIT\n\x11\x11\0\x0c" . ("\0" x 12) . main::req('/x')],
        ['v2 unknown command', "\r\n\r\n\0\r\nQUIT\n\x2f\x11\0\x0c" . ("\0" x 12) . main::req('/x')],
        ['v2 address block too short', "\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x08" . ("\0" x 8) . main::req('/x')],
        ['v2 too long', "\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff" . ("\0" x 64)],
        ['v2 bad signature', "\r\n\r\n\0\r\nQUIZ\n\x21\x11\0\x0c" . ("\0" x 12) . main::req('/x')],
    );
    for (@bad) {
        my ($name, $bytes) = @$_;
        my $r = main::raw($p, $bytes);
        is($r->{data}, '', "$name: no answer");
        ok($r->{elapsed} < 2, "$name: closed at once");
    }
    is($t->request("GET /still")->{status}, 200, 'the plain listener still serves');
    # one header only: a second is HTTP to the parser, an unknown method
    my $r = main::raw($p, "PROXY UNKNOWN\r\nPROXY UNKNOWN\r\n" . main::req('/x'));
    like($r->{data}, qr{\AHTTP/1\.1 501 }, 'a second header is a request with an unknown method');
}
--- error_log eval
[qr/not a PROXY protocol header, client: 127\.0\.0\.1/, qr/PROXY v1: LF without CR/,
 qr/PROXY v1: bad source address/, qr/PROXY v1: no CRLF in the first 107 bytes/,
 qr/PROXY v2: version is not 2/]
--- no_error_log
[error]



=== TEST 6: a header that never ends, or never comes: closed at the header timeout
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
http: { client_header_timeout: 1s }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    my $p = main::pp_port($t);
    for (['nothing', ''], ['half a v1 line', 'PROXY TCP4 1.2.3.4'],
         ['half a v2 header', substr(main::v2_tcp4('1.2.3.4', '5.6.7.8', 1, 2), 0, 20)]) {
        my ($name, $bytes) = @$_;
        my $r = main::raw($p, $bytes, timeout => 4);
        is($r->{data}, '', "$name: no answer");
        ok($r->{eof}, "$name: closed");
        ok($r->{elapsed} > 0.8 && $r->{elapsed} < 3, "$name: at the timeout ("
           . sprintf('%.2f', $r->{elapsed}) . ' s)');
    }
}
--- error_log eval
[qr/PROXY protocol header timed out, client: 127\.0\.0\.1/]



=== TEST 7: trusted_proxies applies on top of the PROXY source
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
trusted_proxies: ["10.0.0.0/8"]
access_log: { path: logs/access.log, format: 'ra=$remote_addr pa=$peer_addr $uri' }
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    my $p = main::pp_port($t);
    my $r = main::raw($p, "PROXY TCP4 10.1.1.1 10.0.0.1 1000 80\r\n"
                      . main::req('/via-trusted', "X-Forwarded-For: 203.0.113.5\r\n"));
    my $h = JSON::PP::decode_json(main::body_of($r))->{headers};
    is($h->{'x-forwarded-for'}, '203.0.113.5, 10.1.1.1', 'a trusted source: its list appended to');
    is($h->{'x-real-ip'}, '203.0.113.5', 'the client behind it');
    $r = main::raw($p, "PROXY TCP4 198.51.100.3 10.0.0.1 1000 80\r\n"
                   . main::req('/via-untrusted', "X-Forwarded-For: 203.0.113.5\r\n"));
    $h = JSON::PP::decode_json(main::body_of($r))->{headers};
    is($h->{'x-forwarded-for'}, '198.51.100.3', 'an untrusted source: its list replaced');
}
--- access_log eval
[qr{^ra=203\.0\.113\.5 pa=10\.1\.1\.1 /via-trusted$}m, qr{^ra=198\.51\.100\.3 pa=198\.51\.100\.3 /via-untrusted$}m]



=== TEST 8: a TLS listener: the PROXY header comes before the ClientHello
--- tls_certs
root  ca
api   server issuer=root names=api.example.com
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", tls: true, proxy_protocol: true }
tls:
  certificates:
    - { cert: certs/api.pem, key: certs/api.key }
access_log: { path: logs/access.log, format: 'ra=$remote_addr scheme=$scheme $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    SKIP: {
        Test::More::skip('needs /usr/bin/python3 (Debian package: python3)', 4)
            unless -x '/usr/bin/python3';
        my $p = main::pp_port($t);
        my $run = sub { main::tls_get($p, @_) };
        like($run->("PROXY TCP4 203.0.113.44 10.0.0.1 1234 443\r\n", '/tls-v1'), qr{\AHTTP/1\.1 200 },
             'v1 then TLS');
        like($run->(main::v2_tcp6('2001:db8::44', '::1', 1234, 443), '/tls-v2'), qr{\AHTTP/1\.1 200 },
             'v2 then TLS');
        like($run->('', '/no-header'), qr{\AFAILED}, 'a ClientHello without the header: refused');
        my $r = main::raw($p, "PROXY UNKNOWN\r\n" . main::req('/plain'));
        like($r->{data}, qr{\AHTTP/1\.1 400 }, 'plain HTTP after the header: the 400 of a TLS port');
    }
}
--- access_log eval
[qr{^ra=203\.0\.113\.44 scheme=https /tls-v1$}m, qr{^ra=2001:db8::44 scheme=https /tls-v2$}m]



=== TEST 9: HAProxy in front with send-proxy-v2: the client's own address and port arrive
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: true }
access_log: { path: logs/access.log, format: 'ra=$remote_addr rp=$remote_port $uri' }
routes:
  - { paths: ["/*"], return: { status: 200, body: "ok\n" } }
--- test_code eval
sub {
    my $t = shift;
    SKIP: {
        my $haproxy = -x '/usr/sbin/haproxy' ? '/usr/sbin/haproxy' : undef;
        Test::More::skip('needs haproxy (Debian package: haproxy)', 4) unless $haproxy;
        my $front = $t->fill('$MG_RAND_PORT_2');
        my $pid = main::haproxy($t, $front, main::pp_port($t));
        my $up = 0;
        for (1 .. 50) {
            last if ($up = Test::Moongate::Server::port_open($front));
            Time::HiRes::sleep(0.1);
        }
        ok($up, 'haproxy listens');
        my $s = Test::Moongate::Client::connect_to($front, 3) or die "connect: $!";
        my $myport = $s->sockport;
        Test::Moongate::Client::write_all($s, main::req('/via-haproxy'));
        my $res = Test::Moongate::Client::read_response(Test::Moongate::Client::new_reader($s, 3), 'GET');
        close $s;
        is($res->{status}, 200, 'answered through haproxy');
        kill 'TERM', $pid;
        waitpid $pid, 0;
        my $log = '';
        for (1 .. 30) {
            $log = $t->access_log;
            last if $log =~ m{/via-haproxy};
            Time::HiRes::sleep(0.1);
        }
        like($log, qr{^ra=127\.0\.0\.1 rp=$myport /via-haproxy$}m,
             "the client's own port ($myport), not haproxy's connection");
        ok(1, 'haproxy stopped');
    }
}



=== TEST 10: proxy_protocol must be a boolean, said at its line and column
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_1", proxy_protocol: maybe }
--- must_die: 1
--- error_log eval
[qr{conf/moongate\.yaml:3:\d+: listen\[1\]\.proxy_protocol: expected true or false, got "maybe"}]
