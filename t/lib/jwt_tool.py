#!/usr/bin/python3
"""Key material and tokens for the jwt-auth tests (needs python3-jwt and
python3-cryptography).

  jwt_tool.py keys DIR        writes rsa.pem/rsa.pub, rsa2.pem/rsa2.pub, ec256.*, ec384.*,
                              ed.*, and jwks.json (the public keys, kid = the file's stem)
  jwt_tool.py sign DIR        reads a JSON list of {alg, key, claims, headers} on stdin and
                              prints one token per line; key is a file stem (rsa, ec256...)
                              or, for HS*, {"secret": "..."}; alg "none" makes an
                              unsigned token
  jwt_tool.py rawsign DIR ALG KEY
                              signs stdin with an RFC 9421 algorithm (ed25519,
                              ecdsa-p256-sha256, rsa-pss-sha512) and the private key
                              DIR/KEY; prints the signature in base64
"""
import json
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PEM = serialization.Encoding.PEM


def write_pair(d, stem, key):
    with open(f"{d}/{stem}.pem", "wb") as f:
        f.write(key.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(f"{d}/{stem}.pub", "wb") as f:
        f.write(key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def keys(d):
    pairs = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa2": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec256": ec.generate_private_key(ec.SECP256R1()),
        "ec384": ec.generate_private_key(ec.SECP384R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }
    jwks = []
    for stem, k in pairs.items():
        write_pair(d, stem, k)
        pub = k.public_key()
        if stem.startswith("rsa"):
            j = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(pub))
        elif stem.startswith("ec"):
            j = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(pub))
        else:
            j = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(pub))
        j["kid"] = stem
        j["use"] = "sig"
        jwks.append(j)
    with open(f"{d}/jwks.json", "w") as f:
        json.dump({"keys": jwks}, f)


def b64url(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(d):
    out = []
    for spec in json.load(sys.stdin):
        alg, key = spec["alg"], spec.get("key")
        claims, headers = spec.get("claims", {}), spec.get("headers") or {}
        if alg == "none":
            h = {"alg": "none", "typ": "JWT"}
            h.update(headers)
            out.append(b64url(json.dumps(h).encode()) + "." +
                       b64url(json.dumps(claims).encode()) + ".")
            continue
        if isinstance(key, dict):
            material = key["secret"].encode()
        else:
            with open(f"{d}/{key}", "rb") as f:
                material = f.read()
        if alg.startswith("HS") and not isinstance(key, dict):
            # algorithm confusion: a public key's PEM used as an HMAC secret, which
            # PyJWT refuses to do, so it is done by hand
            import hashlib
            import hmac
            h = {"alg": alg, "typ": "JWT"}
            h.update(headers)
            si = b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())
            dig = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
            out.append(si + "." + b64url(hmac.new(material, si.encode(), dig).digest()))
            continue
        out.append(jwt.encode(claims, material, algorithm=alg, headers=headers or None))
    print("\n".join(out))


def rawsign(d, alg, keyfile):
    import base64
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    with open(f"{d}/{keyfile}", "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    msg = sys.stdin.buffer.read()
    if alg == "ed25519":
        sig = key.sign(msg)
    elif alg == "ecdsa-p256-sha256":
        r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "rsa-pss-sha512":
        sig = key.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64),
                       hashes.SHA512())
    else:
        raise SystemExit("unknown algorithm " + alg)
    print(base64.b64encode(sig).decode())


if __name__ == "__main__":
    if sys.argv[1] == "rawsign":
        rawsign(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        {"keys": keys, "sign": sign}[sys.argv[1]](sys.argv[2])
