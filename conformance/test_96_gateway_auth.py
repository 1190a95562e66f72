"""Layer 96: the API gateway's authentication and authorisation (issue #10, docs/gateway.md):
bearer JWTs (HS256 with secret_key; RS256/PS256/ES256/EdDSA from a JWKS whose keys the test
makes with the openssl command) and opaque tokens from tokens_file, in front of a real member
group (`enable_gateway`) and of an app (`/admin = gateway echo`); roles, methods, IPv4/IPv6
networks after trusted_proxies; 401 challenges (RFC 6750), CEF events, request.log's user and
token id; JWKS and tokens-file rotation; a JWKS fetched over https; `berthd check` diagnostics.
Tokens are made with python3-jwt."""

from __future__ import annotations

import hashlib
import http.server
import json
import ssl
import subprocess
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

import berth
from berth import diagnostic_lines, line_of, parse_request_log_line, run_cli, write_conf
from proxymember import Member
from test_62_basic_auth import cef_extension, cef_lines

SECRET = "conformance-secret-of-32-bytes!!"
ISSUER = "https://idp.test"
AUDIENCE = "berth-api"


def openssl_key(directory: Path, name: str, *args: str):
    """A private key made by the openssl command, loaded for python3-jwt."""
    from cryptography.hazmat.primitives import serialization
    path = directory / f"{name}.key"
    subprocess.run(["openssl", "genpkey", *args, "-out", str(path)], check=True,
                   capture_output=True, timeout=60)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("gwkeys")
    return {
        "rsa1": openssl_key(d, "rsa1", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
        "rsa2": openssl_key(d, "rsa2", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"),
        "ec1": openssl_key(d, "ec1", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
        "ed1": openssl_key(d, "ed1", "-algorithm", "ed25519"),
    }


def jwk(key, kid: str) -> dict:
    public = key.public_key()
    if kid.startswith("rsa"):
        out = json.loads(RSAAlgorithm.to_jwk(public))
    elif kid.startswith("ec"):
        out = json.loads(ECAlgorithm.to_jwk(public))
    else:
        out = json.loads(OKPAlgorithm.to_jwk(public))
    out["kid"] = kid
    return out


def jwks_text(keys, *kids: str) -> str:
    return json.dumps({"keys": [jwk(keys[k], k) for k in kids]})


def claims(**extra) -> dict:
    now = int(time.time())
    base = {"sub": "alice", "roles": ["user"], "iss": ISSUER, "aud": AUDIENCE, "iat": now,
            "exp": now + 300, "jti": "t-" + uuid.uuid4().hex[:8]}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def hs256(**extra) -> str:
    return jwt.encode(claims(**extra), SECRET, algorithm="HS256")


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


def b64url(raw: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


CONFIG = """
[server]
trusted_proxies = 127.0.0.1

[routes:line]
/api = @users
/admin = gateway echo
/nets = nets echo

[api-gateway]
enable_gateway = yes
authenticate = yes
realm = Test API
secret_key = {secret}
jwks = {{tmp}}/jwks.json
tokens_file = {{tmp}}/tokens
issuer = {issuer}
audience = {audience}
leeway = 5s

[@users]
members = {member}
roles = user, admin
methods = GET, POST

[app:echo]
call = berth.echo

[app:nets]
call = berth.gateway
ips = 10.0.0.0/8, 2001:db8::/32
deny_ips = 10.9.0.0/16, 2001:db8:bad::/48
"""

TOKENS = f"""# opaque tokens: TOKEN USER ROLES EXPIRY
opaque-alice-1 alice user -
sha256:{hashlib.sha256(b"opaque-bob-2").hexdigest()} bob admin,ops 2099-01-01
opaque-old-3 carol user 2001-01-01T00:00:00Z
"""


@pytest.fixture(scope="module")
def member():
    m = Member("users")
    yield m
    m.close()


@pytest.fixture(scope="module")
def srv(module_berth_server, member, keys):
    text = CONFIG.format(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, member=member.addr)
    return module_berth_server(text, files={"jwks.json": jwks_text(keys, "rsa1", "ec1", "ed1"),
                                            "tokens": TOKENS})


def seen_by(member: Member, mark: str) -> dict | None:
    with member.lock:
        for r in member.requests:
            if mark in r["target"]:
                return r
    return None


def header_of(record: dict, name: str) -> list[str]:
    return [v for k, v in record["headers"] if k.lower() == name.lower()]


def get(srv, path: str, *headers, method: str = "GET"):
    return srv.request(method, path, headers=list(headers))


# ---------------------------------------------------------------------------------------------
# Tokens that pass
# ---------------------------------------------------------------------------------------------

def test_valid_token_is_proxied_with_the_verified_identity(srv, member):
    mark = uuid.uuid4().hex
    resp = get(srv, f"/api/v1?{mark}", bearer(hs256(roles="user ops")),
               ("X-Berth-User", "root"), ("X-Berth-Roles", "admin"))
    assert resp.status == 200, resp
    record = seen_by(member, mark)
    assert record is not None
    # The member sees what the gateway verified, never what the client claimed.
    assert header_of(record, "X-Berth-User") == ["alice"]
    assert header_of(record, "X-Berth-Roles") == ["user,ops"]


@pytest.mark.parametrize("alg,kid", [("RS256", "rsa1"), ("PS256", "rsa1"), ("ES256", "ec1"),
                                     ("EdDSA", "ed1")])
def test_asymmetric_tokens_from_the_jwks(srv, keys, alg, kid):
    token = jwt.encode(claims(), keys[kid], algorithm=alg, headers={"kid": kid})
    resp = get(srv, "/api/asym", bearer(token))
    assert resp.status == 200, resp


def test_gateway_app_without_a_section_uses_api_gateway(srv):
    # `/admin = gateway echo`: no [app:gateway]; [api-gateway] configures it.
    assert get(srv, "/admin").status == 401
    resp = get(srv, "/admin", bearer(hs256(roles=[])))
    assert resp.status == 200, resp


# ---------------------------------------------------------------------------------------------
# Tokens that don't
# ---------------------------------------------------------------------------------------------

def test_missing_token_is_a_plain_challenge(srv, member):
    before = member.count()
    resp = get(srv, "/api/none")
    assert resp.status == 401
    assert resp.header("WWW-Authenticate") == 'Bearer realm="Test API"'
    assert member.count() == before


def rejected_tokens(keys) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    rsa_public_pem = keys["rsa1"].public_key().public_bytes(
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["Encoding"]).Encoding.PEM,
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["PublicFormat"]).PublicFormat.SubjectPublicKeyInfo)
    import hashlib as _h
    import hmac as _hmac
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}).encode())
    body = b64url(json.dumps(claims()).encode())
    confusion = f"{head}.{body}." + b64url(
        _hmac.new(rsa_public_pem, f"{head}.{body}".encode(), _h.sha256).digest())
    none_head = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    good = hs256()
    h, b, s = good.split(".")
    flipped = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    return {
        "expired": (hs256(exp=now - 60), "token expired"),
        "not yet valid": (hs256(nbf=now + 120), "token not yet valid"),
        "bad signature": (f"{h}.{b}.{flipped}", "bad signature"),
        "alg none": (f"{none_head}.{body}.", "unsigned token"),
        "HS/RS confusion": (confusion, "algorithm not allowed for this key"),
        "wrong issuer": (hs256(iss="https://evil.test"), "wrong issuer"),
        "wrong audience": (hs256(aud="someone-else"), "wrong audience"),
        "unknown kid": (jwt.encode(claims(), keys["rsa2"], algorithm="RS256",
                                   headers={"kid": "rsa9"}), "unknown key id"),
        "signed by a key not in the JWKS": (
            jwt.encode(claims(), keys["rsa2"], algorithm="RS256", headers={"kid": "rsa1"}),
            "bad signature"),
        "expired opaque": ("opaque-old-3", "token expired"),
        "unknown opaque": ("opaque-nobody", "unknown token"),
    }


