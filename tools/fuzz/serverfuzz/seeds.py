"""Seed requests: valid ones for every route, and one or more for each row of the
bad-input catalogue (docs: RELIABILITY.md, section 1) that fits in bytes, plus the
findings of earlier runs (section 4).

Seeds named found<N>-... are crashes this fuzzer found, kept so that every run tries
them again.

A seed is (name, parts): `parts` are the byte strings a careful client would send one
after the other (head, then body after a 100 Continue, say); the scheduler in mutate.py
may join or split them further. Names start with the catalogue row they exercise
(`r28-...`) where there is one.
"""

import ssl

from . import ppfuzz
from .gateway import ROUTES
from .trafficfuzz import traffic_seeds
from .refuzz import re_seeds
from .upstreamfuzz import upstream_seeds
from .wsfuzz import ws_seeds
from .cryptofuzz import crypto_seeds
from . import redisfuzz, sockfuzz
from .authfuzz import auth_seeds

P = b"POST / HTTP/1.1\r\nHost: a\r\n"


def req(method, path, headers=(), body=b"", host=b"a", version=b"HTTP/1.1"):
    """One request: request line, Host (unless host is None), headers, body as given."""
    head = b"%s %s %s\r\n" % (method, path, version)
    if host is not None:
        head += b"Host: " + host + b"\r\n"
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n" + body


def chunked(*pieces, ext=b"", trailers=()):
    """A chunked body of `pieces`, each chunk size followed by `ext`, then trailers."""
    out = b""
    for p in pieces:
        out += b"%x%s\r\n%s\r\n" % (len(p), ext, p)
    out += b"0\r\n"
    for t in trailers:
        out += t + b"\r\n"
    return out + b"\r\n"


def client_hello():
    """A real TLS ClientHello, as the first bytes a TLS client sends."""
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="a")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return out.read()
    except (ssl.SSLError, OSError):
        return b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"


def route_paths():
    """Request targets for every route, odd upstream answers included."""
    paths = [b"/hello", b"/nope", b"/", b"/hello?x=1", b"/echo/you?q=1"]
    for key, prefix in ROUTES.items():
        if prefix.endswith("/"):
            paths.append(prefix.encode() + b"x")
    for word in (b"slow", b"chunked", b"close", b"short", b"bad", b"rst", b"big", b"trickle",
                 b"cont", b"s204", b"s304", b"s503", b"s302", b"hang"):
        paths.append(b"/up/" + word)
    paths += [b"/retry/s503", b"/retry/rst", b"/self/chunked", b"/filter/big",
              b"/filter/chunked", b"/filter/audit", b"/body/slow", b"/call/slow",
              b"/black/y", b"/limup/chunked", b"/rw/bad", b"/reroute/x", b"/pool/slow",
              b"/pool/s503", b"/hash/x", b"/hash/rst", b"/fault/error", b"/fault/spin",
              b"/fault/sleep", b"/fault/exit", b"/fault/big", b"/fault/gc",
              b"/fault/body-error", b"/fault/sleep/slow", b"/up/hints", b"/up/early",
              b"/filter/hints", b"/self/early"]
    return paths


