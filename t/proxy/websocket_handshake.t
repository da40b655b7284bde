# The WebSocket handshake as the gateway checks it (RFC 6455 §4.2.1, §4.1), with raw
# sockets and scripted upstreams: bad client handshakes (400, 426), what crosses to the
# upstream, its non-101 answers relayed, its broken 101s refused (502), and the bytes
# either side sent right after its head relayed, not lost.
use Test::Moongate;
use Test::Moongate::Client;
use Time::HiRes ();

# The RFC's own example: this key is answered by s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
our $HS = "GET /ws/chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

# raw($t, $bytes, $secs) -> everything the gateway sent back until it closed.
sub raw {
    my ($t, $bytes, $secs) = @_;
    my $s = Test::Moongate::Client::connect_to($t->port, 3) or return '';
    Test::Moongate::Client::write_all($s, $bytes);
    my $got = '';
    my $end = Time::HiRes::time() + ($secs // 3);
    while (Time::HiRes::time() < $end) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select($rin, undef, undef, 0.1) > 0;
        my $n = sysread($s, $got, 65536, length $got);
        last unless $n;
    }
    close $s;
    return $got;
}

run_tests();

__DATA__

=== TEST 1: a handshake on a websocket route goes up with Upgrade, Connection and the Sec-WebSocket-* headers
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: echo, websocket: true }
--- raw_request eval
$main::HS . "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
--- error_code: 200
--- response_body_like: "upgrade":"websocket".*
--- test_code eval
sub {
    my ($t, $block, $res) = @_;
    my $b = $res->[0]{body} // '';
    like($b, qr/"connection":"upgrade"/, 'Connection: upgrade went up');
    like($b, qr/"sec-websocket-key":"dGhlIHNhbXBsZSBub25jZQ=="/, 'the key went up');
    like($b, qr/"sec-websocket-version":"13"/, 'the version went up');
    like($b, qr/"sec-websocket-protocol":"chat"/, 'the subprotocol went up');
}



=== TEST 2: a route without websocket: true forwards the handshake as a plain request, without Upgrade
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: plain, paths: ["/*"], upstream: echo }
--- raw_request eval
$main::HS . "Sec-WebSocket-Version: 13\r\n\r\n"
--- error_code: 200
--- response_body_unlike: "upgrade"
--- test_code eval
sub {
    my ($t, $block, $res) = @_;
    unlike($res->[0]{body} // '', qr/"upgrade"|"connection":"upgrade"/i,
           'neither Upgrade nor Connection: upgrade reached the upstream');
}



=== TEST 3: bad handshakes on a websocket route: 400, and 426 naming version 13; nothing goes up
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
--- yaml_config
upstreams:
  - { name: up, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: up, websocket: true }
--- test_code eval
sub {
    my $t = shift;
    my $k = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    my $v = "Sec-WebSocket-Version: 13\r\n";
    my $up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    my @cases = (
        [400, "POST /ws/chat HTTP/1.1\r\nHost: a\r\n$up$k${v}Content-Length: 0\r\n\r\n", 'a POST'],
        [400, "GET /ws/chat HTTP/1.0\r\nHost: a\r\n$up$k$v\r\n", 'HTTP/1.0'],
        [400, "GET /ws/chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n$k$v\r\n", 'no Connection: upgrade'],
        [400, "GET /ws/chat HTTP/1.1\r\nHost: a\r\n${up}Sec-WebSocket-Key: c2hvcnQ=\r\n$v\r\n", 'a key of 5 bytes'],
        [400, "GET /ws/chat HTTP/1.1\r\nHost: a\r\n$up$v\r\n", 'no key'],
        [400, "GET /ws/chat HTTP/1.1\r\nHost: a\r\n$up$k${v}Content-Length: 3\r\n\r\nabc", 'a body'],
        [426, "GET /ws/chat HTTP/1.1\r\nHost: a\r\n$up${k}Sec-WebSocket-Version: 8\r\n\r\n", 'version 8'],
        [426, "GET /ws/chat HTTP/1.1\r\nHost: a\r\n$up$k\r\n", 'no version'],
    );
    for my $c (@cases) {
        my ($want, $req, $what) = @$c;
        my $got = main::raw($t, $req);
        like($got, qr{^HTTP/1.1 $want }, "$what: $want");
        if ($want == 426) {
            like($got, qr{\r\nSec-WebSocket-Version: 13\r\n}, "$what: the answer names version 13");
        } else {
            unlike($got, qr{Sec-WebSocket-Version}, "$what: no version named");
        }
        like($got, qr{\r\nConnection: close\r\n}, "$what: the connection closes");
    }
}
--- upstream_accepted: 0
--- error_log
a WebSocket handshake must be a GET
a WebSocket handshake needs HTTP/1.1
without "Connection: upgrade"
invalid WebSocket upgrade
a WebSocket handshake with a body
unsupported Sec-WebSocket-Version



=== TEST 4: an upstream that answers 403 or 200 instead of 101: relayed as a normal response
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
["HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\nX-Why: origin\r\n\r\nno way",
 "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"]
--- yaml_config
upstreams:
  - { name: up, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: up, websocket: true }
--- raw_request eval
[$main::HS . "Sec-WebSocket-Version: 13\r\n\r\n", $main::HS . "Sec-WebSocket-Version: 13\r\n\r\n"]
--- error_code eval
[403, 200]
--- response_body eval
["no way", "plain"]
--- response_headers eval
["X-Why: origin", "!Upgrade"]



=== TEST 5: a broken 101 is a 502: wrong accept, no Upgrade: websocket, no Connection: upgrade
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
["HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"]
--- yaml_config
upstreams:
  - { name: up, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: up, websocket: true }
--- raw_request eval
[$main::HS . "Sec-WebSocket-Version: 13\r\n\r\n", $main::HS . "Sec-WebSocket-Version: 13\r\n\r\n",
 $main::HS . "Sec-WebSocket-Version: 13\r\n\r\n"]
--- error_code eval
[502, 502, 502]
--- error_log
101 with a wrong Sec-WebSocket-Accept
101 without "Upgrade: websocket"
101 without "Connection: upgrade"



=== TEST 6: a 101 on a route without websocket: true is a bad response: 502
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
--- yaml_config
upstreams:
  - { name: up, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: plain, paths: ["/*"], upstream: up }
--- raw_request eval
$main::HS . "Sec-WebSocket-Version: 13\r\n\r\n"
--- error_code: 502
--- error_log
101 Switching Protocols to a request that asked for none



=== TEST 7: bytes the upstream sent with its 101 reach the client, then its close ends the tunnel
--- upstream_listen: $MG_RAND_PORT_1
--- upstream_reply eval
"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05early"
--- yaml_config
upstreams:
  - { name: up, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: up, websocket: true }
--- test_code eval
sub {
    my $t = shift;
    my $got = main::raw($t, $main::HS . "Sec-WebSocket-Version: 13\r\n\r\n");
    like($got, qr{^HTTP/1.1 101 Switching Protocols\r\n}, 'the 101 went down');
    like($got, qr{\r\nUpgrade: websocket\r\n}i, 'with Upgrade');
    like($got, qr{\r\nConnection: upgrade\r\n}i, 'and Connection: upgrade');
    like($got, qr{\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n}, 'and the accept');
    unlike($got, qr{Content-Length|Transfer-Encoding}i, 'no body framing on a 101');
    like($got, qr{\r\n\r\n\x81\x05early\z}, "the upstream's first frame, then the close");
}
