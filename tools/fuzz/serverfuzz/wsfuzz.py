"""WebSocket cases: handshakes (valid, and broken in each way the gateway checks) to the
`websocket: true` routes, frames right behind the head, and the upstream's side of the
tunnel (serve_ws, called by upstream.py for a handshake to a /ws path).

The gateway relays a tunnel's bytes without reading frames, so the frames here are
there to move bytes both ways at odd moments (behind the head, split, huge lengths,
closes), not to test a frame parser.
"""

import base64
import hashlib
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def frame(opcode, payload, mask=b"\x01\x02\x03\x04", fin=True):
    """A client frame (masked) of `payload`."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def handshake(path, headers=(), key=KEY, version=b"13", method=b"GET", proto=b"HTTP/1.1"):
    head = b"%s %s %s\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" % (
        method, path, proto)
    if key is not None:
        head += b"Sec-WebSocket-Key: " + key + b"\r\n"
    if version is not None:
        head += b"Sec-WebSocket-Version: " + version + b"\r\n"
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n"


def ws_seeds():
    """(name, parts) seeds for the main port."""
    text, binary = frame(0x1, b"hello"), frame(0x2, bytes(range(256)))
    ping, close = frame(0x9, b"p"), frame(0x8, struct.pack("!H", 1000) + b"bye")
    out = []
    for path in (b"/ws/echo", b"/ws/slow", b"/ws/early", b"/wsauth/echo"):
        hs = handshake(path, [b"apikey: fuzz-key"] if path.startswith(b"/wsauth") else [])
        name = path.decode()
        out.append(("ws-open" + name, [hs]))
        out.append(("ws-text-behind-head" + name, [hs + text]))
        out.append(("ws-frames" + name, [hs, text, binary, ping, close]))
        out.append(("ws-split-frame" + name, [hs, text[:3], text[3:], close]))
        out.append(("ws-big" + name, [hs, frame(0x2, b"z" * 70000), close]))
        out.append(("ws-huge-length" + name, [hs, b"\x82\xff" + b"\x7f" * 8 + b"x" * 100]))
        out.append(("ws-garbage" + name, [hs, b"\x00" * 50 + b"GET / HTTP/1.1\r\n\r\n"]))
        out.append(("ws-fragments" + name, [hs, frame(0x1, b"he", fin=False),
                                            frame(0x0, b"llo"), close]))
    out.append(("ws-upstream-closes", [handshake(b"/ws/wsclose"), text]))
    out.append(("ws-upstream-403", [handshake(b"/ws/ws403") + text]))
    out.append(("ws-upstream-bad-accept", [handshake(b"/ws/wsbad") + text]))
    out.append(("ws-upstream-no-upgrade", [handshake(b"/ws/wsnoup") + text]))
    out.append(("ws-no-key", [handshake(b"/ws/echo", key=None)]))
    out.append(("ws-short-key", [handshake(b"/ws/echo", key=b"c2hvcnQ=")]))
    out.append(("ws-version-8", [handshake(b"/ws/echo", version=b"8")]))
    out.append(("ws-no-version", [handshake(b"/ws/echo", version=None)]))
    out.append(("ws-post", [handshake(b"/ws/echo", method=b"POST",
                                      headers=[b"Content-Length: 5"]) + b"hello"]))
    out.append(("ws-http10", [handshake(b"/ws/echo", proto=b"HTTP/1.0")]))
    out.append(("ws-body", [handshake(b"/ws/echo", headers=[b"Content-Length: 3"]) + b"abc"]))
    out.append(("ws-chunked", [handshake(b"/ws/echo", headers=[b"Transfer-Encoding: chunked"])
                               + b"3\r\nabc\r\n0\r\n\r\n"]))
    out.append(("ws-no-auth", [handshake(b"/wsauth/echo") + text]))
    out.append(("ws-plain-route", [handshake(b"/up/x") + text]))
    out.append(("ws-two-upgrades", [handshake(b"/ws/echo", headers=[b"Upgrade: h2c"])]))
    out.append(("ws-pipelined-after", [handshake(b"/ws/echo") + b"GET /hello HTTP/1.1\r\n"
                                       b"Host: a\r\n\r\n"]))
    out.append(("ws-expect", [handshake(b"/ws/echo", headers=[b"Expect: 100-continue"])]))
    return out


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def serve_ws(sock, rng, head, path, buf):
    """The upstream's side of a handshake to a /ws path: a valid 101 then an echo of the
    raw bytes (with some of its own first), or one of the broken answers the path asks
    for (ws403, wsbad, wsnoup, wsclose). Returns when the tunnel ends."""
    key = b""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip()
    if b"ws403" in path:
        sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
        return
    if b"wsbad" in path:
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n")
        return
    if b"wsnoup" in path:
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_of(key) + b"\r\n\r\n")
        return
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_of(key) + b"\r\n\r\n"
                 + (b"\x81\x05early" if b"early" in path else b""))
    if b"wsclose" in path:
        return
    if buf:
        sock.sendall(bytes(buf))
    total, end = 0, time.monotonic() + 5
    while total < 4 * 1024 * 1024 and time.monotonic() < end:
        if b"slow" in path:
            time.sleep(rng.uniform(0.05, 0.3))
        data = sock.recv(65536)
        if not data:
            return
        total += len(data)
        sock.sendall(data)
