"""The upstream the gateway proxies to: an HTTP/1.1 server on loopback with keep-alive,
run in a child process of its own (so the fuzzer's threads do not slow it down).

It reads each request (Content-Length or chunked body) and answers by words found in
the path, so that mutated requests still reach the odd answers:

  slow      waits 0.2-1.2 s first          chunked   chunked answer, extension, trailer
  close     body delimited by close        short     Content-Length 100, 10 bytes, close
  bad       a malformed answer             rst       reset instead of an answer
  hang      no answer; closes after 5 s    big       300 KiB body
  trickle   body in pieces, 30 ms apart    cont      a 100 Continue before the answer
  hints     a 103 before the answer        headbody  a body even to HEAD
  early     answers before reading the request body, then closes or resets
  /ws/...   a WebSocket handshake: 101 and an echo of the tunnel's bytes (wsfuzz.py)
  s204 s304 s500 s503 s404 s401 s302       that status
  anything else: 200 with a small JSON body; now and then the connection closes after
  the answer, or while idle, so the gateway's pool meets stale connections.
"""

import os
import random
import signal
import socket
import struct
import threading
import time

from .wsfuzz import serve_ws
from .forked import serve_in_child, tcp_listener

MAX_THREADS = 64
MAX_BODY = 2 * 1024 * 1024

BAD_ANSWERS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n0123456789",
    b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nbody until close",
    b"HTTP/1.1 200 OK\r\nContent-Le",
    b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: -",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" * 50,
]


