"""The name server of the gateway's DNS-discovered upstreams: a UDP responder on
loopback, in a child process of its own, that keeps the node set moving and now and
then misbehaves, so that answers merge into the running upstreams while requests are
in flight on the nodes they add and remove.

  up.fuzz (A)             a changing subset of 127.0.0.1-127.0.0.3, TTL 1 s (only
                          127.0.0.1 has the upstream: the others refuse, tries move on)
  _http._tcp.up.fuzz      SRV records: up.fuzz at the upstream's port, priorities and
                          weights that change, a "." target now and then
  anything else           NXDOMAIN

and, instead of an answer: garbage after the question, counts that lie, a record cut
short, SERVFAIL, or nothing at all (a timeout).
"""

import random
import signal
import socket
import struct
import time
from .forked import serve_in_child

NAME = b"up.fuzz"
SRV_NAME = b"_http._tcp.up.fuzz"


def qname(msg):
    """(labels joined by dots, offset after the name) of the question, or (None, 0)."""
    off, labels = 12, []
    while off < len(msg):
        n = msg[off]
        if n == 0:
            return b".".join(labels).lower(), off + 1
        if n & 0xC0:
            return None, 0
        labels.append(msg[off + 1:off + 1 + n])
        off += 1 + n
    return None, 0


def encode(name):
    return b"".join(bytes([len(p)]) + p for p in name.split(b".")) + b"\x00"


def rr(rtype, rdata, ttl=1):
    return b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def answer(rng, msg, up_port):
    """The reply to one query, or None for no reply."""
    if len(msg) < 12:
        return None
    qid = msg[:2]
    name, end = qname(msg)
    if name is None or end + 4 > len(msg):
        return None
    question = msg[12:end + 4]
    qtype = struct.unpack(">H", msg[end:end + 2])[0]
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.10:
        return qid + struct.pack(">HHHHH", 0x8182, 1, 0, 0, 0) + question
    if roll < 0.18:
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        shapes = [struct.pack(">HHHHH", 0x8180, 1, rng.randrange(1, 9), 0, 0) + question + junk,
                  struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + question + b"\xc0\x0c\x00",
                  struct.pack(">HHHHH", 0x8180, rng.randrange(9), 0, 0, 0) + junk]
        return qid + rng.choice(shapes)
    records = []
    if name == NAME and qtype == 1:
        for last in range(1, 4):
            if last == 1 or rng.random() < 0.5:
                records.append(rr(1, bytes([127, 0, 0, last])))
    elif name == SRV_NAME and qtype == 33:
        for prio in (rng.randrange(3), rng.randrange(3)):
            target = encode(NAME) if rng.random() < 0.9 else b"\x00"
            port = up_port if rng.random() < 0.8 else rng.randrange(1, 65536)
            records.append(rr(33, struct.pack(">HHH", prio, rng.randrange(70000) % 65536,
                                              port) + target))
    elif name not in (NAME, SRV_NAME):
        return qid + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + question
    rng.shuffle(records)
    return qid + struct.pack(">HHHHH", 0x8180, 1, len(records), 0, 0) + question + b"".join(records)


def serve(sock, seed, up_port, lifetime):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rng = random.Random(seed)
    end = time.monotonic() + lifetime
    sock.settimeout(1.0)
    while time.monotonic() < end:
        try:
            msg, peer = sock.recvfrom(512)
        except OSError:
            continue
        out = answer(rng, msg, up_port)
        if out is not None:
            try:
                sock.sendto(out, peer)
            except OSError:
                pass


def start(seed, up_port, lifetime):
    """Forks the name server, which ends after `lifetime` seconds. Returns (pid, port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return serve_in_child(sock, serve, seed, up_port, lifetime)