def valid_seeds():
    out = []
    body_paths = [b"/body/x", b"/bodyans/x", b"/bodysmall/x", b"/rw/x", b"/up/x", b"/nope",
                  b"/hello", b"/private/x", b"/call/x", b"/filter/x", b"/echo/b",
                  b"/limited/x", b"/self/x", b"/retry/x", b"/up/slow", b"/reroute/y",
                  b"/fault/sleep", b"/fault/body-error", b"/pool/x", b"/up/early",
                  b"/body/early", b"/retry/early"]
    for path in route_paths():
        out.append(("get" + path.decode(), [req(b"GET", path)]))
    for path in (b"/up/x", b"/hello", b"/nope", b"/up/chunked", b"/filter/big", b"/up/headbody",
                 b"/pool/headbody"):
        out.append(("head" + path.decode(), [req(b"HEAD", path)]))
    out.append(("options-star", [req(b"OPTIONS", b"*")]))
    out.append(("delete", [req(b"DELETE", b"/up/x")]))
    out.append(("auth-ok", [req(b"GET", b"/private/x", [b"apikey: fuzz-key"])]))
    out.append(("hash-user", [req(b"GET", b"/hash/x", [b"X-User: u1"])]))
    out.append(("auth-body", [req(b"POST", b"/private/x", [b"apikey: fuzz-key",
                                                          b"Content-Length: 5"], b"hello")]))
    for path in body_paths:
        name = path.decode()
        out.append(("post-cl" + name, [req(b"POST", path, [b"Content-Length: 11"],
                                           b"hello world")]))
        out.append(("post-cl0" + name, [req(b"POST", path, [b"Content-Length: 0"])]))
        out.append(("post-chunked" + name, [req(b"POST", path,
                                                [b"Transfer-Encoding: chunked"],
                                                chunked(b"hello", b" ", b"world"))]))
        out.append(("post-chunked-ext-trailer" + name, [
            req(b"POST", path, [b"Transfer-Encoding: chunked"],
                chunked(b"abc", b"defg", ext=b';a=1;b="x y"', trailers=[b"X-T: 1"]))]))
        out.append(("post-chunked-split" + name, [
            req(b"POST", path, [b"Transfer-Encoding: chunked"]), b"5\r\nhello\r\n",
            b"1\r\n \r\n", b"5\r\nworld\r\n0\r\n\r\n"]))
        # the first finding: a trailer after the route has answered (section 4 row 1)
        out.append(("s4r1-trailer" + name, [
            req(b"POST", path, [b"Transfer-Encoding: chunked"], b"0\r\nX-T: 1\r\n\r\n")]))
        # the second: client gone while 100 Continue is written (section 4 row 2)
        out.append(("s4r2-expect" + name, [
            req(b"POST", path, [b"Expect: 100-continue", b"Content-Length: 4"]), b"abcd"]))
        # found by this fuzzer: the client resets while a plugin sleeps, and the
        # 100 Continue written after it frees the connection under the caller
        out.append(("found1-expect-reset-in-sleep" + name, [
            req(b"POST", path, [b"Expect: 100-continue", b"Content-Length: 4"], b"ab")]))
        out.append(("expect-chunked" + name, [
            req(b"POST", path, [b"Expect: 100-continue", b"Transfer-Encoding: chunked"]),
            chunked(b"abcd")]))
        out.append(("post-big" + name, [req(b"POST", path, [b"Content-Length: 70000"]),
                                        b"x" * 70000]))
        out.append(("post-10k" + name, [req(b"POST", path, [b"Content-Length: 10000"]),
                                        b"y" * 10000]))
    out.append(("http10-keepalive", [req(b"GET", b"/up/x", [b"Connection: keep-alive"],
                                         version=b"HTTP/1.0")]))
    out.append(("http10-nohost", [req(b"GET", b"/hello", host=None, version=b"HTTP/1.0")]))
    out.append(("absolute-form", [req(b"GET", b"http://a/hello", host=b"b")]))
    out.append(("absolute-backend", [req(b"GET", b"http://backend.local/x", host=b"b")]))
    out.append(("absolute-up", [req(b"POST", b"http://a:80/up/x?y=1", [b"Content-Length: 2"],
                                    b"ok")]))
    out.append(("host-backend", [req(b"GET", b"/anything", host=b"backend.local")]))
    out.append(("crlf-before", [b"\r\n\r\n" + req(b"GET", b"/hello")]))
    out.append(("websocket", [req(b"GET", b"/up/x", [
        b"Connection: Upgrade", b"Upgrade: websocket", b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])]))
    return out


