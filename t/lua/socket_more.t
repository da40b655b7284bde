# mg.socket.tcp, what socket.t leaves out: a connect that times out, names resolved by
# the worker's resolver, and a client that leaves while a plugin waits on a receive.
#
# A loopback connect that hangs: a listener of this file with listen(1) whose accept
# queue is filled first and never accepted from. Linux then drops every new SYN (the
# client retransmits after 1 s, 3 s ...), so connect() waits until its deadline.
# Names: a dnsmasq of this file's own on 127.0.0.1 (the blocks that need it skip when it
# is absent), and a name server that never answers (a UDP socket nobody reads).
# The client leaving: a peer of this file's own (a listener here) that the plugin talks
# to, so that the test sees when the gateway closes its side.
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::Server;
use Test::Moongate::Dnsmasq;
use FindBin ();
use IO::Select ();
use IO::Socket::INET;
use JSON::PP ();
use Socket qw(SOL_SOCKET SO_ERROR);
use Time::HiRes ();

our (%P, $SRV_PID, $SRV, $FULL, @FULL_HELD, $PEER, $DNS_PID, $DNS_PORT, $SILENT);
my $main_pid = $$;

if (!-x '/usr/bin/python3') {
    Test::More::plan(skip_all => 'needs /usr/bin/python3 (Debian package python3)');
}
$SRV_PID = open($SRV, '-|', '/usr/bin/python3', "$FindBin::Bin/../lib/socket_server.py")
    or die "socket_server.py: $!\n";
my $line = <$SRV>;
die "socket_server.py did not start\n" unless defined $line && $line =~ /plain=(\d+)/;
%P = $line =~ /(\w+)=(\d+)/g;

# A listener whose accept queue is full: connects to it hang. Returns its port.
sub fill_backlog {
    $FULL = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                  Listen => 1, ReuseAddr => 1)
        or die "listener: $!\n";
    for (1 .. 8) {
        my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $FULL->sockport,
                                      Proto => 'tcp', Blocking => 0)
            or die "connect: $!\n";
        my $done = IO::Select->new($c)->can_write(0.5)
            && unpack('i', getsockopt($c, SOL_SOCKET, SO_ERROR)) == 0 && $c->connected;
        if (!$done) {
            close $c; # its SYN was dropped: the queue is full
            return $FULL->sockport;
        }
        push @FULL_HELD, $c;
    }
    die "the accept queue of a listen(1) socket never filled\n";
}
$P{full} = fill_backlog();

$PEER = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                              Listen => 8, ReuseAddr => 1)
    or die "peer listener: $!\n";
$P{peer} = $PEER->sockport;

$SILENT = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => 0)
    or die "udp socket: $!\n";
$P{silentdns} = $SILENT->sockport;

if (Test::Moongate::Dnsmasq::bin()) {
    ($DNS_PID, $DNS_PORT) = Test::Moongate::Dnsmasq::start(
        '--local=/test/', '--host-record=sock.test,127.0.0.1',
        '--host-record=far.test,127.0.0.2', '--local-ttl=60');
}

END {
    if ($$ == $main_pid) {
        local $?; # keep the test's exit status
        if ($SRV_PID) {
            kill 'KILL', $SRV_PID;
            close($SRV);
        }
        Test::Moongate::Dnsmasq::stop($DNS_PID) if $DNS_PID;
    }
}

