# WebSocket tunnels (RFC 6455) end to end, with Debian's python3-websockets on both
# sides (t/proxy/ws/server.py upstream, t/proxy/ws/client.py client): messages both
# ways, close codes, ping, plugins on the handshake, the idle timeout, the cap, the ends
# of either side, a reload under an open tunnel, /status and the access log.
use Test::Moongate;
use Test::Moongate::Server;
use Test::Moongate::Client;
use FindBin;
use IPC::Open2 ();
use POSIX ();
use Time::HiRes ();

our $PY = '/usr/bin/python3';
our $D = "$FindBin::Bin/ws";

BEGIN {
    if (system("/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1") != 0) {
        require Test::More;
        Test::More::plan(skip_all => 'python3-websockets (Debian package) is not installed');
    }
}

# ws_server($t) -> pid of t/proxy/ws/server.py on $MG_RAND_PORT_1, once it listens. Its
# connections' ends go to servroot/ws_events.
sub ws_server {
    my ($t, @tls) = @_;
    my $port = $t->fill('$MG_RAND_PORT_1');
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        { exec $PY, "$D/server.py", $port, $t->servroot . '/ws_events', @tls }
        POSIX::_exit(127);
    }
    for (1 .. 100) {
        last if Test::Moongate::Server::port_open($port);
        Time::HiRes::sleep(0.05);
    }
    return $pid;
}

sub ws_stop {
    my ($pid) = @_;
    kill 'TERM', $pid;
    waitpid($pid, 0);
}

