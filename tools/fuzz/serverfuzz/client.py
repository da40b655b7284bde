"""Runs a case's steps (see mutate.py) on a client connection and reads the answers.

A Conn is one TCP connection to the gateway; several cases may run on it one after the
other. Answers are parsed as they come (status line, headers, Content-Length, chunked
or close-delimited bodies) only to count them by status and to know when the
connection is quiet; a reply that is not HTTP ends the parsing for that connection.
"""

import collections
import re
import select
import socket
import struct
import time

IDLE = 0.25          # a complete answer followed by this much quiet ends a read step
MAX_HEAD = 1 << 20
REQUEST_RE = re.compile(rb"\r\n\r\n([A-Z]{3,10}) ")


class Responses:
    """Incremental parser of the answers on one connection."""

    def __init__(self):
        self.methods = collections.deque(maxlen=10000)  # of the requests sent, in order
        self.buf = bytearray()
        self.state = "head"
        self.need = 0
        self.statuses = []      # final statuses, in order
        self.interim = 0        # 1xx answers
        self.garbage = False
        self.garbage_bytes = b""  # where the answers stopped being HTTP

    def not_http(self, data):
        self.garbage = True
        self.garbage_bytes = data
        self.buf.clear()

    def at_boundary(self):
        return self.state in ("head", "head-or-body") and not self.buf

    def feed(self, data):
        if self.garbage:
            return
        self.buf += data
        for _ in range(100000):
            if not self.step():
                return

    def step(self):
        """Parses what it can; False when more bytes are needed."""
        if self.state == "head":
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > MAX_HEAD or (len(self.buf) >= 5 and
                                                 not self.buf.startswith(b"HTTP/")):
                    self.not_http(bytes(self.buf[:200]))
                return False
            raw = bytes(self.buf[:i])
            head = raw.lower()
            del self.buf[:i + 4]
            parts = head.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"http/1.") or not parts[1].isdigit():
                self.not_http(raw[:200])
                return False
            status = int(parts[1])
            if status == 101:
                # a WebSocket tunnel opened: what follows is its bytes, not HTTP
                self.statuses.append(status)
                if self.methods:
                    self.methods.popleft()
                self.state = "tunnel"
                return True
            if 100 <= status < 200:
                self.interim += 1
                return True
            self.statuses.append(status)
            method = self.methods.popleft() if self.methods else b""
            lines = head.split(b"\r\n")
            te = any(x.startswith(b"transfer-encoding:") and b"chunked" in x for x in lines)
            cl = [x.split(b":", 1)[1].strip() for x in lines if x.startswith(b"content-length:")]
            if status in (204, 304):
                self.state = "head"
            elif method == b"HEAD":
                # no body, unless the gateway answered a HEAD it could not parse (400)
                # with one: then what follows is not the next status line
                self.need = int(cl[0]) if cl and cl[0].isdigit() else 0
                self.state = "head-or-body" if self.need else "head"
            elif te:
                self.state = "size"
            elif cl and cl[0].isdigit():
                self.need = int(cl[0])
                self.state = "body" if self.need else "head"
            else:
                self.state = "close"
            return True
        if self.state == "head-or-body":
            if len(self.buf) < 5:
                return False
            self.state = "head" if self.buf.startswith(b"HTTP/") else "body"
            return True
        if self.state == "body":
            n = min(self.need, len(self.buf))
            del self.buf[:n]
            self.need -= n
            if self.need == 0:
                self.state = "head"
                return True
            return False
        if self.state == "size":
            i = self.buf.find(b"\r\n")
            if i < 0:
                return False
            size = bytes(self.buf[:i]).split(b";")[0].strip()
            del self.buf[:i + 2]
            try:
                self.need = int(size, 16) + 2
            except ValueError:
                self.not_http(b"chunk size: " + size[:100])
                return False
            self.state = "chunk" if self.need > 2 else "trailer"
            return True
        if self.state == "chunk":
            n = min(self.need, len(self.buf))
            del self.buf[:n]
            self.need -= n
            if self.need == 0:
                self.state = "size"
                return True
            return False
        if self.state == "trailer":
            i = self.buf.find(b"\r\n")
            if i < 0:
                return False
            del self.buf[:i + 2]
            if i == 0:
                self.state = "head"
            return True
        self.buf.clear()  # "close" or "tunnel": bytes up to the end of the connection
        return False


