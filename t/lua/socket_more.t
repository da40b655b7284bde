# mg.socket.tcp, what socket.t leaves out: a connect that times out, and names resolved
# by the worker's resolver.
#
# A loopback connect that hangs: a listener of this file with listen(1) whose accept
# queue is filled first and never accepted from. Linux then drops every new SYN (the
# client retransmits after 1 s, 3 s ...), so connect() waits until its deadline.
# Names: a dnsmasq of this file's own on 127.0.0.1 (the blocks that need it skip when it
# is absent), and a name server that never answers (a UDP socket nobody reads).
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::Server;
use Test::Moongate::Dnsmasq;
use FindBin ();
use IO::Select ();
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_ERROR);
use Time::HiRes ();

our (%P, $SRV_PID, $SRV, $FULL, @FULL_HELD, $DNS_PID, $DNS_PORT, $SILENT);
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
# and answers the lines; PLAIN, FULL stand for the ports.
sub plug {
    my ($body) = @_;
    $body =~ s/\b(PLAIN|FULL)\b/$P{lc $1}/g;
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