# The resolver: block, asking dnsmasq (or, without it, a port nobody answers on: the
# blocks that need it skip then).
sub resolver {
    my ($port, $timeout) = @_;
    $port //= $DNS_PORT // $P{silentdns};
    return "resolver: { servers: [\"127.0.0.1:$port\"], timeout: " . ($timeout // '2s') . " }\n";
}

# A route whose plugin runs `body` in access with out(...) collecting a line per call
# and answers the lines; PLAIN, FULL, PEER stand for the ports.
sub plug {
    my ($body) = @_;
    $body =~ s/\b(PLAIN|FULL|PEER)\b/$P{lc $1}/g;
    return ">>> sock.lua\n" . <<"LUA";
local mg = require "moongate"
return {
    name = "sock", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local lines = {}
        local function out(...)
            local t = {}
            for i = 1, select("#", ...) do
                t[i] = tostring((select(i, ...)))
            end
            lines[#lines + 1] = table.concat(t, " ")
        end
$body
        return 200, table.concat(lines, "\\n") .. "\\n"
    end,
}
LUA
}

# /count answers "open N pooled N" (mg.socket.count) on the same worker.
sub counter {
    return <<'COUNT';
>>> counter.lua
local mg = require "moongate"
return {
    name = "counter", version = "1.0", priority = 100,
    schema = { type = "record", fields = {} },
    access = function(conf)
        local open, pooled = mg.socket.count()
        return 200, "open " .. open .. " pooled " .. pooled .. "\n"
    end,
}
COUNT
}

# The plugin's connection to the peer listener, accepted, and its first line read:
# (socket, line), or () when none came within 3 s.
sub accept_peer {
    return () unless IO::Select->new($PEER)->can_read(3);
    my $c = $PEER->accept or return ();
    return () unless IO::Select->new($c)->can_read(3);
    sysread($c, my $buf, 100);
    return ($c, $buf);
}

# Seconds until the gateway closes the accepted connection (EOF), undef past $max.
sub seconds_to_eof {
    my ($c, $max) = @_;
    my $t0 = Time::HiRes::time();
    my $end = $t0 + $max;
    while ((my $left = $end - Time::HiRes::time()) > 0) {
        next unless IO::Select->new($c)->can_read($left);
        my $n = sysread($c, my $buf, 4096);
        return Time::HiRes::time() - $t0 if !$n; # 0: EOF, undef: a reset
    }
    return undef;
}

sub count { Test::Moongate::Client::request($_[0]->port, 'GET /count', [], 2)->{body} }

sub status {
    JSON::PP::decode_json(Test::Moongate::Client::request($_[0]->admin_port, 'GET /status',
                                                          [], 2)->{body})
}

run_tests();

__DATA__

=== TEST 1: a connect that gets no answer ends at the connect timeout with "timeout"; the socket connects again after it
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local s = mg.socket.tcp()
s:settimeouts(300, 5000, 5000)
local t0 = mg.now()
local ok, err = s:connect("127.0.0.1", FULL)
local took = mg.now() - t0
out("connect", ok, err, took >= 0.25 and took < 1)
out("reused", s:getreusedtimes())
out("send", s:send("x"))
out("open", mg.socket.count())
s:settimeout(2000)
out("again", s:connect("127.0.0.1", PLAIN))
s:send("ECHO after a timeout\n")
out("read", s:receive())
local all = mg.socket.tcp()
all:settimeout(200)
out("settimeout", all:connect("127.0.0.1", FULL))
LUA
--- request
GET /t
--- timeout: 5
--- response_body
connect nil timeout true
reused nil closed
send nil closed
open 1 0
again 1
read after a timeout
settimeout nil timeout
--- no_error_log
[error]



=== TEST 2: a name through the worker's resolver: connected to the address it names, cached, pooled by name; names that do not exist
--- yaml_config eval
main::resolver() . <<'YAML'
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
YAML
--- lua_plugins eval
main::plug(<<'LUA')
for _, name in ipairs({ "sock.test", "SOCK.Test." }) do
    local s = mg.socket.tcp()
    s:settimeout(2000)
    out(name, s:connect(name, PLAIN))
    s:send("ECHO by name\n")
    out("read", s:receive(), s:getreusedtimes())
    s:setkeepalive()
end
local p = mg.socket.tcp()
p:settimeout(2000)
assert(p:connect("sock.test", PLAIN))
out("pooled by name", p:getreusedtimes())
p:close()
for _, name in ipairs({ "far.test", "nope.test", "x.invalid", "bad_name!" }) do
    local s = mg.socket.tcp()
    s:settimeout(2000)
    out(name, s:connect(name, PLAIN))
end
LUA
--- test_code eval
sub {
    my $t = shift;
    SKIP: {
        Test::More::skip(Test::Moongate::Dnsmasq::skip_reason(), 1) unless $main::DNS_PID;
        my $r = $t->request('GET /t', [], 5);
        is($r && $r->{body}, <<'OUT', 'names resolved by dnsmasq');
sock.test 1
read by name 0
SOCK.Test. 1
read by name 0
pooled by name 1
far.test nil connection refused
nope.test nil host not found
x.invalid nil host not found
bad_name! nil bad host name
OUT
    }
}



=== TEST 3: a name server that never answers: the connect timeout bounds the lookup; the request still answers
--- yaml_config eval
main::resolver($main::P{silentdns}, '5s') . <<'YAML'
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
YAML
--- lua_plugins eval
main::plug(<<'LUA')
local s = mg.socket.tcp()
s:settimeouts(300, 5000, 5000)
local t0 = mg.now()
local ok, err = s:connect("sock.test", PLAIN)
local took = mg.now() - t0
out("connect", ok, err, took >= 0.25 and took < 1.5)
out("open", mg.socket.count())
LUA
--- request
GET /t
--- timeout: 5
--- response_body
connect nil DNS timeout true
open 1 0
--- no_error_log
[error]



=== TEST 4: the client resets while the plugin waits on a receive: the wait ends at once, the socket is closed, the task freed
--- yaml_config
routes:
  - { name: wait, paths: ["/wait"], plugins: { sock: {} } }
  - { name: count, paths: ["/count"], plugins: { counter: {} } }
--- lua_plugins eval
main::plug(<<'LUA') . main::counter()
local s = mg.socket.tcp()
s:settimeout(10000)
assert(s:connect("127.0.0.1", PEER))
s:send("WAIT\n")
mg.log(mg.WARN, "waiting on receive")
out(s:receive())
LUA
--- test_code eval
sub {
    my $t = shift;
    my $c = Test::Moongate::Client::connect_to($t->port, 3);
    Test::Moongate::Client::write_all($c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    my ($peer, $got) = main::accept_peer();
    is($got, "WAIT\n", 'the plugin talks to the peer');
    is(main::count($t), "open 1 pooled 0\n", 'its socket is open while it waits');
    setsockopt($c, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
    close $c; # a reset
    my $took = $peer && main::seconds_to_eof($peer, 5);
    ok(defined $took && $took < 1, 'the socket is closed at once, not at the read timeout')
        or diag('took: ' . ($took // 'more than 5 s'));
    is(main::count($t), "open 0 pooled 0\n", 'no socket left');
    is(main::status($t)->{lua_sockets}{open}, 0, '/status: none open');
}
--- error_log
waiting on receive
client connection reset while its request was served
--- no_error_log
[error]



=== TEST 5: the client half-closes while the plugin waits: the answer is still due, the wait ends at its timeout
--- yaml_config
routes:
  - { name: wait, paths: ["/wait"], plugins: { sock: {} } }
  - { name: count, paths: ["/count"], plugins: { counter: {} } }
--- lua_plugins eval
main::plug(<<'LUA') . main::counter()
local s = mg.socket.tcp()
s:settimeout(1000)
assert(s:connect("127.0.0.1", PEER))
s:send("WAIT\n")
out(s:receive())
LUA
--- test_code eval
sub {
    my $t = shift;
    my $c = Test::Moongate::Client::connect_to($t->port, 3);
    Test::Moongate::Client::write_all($c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    my ($peer, $got) = main::accept_peer();
    is($got, "WAIT\n", 'the plugin talks to the peer');
    shutdown($c, 1); # FIN: HTTP allows a client to close its sending side and wait
    Time::HiRes::sleep(0.3);
    is(main::count($t), "open 1 pooled 0\n", 'still waiting after the FIN');
    my $res = Test::Moongate::Client::read_response(
        Test::Moongate::Client::new_reader($c, 3), 'GET');
    is($res && $res->{body}, "nil timeout \n", 'the half-closed client gets the answer');
    my $took = $peer && main::seconds_to_eof($peer, 3);
    ok(defined $took, 'the peer sees the socket closed');
    is(main::count($t), "open 0 pooled 0\n", 'no socket left');
    close $c;
}
--- no_error_log
[error]



=== TEST 6: the client resets as the peer answers, both seen in one loop round: the plugin is not resumed for the ended request
--- yaml_config
routes:
  - { name: wait, paths: ["/wait"], plugins: { sock: {} } }
  - { name: count, paths: ["/count"], plugins: { counter: {} } }
--- lua_plugins eval
main::plug(<<'LUA') . main::counter()
local s = mg.socket.tcp()
s:settimeout(10000)
assert(s:connect("127.0.0.1", PEER))
s:send("WAIT\n")
local line, err = s:receive()
mg.log(mg.WARN, "resumed with: ", tostring(line), " ", tostring(err))
out(line, err)
LUA
--- test_code eval
sub {
    my $t = shift;
    my $c = Test::Moongate::Client::connect_to($t->port, 3);
    Test::Moongate::Client::write_all($c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    my ($peer, $got) = main::accept_peer();
    is($got, "WAIT\n", 'the plugin talks to the peer');
    # With the worker stopped, the peer's line and then the client's reset become ready
    # together; libev runs the events of one round last-ready first, so the abort comes
    # first and the socket's wake follows it in the same round.
    my $wpid = main::status($t)->{workers}[0]{pid};
    kill 'STOP', $wpid;
    syswrite($peer, "late answer\n");
    Time::HiRes::sleep(0.1);
    setsockopt($c, Socket::SOL_SOCKET(), Socket::SO_LINGER(), pack('ii', 1, 0));
    close $c; # a reset
    Time::HiRes::sleep(0.1);
    kill 'CONT', $wpid;
    my $took = $peer && main::seconds_to_eof($peer, 5);
    ok(defined $took && $took < 1, 'the socket is closed at once');
    is(main::count($t), "open 0 pooled 0\n", 'no socket left');
    # epoll does not promise the order of the two events: when the line is handled
    # first the plugin rightly resumes (the request is alive then); what must never be
    # seen is a resume after the abort
    my $log = $t->error_log;
    like($log, qr/client connection reset/, 'the reset is seen');
    my $abort = index($log, 'client connection reset while its request was served');
    ok($abort < 0 || index($log, 'resumed with', $abort) < 0, 'no plugin code runs after the abort');
}
--- no_error_log
[error]
