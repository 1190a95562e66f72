"""Layer 62: berth.basic_auth — brim's wsgi_basic_auth in front of another app: a file of
`user bcrypt-hash` (or htpasswd `user:$2y$...`) lines, 401 with a Basic challenge, the user in
request.log, failures as CEF events in cef.log, reload when the file changes, and the TLS rule
that `berthd check` enforces."""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import os
import re
import time
import uuid

import pytest

import berth
from berth import diagnostic_lines, line_of, parse_request_log_line, run_cli, write_conf

# ---------------------------------------------------------------------------------------------
# bcrypt through libcrypt (the same library berthd verifies with); no PyPI package needed.
# ---------------------------------------------------------------------------------------------

_LIBCRYPT = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_LIBCRYPT.crypt_gensalt.restype = ctypes.c_char_p
_LIBCRYPT.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
_LIBCRYPT.crypt.restype = ctypes.c_char_p
_LIBCRYPT.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def bcrypt_hash(password: str, prefix: str = "$2b$", cost: int = 5) -> str:
    setting = _LIBCRYPT.crypt_gensalt(b"$2b$", cost, None, 0)
    out = _LIBCRYPT.crypt(password.encode(), setting).decode()
    assert out.startswith("$2b$") and len(out) == 60, out
    return prefix + out[4:]


def basic(user: str, password: str) -> tuple[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return ("Authorization", f"Basic {token}")


ALICE = bcrypt_hash("secret")
BOB = bcrypt_hash("hunter2", "$2y$")  # what `htpasswd -B` writes

USERS = f"""# brim format and htpasswd format side by side
alice {ALICE}
bob:{BOB}
carol:$apr1$abc$0123456789abcdefghijkl
"""

CONFIG = """
[routes:line]
/private = auth echo
/open = echo

[app:auth]
call = berth.basic_auth
auth_path = {tmp}/users
realm = Staff Area
allow_insecure = yes

[app:echo]
call = berth.echo
"""

CHALLENGE = 'Basic realm="Staff Area", charset="UTF-8"'


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"users": USERS})


def cef_lines(srv, contains: str | None = None, count: int = 1,
              timeout: float = berth.LOG_POLL_TIMEOUT) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = srv.log_path("cef.log").read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        lines = [l for l in text.splitlines() if l.strip()]
        if contains is not None:
            lines = [l for l in lines if contains in l]
        if len(lines) >= count or time.monotonic() >= deadline:
            return lines
        time.sleep(0.05)


def cef_extension(line: str) -> dict[str, str]:
    """The key=value extension of a CEF line, unescaped. A key starts after a space and is
    followed by an unescaped '=' (values escape theirs as \\=)."""
    ext = line.split("|", 7)[7]
    starts = [m.start(1) for m in re.finditer(r"(?:^| )([A-Za-z0-9]+)=", ext)]
    out: dict[str, str] = {}
    for n, s in enumerate(starts):
        end = starts[n + 1] - 1 if n + 1 < len(starts) else len(ext)
        key, _, value = ext[s:end].partition("=")
        out[key] = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)),
                          value)
    return out


def marker() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------------------------------------
# Challenge, success, failures
# ---------------------------------------------------------------------------------------------

def test_no_credentials_gets_the_challenge(srv):
    resp = srv.request("GET", "/private")
    assert resp.status == 401, resp
    assert resp.header("www-authenticate") == CHALLENGE, resp
    berth.assert_error_body(resp)


def test_unprotected_route_is_unaffected(srv):
    resp = srv.request("POST", "/open", body=b"hi")
    assert resp.status == 200 and resp.body == b"hi", resp


def test_good_credentials_reach_the_next_app_and_request_log(srv):
    mark = marker()
    resp = srv.request("POST", f"/private?m={mark}", body=b"payload",
                       headers=[basic("alice", "secret")])
    assert resp.status == 200, resp
    assert resp.body == b"payload"
    lines = srv.request_log_lines(contains=mark)
    assert len(lines) == 1, lines
    fields = parse_request_log_line(lines[0])
    assert fields and fields["user"] == "alice", lines[0]


def test_htpasswd_2y_entry(srv):
    resp = srv.request("GET", "/private", headers=[basic("bob", "hunter2")])
    assert resp.status == 200, resp


