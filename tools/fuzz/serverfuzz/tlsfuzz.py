"""TLS for the whole-server fuzzer: the certificates of the gateway's TLS listener, the
ClientHellos the raw cases start from, the connection kinds that speak to the TLS port
(and a ClientHello to the plain one), and what each kind's answer must look like.

Certificates are made at start with the `openssl` command into the server root's
certs/ (a throwaway CA, an ECDSA P-256 and an RSA-2048 certificate for the same
names, a wildcard name set, an entry that asks for an optional client certificate,
and two client certificates: one from the CA, one self-signed); nothing is kept.

Kinds of connection (the `port` of a case record; see make_* below):

  tls      a real TLS session (Python's ssl over memory BIOs, so the records can be cut
           anywhere): TLS 1.2 or 1.3, an SNI among the configured, unknown and none,
           ALPN now and then h2 alone (must fail), a client certificate sometimes; then
           the usual mutated HTTP cases through it, split, half-closed (close_notify or
           a bare FIN) or reset (the raw socket under the session)
  tlsraw   bytes to the TLS port: plain HTTP (must get a 400 in clear text), garbage,
           captured ClientHellos mutated (bits, truncation, length fields, records
           split into 1-byte writes or fragmented, huge record lengths, several
           hellos), a partial record then silence (the handshake timeout must close
           it), an alert or ChangeCipherSpec first
  main     with a ClientHello first: sent to the plain port, must be closed unanswered
  tlsflood many connections at once that start a handshake and stall or reset
"""

import os
import random
import select
import socket
import ssl
import struct
import subprocess
import time

from . import client

HANDSHAKE_TIMEOUT = 2.0   # tls.handshake_timeout of the gateway under test
ALLOWED_LATE = 3.0        # slack on top of it before an open stalled connection counts

# what the gateway's tls: section serves (see gateway.tls_yaml)
NAMES_MAIN = ["fuzz.test", "www.fuzz.test"]
NAMES_WILD = ["*.wild.test", "wild.test"]
NAMES_MTLS = ["mtls.test"]
KNOWN_SNIS = ["fuzz.test", "www.fuzz.test", "a.wild.test", "zz-9.wild.test", "wild.test",
              "mtls.test", "FUZZ.test", "Mtls.Test"]
OTHER_SNIS = ["other.test", "a.b.wild.test", "wild.test.other", "x" * 63 + ".test",
              ".".join(["l" * 60] * 4), "fuzz.test.", "localhost", "1.2.3.4.nip.test"]


# ---- certificates ----