@pytest.mark.parametrize("case", ["expired", "not yet valid", "bad signature", "alg none",
                                  "HS/RS confusion", "wrong issuer", "wrong audience",
                                  "unknown kid", "signed by a key not in the JWKS",
                                  "expired opaque", "unknown opaque"])
def test_rejected_token_is_401_and_never_forwarded(srv, member, keys, case):
    token, reason = rejected_tokens(keys)[case]
    mark = uuid.uuid4().hex
    resp = get(srv, f"/api/x?{mark}", bearer(token))
    assert resp.status == 401, resp
    assert resp.header("WWW-Authenticate") == (
        f'Bearer realm="Test API", error="invalid_token", error_description="{reason}"')
    assert seen_by(member, mark) is None
    lines = cef_lines(srv, contains=mark)
    assert lines, "no CEF event for the refused token"
    ext = cef_extension(lines[-1])
    assert "|AuthFail|" in lines[-1]
    assert ext["msg"] == f"berth.gateway: {reason}"
    assert token not in lines[-1]


def test_oversized_token_is_refused(srv, member):
    before = member.count()
    resp = get(srv, "/api/big", bearer("a" * 65536))
    assert resp.status in (401, 431)
    assert member.count() == before


# ---------------------------------------------------------------------------------------------
# Roles, methods, networks
# ---------------------------------------------------------------------------------------------