def pipeline_seeds():
    g = req(b"GET", b"/hello")
    p = req(b"POST", b"/body/x", [b"Content-Length: 3"], b"abc")
    c = req(b"POST", b"/nope", [b"Transfer-Encoding: chunked"], chunked(b"abc"))
    u = req(b"GET", b"/up/slow")
    e = req(b"POST", b"/bodyans/x", [b"Expect: 100-continue", b"Content-Length: 2"], b"hi")
    return [
        ("pipeline-gets", [g * 5]),
        ("pipeline-mixed", [g + p + c + u + g]),
        ("pipeline-split", [g + p[:10], p[10:] + c, u + e]),
        ("pipeline-expect", [e + e + g]),
        ("pipeline-close", [g + req(b"GET", b"/up/x", [b"Connection: close"]) + g]),
        ("pipeline-100", [g * 100]),
        ("pipeline-trailer", [c + c + g]),
        ("pipeline-limited", [req(b"GET", b"/limited/x") * 12]),
        ("pipeline-upstreams", [req(b"GET", b"/up/chunked") + req(b"GET", b"/up/big")
                                + req(b"GET", b"/up/trickle") + req(b"GET", b"/self/x")]),
        # row 43: a request hidden in a body
        ("r43-smuggle-body", [req(b"GET", b"/up/x", [b"Content-Length: 44"],
                                  b"GET /admin HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP")]),
        # row 45: bytes after Connection: close
        ("r45-after-close", [req(b"GET", b"/hello", [b"Connection: close"]) + g]),
        ("r44-answer-before-body", [req(b"POST", b"/private/x", [b"Content-Length: 30"],
                                        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n") + g]),
    ]


def catalogue_seeds():
    """Section 1 of the catalogue, one or more seeds per row."""
    long_line = b"/" + b"a" * 9000
    rows = [
        ("r01-space", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r02-ctl", b"GET /\x02 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r02-nul", b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r02-pct", b"GET /% HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r02-pctzz", b"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r02-high", b"GET /\xff\x80 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r03-fragment", b"GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r04-two-spaces", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r04-tab", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r05-http12", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
        ("r05-http011", b"GET / HTTP/01.1\r\nHost: a\r\n\r\n"),
        ("r05-http20", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
        ("r06-http09", b"GET /\r\n"),
        ("r07-lower", b"get / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r07-foo", b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r08-star", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r08-authority", b"GET a.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r08-word", b"GET admin HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r09-absolute", b"GET http://a/up/x HTTP/1.1\r\nHost: b\r\n\r\n"),
        ("r10-dotdot", b"GET /../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r10-pct-dotdot", b"GET /%2e%2e/%2E%2e/up/x HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r10-inside", b"GET /up/a/../b/./c//d HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r11-trace", b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r11-connect", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
        ("r12-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("r13-long-line", b"GET " + long_line + b" HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("r14-no-host", b"GET / HTTP/1.1\r\n\r\n"),
        ("r14-two-host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("r14-host-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        ("r14-host-port", b"GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n"),
        ("r14-host-v6", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
        ("r14-host-at", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"),
        ("r15-space-colon", P + b"Content-Length : 5\r\n\r\nhello"),
        ("r16-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
        ("r16-first-sp", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"),
        ("r17-bare-lf", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n"),
        ("r17-bare-cr", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rY: b\r\n\r\n"),
        ("r17-all-lf", b"GET / HTTP/1.1\nHost: a\n\n"),
        ("r18-nul-value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"),
        ("r19-nul-name", b"GET / HTTP/1.1\r\nHost: a\r\nX\x00Y: 1\r\n\r\n"),
        ("r19-at-name", b"GET / HTTP/1.1\r\nHost: a\r\nX@Y: 1\r\n\r\n"),
        ("r19-empty-name", b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n"),
        ("r20-underscore-te", P + b"Transfer_Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("r20-underscore-cl", P + b"Content_Length: 5\r\n\r\nhello"),
        ("r21-many-fields", b"GET / HTTP/1.1\r\nHost: a\r\n"
         + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n"),
        ("r21-long-field", b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 9000 + b"\r\n\r\n"),
        ("r21-big-block", b"GET / HTTP/1.1\r\nHost: a\r\n"
         + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 4000) for i in range(9)) + b"\r\n"),
        ("r22-empty-fields", b"GET / HTTP/1.1\r\nHost: a\r\n" + b"x: \r\n" * 10000 + b"\r\n"),
        ("r23-host-trailing-space", b"GET /up/x HTTP/1.1\r\nHost: a.com \r\n\r\n"),
        ("r24-connection-list", b"GET /up/x HTTP/1.1\r\nHost: a\r\n"
         b"Connection: close, X-Forwarded-For, Authorization\r\n"
         b"X-Forwarded-For: 1.2.3.4\r\nAuthorization: x\r\n\r\n"),
        ("r25-forwarded", b"GET /up/x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n"
         b"X-Real-IP: 2.2.2.2\r\nX-Gw-Internal: 1\r\n\r\n"),
        ("r26-expect-bad", P + b"Expect: 100-continuex\r\nContent-Length: 2\r\n\r\nhi"),
        ("r27-upgrade-nokey", b"GET /up/x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
         b"Upgrade: websocket\r\n\r\n"),
        ("r28-cl-te", P + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX"),
        ("r29-cl-twice", P + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        ("r29-cl-list", P + b"Content-Length: 5, 6\r\n\r\nhello"),
        ("r29-cl-same-list", P + b"Content-Length: 5, 5\r\n\r\nhello"),
        ("r30-cl-empty", P + b"Content-Length:\r\n\r\n"),
        ("r30-cl-plus", P + b"Content-Length: +5\r\n\r\nhello"),
        ("r30-cl-minus", P + b"Content-Length: -1\r\n\r\n"),
        ("r30-cl-hex", P + b"Content-Length: 0x5\r\n\r\nhello"),
        ("r30-cl-spaced", P + b"Content-Length: 5 5\r\n\r\nhello"),
        ("r31-cl-huge", P + b"Content-Length: 99999999999999999999\r\n\r\n"),
        ("r32-te-xchunked", P + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        ("r32-te-identity", P + b"Transfer-Encoding: identity\r\n\r\n"),
        ("r32-te-quoted", P + b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n'),
        ("r33-te-chunked-identity", P + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
        ("r33-te-gzip-chunked", P + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        ("r34-te-twice", P + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
        ("r34-te-second-line", P + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n"
         b"0\r\n\r\n"),
        ("r35-te-vtab", P + b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n"),
        ("r36-http10-chunked", b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         b"\r\n0\r\n\r\n"),
        ("r37-chunk-huge", P + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\n"),
        ("r38-chunk-0x", P + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
        ("r38-chunk-neg", P + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
        ("r38-chunk-sp", P + b"Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n"),
        ("r38-chunk-trailing-sp", P + b"Transfer-Encoding: chunked\r\n\r\n5  \r\nhello\r\n"
         b"0\r\n\r\n"),
        ("r38-chunk-semicolon", P + b"Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n"),
        ("r39-chunk-bare-lf", P + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
        ("r40-chunk-overrun", P + b"Transfer-Encoding: chunked\r\n\r\n4\r\nSEE-THIS\r\n0\r\n\r\n"),
        ("r41-chunk-ext-long", P + b"Transfer-Encoding: chunked\r\n\r\n5;" + b"e" * 100000
         + b"\r\nhello\r\n0\r\n\r\n"),
        ("r42-trailer-fields", b"POST /up/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         b"\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\nTransfer-Encoding: x\r\nHost: evil\r\n"
         b"\r\n"),
        ("r46-too-large", b"POST /up/x HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n"),
        ("r47-chunked-too-large", b"POST /body/x HTTP/1.1\r\nHost: a\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n" + (b"4000\r\n" + b"z" * 0x4000 + b"\r\n") * 5
         + b"0\r\n\r\n"),
        ("r48-one-byte-chunks", b"POST /body/x HTTP/1.1\r\nHost: a\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n" + b"1\r\nq\r\n" * 2000 + b"0\r\n\r\n"),
        ("r54-fin-after", b"GET /up/slow HTTP/1.1\r\nHost: a\r\n\r\n"),
        # section 4: other protocols on the plain port
        ("s4r3-tls-hello", client_hello()),
        ("s4r11-proxy-v1", b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\nGET / HTTP/1.1\r\n"
         b"Host: a\r\n\r\n"),
        ("s4r11-proxy-v2", b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x01\x7f\x00"
         b"\x00\x01\x00\x01\x00\x02"),
        ("garbage", bytes(range(256))),
    ]
    out = [(name, [data]) for name, data in rows]
    # slow clients: pieces with waits between them (the scheduler adds the waits)
    head = b"GET /up/x HTTP/1.1\r\nHost: a\r\nX-Slow: 1\r\n\r\n"
    out.append(("r50-slowloris", [head[i:i + 2] for i in range(0, len(head), 2)]))
    out.append(("r51-nothing", [b""]))
    body_head = b"POST /body/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n"
    out.append(("r52-slow-body", [body_head] + [b"z"] * 12))
    out.append(("r53-big-unread", [b"GET /up/big HTTP/1.1\r\nHost: a\r\n\r\n" * 3]))
    return out


def admin_seeds():
    return [
        ("admin-status", [req(b"GET", b"/status")]),
        ("admin-head", [req(b"HEAD", b"/status")]),
        ("admin-post-status", [req(b"POST", b"/status", [b"Content-Length: 3"], b"abc")]),
        ("admin-chunked", [req(b"POST", b"/status", [b"Transfer-Encoding: chunked"],
                               chunked(b"x", trailers=[b"X: 1"]))]),
        ("admin-404", [req(b"GET", b"/nothing")]),
        ("admin-get-reload", [req(b"GET", b"/reload")]),
        ("admin-pipeline", [req(b"GET", b"/status") * 3]),
        ("admin-metrics", [req(b"GET", b"/metrics")]),
        ("admin-metrics-om", [req(b"GET", b"/metrics",
                                  [b"Accept: application/openmetrics-text; version=1.0.0"])]),
        ("admin-metrics-head", [req(b"HEAD", b"/metrics")]),
        ("admin-metrics-http10", [b"GET /metrics HTTP/1.0\r\n\r\n"]),
        ("admin-metrics-pipeline", [req(b"GET", b"/metrics") + req(b"GET", b"/status") +
                                    req(b"GET", b"/metrics")]),
        ("admin-metrics-cut", [req(b"GET", b"/metrics")[:20]]),
        ("admin-page", [req(b"GET", b"/")]),
    ]


def admin_reload_seed():
    return ("admin-reload", [req(b"POST", b"/reload", [b"Content-Length: 0"])])


def burst_seeds():
    """Requests worth sending on many connections at once: to routes that queue, limit,
    wait or retry."""
    out = []
    for path in (b"/pool/slow", b"/pool/x", b"/pool/s503", b"/limited/x", b"/limup/x",
                 b"/black/x", b"/fault/sleep", b"/retry/x", b"/call/slow", b"/hash/x"):
        out.append(("burst-get" + path.decode(), [req(b"GET", path, [b"X-User: u"])]))
    for path in (b"/pool/slow", b"/body/x", b"/fault/sleep", b"/rw/x"):
        out.append(("burst-expect" + path.decode(), [
            req(b"POST", path, [b"Expect: 100-continue", b"Content-Length: 4"]), b"abcd"]))
        out.append(("burst-chunked" + path.decode(), [
            req(b"POST", path, [b"Transfer-Encoding: chunked"]), b"4\r\nabcd\r\n",
            b"0\r\n\r\n"]))
    return out


def queue_seeds():
    """The upstream with one connection and a queue of four: slow answers hold the
    connection while the rest waits, overflows or times out; bodies wait in the queue
    too; a reset or an answer cut short frees the connection for the next waiter."""
    out = []
    for word in (b"x", b"slow", b"trickle", b"rst", b"close", b"chunked", b"s503", b"hang"):
        path = b"/queue/" + word
        out.append(("queue-get-" + word.decode(), [req(b"GET", path)]))
    out.append(("queue-post", [req(b"POST", b"/queue/slow", [b"Content-Length: 5"], b"hello")]))
    out.append(("queue-post-expect", [
        req(b"POST", b"/queue/slow", [b"Expect: 100-continue", b"Content-Length: 4"]), b"abcd"]))
    out.append(("queue-chunked", [req(b"POST", b"/queue/x", [b"Transfer-Encoding: chunked"]),
                                  b"4\r\nabcd\r\n", b"0\r\n\r\n"]))
    out.append(("queue-pipelined", [req(b"GET", b"/queue/slow") + req(b"GET", b"/queue/x")
                                    + req(b"HEAD", b"/queue/x")]))
    return out


def trace_seeds():
    """W3C trace context, valid and not (tracing is on): each must be continued, or
    ignored for a new trace, and never break the request or the span's JSON."""
    tid, pid = b"4bf92f3577b34da6a3ce929d0e0e4736", b"00f067aa0ba902b7"
    ok = b"00-" + tid + b"-" + pid + b"-01"
    parents = [
        ("ok", ok), ("unsampled", ok[:-2] + b"00"), ("flags-ff", ok[:-2] + b"ff"),
        ("upper", ok.upper()), ("zero-trace", b"00-" + b"0" * 32 + b"-" + pid + b"-01"),
        ("zero-parent", b"00-" + tid + b"-" + b"0" * 16 + b"-01"), ("short", ok[:-1]),
        ("long", ok + b"0"), ("version-ff", b"ff" + ok[2:]), ("version-cc", b"cc" + ok[2:]),
        ("version-cc-more", b"cc" + ok[2:] + b"-what-comes-next"),
        ("version-cc-bad", b"cc" + ok[2:] + b"x"), ("dashes", b"-" * 55), ("empty", b""),
        ("spaces", b"  " + ok + b"  "), ("nonhex", ok[:10] + b"zz" + ok[12:]),
        ("huge", b"00-" + b"a" * 8000), ("high-bytes", ok[:20] + b"\xff\xfe" + ok[22:]),
    ]
    states = [
        ("state", b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ("state-bad", b"Rojo=1,=x,a==b"), ("state-empty-members", b",,, ,a=1,,"),
        ("state-long", b",".join(b"k%d=%s" % (i, b"v" * 100) for i in range(60))),
        ("state-tenant", b"t@v=1,1t@v2=2,t@=3"), ("state-ctl", b"a=\x01\x7f"),
        ("state-high", b"a=\xc3\xa9,b=\xff"),
    ]
    out = []
    for path in (b"/up/x", b"/self/x", b"/retry/x", b"/hello", b"/filter/x", b"/nope",
                 b"/black/x", b"/up/chunked"):
        for name, v in parents:
            out.append(("trace-%s%s" % (name, path.decode()),
                        [req(b"GET", path, [b"traceparent: " + v, b"tracestate: a=1"])]))
        for name, v in states:
            out.append(("trace-%s%s" % (name, path.decode()),
                        [req(b"GET", path, [b"traceparent: " + ok, b"tracestate: " + v])]))
        out.append(("trace-two-parents" + path.decode(), [req(b"GET", path, [
            b"traceparent: " + ok, b"traceparent: " + ok[:-2] + b"00"])]))
        out.append(("trace-many-states" + path.decode(), [req(b"GET", path, [
            b"traceparent: " + ok] + [b"tracestate: k%d=%s" % (i, b"x" * 200) for i in range(20)])]))
        out.append(("trace-odd-agent" + path.decode(), [req(b"GET", path, [
            b"traceparent: " + ok, b'User-Agent: a"b\\c\x7f\xc3\xa9\xff\xe2\x82'])]))
    out.append(("trace-post-chunked", [req(b"POST", b"/retry/x", [
        b"traceparent: " + ok, b"Transfer-Encoding: chunked"], chunked(b"hello"))]))
    return out


def buffering_seeds():
    """Bodies and answers through the buffering routes: request bodies spooled (over the
    file bound, over client_max_body_size, replayed on the retry route), answers spilled
    and filling the spool, early answers held while a long body still arrives."""
    out = []
    for n in (0, 100, 5000, 40 * 1024, 70 * 1024):
        body = b"q" * n
        out.append(("buf-req-cl-%d" % n, [req(b"POST", b"/bufreq/x",
            [b"Content-Length: %d" % n], body)]))
        pieces = [body[i:i + 3000] for i in range(0, n, 3000)]
        out.append(("buf-req-chunked-%d" % n, [req(b"PUT", b"/bufreq/x",
            [b"Transfer-Encoding: chunked"], chunked(*pieces))]))
    for word in (b"big", b"chunked", b"trickle", b"rst", b"short", b"close", b"s204", b"hang"):
        out.append(("buf-spill-" + word.decode(), [req(b"GET", b"/bufspill/" + word)]))
        out.append(("buf-off-" + word.decode(), [req(b"GET", b"/bufoff/" + word)]))
    out.append(("buf-head-big", [req(b"HEAD", b"/bufspill/big")]))
    long_body = [b"e" * 8000] * 10
    for path in (b"/up/early", b"/bufspill/early", b"/bufreq/early"):
        out.append(("buf-early-chunked" + path.decode(), [req(b"POST", path,
            [b"Transfer-Encoding: chunked"], chunked(*long_body))]))
    out.append(("buf-pipelined", [req(b"GET", b"/bufspill/big") + req(b"POST", b"/bufreq/x",
        [b"Content-Length: 9000"], b"z" * 9000) + req(b"GET", b"/bufoff/chunked")]))
    return out


def interop_seeds():
    """HTTP/1.0 without Host (the head names the node, per try), upstream heads with
    many fields, and routes with their own `http:` body limit and timeouts."""
    out = []
    for path in (b"/up/x", b"/retry/x", b"/self/x", b"/pool/x", b"/hdrs/x", b"/nope"):
        out.append(("nohost10" + path.decode(),
                    [req(b"GET", path, host=None, version=b"HTTP/1.0")]))
        out.append(("nohost10-post" + path.decode(),
                    [req(b"POST", path, [b"Content-Length: 5"], b"hello", host=None,
                         version=b"HTTP/1.0")]))
    for path in (b"/up/cookies", b"/up/manyhdr", b"/up/hugehdr", b"/hdrs/cookies",
                 b"/hdrs/manyhdr", b"/hdrs/hugehdr", b"/hdrs/x", b"/call/cookies",
                 b"/pool/cookies"):
        out.append(("heads" + path.decode(), [req(b"GET", path)]))
        out.append(("heads-head" + path.decode(), [req(b"HEAD", path)]))
    for path, n in ((b"/hdrs/x", 64), (b"/hdrs/x", 65), (b"/hdrs/x", 5000),
                    (b"/bigbody/x", 5000), (b"/bigbody/x", 2 * 1024 * 1024)):
        out.append(("routehttp-len%d%s" % (n, path.decode()),
                    [req(b"POST", path, [b"Content-Length: %d" % n], b"b" * n)]))
        out.append(("routehttp-chunked%d%s" % (n, path.decode()),
                    [req(b"POST", path, [b"Transfer-Encoding: chunked"],
                         chunked(*[b"c" * 32] * (n // 32 + 1)))]))
    out.append(("routehttp-stall", [req(b"POST", b"/hdrs/x", [b"Content-Length: 60"], b"abc")]))
    out.append(("routehttp-pipeline", [req(b"POST", b"/hdrs/x", [b"Content-Length: 100"],
                                           b"x" * 100) + req(b"GET", b"/hdrs/cookies")]))
    return out


def platform_seeds():
    """The chaos route (fault-injection, a lua_path module, init_worker timers) with and
    without the header that marks requests for faults, and the keys of the consumers
    whose credentials come from secrets (${ENV}, ${file:...})."""
    out = []
    for path in (b"/chaos/x", b"/chaos/slow", b"/chaos/rst", b"/chaos/chunked"):
        out.append(("chaos" + path.decode(), [req(b"GET", path)]))
        out.append(("chaos-on" + path.decode(), [req(b"GET", path, [b"X-Chaos: on"])]))
        out.append(("chaos-post" + path.decode(),
                    [req(b"POST", path, [b"X-Chaos: on", b"Content-Length: 5"], b"hello")]))
    out.append(("chaos-pipeline", [req(b"GET", b"/chaos/a", [b"X-Chaos: on"]) * 4]))
    for key in (b"env-fuzz-tag", b"file-${literal}-fuzz-token", b"env-${MG_FUZZ_TAG}"):
        out.append(("secret-key-" + key.decode(),
                    [req(b"GET", b"/private/x", [b"apikey: " + key])]))
    # mg.http with the Host the client names (fuzz-call.lua): good, empty, odd
    for i, h in enumerate((b"api.internal", b"api.internal:8443", b"", b"a b", b"a,b",
                           b"[::1]:80", b"x" * 3000, b"a\x7fb")):
        out.append(("call-host-%d" % i, [req(b"GET", b"/call/x", [b"X-Call-Host: " + h])]))
    return out


def redis_seeds():
    """The mg.redis route (redisfuzz.py answers): single commands, pipelines, a pipeline
    of 100 commands, and requests abandoned while their commands are in flight."""
    out = [("redis" + p.decode(), [req(b"GET", p)]) for p in redisfuzz.redis_paths()]
    out.append(("redis-keepalive", [req(b"GET", b"/redis/get") + req(b"GET", b"/redis/pipe")
                                    + req(b"GET", b"/redis/many")]))
    return out


def socket_seeds():
    """The mg.socket route (sockfuzz.py answers): each path of sock_paths() plain, with
    lines, sizes and delimiters of sockfuzz.py in the X-Sock-* headers, and several on
    one connection (the pool hands connections from one request to the next)."""
    out = [("sock" + p.decode(), [req(b"GET", p)]) for p in sockfuzz.sock_paths()]
    for i, p in enumerate(sockfuzz.sock_paths()):
        line = sockfuzz.LINES[i % len(sockfuzz.LINES)]
        size = sockfuzz.SIZES[i % len(sockfuzz.SIZES)]
        delim = sockfuzz.DELIMS[i % len(sockfuzz.DELIMS)]
        out.append(("sock-hdrs%d" % i + p.decode(),
                    [req(b"GET", p, [b"X-Sock-Line: " + line, b"X-Sock-Size: " + size,
                                     b"X-Sock-Until: " + delim])]))
    for size in sockfuzz.SIZES:
        out.append(("sock-size-" + size.decode(),
                    [req(b"GET", b"/sock/size/keep", [b"X-Sock-Size: " + size])]))
    for delim in sockfuzz.DELIMS:
        out.append(("sock-until-%d" % len(delim),
                    [req(b"GET", b"/sock/untilchunk/keep",
                         [b"X-Sock-Until: " + delim, b"X-Sock-Size: 5"])]))
    out.append(("sock-keepalive", [req(b"GET", b"/sock/line/keep") + req(b"GET", b"/sock/size/keep")
                                   + req(b"GET", b"/sock/until/keep")
                                   + req(b"GET", b"/sock/line/size/keep/pool2")]))
    return out


def all_seeds():
    """(main-port seeds, admin-port seeds). Seeds of earlier findings (s4..., found...)
    come three times, so that every run tries them and their neighbours often."""
    main = valid_seeds() + pipeline_seeds() + catalogue_seeds() + trace_seeds()
    main += ppfuzz.xff_seeds(req)
    main += ws_seeds()
    main += queue_seeds()
    main += buffering_seeds()
    main += interop_seeds()
    main += traffic_seeds(req)
    main += re_seeds(req)
    main += crypto_seeds(req)
    main += upstream_seeds(req)
    main += platform_seeds()
    main += redis_seeds()
    main += socket_seeds()
    main += auth_seeds(req)
    main += [s for s in main if s[0].startswith(("s4", "found"))] * 2
    return main, admin_seeds()