# ws_client($t, $scenario, $path, @more) -> the client's output lines (joined).
sub ws_client {
    my ($t, $scenario, $path, @more) = @_;
    my $uri = $path =~ m{^wss://} ? $path : 'ws://127.0.0.1:' . $t->port . $path;
    my $cmd = join ' ', map { quotemeta } 'timeout', '20', $PY, "$D/client.py", $scenario, $uri,
                                          @more;
    my $out = `$cmd 2>&1`;
    return $out;
}

# events($t, $pattern) -> the upstream's connection ends, once one matches (up to 3 s).
sub events {
    my ($t, $re) = @_;
    my $e = '';
    for (1 .. 60) {
        $e = Test::Moongate::Server::slurp($t->servroot . '/ws_events');
        return $e if $e =~ $re;
        Time::HiRes::sleep(0.05);
    }
    return $e;
}

# access_line($t, $pattern) -> the access log once a line matches (up to 3 s: buffered).
sub access_line {
    my ($t, $re) = @_;
    my $l = '';
    for (1 .. 60) {
        $l = $t->access_log;
        return $l if $l =~ $re;
        Time::HiRes::sleep(0.05);
    }
    return $l;
}

run_tests();

__DATA__

=== TEST 1: text, binary, a 1 MB message, 1000 messages and a ping cross the tunnel; the access line comes at its close
--- yaml_config
access_log: { path: logs/access.log, format: json, buffer: 0 }
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true, timeouts: { tunnel: 1h } }
--- timeout: 30
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    my $out = main::ws_client($t, 'echo', '/ws/echo');
    {
        like($out, qr/^text ok$/m, 'a text message comes back') or diag($out);
        like($out, qr/^binary ok$/m, 'a binary message comes back');
        like($out, qr/^large ok$/m, 'a 1 MB message comes back whole');
        like($out, qr/^many ok$/m, '1000 messages come back in order');
        like($out, qr/^pong ok$/m, 'a ping is answered by the upstream');
    }
    my $log = main::access_line($t, qr/"status":101/);
    my ($line) = grep { /"status":101/ } split /\n/, $log;
    ok($line, 'the access line of the tunnel, status 101') or diag($log);
    my ($sent) = ($line // '') =~ /"bytes_sent":(\d+)/;
    my ($recv) = ($line // '') =~ /"request_length":(\d+)/;
    ok(($sent // 0) > 1 << 20, "bytes to the client counted ($sent)");
    ok(($recv // 0) > 1 << 20, "bytes from the client counted ($recv)");
    like($line // '', qr/"upstream_status":101/, 'the upstream status');
    main::ws_stop($srv);
}
--- no_error_log
[error]



=== TEST 2: close codes pass through both ways
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    is(main::ws_client($t, 'close', '/ws/close/4001'), "closed 4001 bye\n",
       "the upstream's close code and reason reach the client");
    is(main::ws_client($t, 'client-close', '/ws/echo'), "close 4002 cya\n",
       "the client's close code reaches the upstream, which echoes it");
    like(main::events($t, qr/closed \/ws\/echo 4002/), qr/closed \/ws\/echo 4002/,
         'the upstream saw the code 4002');
    main::ws_stop($srv);
}



=== TEST 3: the route's plugins run on the handshake: key-auth refuses it, or lets it through
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
consumers:
  - { name: alice, credentials: { key-auth: { key: "alice-secret" } } }
routes:
  - name: chat
    paths: ["/ws/*"]
    upstream: chat
    websocket: true
    plugins: { key-auth: {} }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    is(main::ws_client($t, 'status', '/ws/echo'), "status 401\n", 'no key: 401, no tunnel');
    is(main::ws_client($t, 'status', '/ws/echo', '--header', 'apikey:wrong'), "status 401\n",
       'a wrong key: 401');
    is(main::ws_client($t, 'status', '/ws/echo', '--header', 'apikey:alice-secret'), "open\n",
       'the right key opens the tunnel');
    main::ws_stop($srv);
}



=== TEST 4: a route without websocket: true forwards the handshake as a plain GET
--- yaml_config
upstreams:
  - { name: echo, nodes: ["127.0.0.1:$MG_ECHO_PORT"] }
routes:
  - { name: plain, paths: ["/*"], upstream: echo }
--- test_code eval
sub {
    my $t = shift;
    is(main::ws_client($t, 'status', '/plain'), "status 200\n",
       "the client gets the upstream's own answer, never a tunnel");
}



=== TEST 5: an idle tunnel is closed after timeouts.tunnel, both sides, and logged
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true, timeouts: { tunnel: 1s } }
--- timeout: 10
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    my $out = main::ws_client($t, 'idle', '/ws/echo', 3);
    like($out, qr/^closed 1006 after (0\.[89]|1\.\d)$/m, 'closed about a second after the last message')
        or diag($out);
    like(main::events($t, qr/closed \/ws\/echo/), qr/closed \/ws\/echo 1006/,
         'the upstream connection was closed too');
    main::ws_stop($srv);
}
--- error_log
tunnel closed: idle timeout



=== TEST 6: past http.max_tunnels a handshake gets 503; a closed tunnel frees its place
--- yaml_config
http: { max_tunnels: 1 }
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    is(main::ws_client($t, 'cap', '/ws/echo'), "second status 503\n",
       'the second tunnel is refused while the first is open');
    my $out = '';
    for (1 .. 20) {
        $out = main::ws_client($t, 'status', '/ws/echo');
        last if $out eq "open\n";
        Time::HiRes::sleep(0.1);
    }
    is($out, "open\n", 'once the first closed, a new one opens');
    main::ws_stop($srv);
}
--- error_log
http.max_tunnels is 1: 503



=== TEST 7: a client that vanishes closes the upstream; an upstream that vanishes closes the client
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    is(main::ws_client($t, 'abort', '/ws/echo'), "aborted\n", 'the client dropped its connection');
    like(main::events($t, qr/closed \/ws\/echo/), qr/closed \/ws\/echo 1006/,
         'the upstream saw its connection close');
    is(main::ws_client($t, 'drop', '/ws/drop'), "dropped 1006\n",
       'the client sees the upstream vanish');
    main::ws_stop($srv);
}