def test_missing_role_is_403_and_a_cef_event(srv, member):
    mark = uuid.uuid4().hex
    resp = get(srv, f"/api/x?{mark}", bearer(hs256(sub="mallory", roles=["guest"])))
    assert resp.status == 403
    assert 'error="insufficient_scope"' in resp.header("WWW-Authenticate")
    assert seen_by(member, mark) is None
    lines = cef_lines(srv, contains=mark)
    assert lines and "|RoleDenied|" in lines[-1]
    assert cef_extension(lines[-1])["suser"] == "mallory"


def test_method_not_allowed_is_403(srv, member):
    mark = uuid.uuid4().hex
    resp = get(srv, f"/api/x?{mark}", bearer(hs256()), method="DELETE")
    assert resp.status == 403
    assert seen_by(member, mark) is None
    lines = cef_lines(srv, contains=mark)
    assert lines and "|MethodDenied|" in lines[-1]
    assert get(srv, f"/api/x?{mark}", bearer(hs256()), method="POST").status == 200


@pytest.mark.parametrize("client,status", [
    ("10.1.2.3", 200), ("10.9.1.1", 403), ("192.0.2.7", 403),
    ("2001:db8:1::5", 200), ("2001:db8:bad::1", 403), ("2001:db9::1", 403),
])
def test_client_networks_after_trusted_proxies(srv, client, status):
    # 127.0.0.1 is a trusted proxy: the client is the X-Forwarded-For address.
    mark = uuid.uuid4().hex
    resp = get(srv, f"/nets?{mark}", ("X-Forwarded-For", client))
    assert resp.status == status, resp
    if status == 403:
        lines = cef_lines(srv, contains=mark)
        assert lines and "|IPDenied|" in lines[-1]


# ---------------------------------------------------------------------------------------------
# Logs
# ---------------------------------------------------------------------------------------------

def test_request_log_has_the_user_and_a_token_id(srv):
    mark = uuid.uuid4().hex
    token = hs256(sub="dora", jti=f"jti-{mark[:8]}")
    assert get(srv, f"/api/log?{mark}", bearer(token)).status == 200
    assert get(srv, f"/api/log?{mark}", bearer("opaque-alice-1")).status == 200
    lines = srv.request_log_lines(contains=mark, count=2)
    fields = [parse_request_log_line(l) for l in lines]
    assert fields[0]["user"] == "dora" and fields[0]["token"] == f"jti-{mark[:8]}"
    assert fields[1]["user"] == "alice"
    assert fields[1]["token"] == hashlib.sha256(b"opaque-alice-1").hexdigest()[:8]
    text = srv.log_path("request.log").read_text()
    assert token not in text and "opaque-alice-1" not in text


# ---------------------------------------------------------------------------------------------
# Rotation
# ---------------------------------------------------------------------------------------------

def test_jwks_file_rotation(srv, keys):
    new_token = jwt.encode(claims(), keys["rsa2"], algorithm="RS256", headers={"kid": "rsa2"})
    old_token = jwt.encode(claims(), keys["rsa1"], algorithm="RS256", headers={"kid": "rsa1"})
    assert get(srv, "/api/rot", bearer(new_token)).status == 401
    jwks = srv.tmp / "jwks.json"
    tmp = srv.tmp / "jwks.json.new"
    tmp.write_text(jwks_text(keys, "rsa2", "ec1", "ed1"))
    tmp.replace(jwks)
    try:
        assert berth.wait_until(lambda: get(srv, "/api/rot", bearer(new_token)).status == 200,
                                4.0), "the rotated JWKS was not picked up"
        assert get(srv, "/api/rot", bearer(old_token)).status == 401
    finally:
        jwks.write_text(jwks_text(keys, "rsa1", "ec1", "ed1"))


def test_tokens_file_reload(srv):
    fresh = "opaque-new-" + uuid.uuid4().hex
    assert get(srv, "/api/t", bearer(fresh)).status == 401
    path = srv.tmp / "tokens"
    path.write_text(path.read_text() + f"{fresh} erin user -\n")
    assert berth.wait_until(lambda: get(srv, "/api/t", bearer(fresh)).status == 200, 4.0), \
        "the tokens file was not re-read within 2 s"


