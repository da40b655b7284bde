"""Seeds for the bundled auth plugins' routes: /auth-basic/ (basic-auth), /auth-jwt/
(jwt-auth, HS256 with the route's secret and claims_to_headers), /auth-jwtn/ (the same
alone on its route with a small cache, so that its native cache answers the repeats),
/auth-hmac/
(hmac-auth, RFC 9421 with the consumer fuzz-hmac's secret) and /auth-fwd/
(forward-auth asking the fuzzer's upstream, answers cached per Authorization). Each
gets valid credentials and their broken neighbours: Authorization headers cut,
doubled, of other schemes, not base64, without a colon, huge; tokens with `none`,
confused or missing algorithms, bad JSON, wrong segment counts; Signature-Input and
Signature dictionaries broken at every delimiter, with unknown components, bad
parameters and byte sequences; the Authorization: hmac scheme with its Date."""

import base64
import hashlib
import hmac
import json
import time

JWT_SECRET = b"fuzz-jwt-secret-of-32-bytes-or-more!!"
HMAC_SECRET = b"fuzz-hmac-secret-of-32-bytes-or-more!"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt(header, claims, secret=JWT_SECRET):
    h = b64u(json.dumps(header).encode())
    p = b64u(json.dumps(claims).encode())
    return h + b"." + p + b"." + b64u(hmac.new(secret, h + b"." + p, hashlib.sha256).digest())


def basic_values():
    good = b"Basic " + base64.b64encode(b"fuzz:fuzz-pass")
    return [good, b"Basic " + base64.b64encode(b"fuzz:wrong"), b"Basic", b"Basic ",
            b"basic " + base64.b64encode(b"fuzz:fuzz-pass"), b"Basic !!!!", b"Basic YQ",
            b"Basic " + base64.b64encode(b"no-colon"), b"Basic " + base64.b64encode(b":x"),
            b"Basic " + base64.b64encode(b"\x00\xff:\x00"), b"Basic " + b"A" * 3000,
            good + b" trailing", b"Bearer " + good[6:], good + b"==", b"Basic  " + good[6:]]


def jwt_values():
    now = int(time.time())
    good = jwt({"alg": "HS256", "typ": "JWT"}, {"sub": "fuzz", "exp": now + 86400,
                                                 "roles": ["a", {"b": None}]})
    h, p, s = good.split(b".")
    none = b64u(b'{"alg":"none"}') + b"." + p + b"."
    out = [good, none, h + b"." + p, h + b"." + p + b"." + s + b".x", h + b"." + p + b".!!",
           b64u(b'{"alg":"RS256"}') + b"." + p + b"." + s, b64u(b'[1,2]') + b"." + p + b"." + s,
           b64u(b'{"alg":5}') + b"." + p + b"." + s, b64u(b'{"alg":"HS256","crit":["x"]}') + b"." + p + b"." + s,
           h + b"." + b64u(b'"str"') + b"." + s, h + b"." + b64u(b'{"exp":"soon"}') + b"." + s,
           h + b"." + b64u(b'{"a":' * 80 + b'1' + b'}' * 80) + b"." + s,
           jwt({"alg": "HS256"}, {"exp": now - 10}), jwt({"alg": "HS256"}, {"nbf": now + 1000}),
           jwt({"alg": "HS256"}, {"sub": 1e308, "exp": 1e308}), b"." * 3, b"a" * 4000]
    return [b"Bearer " + t for t in out] + [b"Bearer", b"bearer  " + good + b"  ", b"Basic " + good]


def hmac_cases():
    now = str(int(time.time())).encode()
    comps = b'("@method" "@authority" "@path")'
    params = b";created=" + now + b';keyid="fuzz-hmac"'
    base = (b'"@method": GET\n"@authority": a\n"@path": /auth-hmac/x\n"@signature-params": '
            + comps + params)
    sig = base64.b64encode(hmac.new(HMAC_SECRET, base, hashlib.sha256).digest())
    good = [b"Signature-Input: sig1=" + comps + params, b"Signature: sig1=:" + sig + b":"]
    broken_inputs = [b"sig1=(", b"sig1=()", b"sig1=(\"@method\"", b"sig1=(@method)", b"sig1=\"x\"",
                     b"sig1=(\"@method\");created=abc", b"sig1=(\"@method\");created=1.5;keyid=\"fuzz-hmac\"",
                     b"sig1=(\"@status\" \"@query-param\";name=\"a\")" + params, b",", b"sig1=(\"\\q\")",
                     b"sig1=(\"@method\" \"@method\")" + params, b"sig1=(\"x-absent\")" + params,
                     b"SIG=(\"@method\")", b"sig1=(\"@method\");keyid=?1", b"sig1=(\"@method\");keyid=:AA==:",
                     b"sig1=" + comps + b";created=" + b"9" * 30 + b';keyid="fuzz-hmac"',
                     b"sig1=(" + b'"h" ' * 500 + b")" + params]
    broken_sigs = [b"sig1=:", b"sig1=::", b"sig1=:!!:", b"sig2=:" + sig + b":", b"sig1=\"" + sig + b"\"",
                   b"sig1=:" + sig + b":,", b"sig1=:" + sig[:-4] + b":"]
    out = [good, good + [b"Content-Digest: sha-256=:AAAA:"], good[:1], good[1:]]
    out += [[b"Signature-Input: " + i, good[1]] for i in broken_inputs]
    out += [[good[0], b"Signature: " + s] for s in broken_sigs]
    return out