=== TEST 8: an open tunnel survives a reload in place, shows in /status, and is logged when it closes
--- yaml_config
access_log: { path: logs/access.log, buffer: 0 }
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- timeout: 15
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    my $uri = 'ws://127.0.0.1:' . $t->port . '/ws/echo';
    my $pid = IPC::Open2::open2(my $out, my $in, 'timeout', '20', $main::PY,
                                "$main::D/client.py", 'hold', $uri);
    my $first = <$out>;
    is($first, "open\n", 'the tunnel is open');
    is($t->status->{tunnels}{open}, 1, '/status counts it');
    my $m = Test::Moongate::Client::request($t->admin_port, "GET /metrics", [], 2);
    like($m->{body} // '', qr/^moongate_http_connections\{state="tunnel"\} 1$/m,
         'the metrics count it in state tunnel');
    my $yaml = $t->{yaml_src};
    $yaml =~ s/name: chat, paths/name: chat2, paths/;
    is($t->reload($yaml), '', 'reloaded in place');
    print $in "go\n";
    close $in;
    my $after = <$out>;
    is($after, "after ok\n", 'the tunnel still carries messages after the reload');
    waitpid($pid, 0);
    like(main::access_line($t, qr/" 101 /), qr/"GET \/ws\/echo HTTP\/1.1" 101 \d+/,
         'its access line, once closed');
    my $st;
    for (1 .. 40) {
        $st = $t->status;
        last if $st && $st->{tunnels}{open} == 0;
        Time::HiRes::sleep(0.05);
    }
    is($st->{tunnels}{open}, 0, '/status: none open any more');
    main::ws_stop($srv);
}
--- no_error_log
[error]



=== TEST 9: a frame the client sent in the same write as its handshake is relayed, not lost
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    my $s = Test::Moongate::Client::connect_to($t->port, 3);
    # a masked text frame "hi" (mask 0), right behind the head
    Test::Moongate::Client::write_all($s, "GET /ws/echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        . "Sec-WebSocket-Version: 13\r\n\r\n\x81\x82\0\0\0\0hi");
    my $got = '';
    my $end = Time::HiRes::time() + 3;
    while (Time::HiRes::time() < $end && $got !~ /\r\n\r\n\x81\x02hi/) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select($rin, undef, undef, 0.1) > 0;
        last unless sysread($s, $got, 65536, length $got);
    }
    close $s;
    like($got, qr{^HTTP/1.1 101 }, 'the tunnel opened');
    like($got, qr{\r\n\r\n\x81\x02hi}, 'the early frame came back from the echo upstream');
    main::ws_stop($srv);
}



=== TEST 10: over a TLS listener and a TLS upstream: wss in front, wss behind
--- tls_certs
root ca
srv  server issuer=root names=localhost
--- yaml_config
listen:
  - "127.0.0.1:$MG_PORT"
  - { address: "127.0.0.1:$MG_RAND_PORT_2", tls: true }
tls:
  certificates:
    - { cert: certs/srv.pem, key: certs/srv.key }
upstreams:
  - name: chat
    nodes: ["127.0.0.1:$MG_RAND_PORT_1"]
    tls: { ca: certs/root.crt, sni: localhost }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- timeout: 30
--- test_code eval
sub {
    my $t = shift;
    my $c = $t->servroot . '/certs';
    my $srv = main::ws_server($t, "$c/srv.pem", "$c/srv.key");
    my $uri = 'wss://localhost:' . $t->fill('$MG_RAND_PORT_2') . '/ws/echo';
    my $out = main::ws_client($t, 'echo', $uri, '--ca', "$c/root.crt");
    like($out, qr/^text ok$/m, 'a text message over TLS both ways') or diag($out);
    like($out, qr/^large ok$/m, 'a 1 MB message over TLS both ways');
    like($out, qr/^many ok$/m, '1000 messages over TLS both ways');
    like($out, qr/^pong ok$/m, 'a ping over TLS both ways');
    is(main::ws_client($t, 'client-close', $uri, '--ca', "$c/root.crt"), "close 4002 cya\n",
       'a close handshake over TLS both ways');
    main::ws_stop($srv);
}
--- no_error_log
[error]



