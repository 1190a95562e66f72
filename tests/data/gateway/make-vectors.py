#!/usr/bin/python3
# Regenerates the JWT test vectors of tests/gateway/tst_jwt.cpp (keys, JWKS, tokens) with
# python3-jwt and cryptography. The tests run with the clock at NOW.
import base64, json, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa, ec, ed25519

NOW = 1800000000
SECRET = "0123456789abcdef0123456789abcdef"

def b64(n: bytes) -> str:
    return base64.urlsafe_b64encode(n).rstrip(b"=").decode()

def pub_pem(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)

rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
ec_key = ec.generate_private_key(ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.generate()
for name, key in [("rsa", rsa_key), ("rsa1024", rsa_small), ("ec", ec_key), ("ed25519", ed_key)]:
    open(name + ".pem", "wb").write(pub_pem(key))

def rsa_jwk(key, kid):
    n = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig",
            "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64(n.e.to_bytes(3, "big"))}

ecn = ec_key.public_key().public_numbers()
edraw = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
jwks = {"keys": [
    rsa_jwk(rsa_key, "rsa1"),
    {"kty": "EC", "crv": "P-256", "kid": "ec1", "x": b64(ecn.x.to_bytes(32, "big")),
     "y": b64(ecn.y.to_bytes(32, "big"))},
    {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "x": b64(edraw)},
    {"kty": "RSA", "kid": "enc1", "use": "enc", "n": "AQAB", "e": "AQAB"},
]}
open("jwks.json", "w").write(json.dumps(jwks, indent=1) + "\n")

base = {"sub": "alice", "roles": ["user", "admin"], "iat": NOW - 10, "exp": NOW + 3600}
rsa_pem = pub_pem(rsa_key)
vectors = []
def add(name, token, ok, user="", roles=None, error="", keys="all"):
    vectors.append({"name": name, "token": token, "ok": ok, "user": user,
                    "roles": roles or [], "error": error, "keys": keys})

def tamper(token):
    head, body, sig = token.split(".")
    # Flip a bit in the middle of the signature, keeping the encoding canonical.
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 1
    return head + "." + body + "." + b64(bytes(raw))

for alg in ["HS256", "HS384", "HS512"]:
    add(alg, jwt.encode(base, SECRET, algorithm=alg), True, "alice", ["user", "admin"])
add("RS256", jwt.encode(base, rsa_key, algorithm="RS256", headers={"kid": "rsa1"}), True,
    "alice", ["user", "admin"])
add("PS256", jwt.encode(base, rsa_key, algorithm="PS256", headers={"kid": "rsa1"}), True,
    "alice", ["user", "admin"])
add("ES256", jwt.encode(base, ec_key, algorithm="ES256", headers={"kid": "ec1"}), True,
    "alice", ["user", "admin"])
add("EdDSA", jwt.encode(base, ed_key, algorithm="EdDSA", headers={"kid": "ed1"}), True,
    "alice", ["user", "admin"])
add("RS256 via PEM, no kid", jwt.encode(base, rsa_key, algorithm="RS256"), True, "alice",
    ["user", "admin"], keys="pem")
add("roles as a string", jwt.encode({**base, "roles": "a b  c"}, SECRET, algorithm="HS256"), True,
    "alice", ["a", "b", "c"])
add("scope", jwt.encode({"user": "bob", "scope": "read write"}, SECRET, algorithm="HS256"), True,
    "bob", ["read", "write"])
add("audience in a list",
    jwt.encode({**base, "aud": ["other", "api"], "iss": "https://idp"}, SECRET, algorithm="HS256"),
    True, "alice", ["user", "admin"], keys="iss-aud")
add("exp within leeway", jwt.encode({**base, "exp": NOW - 20}, SECRET, algorithm="HS256"), True,
    "alice", ["user", "admin"])
add("expired", jwt.encode({**base, "exp": NOW - 31}, SECRET, algorithm="HS256"), False,
    error="token expired")
add("not yet valid", jwt.encode({**base, "nbf": NOW + 60}, SECRET, algorithm="HS256"), False,
    error="token not yet valid")
add("issued in the future", jwt.encode({**base, "iat": NOW + 60}, SECRET, algorithm="HS256"),
    False, error="token issued in the future")
add("bad HS256 signature", tamper(jwt.encode(base, SECRET, algorithm="HS256")), False,
    error="bad signature")
add("bad RS256 signature",
    tamper(jwt.encode(base, rsa_key, algorithm="RS256", headers={"kid": "rsa1"})), False,
    error="bad signature")
add("bad ES256 signature",
    tamper(jwt.encode(base, ec_key, algorithm="ES256", headers={"kid": "ec1"})), False,
    error="bad signature")
add("bad EdDSA signature",
    tamper(jwt.encode(base, ed_key, algorithm="EdDSA", headers={"kid": "ed1"})), False,
    error="bad signature")
none_head = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
none_body = b64(json.dumps(base).encode())
add("alg none", none_head + "." + none_body + ".", False, error="unsigned token")
add("alg none with a signature", none_head + "." + none_body + ".AAAA", False,
    error="unsigned token")
# HS256 "signed" with the RSA public key as the HMAC secret: the classic confusion attack.
import hmac, hashlib
def confusion(header):
    head = b64(json.dumps(header).encode())
    signing_input = head + "." + none_body
    return signing_input + "." + b64(hmac.new(rsa_pem, signing_input.encode(),
                                               hashlib.sha256).digest())
add("HS256 with the RSA public key", confusion({"alg": "HS256", "typ": "JWT"}), False,
    error="algorithm not allowed for this key", keys="pem")
add("HS256 with the RSA public key, kid",
    confusion({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}), False,
    error="algorithm not allowed for this key")
add("HS256 naming an unknown kid", confusion({"alg": "HS256", "typ": "JWT", "kid": "zzz"}),
    False, error="unknown key id", keys="pem")
add("wrong issuer", jwt.encode({**base, "iss": "https://evil", "aud": "api"}, SECRET,
    algorithm="HS256"), False, error="wrong issuer", keys="iss-aud")
add("wrong audience", jwt.encode({**base, "iss": "https://idp", "aud": "other"}, SECRET,
    algorithm="HS256"), False, error="wrong audience", keys="iss-aud")
add("unknown kid", jwt.encode(base, rsa_key, algorithm="RS256", headers={"kid": "rsa9"}), False,
    error="unknown key id", keys="jwks")
add("no sub", jwt.encode({"exp": NOW + 60}, SECRET, algorithm="HS256"), False,
    error="token names no user (sub)")
good = jwt.encode(base, SECRET, algorithm="HS256")
h, b, s = good.split(".")
add("padding in the signature", good + "=", False, error="malformed token")
add("non-canonical base64url", h + "." + b + "." + s[:-1] + chr(ord(s[-1]) + 1), False,
    error="malformed token")
add("four parts", good + ".x", False, error="malformed token")
add("header not JSON", b64(b"nope") + "." + b + "." + s, False, error="malformed token")
add("crit header", jwt.encode(base, SECRET, algorithm="HS256", headers={"crit": ["exp"]}), False,
    error="unsupported critical header")
add("user with a line break", jwt.encode({**base, "sub": "a\r\nX-Evil: 1"}, SECRET,
    algorithm="HS256"), False, error="malformed user claim")
json.dump({"now": NOW, "secret": SECRET, "vectors": vectors}, open("vectors.json", "w"), indent=1)
