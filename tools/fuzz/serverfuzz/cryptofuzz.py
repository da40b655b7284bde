"""Seeds for the /crypto/ route (plugins/fuzz-crypto.lua): JWS tokens that verify (the
RFC 7515 A.2/A.3 and RFC 8037 examples, HS256 made here with the route's secret) and
their broken neighbours (algorithms it must refuse, `none`, confusion of HS256 with
the RSA key, signatures cut, padded or not base64url), garbage for the decoders, keys
in PEM and JWK that are broken in each way a parser can trip on, AES-GCM bodies with
bad tags, and bcrypt passwords (empty, NUL, over 72 bytes)."""

import base64
import hashlib
import hmac
import json

PAYLOAD = (b"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290"
           b"Ijp0cnVlfQ")
RS256 = (b"eyJhbGciOiJSUzI1NiJ9." + PAYLOAD + b".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2Vt"
         b"Qgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4B"
         b"AynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6"
         b"_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98r"
         b"qVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw")
ES256 = (b"eyJhbGciOiJFUzI1NiJ9." + PAYLOAD + b".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXF"
         b"CgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q")
EDDSA = (b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPO"
         b"t7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def hs256(header, payload, secret=b"fuzz"):
    h = b64u(json.dumps(header).encode())
    p = b64u(payload)
    s = b64u(hmac.new(secret, h + b"." + p, hashlib.sha256).digest())
    return h + b"." + p + b"." + s


def tokens():
    good = hs256({"alg": "HS256"}, b'{"sub":"alice"}')
    h, p, s = good.split(b".")
    out = [("hs256", good), ("rs256", RS256), ("es256", ES256), ("eddsa", EDDSA)]
    out += [
        ("none", b64u(b'{"alg":"none"}') + b"." + p + b"."),
        ("none-sig", b64u(b'{"alg":"none"}') + b"." + p + b"." + s),
        ("alg-num", b64u(b'{"alg":5}') + b"." + p + b"." + s),
        ("alg-lower", b64u(b'{"alg":"hs256"}') + b"." + p + b"." + s),
        ("alg-es512", b64u(b'{"alg":"ES512"}') + b"." + p + b"." + s),
        ("hs-as-rs", hs256({"alg": "RS256"}, b"{}")),
        ("hs-as-es", hs256({"alg": "ES256"}, b"{}")),
        ("hs-as-eddsa", hs256({"alg": "EdDSA"}, b"{}")),
        ("sig-cut", good[:-5]),
        ("sig-pad", good + b"=="),
        ("sig-std-b64", good.replace(b"-", b"+").replace(b"_", b"/")),
        ("sig-empty", h + b"." + p + b"."),
        ("sig-dot", good + b"."),
        ("two-parts", h + b"." + p),
        ("head-junk", b"!!!." + p + b"." + s),
        ("head-json-junk", b64u(b'{"alg":') + b"." + p + b"." + s),
        ("head-deep", b64u(b"[" * 200 + b"]" * 200) + b"." + p + b"." + s),
        ("es-short", ES256[:-10]),
        ("es-long", ES256 + b"AAAA"),
        ("es-der", ES256.rsplit(b".", 1)[0] + b"." + b64u(b"\x30\x44\x02\x20" + b"\x01" * 32
                                                          + b"\x02\x20" + b"\x01" * 32)),
        ("rs-zero", RS256.rsplit(b".", 1)[0] + b"." + b64u(b"\0" * 256)),
        ("rs-big", RS256.rsplit(b".", 1)[0] + b"." + b64u(b"\xff" * 256)),
        ("rs-huge", RS256.rsplit(b".", 1)[0] + b"." + b64u(b"\x01" * 4096)),
        ("eddsa-zero", EDDSA.rsplit(b".", 1)[0] + b"." + b64u(b"\0" * 64)),
        ("long", hs256({"alg": "HS256"}, b"x" * 6000)),
    ]
    return out


PEMS = [
    b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
    b"-----END PUBLIC KEY-----\n",
    b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAx\n"
    b"-----END PUBLIC KEY-----\n",
    b"-----BEGIN RSA PUBLIC KEY-----\nMAA=\n-----END RSA PUBLIC KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\n" + base64.b64encode(b"\x30\x82\xff\xff" + b"\0" * 60)
    + b"\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n",
    b"-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
    b"-----END CERTIFICATE-----\n",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
    b"-----BEGIN PUBLIC KEY-----\n" + b"A" * 20000 + b"\n-----END PUBLIC KEY-----\n",
    b"-----BEGIN ",
    b"   -----BEGIN PUBLIC KEY-----",
]
JWKS = [
    b'{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",'
    b'"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}',
    b'{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",'
    b'"y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}',
    b'{"kty":"EC","crv":"P-384","x":"AA","y":"AA","d":"AA"}',
    b'{"kty":"RSA","n":"AQAB","e":"AQAB"}',
    b'{"kty":"RSA","n":"","e":""}',
    b'{"kty":"RSA","n":"' + b"_" * 3000 + b'","e":"AQAB","d":"AQ"}',
    b'{"kty":"RSA","n":"ofgW","e":"AQAB","d":"AQ","p":"AQ"}',
    b'{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",'
    b'"d":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}',
    b'{"kty":"OKP","crv":"Ed448","x":"AA"}',
    b'{"kty":"oct","k":"!!"}',
    b'{"kty":"oct","k":""}',
    b'{"kty":1}', b'{"kty":"EC","crv":[],"x":{},"y":null}', b"{", b"{}", b"[]",
    b'{"kty":"RSA","n":"AQAB","e":"AQAB","alg":7}',
]
DECODE = [b"", b"=", b"==", b"Zg", b"Zg=", b"Zg==", b"Zh==", b"Zm9v", b"-_-_", b"+/+/",
          b"Zm9v====", b"\x80\xff", b"a" * 5001, b"abc", b"ABCDEF0123", b"zz"]


def crypto_seeds(req):
    """Seeds for /crypto/ (`req` is seeds.req)."""
    out = []
    for name, tok in tokens():
        out.append(("crypto-jws-" + name, [req(b"GET", b"/crypto/t",
                                                [b"Authorization: Bearer " + tok])]))
    for i, d in enumerate(DECODE):
        out.append(("crypto-decode-%d" % i, [req(b"GET", b"/crypto/d",
                                                 [b"X-B64: " + d, b"X-B64url: " + d,
                                                  b"X-Hex: " + d])]))
    for i, k in enumerate(PEMS + JWKS):
        out.append(("crypto-key-%d" % i, [req(b"POST", b"/crypto/k",
                                              [b"Content-Length: %d" % len(k)], k)]))
    for i, (body, tag) in enumerate([(b"x" * 12, b"AAAAAAAAAAAAAAAAAAAAAA"),
                                     (b"x" * 40, b"short"), (b"", b"AAAAAAAAAAAAAAAAAAAAAA"),
                                     (b"y" * 5000, b"!!!!")]):
        out.append(("crypto-gcm-%d" % i, [req(b"POST", b"/crypto/g",
                                              [b"Content-Length: %d" % len(body),
                                               b"X-Gcm-Tag: " + tag], body)]))
    for i, pw in enumerate([b"fuzz", b"", b"fuz", b"f" * 100, b"fuzz\x00x", b"\xff\xfe"]):
        out.append(("crypto-bcrypt-%d" % i, [req(b"GET", b"/crypto/b", [b"X-Password: " + pw])]))
    return out