def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _leaf(d, name, key_kind, sans, cn, ca="ca", client=False):
    """name.key / name.pem: a certificate for `sans` signed by `ca` (None: self-signed)."""
    newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_kind == "ec" \
        else ["-newkey", "rsa:2048"]
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        if sans:
            f.write("subjectAltName=%s\n" % ",".join("DNS:" + s for s in sans))
        f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        f.write("basicConstraints=CA:FALSE\n")
    if ca is None:
        _openssl("req", "-x509", *newkey, "-nodes", "-keyout", name + ".key", "-out",
                 name + ".pem", "-days", "3", "-subj", "/CN=" + cn, "-extensions", "v3",
                 "-config", _req_config(d, ext), cwd=d)
        return
    _openssl("req", "-new", *newkey, "-nodes", "-keyout", name + ".key", "-out",
             name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", "3", "-extfile", ext, "-out", name + ".pem", cwd=d)


def _req_config(d, ext):
    path = ext + ".cnf"
    with open(ext) as f:
        body = f.read()
    with open(path, "w") as f:
        f.write("[req]\ndistinguished_name=dn\n[dn]\n[v3]\n" + body)
    return path


def make_certs(root):
    """Makes root/certs/ and returns the paths the gateway and the clients use."""
    d = os.path.join(root, "certs")
    os.makedirs(d, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "3", "-subj", "/CN=fuzz test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _leaf(d, "main-ec", "ec", NAMES_MAIN, "fuzz.test")
    _leaf(d, "main-rsa", "rsa", NAMES_MAIN, "fuzz.test")
    _leaf(d, "wild-ec", "ec", NAMES_WILD, "wild.test")
    _leaf(d, "mtls-ec", "ec", NAMES_MTLS, "mtls.test")
    _leaf(d, "client", "ec", ["client.fuzz.test"], "fuzz client", client=True)
    _leaf(d, "stranger", "ec", ["stranger.test"], "stranger", ca=None, client=True)
    # the wildcard entry serves its chain: leaf, then the CA
    with open(os.path.join(d, "wild-chain.pem"), "w") as out:
        for n in ("wild-ec.pem", "ca.pem"):
            with open(os.path.join(d, n)) as f:
                out.write(f.read())
    return {k: os.path.join(d, v) for k, v in dict(
        ca="ca.pem", main_ec="main-ec.pem", main_ec_key="main-ec.key",
        main_rsa="main-rsa.pem", main_rsa_key="main-rsa.key", wild="wild-chain.pem",
        wild_key="wild-ec.key", mtls="mtls-ec.pem", mtls_key="mtls-ec.key",
        client="client.pem", client_key="client.key", stranger="stranger.pem",
        stranger_key="stranger.key").items()}


# ---- client contexts ----

def client_context(params, files):
    """An SSLContext for the session `params` describe (see tls_params)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    v = params.get("version")
    if v == "1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif v == "1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    elif v == "old":  # TLS 1.0/1.1: the gateway must refuse (catalogue row 57)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    if params.get("ciphers"):
        ctx.set_ciphers(params["ciphers"])
    if params.get("alpn"):
        ctx.set_alpn_protocols(params["alpn"])
    if params.get("verify"):
        ctx.load_verify_locations(files["ca"])
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert = params.get("cert")
    if cert:
        ctx.load_cert_chain(files[cert], files[cert + "_key"])
    return ctx


def tls_params(rng):
    """A random TLS session to open: version, SNI, ALPN, ciphers, client certificate,
    and whether the handshake must succeed (`expect`)."""
    p = dict(split=rng.randrange(1 << 30))
    p["version"] = rng.choice(["1.2", "1.3", "any", "any", "1.3"] + ["old"] * (rng.random() < 0.03))
    r = rng.random()
    if r < 0.6:
        p["sni"] = rng.choice(KNOWN_SNIS)
    elif r < 0.8:
        p["sni"] = rng.choice(OTHER_SNIS)
    else:
        p["sni"] = None
    r = rng.random()
    if r < 0.5:
        p["alpn"] = None
    elif r < 0.8:
        p["alpn"] = rng.choice([["http/1.1"], ["h2", "http/1.1"], ["http/1.0", "http/1.1"]])
    elif r < 0.93:
        p["alpn"] = ["h2"]                                # no_application_protocol
    else:
        p["alpn"] = rng.choice([["spdy/3"], ["x" * 200], ["http/1.0"]])
    if p["version"] == "1.2" and rng.random() < 0.5:
        # picks the key type served: RSA or ECDSA from the same name set
        p["ciphers"] = rng.choice(["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                   "ECDHE-RSA-CHACHA20-POLY1305", "AES128-SHA"])
    r = rng.random()
    p["cert"] = "client" if r < 0.25 else "stranger" if r < 0.35 else None
    known = p["sni"] is not None and p["sni"].lower() in KNOWN_SNIS_LOWER
    p["verify"] = known and rng.random() < 0.7  # the certificate must fit the name
    bad_alpn = p["alpn"] is not None and "http/1.1" not in p["alpn"]
    # only the main names have an RSA certificate: an RSA-only TLS 1.2 client of the
    # others gets handshake_failure (no shared cipher)
    rsa_only = "-RSA-" in (p.get("ciphers") or "") and serving_set(p["sni"]) != "main"
    p["expect"] = "fail" if (bad_alpn or rsa_only or p["version"] == "old"
                             or p.get("ciphers") == "AES128-SHA") else "ok"
    p["resume"] = rng.random() < 0.15
    return p


KNOWN_SNIS_LOWER = {s.lower() for s in KNOWN_SNIS}


def serving_set(sni):
    """Which certificate entry serves `sni`: main (also the default), wild or mtls."""
    n = (sni or "").lower()
    if n.endswith("."):
        n = n[:-1]
    if n in NAMES_MTLS:
        return "mtls"
    if n == "wild.test" or (n.endswith(".wild.test") and n.count(".") == 2):
        return "wild"
    return "main"


# ---- a TLS connection ----

class TLSConn(client.Conn):
    """A client.Conn whose bytes go through a TLS session. The session runs over memory
    BIOs, so the records it writes can be cut at any byte (with small delays) and a
    reset closes the raw socket under it. `hs` says how the handshake went: ok,
    alert:REASON, eof, reset or timeout."""

    def __init__(self, port, params, files, timeout=3.0, ctx=None, session=None):
        self.params = params
        self.rng = random.Random(params.get("split", 0))
        sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.setup(sock, timeout)
        self.outcome = dict(statuses=[], interim=0, bytes=0)
        self.inc, self.outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        ctx = ctx or client_context(params, files)
        try:
            self.obj = ctx.wrap_bio(self.inc, self.outb, server_hostname=params.get("sni"),
                                    session=session)
        except (ValueError, ssl.SSLError):
            self.obj = ctx.wrap_bio(self.inc, self.outb, server_hostname=params.get("sni"))
        self.hs = self.handshake(timeout + HANDSHAKE_TIMEOUT)
        if self.hs != "ok":
            self.close()

    def flush(self):
        """Sends what the session wrote, now and then cut into pieces with delays."""
        data = self.outb.read()
        if not data:
            return True
        r = self.rng.random()
        cuts = []
        if r < 0.15:
            cuts = sorted(set(self.rng.randrange(1, len(data)) for _ in range(3))) \
                if len(data) > 1 else []
        elif r < 0.18:
            cuts = list(range(1, min(len(data), 12)))
        prev = 0
        try:
            for c in cuts + [len(data)]:
                self.sock.sendall(data[prev:c])
                if c != len(data):
                    time.sleep(self.rng.choice([0, 0, 0.001, 0.01]))
                prev = c
        except socket.timeout:
            self.outcome["send_timeout"] = True
            return False
        except (BrokenPipeError, ConnectionResetError):
            self.outcome["send_error"] = True
            return False
        except OSError:
            self.outcome["error"] = True
            return False
        return True

    def handshake(self, timeout):
        end = time.monotonic() + timeout
        for _ in range(10000):
            try:
                self.obj.do_handshake()
                self.flush()
                return "ok"
            except ssl.SSLWantReadError:
                if not self.flush():
                    return "reset"
                r, _, _ = select.select([self.sock], [], [], max(0.0, end - time.monotonic()))
                if not r:
                    return "timeout"
                try:
                    data = self.sock.recv(65536)
                except ConnectionResetError:
                    return "reset"
                except OSError:
                    return "eof"
                if not data:
                    return "eof"
                self.inc.write(data)
            except ssl.SSLError as e:
                self.flush()  # our own alert, if any
                return "alert:" + (e.reason or str(e)[:60] or type(e).__name__)
            except OSError:
                return "eof"
        return "timeout"

    def pending(self):
        return self.obj.pending() > 0 or self.inc.pending > 0

    def recv_data(self):
        """Plain text the session has; b"" at the end (close_notify, EOF, an alert);
        None when only part of a record came."""
        if not self.pending():
            raw = self.sock.recv(65536)
            if not raw:
                self.inc.write_eof()
            else:
                self.inc.write(raw)
        out = b""
        for _ in range(1000):
            try:
                piece = self.obj.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.outcome["close_notify"] = True
                return out
            except ssl.SSLEOFError:
                return out
            except ssl.SSLError as e:
                self.outcome["tls_error"] = e.reason or type(e).__name__
                return out
            if not piece:
                return out
            out += piece
        if not out and self.inc.eof:
            return b""
        return out or None

    def send_data(self, data):
        try:
            self.obj.write(data)
        except ssl.SSLError as e:
            self.outcome["tls_error"] = e.reason or type(e).__name__
            return False
        return self.flush()

    def shut_write(self):
        """A half-close: close_notify then FIN, or a bare FIN (no close_notify)."""
        if self.rng.random() < 0.6:
            try:
                self.obj.unwrap()
            except ssl.SSLError:
                pass
            self.flush()
        socket.socket.shutdown(self.sock, socket.SHUT_WR)

    def close(self, reset=False):
        if self.open and not reset and self.hs == "ok" and self.rng.random() < 0.5:
            try:
                self.obj.unwrap()
            except (ssl.SSLError, OSError):
                pass
            try:
                self.sock.sendall(self.outb.read())
            except OSError:
                pass
        super().close(reset)

    def resumed(self):
        try:
            return self.hs == "ok" and self.obj.session_reused
        except (AttributeError, ValueError, ssl.SSLError):
            return False

    def version(self):
        try:
            return self.obj.version() if self.hs == "ok" else None
        except (AttributeError, ValueError, ssl.SSLError):
            return None

    def session(self):
        try:
            return self.obj.session
        except (AttributeError, ValueError, ssl.SSLError):
            return None


class RawConn(client.Conn):
    """Raw bytes to the TLS port. Answers are parsed as HTTP only for a case that starts
    like a request (the gateway answers those in clear text); otherwise the first answer
    bytes are kept, to tell a TLS record from anything else."""

    def __init__(self, port, http=False, timeout=3.0):
        super().__init__(port, timeout)
        self.http = http
        self.first = b""

    def recv_data(self):
        data = self.sock.recv(65536)
        if data and len(self.first) < 16:
            self.first += data[:16 - len(self.first)]
        if data and not self.http:
            self.outcome["bytes"] += len(data)
            return None  # counted, not parsed as HTTP
        return data


# ---- ClientHellos ----

def capture_hellos(files):
    """Real ClientHellos, each as the bytes a client sends first: TLS 1.3 and 1.2, with
    and without SNI and ALPN."""
    out = []
    for p in [dict(version="any", sni="fuzz.test", alpn=["http/1.1"]),
              dict(version="1.3", sni="a.wild.test", alpn=None),
              dict(version="1.2", sni="mtls.test", alpn=["h2", "http/1.1"]),
              dict(version="1.2", sni=None, alpn=None),
              dict(version="any", sni="other.test", alpn=["h2"])]:
        try:
            ctx = client_context(p, files)
            inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, outb, server_hostname=p["sni"])
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            data = outb.read()
            if data[:1] == b"\x16":
                out.append(data)
        except (ssl.SSLError, OSError):
            pass
    if not out:
        out.append(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
    return out


def records(data):
    """[(type, version, body)] of the TLS records in `data` (a cut last one included)."""
    out, i = [], 0
    while i + 5 <= len(data):
        t, v, n = data[i], data[i + 1:i + 3], struct.unpack(">H", data[i + 3:i + 5])[0]
        out.append((t, v, data[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def record(t, body, version=b"\x03\x03"):
    return bytes([t]) + version + struct.pack(">H", len(body)) + body


def fragment(rng, hello):
    """The handshake message of `hello` in several records (valid framing)."""
    recs = records(hello)
    if not recs:
        return hello
    t, v, body = recs[0]
    out, i = b"", 0
    while i < len(body):
        n = rng.choice([1, 2, 5, 40, 100, 1000])
        out += record(t, body[i:i + n], v)
        i += n
    return out


def set_field(rng, hello):
    """One length field (record, handshake, session id, ciphers, extensions) changed."""
    d = bytearray(hello)
    if len(d) < 50:
        return bytes(d)
    which = rng.randrange(5)
    val = rng.choice([0, 1, 0xff, 0xffff, 0x4000, 0x4001, 0x4801, len(d), len(d) - 6])
    if which == 0:
        d[3:5] = struct.pack(">H", val & 0xffff)
    elif which == 1:
        d[6:9] = struct.pack(">I", val)[1:]
    elif which == 2:
        d[43] = val & 0xff  # session id length
    else:
        i = rng.randrange(44, len(d) - 2)
        d[i:i + 2] = struct.pack(">H", val & 0xffff)
    return bytes(d)


def mutate_hello(rng, hello):
    """A ClientHello changed by 1 to 3 of: bit flips, truncation, a length field, a
    version, fragmentation, a huge record length, repetition, trailing garbage."""
    from . import mutate
    d = hello
    for _ in range(rng.choice([1, 1, 2, 3])):
        op = rng.randrange(10)
        if op == 0:
            for _ in range(rng.randint(1, 8)):
                d = mutate.flip(rng, d)
        elif op == 1:
            d = d[:rng.randrange(1, max(2, len(d)))]
        elif op in (2, 3):
            d = set_field(rng, d)
        elif op == 4 and len(d) > 10:
            v = rng.choice([b"\x03\x00", b"\x03\x01", b"\x03\x02", b"\x02\x00", b"\xfe\xff",
                            b"\x7f\x1c", b"\x00\x00"])
            k = rng.choice([1, 9])  # record version or client_version
            d = d[:k] + v + d[k + 2:]
        elif op == 5:
            d = fragment(rng, d)
        elif op == 6:
            d = d[:3] + rng.choice([b"\xff\xff", b"\x48\x01", b"\x40\x01"]) + d[5:]
        elif op == 7:
            d = d * rng.choice([2, 3, 20])
        elif op == 8:
            d = d + bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        else:
            d = mutate.set_byte(rng, d)
    return d[:256 * 1024]


ALERT = record(0x15, b"\x02\x28")               # fatal handshake_failure
ALERT_WARN = record(0x15, b"\x01\x00")          # close_notify, first
CCS = record(0x14, b"\x01")
HEARTBEAT = record(0x18, b"\x01\x40\x00" + b"A" * 3)  # asks for 16 KiB back, sends 3
APPDATA = record(0x17, bytes(range(40)))
SSLV2 = bytes.fromhex("802b0103010012000000100700c0030080010080060040040080020080") + \
    bytes(range(16))


def rand_bytes(rng, n):
    """Bytes from `rng`: the same seed gives the same cases."""
    return bytes(rng.randrange(256) for _ in range(n))


def raw_steps(rng, data, style=None):
    """Steps that send `data` to the TLS port and end the case: pieces, 1-byte writes,
    a read, a reset or a stall."""
    steps = []
    r = rng.random() if style is None else style
    if r < 0.15:
        for i in range(min(len(data), 200)):
            steps.append(["send", data[i:i + 1]])
        if len(data) > 200:
            steps.append(["send", data[200:]])
    elif r < 0.4:
        cuts = sorted(set(rng.randrange(1, len(data)) for _ in range(rng.randint(1, 5)))) \
            if len(data) > 1 else []
        prev = 0
        for c in cuts + [len(data)]:
            steps.append(["send", data[prev:c]])
            if c != len(data):
                steps.append(["sleep", rng.choice([0, 1, 10, 100])])
            prev = c
    else:
        steps.append(["send", data])
    e = rng.random()
    if e < 0.6:
        steps.append(["read", rng.choice([500, 1500, 3000])])
    elif e < 0.75:
        steps += [["sleep", rng.choice([0, 5, 50])], ["rst", 0]]
    elif e < 0.85:
        steps += [["shut", 0], ["read", 1500]]
    else:
        steps += [["read", 200], ["close", 0]]
    return steps


def make_raw(rng, hellos, plain_case):
    """(kind, name, steps, http) for a connection with raw bytes to the TLS port."""
    r = rng.random()
    if r < 0.2:
        name, parts = plain_case()
        data = b"".join(parts)
        steps = raw_steps(rng, data) if data else [["send", b""], ["read", 500]]
        return "tls-raw-plain", "tls-plain " + name, steps, data[:1].isupper()
    if r < 0.65:
        h = rng.choice(hellos)
        data = mutate_hello(rng, h) if rng.random() < 0.85 else h
        return "tls-raw-hello", "tls-hello", raw_steps(rng, data), False
    if r < 0.78:
        # a partial record, then silence: the handshake timeout must close it
        h = rng.choice(hellos)
        cut = rng.choice([1, 3, 5, 6, 9, len(h) // 2, len(h) - 1, len(h)])
        steps = [x for x in raw_steps(rng, h[:cut], style=0.5) if x[0] in ("send", "sleep")]
        steps.append(["read", int((HANDSHAKE_TIMEOUT + ALLOWED_LATE) * 1000)])
        return "tls-raw-stall", "tls-stall-%d" % cut, steps, False
    if r < 0.9:
        first = rng.choice([ALERT, ALERT_WARN, CCS, HEARTBEAT, APPDATA, SSLV2])
        data = first + (rng.choice(hellos) if rng.random() < 0.6 else b"")
        return "tls-raw-first", "tls-first-%02x" % first[0], raw_steps(rng, data), False
    g = rng.choice([bytes(range(256)), rand_bytes(rng, rng.randint(1, 2000)), b"\x00" * 100,
                    b"\x16" + rand_bytes(rng, rng.randint(0, 600)),
                    b"\x16\x03\x03\x00\x00" * 50, b"\r\n" * 10, b"\x16\x03\x01"])
    return "tls-raw-garbage", "tls-garbage", raw_steps(rng, g), False


def make_plain_hello(rng, hellos):
    """(kind, name, steps) for a ClientHello on the plain port: closed, unanswered."""
    h = rng.choice(hellos)
    data = mutate_hello(rng, h) if rng.random() < 0.3 else h
    if data[:1] != b"\x16":
        data = b"\x16" + data[1:]
    steps = raw_steps(rng, data)
    return "plain-hello", "plain-hello", steps


# ---- what the answers must be ----

def check(rec, out, conn):
    """The expectation a finished case broke, as a short text, or None."""
    kind = rec.get("kind")
    ended_by_us = any(op in ("rst", "close") for op, _ in rec["steps"])
    if kind == "tls-http":
        p = rec["tls"]
        hs = out.get("handshake")
        if p.get("resumed") and p.get("tls_version") == "TLSv1.3" and \
                serving_set(p["sni"]) == "mtls" and serving_set(p.get("resumed_from")) != "mtls":
            # CVE-2025-23419 class: the certificate request of mtls.test is skipped
            return ("a TLS 1.3 session of %s was resumed with SNI %s, whose certificate "
                    "entry asks for a client certificate" % (p.get("resumed_from"), p["sni"]))
        if p.get("resumed"):
            return None  # TLS 1.2 resumes the session's name and key type, not the SNI's
        if p["expect"] == "fail" and hs == "ok":
            return "handshake succeeded though it must fail (%s)" % describe_params(p)
        if p["expect"] == "ok" and hs and hs.startswith("alert:"):
            return "handshake failed: %s (%s)" % (hs, describe_params(p))
        if out.get("garbage"):
            return "an answer in the session that is not HTTP"
        return None
    if kind == "plain-hello":
        if out.get("bytes"):
            return "a ClientHello on the plain port was answered (%d bytes)" % out["bytes"]
        return None
    if kind == "tls-raw-plain":
        if not rec.get("http") or ended_by_us:
            return None
        data = b"".join(a for op, a in rec["steps"] if op == "send")
        if b"\r\n\r\n" not in data and b"\n\n" not in data:
            return None  # the 400 comes at once, but a cut request may see a close first
        st = out.get("statuses") or []
        if st and st != [400]:
            return "plain HTTP on the TLS port answered %s, not 400" % st
        if out.get("garbage"):
            return "plain HTTP on the TLS port answered with bytes that are not HTTP"
        if not st and out.get("timeout"):
            return "plain HTTP on the TLS port: no answer"
        return None
    if kind in ("tls-raw-hello", "tls-raw-first", "tls-raw-garbage", "tls-raw-stall"):
        first = out.get("first", "")
        sent = next((a for op, a in rec["steps"] if op == "send" and a), b"")
        if sent[:1].isupper() and bytes.fromhex(first).startswith(b"HTTP/1.1 400"):
            return None  # starts like a request: the clear-text 400 is right
        if first and first[:2] not in ("15", "16"):
            return "the TLS port answered with bytes that are not a TLS record: %s" % first
        if kind == "tls-raw-stall" and not ended_by_us and not out.get("eof") \
                and not out.get("reset") and out.get("timeout"):
            return "a stalled handshake was not closed within %.0f s" % (
                HANDSHAKE_TIMEOUT + ALLOWED_LATE)
    return None


def describe_params(p):
    return "TLS %s, SNI %s, ALPN %s%s%s" % (
        p.get("version"), p.get("sni"), p.get("alpn"),
        ", ciphers " + p["ciphers"] if p.get("ciphers") else "",
        ", client cert " + p["cert"] if p.get("cert") else "")


# ---- handshake floods ----

def flood_params(rng):
    return dict(n=rng.choice([20, 40, 80, 150]),
                payload=rng.choice(["none", "partial", "hello", "hello", "hello-garbage"]),
                end=rng.choice(["rst", "rst", "close", "hold"]),
                wait=rng.choice([0, 10, 200, 1000]), seed=rng.randrange(1 << 30))


def run_flood(port, fp, hellos):
    """Opens fp["n"] connections to the TLS port, each starting a handshake, then
    resets or closes them all, or holds them past the handshake timeout and counts
    those the gateway left open. Returns an outcome dict."""
    rng = random.Random(fp["seed"])
    socks = []
    out = dict(statuses=[], interim=0, bytes=0, opened=0, refused=0, left_open=0)
    for _ in range(fp["n"]):
        try:
            s = socket.create_connection(("127.0.0.1", port), 3.0)
        except OSError:
            out["refused"] += 1
            continue
        h = rng.choice(hellos)
        data = {"none": b"", "partial": h[:rng.randrange(1, len(h))], "hello": h,
                "hello-garbage": h + rand_bytes(rng, 30)}[fp["payload"]]
        try:
            if data:
                s.sendall(data)
        except OSError:
            pass
        socks.append(s)
    out["opened"] = len(socks)
    time.sleep(fp["wait"] / 1000.0)
    if fp["end"] == "hold":
        until = time.monotonic() + HANDSHAKE_TIMEOUT + ALLOWED_LATE
        open_socks = list(socks)
        while open_socks and time.monotonic() < until:
            r, _, _ = select.select(open_socks, [], [], 0.2)
            for s in r:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    open_socks.remove(s)
                else:
                    out["bytes"] += len(data)
        out["left_open"] = len(open_socks)
    for s in socks:
        try:
            if fp["end"] == "rst":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass
    return out


def check_flood(fp, out):
    if out.get("left_open"):
        return "%d of %d stalled handshakes still open %.0f s later" % (
            out["left_open"], out["opened"], HANDSHAKE_TIMEOUT + ALLOWED_LATE)
    return None


# ---- opening a recorded connection ----

def open_conn(gw, rec, files, session=None):
    """The connection a case record asks for: admin, main, tls or tlsraw."""
    port = rec.get("port", "main")
    if port == "admin":
        return client.Conn(gw.admin_port)
    if port == "tls":
        return TLSConn(gw.tls_port, rec["tls"], files, session=session)
    if port == "pp":
        return client.Conn(gw.pp_port)
    if port == "tlsraw":
        return RawConn(gw.tls_port, http=bool(rec.get("http")))
    if port == "main" and rec.get("kind") == "plain-hello":
        return RawConn(gw.port)
    return client.Conn(gw.port)


def finish_outcome(conn, out):
    """Adds what a TLS or raw connection knows to a case's outcome."""
    if isinstance(conn, TLSConn):
        out["handshake"] = conn.hs
    if isinstance(conn, RawConn) and conn.first:
        out["first"] = conn.first.hex()
    return out