def test_with_requests_library(srv):
    requests = pytest.importorskip("requests")
    r = requests.post(f"{srv.url}/private", data=b"x", auth=("alice", "secret"), timeout=5)
    assert r.status_code == 200 and r.content == b"x"
    r = requests.post(f"{srv.url}/private", data=b"x", auth=("alice", "nope"), timeout=5)
    assert r.status_code == 401


@pytest.mark.parametrize("header,user,reason", [
    (basic("alice", "wrong"), "alice", "wrong password"),
    (basic("mallory", "secret"), "mallory", "unknown user"),
    (basic("carol", "anything"), "carol", "unknown user"),  # MD5 entry refused at load
    (("Authorization", "Basic not*base64"), None, "malformed Authorization header"),
    (("Authorization", "Basic " + base64.b64encode(b"nocolon").decode()), None,
     "malformed Authorization header"),
])
def test_failure_is_401_and_a_cef_event(srv, header, user, reason):
    mark = marker()
    resp = srv.request("GET", f"/private?m={mark}", headers=[header, ("User-Agent", "probe/1")])
    assert resp.status == 401, resp
    assert resp.header("www-authenticate") == CHALLENGE
    lines = cef_lines(srv, contains=mark)
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("CEF:0|Mozilla|Berth|"), line
    head = line.split("|")
    assert head[4] == "AuthFail" and head[5] == "Authentication failure" and head[6] == "5", line
    ext = cef_extension(line)
    assert ext["src"] == "127.0.0.1", ext
    assert ext["requestMethod"] == "GET"
    assert ext["request"] == f"/private?m={mark}"
    assert ext["cs1Label"] == "txn" and ext["cs1"] == resp.header("x-berth-txn"), ext
    assert ext["requestClientApplication"] == "probe/1"
    assert ext["msg"] == f"berth.basic_auth: {reason}", ext
    if user:
        assert ext["suser"] == user
    else:
        assert "suser" not in ext
    assert int(ext["rt"]) / 1000 == pytest.approx(time.time(), abs=60)
    # The failed request is logged without a user.
    fields = parse_request_log_line(srv.request_log_lines(contains=mark)[0])
    assert fields["user"] == "-" and fields["status"] == "401"


def test_challenge_without_credentials_is_not_a_cef_event(srv):
    mark = marker()
    assert srv.request("GET", f"/private?m={mark}").status == 401
    time.sleep(0.3)
    assert cef_lines(srv, contains=mark, timeout=0) == []


def test_user_does_not_leak_to_the_next_request_on_a_connection(srv):
    mark = marker()
    with srv.conn() as c:
        c.send(berth.build_request("GET", f"/private?a={mark}", headers=[basic("alice", "secret")]))
        assert c.recv_response().status == 200
        c.send(berth.build_request("GET", f"/open?b={mark}"))
        assert c.recv_response().status == 200
        c.send(berth.build_request("GET", f"/private?c={mark}"))
        assert c.recv_response().status == 401
    lines = srv.request_log_lines(contains=mark, count=3)
    users = [parse_request_log_line(l)["user"] for l in lines]
    assert users == ["alice", "-", "-"], lines


def test_allow_insecure_warns_at_start(srv):
    assert berth.wait_until(lambda: "allow_insecure = yes and no TLS" in srv.server_log()), \
        srv.server_log()


def test_md5_entry_is_reported_with_file_and_line(srv):
    users = srv.tmp / "users"
    assert f"{users}:4: warning: user 'carol': not a bcrypt entry" in srv.server_log(), \
        srv.server_log()


# ---------------------------------------------------------------------------------------------
# Reload
# ---------------------------------------------------------------------------------------------

def test_reload_when_the_file_changes(berth_server):
    srv = berth_server(CONFIG, files={"users": f"alice {ALICE}\n"})
    assert srv.request("GET", "/private", headers=[basic("alice", "secret")]).status == 200
    assert srv.request("GET", "/private", headers=[basic("dave", "pw2")]).status == 401
    users = srv.tmp / "users"
    users.write_text(f"# alice left, dave joined\ndave:{bcrypt_hash('pw2', '$2y$')}\n")
    # The file is looked at no more than once a second.
    assert berth.wait_until(
        lambda: srv.request("GET", "/private", headers=[basic("dave", "pw2")]).status == 200,
        timeout=5), srv.describe()
    assert srv.request("GET", "/private", headers=[basic("alice", "secret")]).status == 401


