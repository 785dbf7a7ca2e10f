#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
#
# bench/dpop_proofs.py -- the credentials of bench/oauth2's DPoP case: a
# P-256 key pair of the client (DIR/client.key), an ES256 access token
# signed by the issuer's key and bound to the client's key by cnf.jkt
# (DIR/token), and COUNT DPoP proofs of GET URL for that token
# (DIR/proofs.txt, one a line: "DPoP <token>\t<proof>"), each with its
# own jti, all made now: the location gives them AuthOAuth2DPoPMaxAge
# 3600.  Needs python3-cryptography.
#
#   bench/dpop_proofs.py DIR ISSUER_KEY.pem ISS AUD URL COUNT

import base64
import hashlib
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def js(o):
    return json.dumps(o, separators=(",", ":"), sort_keys=True)


def es256(key, header, claims):
    data = ("%s.%s" % (b64u(js(header)), b64u(js(claims)))).encode()
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return "%s.%s" % (data.decode(), b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


def public_jwk(key):
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256",
            "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def main():
    out, issuer_key, iss, aud, url, count = sys.argv[1:7]
    count = int(count)
    with open(issuer_key, "rb") as f:
        issuer = serialization.load_pem_private_key(f.read(), None)
    client = ec.generate_private_key(ec.SECP256R1())
    with open(os.path.join(out, "client.key"), "wb") as f:
        f.write(client.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    jwk = public_jwk(client)
    # RFC 7638: the required members in lexicographic order, no whitespace
    jkt = b64u(hashlib.sha256(js({k: jwk[k] for k in ("crv", "kty", "x", "y")})
                              .encode()).digest())
    now = int(time.time())
    token = es256(issuer, {"alg": "ES256", "typ": "at+jwt", "kid": "ec1"},
                  {"iss": iss, "aud": aud, "sub": "bench", "scope": "read write",
                   "client_id": "bench-client", "iat": now, "exp": now + 86400,
                   "cnf": {"jkt": jkt}})
    with open(os.path.join(out, "token"), "w") as f:
        f.write(token + "\n")
    ath = b64u(hashlib.sha256(token.encode()).digest())
    head = {"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk}
    prefix = os.urandom(6).hex()
    with open(os.path.join(out, "proofs.txt"), "w") as f:
        for i in range(count):
            proof = es256(client, head, {"jti": "%s-%d" % (prefix, i), "htm": "GET",
                                         "htu": url, "iat": now, "ath": ath})
            f.write("DPoP %s\t%s\n" % (token, proof))


if __name__ == "__main__":
    main()
