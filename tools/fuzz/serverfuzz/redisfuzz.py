"""The Redis of the gateway's mg.redis route: a TCP server on loopback, in a child
process of its own, that answers each command it reads with a valid reply most of the
time and otherwise misbehaves, so that the worker's Redis client meets what a broken
or hostile server sends while plugin coroutines wait on it:

  valid      +OK, :n, $n bulk, $-1, *n arrays (nested, with nils), -ERR
  garbage    bytes that are no RESP type, a bad length ($abc, *-7, $99999999999)
  cut        a reply cut in the middle, then the connection closed
  deep       arrays nested past what hiredis accepts
  big        a bulk of 1 MB
  silence    no reply (the command's deadline ends it)
  close      the connection closed at once, or reset
  extra      a reply nobody asked for before the real one

The plugin (plugins/fuzz-redis.lua) runs single commands and pipelines by the words in
the request path (/redis/get, /redis/pipe ...).
"""

import os
import random
import select
import signal
import socket
import struct
import time
from .forked import serve_in_child, tcp_listener


def count_commands(buf):
    """(complete commands in buf, bytes they take) for RESP arrays of bulk strings, and
    inline commands (one per line)."""
    n, off = 0, 0
    while off < len(buf):
        if buf[off:off + 1] != b"*":
            nl = buf.find(b"\n", off)
            if nl < 0:
                break
            n, off = n + 1, nl + 1
            continue
        nl = buf.find(b"\r\n", off)
        if nl < 0:
            break
        try:
            argc = int(buf[off + 1:nl])
        except ValueError:
            return n + 1, len(buf)
        p = nl + 2
        ok = True
        for _ in range(max(argc, 0)):
            nl = buf.find(b"\r\n", p)
            if nl < 0 or buf[p:p + 1] != b"$":
                ok = False
                break
            try:
                ln = int(buf[p + 1:nl])
            except ValueError:
                return n + 1, len(buf)
            p = nl + 2 + ln + 2
            if p > len(buf):
                ok = False
                break
        if not ok:
            break
        n, off = n + 1, p
    return n, off


def valid(rng, depth=0):
    k = rng.randrange(8 if depth < 3 else 6)
    if k == 0:
        return b"+OK\r\n"
    if k == 1:
        return b":%d\r\n" % rng.choice([0, 1, -1, 2 ** 53 + 1, -2 ** 63, 2 ** 63 - 1])
    if k == 2:
        s = os.urandom(rng.choice([0, 1, 5, 100]))
        return b"$%d\r\n%s\r\n" % (len(s), s)
    if k == 3:
        return b"$-1\r\n"
    if k == 4:
        return b"-ERR fuzz " + b"x" * rng.choice([1, 50, 5000]) + b"\r\n"
    if k == 5:
        return b"*-1\r\n"
    n = rng.choice([0, 1, 3, 20])
    return b"*%d\r\n" % n + b"".join(valid(rng, depth + 1) for _ in range(n))


def bad(rng):
    return rng.choice([
        b"?what\r\n", b"$abc\r\n", b"*-7\r\n", b"$99999999999\r\n", b":12x\r\n",
        b"$3\r\nabcdef\r\n", b"+OK\n", b"\r\n", b"\x00\x01\x02", b"*2\r\n$1\r\na\r\n?\r\n",
        b"%2\r\n", b"_\r\n", b",3.14\r\n", b"#t\r\n", b"$-2\r\n", b":\r\n",
    ])


def reply(rng):
    """(bytes to send, then: None, 'close', 'rst' or 'silence')."""
    roll = rng.random()
    if roll < 0.70:
        return valid(rng), None
    if roll < 0.78:
        return bad(rng), rng.choice([None, "close"])
    if roll < 0.83:
        r = valid(rng)
        return r[:rng.randrange(1, max(2, len(r)))], "close"
    if roll < 0.86:
        return b"*1\r\n" * 40 + b":1\r\n", None
    if roll < 0.88:
        return b"$1048576\r\n" + b"x" * 1048576 + b"\r\n", None
    if roll < 0.93:
        return b"", "silence"
    if roll < 0.97:
        return b"", rng.choice(["close", "rst"])
    return valid(rng) + valid(rng), None


def serve(lsock, seed, lifetime):
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    rng = random.Random(seed ^ 0x7ed15)
    end = time.monotonic() + lifetime
    conns = {}
    while time.monotonic() < end:
        r, _, _ = select.select([lsock] + list(conns), [], [], 0.5)
        for s in r:
            if s is lsock:
                try:
                    c, _ = lsock.accept()
                    conns[c] = b""
                except OSError:
                    pass
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                conns.pop(s, None)
                s.close()
                continue
            buf = conns[s] + data
            n, used = count_commands(buf)
            conns[s] = buf[used:]
            out, then = b"", None
            for _ in range(n):
                r1, then = reply(rng)
                out += r1
                if then:
                    break
            try:
                if out:
                    s.sendall(out)
                if then == "rst":
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                if then in ("close", "rst"):
                    conns.pop(s, None)
                    s.close()
            except OSError:
                conns.pop(s, None)
                s.close()


def start(seed, lifetime):
    """Forks the server, which ends after `lifetime` seconds. Returns (pid, port)."""
    return serve_in_child(tcp_listener(64), serve, seed, lifetime)


def redis_paths():
    """Request targets of the mg.redis route."""
    return [b"/redis/" + w for w in (b"get", b"set", b"pipe", b"many", b"hgetall", b"eval",
                                      b"get/pipe", b"x")]