def test_removed_file_refuses_everyone(berth_server):
    srv = berth_server(CONFIG, files={"users": f"alice {ALICE}\n"})
    assert srv.request("GET", "/private", headers=[basic("alice", "secret")]).status == 200
    os.unlink(srv.tmp / "users")
    assert berth.wait_until(
        lambda: srv.request("GET", "/private", headers=[basic("alice", "secret")]).status == 401,
        timeout=5)


# ---------------------------------------------------------------------------------------------
# berthd check: the TLS rule and the auth file
# ---------------------------------------------------------------------------------------------

CHECK_BODY = """
[routes:line]
/private = auth echo

[app:auth]
call = berth.basic_auth
auth_path = {tmp}/users
{extra}

[app:echo]
call = berth.echo
"""


def check_conf(tmp_path, extra: str = "", users: str | None = USERS):
    if users is not None:
        (tmp_path / "users").write_text(users)
    return write_conf(tmp_path, CHECK_BODY.replace("{extra}", extra))


def test_check_refuses_basic_auth_without_tls(tmp_path):
    path, text = check_conf(tmp_path)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    n = line_of(text, "[app:auth]")
    lines = diagnostic_lines(r, path, n)
    assert any("berth.basic_auth needs TLS ([tls] enabled = yes) or allow_insecure = yes" in l
               for l in lines), r


def test_check_accepts_allow_insecure_with_a_warning(tmp_path):
    path, text = check_conf(tmp_path, "allow_insecure = yes")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 0, r
    n = line_of(text, "[app:auth]")
    assert any("warning:" in l and "allow_insecure" in l for l in diagnostic_lines(r, path, n)), r


def test_check_reports_missing_auth_file_at_auth_path(tmp_path):
    path, text = check_conf(tmp_path, "allow_insecure = yes", users=None)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    n = line_of(text, "auth_path")
    assert any("cannot read auth_path" in l for l in diagnostic_lines(r, path, n)), r


def test_check_requires_auth_path(tmp_path):
    body = CHECK_BODY.replace("auth_path = {tmp}/users\n", "").replace("{extra}",
                                                                        "allow_insecure = yes")
    path, text = write_conf(tmp_path, body)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    assert "auth_path" in r.output, r


# ---------------------------------------------------------------------------------------------
# With TLS: passwords only over HTTPS
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    import shutil
    import subprocess
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing")
    d = tmp_path_factory.mktemp("authcert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out",
                    "cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    return d


def https_request(port: int, cafile, headers: list[tuple[str, str]]) -> berth.Response:
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection((berth.HOST, port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            tls.sendall(berth.build_request("GET", "/private", headers=headers + [
                ("Connection", "close")]))
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    resp, _ = berth.parse_response(data, "GET", eof=True)
    assert resp is not None, data
    return resp


def test_with_tls_plain_http_is_refused_and_https_works(berth_server, cert):
    tls_port = berth.free_port()
    config = CONFIG.replace("allow_insecure = yes\n", "") + f"""
[tls]
port = {tls_port}
cert = {cert}/cert.pem
key = {cert}/key.pem
"""
    srv = berth_server(config, files={"users": USERS})
    assert "allow_insecure" not in srv.server_log()
    # Plain HTTP on the [server] port: 403 before any password is asked for.
    mark = marker()
    resp = srv.request("GET", f"/private?m={mark}", headers=[basic("alice", "secret")])
    assert resp.status == 403, resp
    assert not resp.has_header("www-authenticate")
    lines = cef_lines(srv, contains=mark)
    assert len(lines) == 1 and "|AuthInsecure|" in lines[0], lines
    # HTTPS on the TLS port.
    assert berth.wait_until(lambda: _port_open(tls_port))
    assert https_request(tls_port, cert / "cert.pem", [basic("alice", "secret")]).status == 200
    resp = https_request(tls_port, cert / "cert.pem", [])
    assert resp.status == 401 and resp.header("www-authenticate") == CHALLENGE


def _port_open(port: int) -> bool:
    import socket
    try:
        with socket.create_connection((berth.HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def test_check_accepts_basic_auth_with_tls(tmp_path, cert):
    path, text = check_conf(tmp_path, f"\n[tls]\nenabled = yes\ncert = {cert}/cert.pem\n"
                                      f"key = {cert}/key.pem\n")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 0, r
    assert "needs TLS" not in r.output and "allow_insecure" not in r.output, r
