package Test::Moongate::KeepaliveServer;

# An HTTP/1.1 server that keeps connections open (Python's http.server, threaded), for
# the keep-alive tests of mg.http: every answer names the connection it came on
# ("c1", "c2" ... in accept order), so a block sees which calls shared one.
#
#   /chunked  a chunked body          /close  "Connection: close" and closes
#   /big      100000 bytes            /liar   keep-alive by the headers, then closes
#   /open     how many connections are open now (this one included)
#   anything else: the connection's name, with a Content-Length
#
# start($port, $idle) -> pid: connections idle $idle seconds (0: never) are closed by
# the server. stop($pid). Needs /usr/bin/python3 (Debian package python3).

use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

our $PYTHON = '/usr/bin/python3';

my $SCRIPT = <<'PY';
import sys, socketserver, http.server, threading
port, idle = int(sys.argv[1]), float(sys.argv[2])
count = [0]
opened = [0]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = idle if idle > 0 else None
    def setup(self):
        with lock:
            count[0] += 1
            opened[0] += 1
            self.cid = "c%d" % count[0]
        super().setup()
    def finish(self):
        with lock:
            opened[0] -= 1
        try:
            super().finish()
        except OSError:
            pass
    def log_message(self, *a):
        pass
    def answer(self, body, extra=()):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (self.cid[:1], self.cid[1:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part.encode()))
            self.wfile.write(b"0\r\n\r\n")
        elif p.startswith("/close"):
            self.answer(self.cid.encode(), [("Connection", "close")])
            self.close_connection = True
        elif p.startswith("/liar"):
            self.answer(self.cid.encode())
            self.close_connection = True
        elif p.startswith("/open"):
            self.answer(str(opened[0]).encode())
        elif p.startswith("/big"):
            self.answer(b"x" * 100000)
        else:
            self.answer(self.cid.encode())
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.do_GET()
socketserver.ThreadingTCPServer.allow_reuse_address = True
srv = socketserver.ThreadingTCPServer(("127.0.0.1", port), H)
srv.daemon_threads = True
print("ready", flush=True)
srv.serve_forever()
PY

sub available { -x $PYTHON }

sub start {
    my ($port, $idle) = @_;
    pipe(my $r, my $w) or die "pipe: $!\n";
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        close $r;
        open STDOUT, '>&', $w;
        open STDERR, '>', '/dev/null';
        exec($PYTHON, '-c', $SCRIPT, $port, $idle // 0) or POSIX::_exit(127);
    }
    close $w;
    # it says "ready" once it listens (no probe connection: those would be counted)
    my $line;
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        $line = <$r>;
        alarm 0;
    };
    close $r;
    if (!defined $line || $line !~ /^ready/) {
        stop($pid);
        die "the keep-alive test server did not listen on $port within 5 s\n";
    }
    return $pid;
}

# open($port) -> connections open on the server now, asked on a connection of our own
# (not counted).
sub open_count {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp',
                                  Timeout => 2) or return -1;
    print $s "GET /open HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    close $s;
    return $r =~ /\r\n\r\n(\d+)\z/ ? $1 - 1 : -1;
}

sub stop {
    my ($pid) = @_;
    return unless $pid;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

1;
