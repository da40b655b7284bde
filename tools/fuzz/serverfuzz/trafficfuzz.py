"""Seeds for the traffic plugins' routes (cors, ip-restriction, redirect, proxy-mirror,
response-rewrite; see the traffic-* routes of moongate.yaml): Origin headers valid and
odd, CORS preflights with good and malformed Access-Control-Request-* headers,
X-Forwarded-For chains naming allowed, denied and unparsable clients, redirect inputs
carrying bytes a Location must not hold, mirrored bodies around the cap, and rewritten
answers of every size and status."""

ORIGINS = [
    b"https://app.fuzz.test", b"https://a.b.fuzz.test", b"https://fuzz.test", b"null",
    b"HTTPS://APP.FUZZ.TEST", b"https://app.fuzz.test.evil", b"https://.fuzz.test",
    b"https://app.fuzz.test:443", b"http://app.fuzz.test", b"", b"*", b"https://",
    b"https://a..fuzz.test", b"https://\xc3\xa9.fuzz.test", b"x" * 5000,
    b"https://app.fuzz.test, https://other", b"https://a\tb.fuzz.test",
]

PREFLIGHT_HEADERS = [
    b"content-type", b"Content-Type, X-Token", b"x-token,,x-token", b" , ", b"",
    b"x-other", b"bad header(", b"a" * 3000, b",".join([b"x-token"] * 500),
    b"content-type\xff",
]

CLIENTS = [
    b"10.1.2.3", b"10.66.1.1", b"11.0.0.1", b"2001:db8::1", b"2001:db8:dead::1",
    b"::ffff:10.9.9.9", b"::ffff:192.0.2.7", b"192.0.2.7", b"::1", b"127.0.0.1",
    b"unknown", b"10.1.2.3:80", b"[2001:db8::1]", b"fe80::1%eth0", b"010.1.2.3",
    b"10.1.2.3, 11.0.0.1", b"11.0.0.1, 10.1.2.3", b"", b"2001:db8::1, ::ffff:10.66.0.1",
]


def traffic_seeds(req):
    """(name, parts) seeds for the traffic-* routes; `req` is seeds.req."""
    out = []
    for i, o in enumerate(ORIGINS):
        out.append(("traffic-cors-get%d" % i, [req(b"GET", b"/cors/x", [b"Origin: " + o])]))
        out.append(("traffic-cors-pre%d" % i, [req(b"OPTIONS", b"/cors/x", [
            b"Origin: " + o, b"Access-Control-Request-Method: PUT",
            b"Access-Control-Request-Headers: x-token",
            b"Access-Control-Request-Private-Network: true"])]))
    for i, h in enumerate(PREFLIGHT_HEADERS):
        for path in (b"/cors/p", b"/corsany/p"):
            out.append(("traffic-cors-acrh%d%s" % (i, path.decode()), [req(b"OPTIONS", path, [
                b"Origin: https://app.fuzz.test", b"Access-Control-Request-Method: POST",
                b"Access-Control-Request-Headers: " + h])]))
    for m in (b"DELETE", b"get", b"", b"P\x00T", b"x" * 300):
        out.append(("traffic-cors-acrm", [req(b"OPTIONS", b"/cors/m", [
            b"Origin: https://app.fuzz.test", b"Access-Control-Request-Method: " + m])]))
    out.append(("traffic-cors-two-origins", [req(b"GET", b"/cors/two", [
        b"Origin: https://app.fuzz.test", b"Origin: https://evil.test"])]))
    out.append(("traffic-cors-body", [req(b"POST", b"/cors/b", [
        b"Origin: https://app.fuzz.test", b"Content-Length: 5"], b"hello")]))
    for i, c in enumerate(CLIENTS):
        out.append(("traffic-ip%d" % i, [req(b"GET", b"/ipr/x", [b"X-Forwarded-For: " + c])]))
        out.append(("traffic-ip-cors%d" % i, [req(b"OPTIONS", b"/ipr/x", [
            b"X-Forwarded-For: " + c, b"Origin: https://app.fuzz.test",
            b"Access-Control-Request-Method: GET"])]))
    for i, p in enumerate([b"/redir/a/b", b"/redir/abc/%0d%0aX:%20y", b"/redir/x/\xc3\xa9?q=1",
                           b"/redir/x/" + b"y" * 4000, b"/redir/nomatch", b"/redir/a/b?x=%00"]):
        out.append(("traffic-redir%d" % i, [req(b"GET", p, [b"X-Name: a b\"<>"])]))
    out.append(("traffic-redir-ctl", [req(b"GET", b"/redir/a/b", [b"X-Name: a\tb"])]))
    for h in (b"a", b"[::1]:80", b"", b"h.fuzz.test:99999", b"x" * 300):
        out.append(("traffic-https", [req(b"POST", b"/https/p?x=1", [b"Content-Length: 2"],
                                          b"hi", host=h)]))
    out.append(("traffic-https-nohost", [req(b"GET", b"/https/p", host=None,
                                             version=b"HTTP/1.0")]))
    for n in (0, 1, 255, 256, 257, 5000):
        out.append(("traffic-mirror%d" % n, [req(b"PUT", b"/mirror/m?k=v", [
            b"Content-Length: %d" % n, b"X-Token: t", b"Connection: keep-alive"], b"m" * n)]))
        out.append(("traffic-mirror-chunked%d" % n, [req(b"POST", b"/mirror/c", [
            b"Transfer-Encoding: chunked"], b"%x\r\n%s\r\n0\r\n\r\n" % (n, b"c" * n)
            if n else b"0\r\n\r\n")]))
    out.append(("traffic-mirror-dead", [req(b"GET", b"/mirrordead/x")]))
    for w in (b"hello", b"chunked", b"big", b"slow", b"close", b"short", b"s204", b"bad"):
        out.append(("traffic-rr-" + w.decode(), [req(b"GET", b"/rr/" + w + b"/123")]))
        out.append(("traffic-rr5-" + w.decode(), [req(b"GET", b"/rr5/" + w)]))
    out.append(("traffic-rr-head", [req(b"HEAD", b"/rr/hello")]))
    return out
