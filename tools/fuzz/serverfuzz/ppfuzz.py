"""PROXY protocol cases, for the gateway's listener with `proxy_protocol: true`
(gateway.py): a v1 or v2 header, valid, mutated or malformed on purpose, in front of an
HTTP case; and X-Forwarded-For seeds for `trusted_proxies` (127.0.0.1, the fuzzer, is
trusted, and so are the ranges below).

Kinds, counted apart in the summary:

- `pp-ok`: a valid header (v1 TCP4/TCP6/UNKNOWN, v2 TCP4/TCP6/LOCAL/UNSPEC/UNIX, with
  TLVs): whatever comes back must be HTTP;
- `pp-mut`: a valid header mutated (bit flips, cuts, its length field or a line
  changed, doubled): anything may come back, the server must live;
- `pp-bad`: a header that can never be valid, or none: not a byte may come back.
"""

import socket
import struct

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
TRUSTED = ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"]

ADDRS4 = ["203.0.113.7", "10.1.2.3", "127.0.0.1", "0.0.0.0", "255.255.255.255",
          "198.51.100.250"]
ADDRS6 = ["2001:db8::7", "::1", "::ffff:10.0.0.1", "fe80::1", "::",
          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::1"]


def tlvs(rng):
    """Zero to four TLVs: CRC32c, ALPN, authority, unique id, SSL, NOOP, a vendor one."""
    out = b""
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        t = rng.choice([0x01, 0x02, 0x03, 0x04, 0x05, 0x20, 0xe0, 0xea])
        v = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 4, 20, 128])))
        out += struct.pack("!BH", t, len(v)) + v
    return out