# ---------------------------------------------------------------------------------------------
# A JWKS over https
# ---------------------------------------------------------------------------------------------

class JwksServer:
    def __init__(self, body: str):
        certs = berth.throwaway_certs()
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                data = outer.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.body = body
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certs / "localhost.pem", certs / "localhost.key")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://localhost:{self.httpd.server_address[1]}/jwks.json"
        self.ca = certs / "ca.pem"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_jwks_over_https_is_fetched_and_refetched(berth_server, keys):
    jwks_server = JwksServer(jwks_text(keys, "rsa1"))
    try:
        srv = berth_server(f"""
[routes:line]
/p = gateway echo

[app:echo]
call = berth.echo

[api-gateway]
authenticate = yes
jwks = {jwks_server.url}
jwks_ca = {jwks_server.ca}
jwks_interval = 1s
""")
        one = jwt.encode(claims(), keys["rsa1"], algorithm="RS256", headers={"kid": "rsa1"})
        two = jwt.encode(claims(), keys["rsa2"], algorithm="RS256", headers={"kid": "rsa2"})
        assert berth.wait_until(lambda: get(srv, "/p", bearer(one)).status == 200, 5.0)
        jwks_server.body = jwks_text(keys, "rsa2")
        assert berth.wait_until(lambda: get(srv, "/p", bearer(two)).status == 200, 5.0)
        # The identity provider goes away: the last good keys stay in use.
        jwks_server.close()
        time.sleep(1.5)
        assert get(srv, "/p", bearer(two)).status == 200
    finally:
        try:
            jwks_server.close()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------
# berthd check
# ---------------------------------------------------------------------------------------------

def test_check_reports_bad_keys_at_their_lines(tmp_path):
    (tmp_path / "not-a-key.pem").write_text("hello\n")
    path, text = write_conf(tmp_path, """
[routes:line]
/a = gw echo

[app:echo]
call = berth.echo

[app:gw]
call = berth.gateway
ips = 10.0.0.0/8, 300.1.2.3
public_key = {tmp}/not-a-key.pem
jwks = {tmp}/missing.json
""")
    r = run_cli("check", "-c", str(path))
    assert r.returncode != 0, r.output
    for needle, what in [("ips =", "300.1.2.3"), ("public_key =", "no PEM public key"),
                         ("jwks =", "can't read")]:
        found = diagnostic_lines(r, path, line_of(text, needle))
        assert any(what in l for l in found), (needle, r.lines)


# ---------------------------------------------------------------------------------------------
# An auth-handler plugin (examples/hello-plugin's hello-tokens, built by test_92's fixture)
# ---------------------------------------------------------------------------------------------

from test_92_plugins import plugins  # noqa: E402,F401  (the fixture that builds the plugins)


def test_auth_handler_plugin_maps_tokens_to_users(berth_server, plugins):  # noqa: F811
    srv = berth_server(f"""
[berth]
plugin_dirs = {plugins['hello']}

[routes:line]
/p = gateway echo

[app:echo]
call = berth.echo

[api-gateway]
authenticate = yes
auth_handler = plugin:hello:hello-tokens
roles = hello
""")
    mark = uuid.uuid4().hex
    assert get(srv, f"/p?{mark}", bearer("hello-zoe")).status == 200
    fields = parse_request_log_line(srv.request_log_lines(contains=mark)[0])
    assert fields["user"] == "zoe"
    assert fields["token"] == hashlib.sha256(b"hello-zoe").hexdigest()[:8]
    for token, reason in [("hello-", "hello- token without a name"),
                          ("other", "refused by the auth handler")]:
        resp = get(srv, "/p", bearer(token))
        assert resp.status == 401
        assert f'error_description="{reason}"' in resp.header("WWW-Authenticate")


def test_check_names_a_missing_auth_handler(tmp_path, plugins):  # noqa: F811
    path, text = write_conf(tmp_path, f"""
[berth]
plugin_dirs = {plugins['hello']}

[routes:line]
/p = gateway echo

[app:echo]
call = berth.echo

[api-gateway]
authenticate = yes
auth_handler = plugin:hello:nosuch
""")
    r = run_cli("check", "-c", str(path))
    assert r.returncode != 0
    found = diagnostic_lines(r, path, line_of(text, "auth_handler ="))
    assert any("provides no auth handler named 'nosuch'" in l for l in found), r.output
