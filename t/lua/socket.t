# mg.socket.tcp: a cosocket against t/lib/socket_server.py, a line-protocol server of
# this file's own on 127.0.0.1 (plain, TLS with certificates made for this run under a
# throwaway CA, a listener that never answers, a Unix socket). Receive patterns, sends,
# timeouts, closes, the keep-alive pool, TLS, the phases and the per-run ownership of
# sockets, a memcached client written on it, and a client that leaves mid-wait.
use Test::Moongate;
use Test::Moongate::Client;
use Test::Moongate::Server;
use Test::Moongate::TlsUpstream;
use File::Temp ();
use FindBin ();
use JSON::PP ();
use Time::HiRes ();

our (%P, $DIR, $SRV_PID, $SRV);
my $main_pid = $$;

if (!-x '/usr/bin/python3') {
    Test::More::plan(skip_all => 'needs /usr/bin/python3 (Debian package python3)');
}
if (system('openssl version >/dev/null 2>&1') != 0) {
    Test::More::plan(skip_all => 'needs the openssl command (Debian package openssl)');
}
$DIR = File::Temp::tempdir(CLEANUP => 1);
Test::Moongate::TlsUpstream::make_certs($DIR);
$ENV{SSL_CERT_FILE} = "$DIR/ca.crt"; # the system's CA store, for this run: the run's CA
delete $ENV{SSL_CERT_DIR};
$SRV_PID = open($SRV, '-|', '/usr/bin/python3', "$FindBin::Bin/../lib/socket_server.py",
                '--certs', $DIR, '--unix', "$DIR/s.sock")
    or die "socket_server.py: $!\n";
my $line = <$SRV>;
die "socket_server.py did not start\n" unless defined $line && $line =~ /plain=(\d+)/;
%P = $line =~ /(\w+)=(\d+)/g;
$P{refused} = 1;    # port 1: privileged, never listened on, so refused even while other tests take free ports

END {
    if ($$ == $main_pid && $SRV_PID) {
        local $?;    # keep the test's exit status
        kill 'KILL', $SRV_PID;
        close($SRV);
    }
}

