"""Seeds for upstream control: mg.upstream.set and set_peer driven by request headers
(the fuzz-upstream plugin on /upset/ and the upstream-less /upfree/), and the bundled
traffic-split plugin on /split/ (header, cookie and query matches, sticky by cookie).
"""

NAMES = [b"py", b"pool", b"retry", b"blackhole", b"hash", b"queued", b"dns", b"self",
         b"nope", b"", b"PY", b"py ", b"p\xffy", b"x" * 300, b"py\x00", b"../py"]
PEERS = [b"1", b"2", b"3", b"0", b"-1", b"99999999999", b"1.5", b"nan",
         b"127.0.0.1:1", b"::1", b"x" * 200]


def upstream_seeds(req):
    out = []
    for i, name in enumerate(NAMES):
        for prefix in (b"/upset/", b"/upfree/"):
            out.append(("upset-name%d%s" % (i, prefix.decode()),
                        [req(b"GET", prefix + b"x", [b"X-Upstream: " + name])]))
    for i, peer in enumerate(PEERS):
        for up in (b"pool", b"retry", b"hash", b"dns"):
            out.append(("upset-peer%d-%s" % (i, up.decode()),
                        [req(b"GET", b"/upset/x", [b"X-Upstream: " + up, b"X-Peer: " + peer])]))
        out.append(("upset-force%d" % i,
                    [req(b"GET", b"/upset/x", [b"X-Upstream: retry", b"X-Peer: " + peer,
                                               b"X-Force: 1"])]))
    out.append(("upfree-none", [req(b"GET", b"/upfree/x")]))
    out.append(("upset-body", [req(b"POST", b"/upset/x", [b"X-Upstream: retry",
                                                          b"Content-Length: 11"], b"hello world")]))
    out.append(("upset-chunked", [req(b"POST", b"/upfree/slow", [b"X-Upstream: blackhole",
                                                                  b"Transfer-Encoding: chunked"]),
                                  b"5\r\nhello\r\n0\r\n\r\n"]))
    out.append(("upset-ws", [req(b"GET", b"/upset/x", [b"X-Upstream: pool", b"Upgrade: websocket",
                                                       b"Connection: Upgrade"])]))
    for h in ([b"X-Canary: 1"], [b"X-Canary: 2"], [b"Cookie: uid=u1; plan=beta"],
              [b"Cookie: uid="], [b"Cookie: ;;;=;uid"], [b"Cookie: uid=" + b"\xfe" * 500],
              [b"X-Canary: 1", b"X-Canary: 1"], []):
        for path in (b"/split/x", b"/split/x?beta=on", b"/split/x?beta", b"/split/slow?beta=on&beta=off"):
            out.append(("split%s" % path.decode(), [req(b"GET", path, h)]))
    return out