class Conn:
    """One connection to 127.0.0.1:port; `open` is False once it has ended."""

    def __init__(self, port, timeout=3.0):
        self.setup(socket.create_connection(("127.0.0.1", port), timeout), timeout)

    def setup(self, sock, timeout):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.resp = Responses()
        self.sent_tail = b"\r\n\r\n"  # the stream starts as if after an empty line
        self.open = True
        self.eof = False
        self.shut = False

    def close(self, reset=False):
        if not self.open:
            return
        self.open = False
        try:
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass

    def recv_some(self, timeout):
        """Reads what is there within `timeout`; returns the byte count, 0 at EOF or
        on a reset (which end the connection), None when nothing came."""
        if not self.pending():
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
            if not r:
                return None
        try:
            data = self.recv_data()
        except (ConnectionResetError, OSError) as e:
            self.outcome["reset" if isinstance(e, ConnectionResetError) else "error"] = True
            self.eof = True
            return 0
        if data is None:
            return None  # bytes came, nothing to parse yet (part of a TLS record)
        if not data:
            self.eof = True
            return 0
        self.outcome["bytes"] += len(data)
        self.resp.feed(data)
        return len(data)

    def read(self, ms, first_only=False):
        """Reads until EOF, `ms` ms, or (after a complete answer) IDLE s of quiet; with
        first_only, until the first bytes."""
        end = time.monotonic() + ms / 1000.0
        finals = len(self.resp.statuses)
        quiet_since = time.monotonic()
        for _ in range(100000):
            now = time.monotonic()
            if self.eof or now >= end:
                return
            got = self.recv_some(min(end - now, 0.05))
            if got == 0 or (got and first_only):
                return
            if got:
                quiet_since = time.monotonic()
            elif (len(self.resp.statuses) > finals and self.resp.at_boundary()
                  and time.monotonic() - quiet_since >= IDLE):
                return

    # what a TLS connection (serverfuzz/tlsfuzz.py) does its own way
    def pending(self):
        return False

    def recv_data(self):
        return self.sock.recv(65536)

    def send_data(self, data):
        self.sock.sendall(data)
        return True

    def shut_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def note_methods(self, data):
        """Remembers the methods of the requests in `data` (a request starts the stream
        or follows an empty line), so that the answer to a HEAD is read without a body.
        A guess: a body may look like a request too."""
        text = self.sent_tail + data
        for m in REQUEST_RE.finditer(text):
            if m.end() > len(self.sent_tail):  # not counted with the previous bytes
                self.resp.methods.append(m.group(1))
        self.sent_tail = text[-8:]

    def send(self, data):
        self.note_methods(data)
        try:
            return self.send_data(data)
        except socket.timeout:
            self.outcome["send_timeout"] = True
        except (BrokenPipeError, ConnectionResetError):
            self.outcome["send_error"] = True
        except OSError:
            self.outcome["error"] = True
        return False

    def run(self, steps):
        """Runs `steps`; returns the outcome: statuses answered meanwhile, interim count,
        bytes, and flags eof / reset / send_error / send_timeout / timeout / garbage."""
        self.outcome = dict(statuses=[], interim=0, bytes=0)
        before, interim = len(self.resp.statuses), self.resp.interim
        for op, arg in steps:
            if not self.open:
                break
            if op == "send":
                if self.eof or self.shut or not self.send(arg):
                    break
            elif op == "sleep":
                time.sleep(arg / 1000.0)
            elif op == "wait":
                self.read(arg, first_only=True)
            elif op == "read":
                finals = len(self.resp.statuses)
                self.read(arg)
                if not self.eof and (len(self.resp.statuses) == finals
                                     or not self.resp.at_boundary()):
                    self.outcome["timeout"] = True  # no (whole) answer within the time
            elif op == "shut":
                try:
                    self.shut_write()
                    self.shut = True
                except OSError:
                    pass
            elif op in ("close", "rst"):
                self.close(reset=op == "rst")
        self.outcome["statuses"] = self.resp.statuses[before:]
        self.outcome["interim"] = self.resp.interim - interim
        if self.eof:
            self.outcome["eof"] = True
        if self.resp.garbage:
            self.outcome["garbage"] = True
            self.outcome["garbage_bytes"] = self.resp.garbage_bytes.decode("latin-1")
        if self.eof or self.shut:
            self.close()
        return self.outcome