# A route whose plugin runs `body` in access with out(...) collecting a line per call
# and answers the lines; PLAIN, TLS, SILENT, REFUSED, UNIX stand for the server's ports.
sub plug {
    my ($body, $extra) = @_;
    $extra //= '';
    for ($body, $extra) {
        s/\b(PLAIN|TLS|SILENT|REFUSED)\b/$P{lc $1}/g;
        s/\bUNIX\b/"unix:$DIR\/s.sock"/g;
    }
    return ">>> sock.lua\n" . <<"LUA";
local mg = require "moongate"
$extra
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

sub status { JSON::PP::decode_json(Test::Moongate::Client::request($_[0]->admin_port,
    'GET /status', [], 2)->{body}) }

run_tests();

__DATA__

=== TEST 1: receive by line (CR LF or LF), by size, until close, 0 bytes; send of nested tables
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local s = mg.socket.tcp()
s:settimeout(2000)
out("connect", s:connect("127.0.0.1", PLAIN))
out("sent", s:send({ "ECHO ", { "a", 1, { "b", 2.5 } }, "\r\n" }))
out("line", s:receive())
s:send("SLOW one byte at a time\r\n")
out("slow", s:receive("*l"))
s:send("BYTES 25\n")
out("size", s:receive(10), s:receive(15))
s:send("ECHO x\nECHO y\r\n")
out("two", s:receive("l"), s:receive())
out("zero", "[" .. s:receive(0) .. "]")
s:send("ALL 5\n")
out("all", s:receive("*a"))
out("after", s:receive())
out("send", s:send("x"))
out("close", s:close())
LUA
--- request
GET /t
--- response_body
connect 1
sent 13
line a1b2.5
slow one byte at a time
size 0123456789 012345678901234
two x y
zero []
all zzzzz
after nil closed 
send nil closed
close nil closed
--- no_error_log
[error]



=== TEST 2: receiveuntil: whole, in chunks of a size then nil, inclusive; pieces of 3 bytes
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local s = mg.socket.tcp()
s:settimeout(2000)
assert(s:connect("127.0.0.1", PLAIN))
s:send("PARTS hello world|second|third part|x\n")
local it = s:receiveuntil("--XB--")
out("whole", it())
local chunks = {}
while true do
    local data, err = it(4)
    if not data then
        chunks[#chunks + 1] = "<" .. tostring(err) .. ">"
        break
    end
    chunks[#chunks + 1] = data
end
out("chunks", table.concat(chunks, ","))
local inc = s:receiveuntil("--XB--", { inclusive = true })
out("inclusive", inc())
out("inclusive chunk", inc(100), inc(100))
s:send("CLOSE tail without--X\n")
out("closed", it())
LUA
--- request
GET /t
--- response_body
whole hello world
chunks seco,nd,<nil>
inclusive third part--XB--
inclusive chunk x--XB-- nil
closed nil closed tail without--X
--- no_error_log
[error]



=== TEST 3: the peer closes mid-message: nil, "closed" and the partial data, for each pattern
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
for _, pat in ipairs({ "*l", 20, "*a" }) do
    local s = mg.socket.tcp()
    s:settimeout(2000)
    assert(s:connect("127.0.0.1", PLAIN))
    s:send("CLOSE half a mess\n")
    out(pat, s:receive(pat))
end
LUA
--- request
GET /t
--- response_body
*l nil closed half a mess
20 nil closed half a mess
*a half a mess
--- no_error_log
[error]



=== TEST 4: timeouts: a read that gets nothing, a send nobody reads, and a refused connect
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local s = mg.socket.tcp()
s:settimeouts(1000, 1000, 200)
assert(s:connect("127.0.0.1", PLAIN))
s:send("BYTES 3\nNONE\n")
local t0 = mg.now()
local data, err, partial = s:receive(10)
local took = mg.now() - t0
out("read", data, err, partial, took > 0.15 and took < 1)
local w = mg.socket.tcp()
w:settimeouts(1000, 200, 1000)
assert(w:connect("127.0.0.1", SILENT))
local big = string.rep("x", 1024 * 1024)
local sent, serr
for i = 1, 64 do
    sent, serr = w:send(big)
    if not sent then break end
end
out("send", sent, serr)
local r = mg.socket.tcp()
out("refused", r:connect("127.0.0.1", REFUSED))
out("bad host", pcall(r.connect, r, "127.0.0.1", 70000))
LUA
--- request
GET /t
--- response_body_like
^read nil timeout 012 true
send nil timeout
refused nil connection refused
bad host false .*expected a port \(1-65535\), got 70000
--- no_error_log
[error]



=== TEST 5: a line longer than the limit: nil, "line too long"; a size over the cap refused
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local s = mg.socket.tcp()
s:settimeout(2000)
assert(s:connect("127.0.0.1", PLAIN))
s:send("LONG 70000\n")
local data, err, partial = s:receive()
out("line", data, err, #partial)
out("size", s:receive(32 * 1024 * 1024))
LUA
--- request
GET /t
--- response_body
line nil line too long 65536
size nil size too large 
--- no_error_log
[error]



=== TEST 6: setkeepalive: the next connect reuses the connection (same server-side number)
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local first
for i = 1, 3 do
    local s = mg.socket.tcp()
    s:settimeout(2000)
    assert(s:connect("127.0.0.1", PLAIN))
    s:send("CONN\r\n")
    local conn, req = s:receive():match("conn=(%d+) req=(%d+)")
    first = first or conn
    out(i, conn == first, req, s:getreusedtimes())
    out("keepalive", s:setkeepalive(10000, 4))
    out("after", s:send("x"))
end
local open, pooled = mg.socket.count()
out("pooled", pooled)
-- another pool name: a connection of its own
local o = mg.socket.tcp()
assert(o:connect("127.0.0.1", PLAIN, { pool = "other" }))
o:send("CONN\n")
out("other pool", o:receive():match("conn=(%d+)") ~= first, o:getreusedtimes())
LUA
--- request
GET /t
--- response_body
1 true 1 0
keepalive 1
after nil closed
2 true 2 1
keepalive 1
after nil closed
3 true 3 2
keepalive 1
after nil closed
pooled 1
other pool true 0
--- no_error_log
[error]



=== TEST 7: the pool across requests, its cap (the oldest goes), LIFO order, and /status
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local ids = {}
local socks = {}
for i = 1, 3 do
    local s = mg.socket.tcp()
    s:settimeout(2000)
    assert(s:connect("127.0.0.1", PLAIN, { pool = "capped", pool_size = 2 }))
    s:send("CONN\n")
    ids[i] = s:receive():match("conn=(%d+)")
    out("reused", i, s:getreusedtimes())
    socks[i] = s
end
for i = 1, 3 do
    socks[i]:setkeepalive()
end
local _, pooled = mg.socket.count()
out("pooled", pooled)
for i = 3, 1, -1 do
    local s = mg.socket.tcp()
    assert(s:connect("127.0.0.1", PLAIN, { pool = "capped" }))
    s:send("CONN\n")
    local id = s:receive():match("conn=(%d+)")
    out("take", id == ids[i], s:getreusedtimes())
    s:close()
end
LUA
--- request
GET /t
--- response_body
reused 1 0
reused 2 0
reused 3 0
pooled 2
take true 1
take true 1
take false 0
--- no_error_log
[error]



=== TEST 8: idle timeout closes a pooled connection; one the server talks on is dropped; unread data refuses
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local s = mg.socket.tcp()
assert(s:connect("127.0.0.1", PLAIN, { pool = "idle" }))
out("keep", s:setkeepalive(100))
local _, pooled = mg.socket.count()
out("pooled", pooled)
mg.sleep(300)
_, pooled = mg.socket.count()
out("after idle", pooled)
local n = mg.socket.tcp()
assert(n:connect("127.0.0.1", PLAIN, { pool = "idle" }))
out("new", n:getreusedtimes())
n:send("SEND_LATER surprise\n")
out("keep2", n:setkeepalive(10000))
mg.sleep(500)
_, pooled = mg.socket.count()
out("after talk", pooled)
local d = mg.socket.tcp()
assert(d:connect("127.0.0.1", PLAIN, { pool = "idle" }))
out("fresh", d:getreusedtimes())
d:settimeout(2000)
d:send("ECHO a\nECHO b\n")
out("read", d:receive())
mg.sleep(100)
out("dirty", d:setkeepalive())
_, pooled = mg.socket.count()
out("pooled", pooled)
LUA
--- request
GET /t
--- response_body
keep 1
pooled 1
after idle 0
new 0
keep2 1
after talk 0
fresh 0
read a
dirty nil unread data in buffer
pooled 0
--- no_error_log
[error]



=== TEST 9: TLS: verified against the CA store for the name, data over it, pooled, refused for a wrong name
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local first
for i = 1, 2 do
    local s = mg.socket.tcp()
    s:settimeout(3000)
    assert(s:connect("127.0.0.1", TLS))
    out("handshake", s:sslhandshake(nil, "upstream.test"))
    s:send("CONN\r\n")
    local conn, req = s:receive():match("conn=(%d+) req=(%d+)")
    first = first or conn
    out(i, conn == first, req, s:getreusedtimes())
    s:setkeepalive()
end
local ip = mg.socket.tcp()
ip:settimeout(3000)
assert(ip:connect("127.0.0.1", TLS, { pool = "by-ip" }))
out("ip san", ip:sslhandshake())
local bad = mg.socket.tcp()
bad:settimeout(3000)
assert(bad:connect("127.0.0.1", TLS, { pool = "bad" }))
local ok, err = bad:sslhandshake(nil, "wrong.test")
out("wrong name", ok, err and err:match("^handshake failed") ~= nil)
local off = mg.socket.tcp()
off:settimeout(3000)
assert(off:connect("127.0.0.1", TLS, { pool = "off" }))
out("verify off", off:sslhandshake(nil, "wrong.test", false))
off:send("ECHO over tls\n")
out("read", off:receive())
LUA
--- request
GET /t
--- response_body
handshake true
1 true 1 0
handshake true
2 true 2 1
ip san true
wrong name nil true
verify off true
read over tls



=== TEST 10: a Unix socket; several sockets of one request at once; the worker's cap on sockets
--- yaml_config
lua: { cpu_budget: 2s }   # 4,096 sockets made in one run: more than 50 ms on a loaded machine
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA')
local u = mg.socket.tcp()
u:settimeout(2000)
out("unix", u:connect(UNIX))
u:send("ECHO via unix\n")
out("read", u:receive())
local a, b = mg.socket.tcp(), mg.socket.tcp()
assert(a:connect("127.0.0.1", PLAIN, { pool = "a" }))
assert(b:connect("localhost", PLAIN, { pool = "b" }))
a:send("ECHO from a\n")
b:send("ECHO from b\n")
out(b:receive(), a:receive())
local made, err = 3, nil
while true do
    local s, e = mg.socket.tcp()
    if not s then err = e break end
    made = made + 1
end
out("cap", made, err)
LUA
--- request
GET /t
--- response_body
unix 1
read via unix
from b from a
cap 4096 too many open sockets
--- no_error_log
[error]



=== TEST 11: a lua-resty style memcached client on mg.socket, pooled across requests
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA', <<'LIB')
local key = mg.request.get_path():match("/(%w+)$")
local m = memc.new()
assert(m:connect("127.0.0.1", PLAIN))
if mg.request.get_method() == "PUT" then
    out("set", m:set(key, mg.request.get_body()))
else
    out("get", m:get(key))
end
out("reused", m.sock:getreusedtimes() > 0)
m:set_keepalive()
LUA
-- a memcached text-protocol client, lua-resty-memcached style
local memc = {}
memc.__index = memc
function memc.new()
    local sock = mg.socket.tcp()
    sock:settimeout(1000)
    return setmetatable({ sock = sock }, memc)
end
function memc:connect(host, port)
    return self.sock:connect(host, port, { pool = "memc" })
end
function memc:set(key, value, exptime, flags)
    local ok, err = self.sock:send({ "set ", key, " ", flags or 0, " ", exptime or 0, " ",
        #value, "\r\n", value, "\r\n" })
    if not ok then return nil, err end
    local line, rerr = self.sock:receive()
    if line ~= "STORED" then return nil, line or rerr end
    return 1
end
function memc:get(key)
    local ok, err = self.sock:send("get " .. key .. "\r\n")
    if not ok then return nil, err end
    local line, rerr = self.sock:receive()
    if not line then return nil, rerr end
    if line == "END" then return nil end
    local flags, len = line:match("^VALUE %S+ (%d+) (%d+)$")
    if not flags then return nil, "bad reply: " .. line end
    local data, derr = self.sock:receive(tonumber(len))
    if not data then return nil, derr end
    self.sock:receive(2) -- CR LF
    local fin = self.sock:receive()
    if fin ~= "END" then return nil, "bad end: " .. tostring(fin) end
    return data, tonumber(flags)
end
function memc:set_keepalive()
    return self.sock:setkeepalive(10000, 10)
end
LIB
--- request eval
["PUT /kv/k1\n" . "value with\r\nlines", "GET /kv/k1", "GET /kv/none"]
--- response_body eval
["set 1\nreused false\n", "get value with\r\nlines 0\nreused true\n", "get nil\nreused true\n"]
--- no_error_log
[error]



=== TEST 12: not in header_filter (the error names the phase); a socket used by a timer it was not made in
--- yaml_config
routes: [{ name: r, paths: ["/*"], upstream: echo, plugins: { sock: {}, hf: {} } }]
upstreams: [{ name: echo, nodes: [{ address: "127.0.0.1:$MG_ECHO_PORT" }] }]
--- lua_plugins eval
main::plug(<<'LUA') . <<'HF'
local s = mg.socket.tcp()
assert(s:connect("127.0.0.1", PLAIN))
mg.timer.at(0, function()
    local ok, err = pcall(s.send, s, "ECHO x\n")
    mg.log(mg.WARN, "timer use: ", tostring(ok), " ", tostring(err))
end)
mg.sleep(200)
s:send("ECHO still mine\n")
mg.ctx.line = s:receive()
do return end
LUA
>>> hf.lua
local mg = require "moongate"
return {
    name = "hf", version = "1.0", priority = 50,
    schema = { type = "record", fields = {} },
    header_filter = function(conf)
        local ok, err = pcall(mg.socket.tcp)
        mg.log(mg.WARN, "hf: ", err)
        mg.response.set_header("X-Line", mg.ctx.line)
    end,
}
HF
--- request
GET /hello
--- error_code: 200
--- response_headers
X-Line: still mine
--- error_log
timer use: false
socket used outside the request or timer that made it
hf: mg.socket.tcp: not allowed in the header_filter phase



=== TEST 13: from a timer: connect, talk and keepalive there; the timer's sockets are closed at its end
--- yaml_config
routes: [{ name: r, paths: ["/*"], plugins: { sock: {} } }]
--- lua_plugins eval
main::plug(<<'LUA', <<'LIB')
mg.timer.at(0, job)
mg.sleep(300)
local open, pooled = mg.socket.count()
out("open", open, "pooled", pooled)
LUA
local function job(premature)
    local s = mg.socket.tcp()
    s:settimeout(1000)
    assert(s:connect("127.0.0.1", PLAIN, { pool = "timer" }))
    s:send("ECHO from a timer\n")
    mg.log(mg.WARN, "timer got: ", s:receive())
    s:setkeepalive()
    local left = mg.socket.tcp() -- never closed by the job: the run's end does it
    assert(left:connect("127.0.0.1", PLAIN))
end
LIB
--- request
GET /t
--- response_body
open 0 pooled 1
--- error_log
timer got: from a timer



=== TEST 14: the client leaves while the plugin waits on a receive: the socket is closed, the worker goes on
--- yaml_config
routes:
  - { name: wait, paths: ["/wait"], plugins: { sock: {} } }
  - { name: count, paths: ["/count"], plugins: { counter: {} } }
--- lua_plugins eval
main::plug(<<'LUA') . <<'COUNT'
local s = mg.socket.tcp()
s:settimeout(1500)
assert(s:connect("127.0.0.1", PLAIN))
s:send("NONE\n")
mg.log(mg.WARN, "waiting on receive")
out(s:receive())
LUA
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
--- request
GET /wait
--- timeout: 0.5
--- abort
--- test_code eval
sub {
    my $t = shift;
    my $r = $t->request('GET /count');
    is($r->{body}, "open 1 pooled 0\n", 'served while the other request waits');
    my $st = main::status($t);
    is($st->{lua_sockets}{open}, 1, '/status: one open');
    is($st->{lua_sockets}{max_per_worker}, 4096, '/status: the cap');
    my $end = Time::HiRes::time() + 5;
    do {
        Time::HiRes::sleep(0.1);
        $r = $t->request('GET /count');
    } until ($r->{body} eq "open 0 pooled 0\n" || Time::HiRes::time() > $end);
    is($r->{body}, "open 0 pooled 0\n", 'no socket left once the request is over');
    is(main::status($t)->{lua_sockets}{open}, 0, '/status: none open');
}
--- error_log
waiting on receive