=== TEST 11: the plugins' phases around a tunnel: header_filter on the 101, the log phase at the close with status 101
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true, plugins: { around: {} } }
--- lua_plugins
>>> around.lua
local mg = require "moongate"
return {
    name = "around", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    rewrite = function(conf, ctx) ctx.seen = "rewrite" end,
    header_filter = function(conf, ctx) mg.response.set_header("X-Around", ctx.seen) end,
    log = function(conf, ctx)
        mg.log(mg.WARN, "around-log status=", mg.var.status, " upstream_status=",
            mg.var.upstream_status, " bytes_sent=", mg.var.bytes_sent)
    end,
}
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    is(main::ws_client($t, 'header', '/ws/echo', 'X-Around'), "header rewrite\necho ok\n",
       "the header_filter's header on the 101, the rewrite phase's context seen there");
    my $log = '';
    for (1 .. 60) {
        $log = $t->error_log;
        last if $log =~ /around-log/;
        Time::HiRes::sleep(0.05);
    }
    like($log, qr/around-log status=101 upstream_status=101 bytes_sent=\d+/,
         'the log phase ran at the close, with status 101');
    my ($sent) = $log =~ /around-log .* bytes_sent=(\d+)/;
    # the 101 head (about 200 bytes) and the echoed 3-byte frame
    ok(($sent // 0) > 150 && $sent < 1000, "bytes_sent counts the head and the frame ($sent)");
    main::ws_stop($srv);
}



=== TEST 12: the client's end of stream is passed on after its last bytes: the upstream gets them, then its end
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    my $s = Test::Moongate::Client::connect_to($t->port, 3);
    Test::Moongate::Client::write_all($s, "GET /ws/record HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        . "Sec-WebSocket-Version: 13\r\n\r\n\x81\x82\0\0\0\0hi");
    shutdown($s, 1); # our FIN right behind the frame
    my $got = '';
    my $start = Time::HiRes::time();
    my $eof = 0;
    while (Time::HiRes::time() < $start + 5) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        next unless select($rin, undef, undef, 0.1) > 0;
        my $n = sysread($s, $got, 65536, length $got);
        if (!$n) { $eof = 1; last }
    }
    close $s;
    like($got, qr{^HTTP/1.1 101 }, 'the tunnel opened');
    ok($eof && Time::HiRes::time() - $start < 4, 'the gateway closed once the upstream had');
    my $e = main::events($t, qr/closed \/ws\/record/);
    like($e, qr/got \/ws\/record hi\n(.*\n)*closed \/ws\/record/,
         'the upstream got the last frame, then the end of the stream');
    main::ws_stop($srv);
}



=== TEST 13: backpressure: a client that does not read stops the upstream; nothing is lost once it reads
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - { name: chat, paths: ["/ws/*"], upstream: chat, websocket: true }
--- timeout: 30
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    my $uri = 'ws://127.0.0.1:' . $t->port . '/ws/flood';
    my $pid = IPC::Open2::open2(my $out, my $in, 'timeout', '30', $main::PY,
                                "$main::D/client.py", 'slowread', $uri);
    is(scalar <$out>, "open\n", 'the tunnel is open');
    Time::HiRes::sleep(2);
    my ($sent) = (Test::Moongate::Server::slurp($t->servroot . '/ws_events') =~ /.*flood (\d+)/s);
    $sent //= 0;
    # 4000 x 16 KiB = 64 MiB: what the sockets' buffers hold is a few MiB, the gateway's
    # own 64 KiB marks on top: the upstream must have stopped far before the end
    ok($sent < 2000, "the upstream is held back while the client reads nothing ($sent of 4000 sent)");
    print $in "go\n";
    close $in;
    is(scalar <$out>, "got 4000 bytes 65536000\n", 'then every message arrives, whole');
    waitpid($pid, 0);
    main::ws_stop($srv);
}



=== TEST 14: a concurrency limit counts a tunnel for its whole life
--- yaml_config
upstreams:
  - { name: chat, nodes: ["127.0.0.1:$MG_RAND_PORT_1"] }
routes:
  - name: chat
    paths: ["/ws/*"]
    upstream: chat
    websocket: true
    rate_limit:
      - { algorithm: concurrency, limit: 1, key: remote_addr }
--- test_code eval
sub {
    my $t = shift;
    my $srv = main::ws_server($t);
    is(main::ws_client($t, 'cap', '/ws/echo'), "second status 429\n",
       'a second tunnel from the same address is over the limit while the first is open');
    my $out = '';
    for (1 .. 20) {
        $out = main::ws_client($t, 'status', '/ws/echo');
        last if $out eq "open\n";
        Time::HiRes::sleep(0.1);
    }
    is($out, "open\n", 'the slot came back when the first tunnel closed');
    main::ws_stop($srv);
}