def read_until(sock, buf, marker, limit):
    """Reads into `buf` until it holds `marker`; returns its index or -1 (EOF, limit)."""
    for _ in range(limit // 16 + 16):
        i = buf.find(marker)
        if i >= 0:
            return i
        if len(buf) > limit:
            return -1
        chunk = sock.recv(65536)
        if not chunk:
            return -1
        buf += chunk
    return -1


def read_body(sock, buf, head):
    """Consumes the request body described by `head` from `buf`/`sock`. Returns its
    length, or -1 when the framing is broken or the connection ends."""
    lower = head.lower()
    if b"transfer-encoding:" in lower and b"chunked" in lower:
        total = 0
        for _ in range(MAX_BODY + 1):
            i = read_until(sock, buf, b"\r\n", 4096)
            if i < 0:
                return -1
            size_text = bytes(buf[:i]).split(b";")[0].strip()
            del buf[:i + 2]
            try:
                size = int(size_text, 16)
            except ValueError:
                return -1
            if size == 0:
                for _ in range(200):  # trailer lines up to the empty one
                    i = read_until(sock, buf, b"\r\n", 65536)
                    if i < 0:
                        return -1
                    empty = i == 0
                    del buf[:i + 2]
                    if empty:
                        return total
                return -1
            if size > MAX_BODY:
                return -1
            while len(buf) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    return -1
                buf += chunk
            del buf[:size + 2]
            total += size
        return -1
    for line in lower.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            try:
                n = int(line.split(b":", 1)[1].strip())
            except ValueError:
                return -1
            if n < 0 or n > MAX_BODY:
                return -1
            while len(buf) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    return -1
                buf += chunk
            del buf[:n]
            return n
    return 0


def many_headers(path):
    """Heads with many fields or many bytes (None when the path asks for neither): 150
    Set-Cookie lines pass the defaults, 1200 fields and 20 KB go over them."""
    if b"cookies" in path:
        lines = b"".join(b"Set-Cookie: c%d=v%d; Path=/\r\n" % (i, i) for i in range(150))
    elif b"manyhdr" in path:
        lines = b"".join(b"X-%d: 1\r\n" % i for i in range(1200))
    elif b"hugehdr" in path:
        lines = b"X-Big: " + b"h" * 20000 + b"\r\n"
    else:
        return None
    return b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 3\r\n\r\nok\n"


def answer(sock, rng, method, path, body_len):
    """Writes the answer the path asks for. Returns False when the connection must end."""
    head_only = method == b"HEAD"

    def plain(status, body, extra=b""):
        msg = b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n" % (status, len(body), extra)
        sock.sendall(msg if head_only else msg + body)

    if b"slow" in path:
        time.sleep(rng.uniform(0.2, 1.2))
    if b"cont" in path:
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if b"hints" in path:
        sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    heavy = many_headers(path)
    if heavy is not None:
        sock.sendall(heavy[:-3] if head_only else heavy)
        return True
    if b"headbody" in path:
        # a broken upstream that sends a body to HEAD as well
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        return True
    if b"rst" in path:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False
    if b"hang" in path:
        time.sleep(5)
        return False
    if b"bad" in path:
        sock.sendall(rng.choice(BAD_ANSWERS))
        return False
    if b"short" in path:
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        return False
    if b"close" in path:
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end\n")
        return False
    for code in (204, 304, 500, 503, 404, 401, 302):
        if b"s%d" % code in path:
            if code in (204, 304):
                sock.sendall(b"HTTP/1.1 %d X\r\n\r\n" % code)
            else:
                plain(code, b"status %d\n" % code, b"Location: /x\r\n" if code == 302 else b"")
            return True
    if b"chunked" in path:
        msg = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n")
        if not head_only:
            msg += b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
        sock.sendall(msg)
        return True
    if b"big" in path:
        plain(200, b"b" * (300 * 1024))
        return True
    if b"trickle" in path:
        body = b"t" * 200
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        if not head_only:
            for i in range(0, len(body), 20):
                sock.sendall(body[i:i + 20])
                time.sleep(0.03)
        return True
    plain(200, b'{"method":"%s","len":%d}\n' % (method, body_len))
    return rng.random() > 0.03


def serve_conn(sock, rng):
    sock.settimeout(rng.choice([0.5, 2.0, 5.0, 10.0]))
    buf = bytearray()
    try:
        for _ in range(1000):
            i = read_until(sock, buf, b"\r\n\r\n", 128 * 1024)
            if i < 0:
                return
            head = bytes(buf[:i])
            del buf[:i + 4]
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            method, path = parts[0], parts[1] if len(parts) > 1 else b"/"
            if path.startswith((b"/ws/", b"/wsauth/")) and b"upgrade: websocket" in head.lower():
                serve_ws(sock, rng, head, path, buf)  # a tunnel: the connection ends with it
                return
            if b"early" in path:
                # answers before reading the body (a 413 say), then leaves
                sock.sendall(rng.choice([b"HTTP/1.1 413 X\r\nContent-Length: 0\r\n\r\n",
                                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]))
                if rng.random() < 0.5:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                return
            n = read_body(sock, buf, head)
            if n < 0:
                sock.sendall(b"HTTP/1.1 400 X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            if not answer(sock, rng, method, path, n):
                return
    except OSError:
        return
    finally:
        sock.close()


def serve(listener, seed, lifetime):
    """Accepts on `listener` for `lifetime` seconds or until killed; one thread per
    connection, at most 64."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end = time.monotonic() + lifetime
    listener.settimeout(1.0)
    rng = random.Random(seed)
    slots = threading.BoundedSemaphore(MAX_THREADS)

    def run(sock, r):
        try:
            serve_conn(sock, r)
        finally:
            slots.release()

    while time.monotonic() < end:
        try:
            sock, _ = listener.accept()
        except OSError:
            continue
        sock.setblocking(True)
        if not slots.acquire(blocking=False):
            sock.close()
            continue
        t = threading.Thread(target=run, args=(sock, random.Random(rng.random())), daemon=True)
        t.start()


def start(seed, lifetime):
    """Forks the upstream, which ends after `lifetime` seconds. Returns (pid, port, dead_port, hole_port, hole_socket):
    dead_port refuses connections, hole_port accepts them into a backlog that is never
    read (the caller keeps hole_socket open)."""
    listener = tcp_listener(256)
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(1024)
    pid, port = serve_in_child(listener, serve, seed, lifetime, before=hole.close)
    return pid, port, dead_port, hole.getsockname()[1], hole