def hmac_param_cases():
    """Signatures whose components have parameters: "@query-param";name=, a dictionary
    member by key, field lines by bs; valid ones (the mutator breaks the query, the
    dictionary and the identifiers), and identifiers with odd parameters. Returns
    (path, headers) pairs."""
    now = str(int(time.time())).encode()
    path = b"/auth-hmac/x?a=1+2&b=%C3%A7&c=&e=%zz"
    ids = [(b'"@query-param";name="a"', b"1%202"), (b'"@query-param";name="b"', b"%C3%A7"),
           (b'"@query-param";name="c"', b""), (b'"@query-param";name="e"', b"%25zz"),
           (b'"x-dict";key="k"', b'(t "s");p'), (b'"x-bin";bs', b":b25l:, :dHdv:")]
    fields = [b'X-Dict: j=1, k=(t "s");p=?1', b"X-Bin: one", b"X-Bin: two"]
    comps = b'("@method" "@authority" "@path" ' + b" ".join(i for i, _ in ids) + b")"
    params = b";created=" + now + b';keyid="fuzz-hmac"'
    base = (b'"@method": GET\n"@authority": a\n"@path": /auth-hmac/x\n' + b"".join(i + b": " + v + b"\n" for i, v in ids)
            + b'"@signature-params": ' + comps + params)
    sig = base64.b64encode(hmac.new(HMAC_SECRET, base, hashlib.sha256).digest())
    good = fields + [b"Signature-Input: sig1=" + comps + params, b"Signature: sig1=:" + sig + b":"]
    out = [(path, good), (path.replace(b"a=1+2", b"a=1+2&a=3"), good)]
    for odd in [b'"x-dict";sf', b'"x-dict";key', b'"x-dict";key=?1', b'"x-bin";bs;key="k"',
                b'"@query-param";name="a";name="b"', b'"@query-param";name=:AA==:',
                b'"@path";req', b'"x-dict";tr', b'"x-dict";key="' + b"k" * 3000 + b'"']:
        out.append((path, fields + [b"Signature-Input: sig1=(" + odd + b")" + params, good[-1]]))
    return out


def hmac_scheme_values():
    from email.utils import formatdate
    date = formatdate(usegmt=True).encode()
    line = b"@request-target: get /auth-hmac/x\ndate: " + date
    sig = base64.b64encode(hmac.new(HMAC_SECRET, line, hashlib.sha256).digest())
    good = (b'hmac username="fuzz-hmac", algorithm="hmac-sha256", headers="@request-target date", '
            b'signature="' + sig + b'"')
    return date, [good, good.replace(b"sha256", b"sha1"), good.replace(b'username="fuzz-hmac", ', b""),
                  b"hmac", b"hmac ", b'hmac username="', b'hmac a="1", a="2"', good + b', x="' + b"y" * 3000 + b'"',
                  good.replace(b"@request-target date", b"(created) @status"), good.replace(sig, b"!!")]


def auth_seeds(req):
    """Seeds for the auth routes (`req` is seeds.req)."""
    out = []
    for i, v in enumerate(basic_values()):
        out.append(("auth-basic-%d" % i, [req(b"GET", b"/auth-basic/x", [b"Authorization: " + v])]))
    for i, v in enumerate(jwt_values()):
        out.append(("auth-jwt-%d" % i, [req(b"GET", b"/auth-jwt/x",
                                            [b"Authorization: " + v, b"X-User: forged"])]))
    for i, v in enumerate(jwt_values()):
        # the same tokens where the native cache reads them: twice, so the second is a hit
        t = v[7:] if v.startswith(b"Bearer ") else v
        out.append(("auth-jwtn-%d" % i, [req(b"GET", b"/auth-jwtn/x", [b"X-Token: " + t, b"X-User: forged"]),
                                         req(b"GET", b"/auth-jwtn/y", [b"Authorization: " + v, b"X-Token: " + t])]))
    for i, h in enumerate(hmac_cases()):
        out.append(("auth-hmac-%d" % i, [req(b"GET", b"/auth-hmac/x", h)]))
    out.append(("auth-hmac-body", [req(b"POST", b"/auth-hmac/x", hmac_cases()[1], b"body")]))
    for i, (path, h) in enumerate(hmac_param_cases()):
        out.append(("auth-hmacparam-%d" % i, [req(b"GET", path, h)]))
    date, values = hmac_scheme_values()
    for i, v in enumerate(values):
        for d in (date, b"yesterday"):
            out.append(("auth-hmacscheme-%d-%d" % (i, len(d)), [req(b"GET", b"/auth-hmac/x",
                        [b"Authorization: " + v, b"Date: " + d])]))
    for i, v in enumerate([b"Bearer a", b"Bearer a", b"Bearer b" * 500, b""]):
        out.append(("auth-fwd-%d" % i, [req(b"GET", b"/auth-fwd/x", [b"Authorization: " + v])]))
    return out