def v1(rng):
    fam = rng.choice(["TCP4", "TCP4", "TCP6", "UNKNOWN"])
    if fam == "UNKNOWN":
        return rng.choice([b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ::1 ::2 1 2\r\n"])
    pool = ADDRS4 if fam == "TCP4" else ADDRS6
    return ("PROXY %s %s %s %d %d\r\n" % (fam, rng.choice(pool), rng.choice(pool),
                                          rng.randrange(65536), rng.randrange(65536))).encode()


def v2(rng):
    x = rng.random()
    if x < 0.45:
        fam, block = 0x11, (socket.inet_aton(rng.choice(ADDRS4)) + socket.inet_aton(rng.choice(ADDRS4))
                            + struct.pack("!HH", rng.randrange(65536), rng.randrange(65536)))
    elif x < 0.8:
        fam, block = 0x21, (socket.inet_pton(socket.AF_INET6, rng.choice(ADDRS6))
                            + socket.inet_pton(socket.AF_INET6, rng.choice(ADDRS6))
                            + struct.pack("!HH", rng.randrange(65536), rng.randrange(65536)))
    elif x < 0.9:
        fam, block = 0x31, bytes(216)
    else:
        fam, block = 0x00, b""
    cmd = 0x20 if rng.random() < 0.1 else 0x21  # LOCAL now and then
    body = block + tlvs(rng)
    return SIG + struct.pack("!BBH", cmd, fam, len(body)) + body


def valid_header(rng):
    return v1(rng) if rng.random() < 0.5 else v2(rng)


def mutate_header(rng, h):
    x = rng.random()
    if x < 0.3:
        i = rng.randrange(len(h))
        return h[:i] + bytes([h[i] ^ (1 << rng.randrange(8))]) + h[i + 1:]
    if x < 0.45:
        return h[:rng.randrange(len(h))]
    if x < 0.6 and h.startswith(SIG):
        n = rng.choice([0, 1, 11, 12, 35, 36, 215, 2048, 2049, 65535])
        return h[:14] + struct.pack("!H", n) + h[16:]
    if x < 0.7:
        return h + h
    if x < 0.8:
        i = rng.randrange(len(h))
        return h[:i] + rng.choice([b" ", b"\r", b"\n", b"\x00", b":", b"[", b"\xff", b"  "]) + h[i:]
    if x < 0.9 and h.startswith(b"PROXY"):
        return h.replace(b" ", b"  ", 1) if rng.random() < 0.5 else h.replace(b"\r\n", b"\n")
    return h[:12] + bytes([rng.randrange(256), rng.randrange(256)]) + h[14:]


def bad_header(rng):
    """A header no reading can accept (or none at all: b"")."""
    return rng.choice([
        b"",
        b"PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY UNKNOWN " + b"a" * 200 + b"\r\n",
        b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        SIG + b"\x11\x11\x00\x0c" + bytes(12),
        SIG + b"\x2f\x11\x00\x0c" + bytes(12),
        SIG + b"\x21\x11\x00\x08" + bytes(8),
        SIG + b"\x21\x11\xff\xff" + bytes(64),
        SIG[:11] + b"X\x21\x11\x00\x0c" + bytes(12),
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
    ])


def make_case(rng, http_case):
    """(kind, seed name, parts): a header in front of an HTTP case's parts."""
    name, parts = http_case()
    x = rng.random()
    if x < 0.55:
        kind, hdr = "pp-ok", valid_header(rng)
    elif x < 0.85:
        kind, hdr = "pp-mut", mutate_header(rng, valid_header(rng))
    else:
        kind, hdr = "pp-bad", bad_header(rng)
        if not hdr and parts and parts[0][:1] in (b"P", b"\r"):
            hdr = b"GET"  # no header: make sure the case cannot read as one
    return kind, "%s %s" % (kind, name), ([hdr] if hdr else []) + list(parts)


def check(rec, out):
    """The expectation a finished PROXY case broke, or None."""
    kind = rec.get("kind")
    if kind == "pp-bad" and out.get("bytes"):
        return "a connection without a valid PROXY header was answered (%d bytes)" % out["bytes"]
    if kind == "pp-ok" and out.get("garbage"):
        return "an answer after a valid PROXY header that is not HTTP"
    return None


def xff_seeds(req):
    """X-Forwarded-For chains: trusted and untrusted entries, IPv6 and mapped ones,
    malformed ones, several lines, huge lists; on routes keyed on the client address
    (rate limits, chash fallback) and proxied ones (the list goes up)."""
    chains = [
        b"203.0.113.7", b"203.0.113.7, 10.0.0.2", b"6.6.6.6, 203.0.113.7, 10.1.1.1, 127.0.0.1",
        b"10.0.0.5, 10.0.0.6", b"2001:db8::5, 2001:db9::1", b"::ffff:203.0.113.8, ::ffff:10.0.0.1",
        b"203.0.113.7:4711", b"[2001:db9::1]:443", b"unknown, 10.0.0.1", b"_hidden",
        b"203.0.113.7 10.0.0.1", b"203.0.113.\xe9", b"", b", , ,", b"1.2.3.4,,5.6.7.8,",
        b"fe80::1%eth0", b"010.0.0.1", b"1.2.3.4/32", b"0x7f.0.0.1",
        b", ".join(b"10.%d.%d.1" % (i // 256, i % 256) for i in range(600)),
        b"203.0.113.7, " * 300 + b"10.0.0.1",
    ]
    out = []
    for path in (b"/up/xff", b"/limited/xff", b"/hash/xff", b"/hello"):
        for i, c in enumerate(chains):
            out.append(("xff-%d%s" % (i, path.decode()), [req(b"GET", path, [
                b"X-Forwarded-For: " + c, b"X-Forwarded-Proto: https", b"X-Forwarded-Host: h.example"])]))
        out.append(("xff-lines" + path.decode(), [req(b"GET", path, [
            b"X-Forwarded-For: 203.0.113.7", b"X-Forwarded-For: 10.0.0.2",
            b"x-forwarded-for: 127.0.0.1", b"X-Real-IP: 6.6.6.6"])]))
    return out
