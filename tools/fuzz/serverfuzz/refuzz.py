"""Regular-expression cases: paths for the path_regex routes (captures, regex-looking
bytes, encodings, a catastrophic route), client-chosen patterns and flags for mg.re
(the fuzz-re plugin on /relua/), and JSON bodies, headers and query arguments for the
request-validation route (/rv/)."""


def regex_paths():
    """Targets for the path_regex routes, regex metacharacters in paths included."""
    return [b"/rx/42", b"/rx/42/a/b", b"/rx/", b"/rx/x", b"/rx/0042/%2e%2e/x",
            b"/rx/9999999999999999999999", b"/rx/1/(a|b)*", b"/rx/1/[", b"/rx/1/%5C",
            b"/rx/1/.*+?^$", b"/rx/1/%00", b"/rx/1/%C3%A9", b"/rx/1/\xc3\xa9",
            b"/rx/1/\xff\xfe", b"/rxf/a.CSS", b"/rxf/x/y.js?q=1", b"/rxf/.png",
            b"/rxf/a.css/", b"/rxslow/" + b"a" * 40, b"/rxslow/" + b"a" * 60 + b"b",
            b"/rxslow/" + b"a" * 2000 + b"b", b"/rx/" + b"1" * 4000]


PATTERNS = [b"(\\w+)", b"^/relua/(?<a>[^/]+)/(?<b>.*)$", b"(", b"[z-a]", b"(?<n>x)|(?<n>y)",
            b"^(a|aa)+$", b"(a*)*b", b"(?:a+)+$", b"\\x{100}", b"(*FAIL)", b"", b"$",
            b"(?<=/)r", b"\\K", b"(*LIMIT_MATCH=1)a+", b"(?R)?", b"a{1,65535}", b"\\p{L}+",
            b".", b"(?i)RELUA", b"\\", b"(?C1)x", b"(*UTF)\xff"]
FLAGS = [b"", b"i", b"u", b"x", b"imsxuaDJoj", b"q", b"uu", b"a", b"D", b"J"]


def re_lua_seeds(req):
    out = []
    for i, pat in enumerate(PATTERNS):
        flags = FLAGS[i % len(FLAGS)]
        path = b"/relua/" + (b"a" * 30 + b"b" if b"a" in pat else b"x/y%C3%A9/\xc3\xa9")
        out.append(("re-lua-%d" % i, [req(b"GET", path, [b"X-Re: " + pat, b"X-Re-Flags: " + flags])]))
    out.append(("re-lua-query", [req(b"GET", b"/relua/abc?re=%28b%29&re=x")]))
    out.append(("re-lua-bad-utf8", [req(b"GET", b"/relua/\xc3\x28\xff", [b"X-Re: .", b"X-Re-Flags: u"])]))
    return out


JSON_BODIES = [b'{"id":1,"name":"abc","tags":["a","b"],"kind":"a"}', b'{"id":0}', b'{}', b'[]',
               b'null', b'{"id":"1"}', b'{"id":1,"name":"\\u00e9\\u00e9"}', b'{"id":1,"tags":["a","a"]}',
               b'{"id":1,"kind":3}', b'{"id":1.5}', b'{"id":1e400}', b'{"id":1,', b'{"id":1}x',
               b'{"id":1,"name":"' + b"a" * 5000 + b'"}', b'{"a":' * 100 + b'1' + b'}' * 100,
               b'{"id":1,"name":"\xff"}', b'"str"']


def validation_seeds(req):
    out = []
    for i, body in enumerate(JSON_BODIES):
        out.append(("rv-body-%d" % i, [req(b"POST", b"/rv/x?p=2", [b"Content-Type: application/json",
                                                                  b"Content-Length: %d" % len(body)], body)]))
    out.append(("rv-ctype", [req(b"POST", b"/rv/x", [b"Content-Type: text/plain", b"Content-Length: 2"], b"{}")]))
    out.append(("rv-nobody", [req(b"GET", b"/rv/x")]))
    out.append(("rv-header", [req(b"GET", b"/rv/x", [b"X-N: 10", b"X-N: x"])]))
    out.append(("rv-query", [req(b"GET", b"/rv/x?p=0&p=a&p")]))
    return out


def re_seeds(req):
    """Every regular-expression case, as (name, [bytes ...]) seeds."""
    out = [("re-path-%d" % i, [req(b"GET", p)]) for i, p in enumerate(regex_paths())]
    return out + re_lua_seeds(req) + validation_seeds(req)
