"""berth.session and berth.session_demo, black box: a cookie-aware client (requests.Session)
drives pyslet's "set your name" demo through a real berthd.

Covers HOSTILE-INPUTS case 40 for sessions: no CSRF token, another session's token, a session id
fixed before login; plus cookie flags, tampering, idle expiry, the cookie test and its
open-redirect check, and two servers sharing one SQLite store.
"""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
import requests

from berth import REPO_ROOT, diagnostic_lines, line_of, run_cli, wait_until, write_conf

SECRET = "conformance-secret-0123456789abcdef"


def demo_config(store: str = "sqlite:{tmp}/sessions.db", timeout: str = "600s",
                cookie_test: str = "no", mount: str = "/demo") -> str:
    return f"""
[sessions]
store = {store}
timeout = {timeout}
secret = {SECRET}
cookie_test = {cookie_test}

[routes:line]
{mount} = session demo

[app:session]
call = berth.session

[app:demo]
call = berth.session_demo
"""


TOKEN_RE = re.compile(r'name="csrftoken" value="([^"]+)"')


def token_of(page: str) -> str:
    m = TOKEN_RE.search(page)
    assert m, f"no csrftoken in page:\n{page}"
    return html.unescape(m.group(1))


def set_cookie_headers(resp: requests.Response) -> list[str]:
    return resp.raw.headers.getlist("Set-Cookie")


def sid_of(client: requests.Session) -> str | None:
    values = [c.value for c in client.cookies if c.name == "sid"]
    assert len(values) <= 1, f"several sid cookies: {values}"
    return values[0] if values else None


def plant(client: requests.Session, value: str) -> None:
    """Puts a sid cookie in the jar exactly where the server's own would go."""
    client.cookies.set("sid", value, domain="127.0.0.1", path="/demo")


def cef_lines(srv, needle: str, timeout: float = 3.0) -> list[str]:
    path = srv.log_path("cef.log")
    found: list[str] = []

    def check() -> bool:
        nonlocal found
        try:
            found = [l for l in path.read_text(errors="replace").splitlines() if needle in l]
        except FileNotFoundError:
            found = []
        return bool(found)

    wait_until(check, timeout=timeout)
    return found


def set_name(client: requests.Session, base: str, name: str) -> requests.Response:
    page = client.get(f"{base}/demo/", timeout=5)
    assert page.status_code == 200, page.text
    return client.post(f"{base}/demo/setname", data={"name": name, "csrftoken": token_of(page.text)},
                       timeout=5)


@pytest.fixture(scope="module")
def demo(module_berth_server):
    return module_berth_server(demo_config())


def test_demo_set_name_flow(demo):
    client = requests.Session()
    page = client.get(f"{demo.url}/demo/", timeout=5)
    assert page.status_code == 200
    assert "Please enter your name" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    first_sid = sid_of(client)
    assert first_sid

    resp = set_name(client, demo.url, "<i>Ada</i> & co")
    assert resp.status_code == 200  # 303 followed
    assert [r.status_code for r in resp.history] == [303]
    assert resp.history[0].headers["Location"] == "/demo/"
    # The name is shown escaped: user input never becomes markup.
    assert "Welcome: <b>&lt;i&gt;Ada&lt;/i&gt; &amp; co</b>" in resp.text
    assert "<i>Ada</i>" not in resp.text
    # Visits persist across requests in the session.
    again = client.get(f"{demo.url}/demo/", timeout=5)
    assert "Welcome:" in again.text
    assert sid_of(client) != first_sid


def test_cookie_flags(demo):
    resp = requests.get(f"{demo.url}/demo/", timeout=5)
    cookies = [c for c in set_cookie_headers(resp) if c.startswith("sid=")]
    assert len(cookies) == 1, set_cookie_headers(resp)
    parts = [p.strip() for p in cookies[0].split(";")]
    value = parts[0][len("sid="):]
    # <id>.<keynum>.<mac>: the MAC says which key of the chain made it (docs/sessions.md).
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}\.0\.[A-Za-z0-9_-]{43}", value), value
    attrs = {p.split("=")[0].lower(): (p.split("=", 1)[1] if "=" in p else True) for p in parts[1:]}
    assert attrs.get("httponly") is True
    assert attrs.get("samesite") == "Lax"
    assert attrs.get("path") == "/demo"
    assert "secure" not in attrs  # plain HTTP here
    assert "max-age" not in attrs and "expires" not in attrs  # a browser-session cookie


def test_session_id_rotated_at_login_no_fixation(demo):
    # The attacker gets a valid, signed session cookie of their own ...
    attacker = requests.Session()
    attacker.get(f"{demo.url}/demo/", timeout=5)
    planted = sid_of(attacker)
    assert planted
    # ... and plants it in the victim's browser, who then "logs in" (sets a name).
    victim = requests.Session()
    plant(victim, planted)
    resp = set_name(victim, demo.url, "Victim")
    assert "Welcome: <b>Victim</b>" in resp.text
    assert sid_of(victim) != planted
    # The planted id is worthless: it does not lead to the victim's session.
    after = attacker.get(f"{demo.url}/demo/", timeout=5)
    assert "Victim" not in after.text
    assert "Please enter your name" in after.text


def test_post_without_token_is_403_and_logged(demo):
    client = requests.Session()
    client.get(f"{demo.url}/demo/", timeout=5)
    resp = client.post(f"{demo.url}/demo/setname", data={"name": "Mallory"}, timeout=5,
                       allow_redirects=False)
    assert resp.status_code == 403
    assert "Welcome" not in client.get(f"{demo.url}/demo/", timeout=5).text
    lines = cef_lines(demo, "CSRFFail")
    assert lines, "no CSRFFail event in cef.log"
    assert "CEF:0|" in lines[-1]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_state_changing_methods_need_the_token(demo, method):
    client = requests.Session()
    token = token_of(client.get(f"{demo.url}/demo/", timeout=5).text)
    bad = client.request(method, f"{demo.url}/demo/setname", timeout=5, allow_redirects=False)
    assert bad.status_code == 403
    good = client.request(method, f"{demo.url}/demo/setname", headers={"X-CSRF-Token": token},
                          timeout=5, allow_redirects=False)
    # Past the CSRF check: the demo itself answers (303 for POST, 405 for the others).
    assert good.status_code == (303 if method == "POST" else 405)


def test_post_with_another_sessions_token_is_403(demo):
    mallory = requests.Session()
    mallory_token = token_of(mallory.get(f"{demo.url}/demo/", timeout=5).text)
    victim = requests.Session()
    victim.get(f"{demo.url}/demo/", timeout=5)
    resp = victim.post(f"{demo.url}/demo/setname",
                       data={"name": "Mallory", "csrftoken": mallory_token}, timeout=5,
                       allow_redirects=False)
    assert resp.status_code == 403
    resp = victim.post(f"{demo.url}/demo/setname", data={"name": "Mallory"},
                       headers={"X-CSRF-Token": mallory_token}, timeout=5, allow_redirects=False)
    assert resp.status_code == 403


def test_post_without_session_is_403(demo):
    resp = requests.post(f"{demo.url}/demo/setname", data={"name": "x", "csrftoken": "x" * 43},
                         timeout=5, allow_redirects=False)
    assert resp.status_code == 403


def test_post_with_right_token_in_header(demo):
    client = requests.Session()
    token = token_of(client.get(f"{demo.url}/demo/", timeout=5).text)
    resp = client.post(f"{demo.url}/demo/setname", data={"name": "Header"},
                       headers={"X-CSRF-Token": token}, timeout=5, allow_redirects=False)
    assert resp.status_code == 303
    assert "Welcome: <b>Header</b>" in client.get(f"{demo.url}/demo/", timeout=5).text


def test_tampered_cookie_is_a_new_session(demo):
    client = requests.Session()
    set_name(client, demo.url, "Tamper")
    good = sid_of(client)
    ident, signature = good.split(".", 1)
    forged = ident[:-1] + ("A" if ident[-1] != "A" else "B") + "." + signature
    other = requests.Session()
    plant(other, forged)
    page = other.get(f"{demo.url}/demo/", timeout=5)
    assert page.status_code == 200
    assert "Please enter your name" in page.text
    assert sid_of(other) != forged
    assert cef_lines(demo, "SessionTamper"), "no SessionTamper event in cef.log"
    # An unsigned cookie naming the real id is refused too.
    bare = requests.Session()
    plant(bare, ident)
    assert "Tamper" not in bare.get(f"{demo.url}/demo/", timeout=5).text


def test_logout_destroys_session(demo):
    client = requests.Session()
    set_name(client, demo.url, "Leaving")
    old = sid_of(client)
    token = token_of(client.get(f"{demo.url}/demo/", timeout=5).text)
    resp = client.post(f"{demo.url}/demo/logout", data={"csrftoken": token}, timeout=5,
                       allow_redirects=False)
    assert resp.status_code == 303
    assert any(c.startswith("sid=;") and "Max-Age=0" in c for c in set_cookie_headers(resp))
    replay = requests.Session()
    plant(replay, old)
    assert "Leaving" not in replay.get(f"{demo.url}/demo/", timeout=5).text


def test_idle_session_expires(berth_server):
    srv = berth_server(demo_config(timeout="1s"))
    client = requests.Session()
    assert "Welcome: <b>Brief</b>" in set_name(client, srv.url, "Brief").text
    time.sleep(1.6)
    page = client.get(f"{srv.url}/demo/", timeout=5)
    assert "Please enter your name" in page.text


def test_cookie_test_flow(berth_server):
    srv = berth_server(demo_config(cookie_test="yes"))
    # A browser that keeps cookies goes through /ctest and lands back where it started.
    client = requests.Session()
    resp = client.get(f"{srv.url}/demo/?x=1", timeout=5)
    assert resp.status_code == 200
    assert "Please enter your name" in resp.text
    hops = [r.headers["Location"] for r in resp.history]
    assert hops == ["/demo/ctest?return=%2Fdemo%2F%3Fx%3D1", "/demo/?x=1"]
    assert client.cookies.get("ctest") == "1"

    # One that drops cookies is told so, with a link back.
    first = requests.get(f"{srv.url}/demo/", timeout=5, allow_redirects=False)
    assert first.status_code == 303
    blocked = requests.get(f"{srv.url}{first.headers['Location']}", timeout=5,
                           allow_redirects=False)
    assert blocked.status_code == 200
    assert "Cookies are blocked" in blocked.text
    assert 'href="/demo/"' in blocked.text


@pytest.mark.parametrize("target", [
    "//evil.com/", "/\\evil.com", "http://evil.com/", "javascript:alert(1)",
    "%2F%2Fevil.com", "%252F%252Fevil.com", "/%5Cevil.com", "/%09/evil.com", "/other/",
    "/demo/../other"])
def test_cookie_test_refuses_open_redirect(berth_server_once, target):
    srv = berth_server_once
    encoded = requests.utils.quote(target, safe="")
    resp = requests.get(f"{srv.url}/demo/ctest?return={encoded}", cookies={"ctest": "1"},
                        timeout=5, allow_redirects=False)
    assert resp.status_code == 400
    assert "Location" not in resp.headers


@pytest.fixture(scope="module")
def berth_server_once(module_berth_server):
    return module_berth_server(demo_config(cookie_test="yes"))


def test_two_servers_share_one_sqlite_store(berth_server, tmp_path):
    store = f"sqlite:{tmp_path}/shared.db"
    a = berth_server(demo_config(store=store))
    b = berth_server(demo_config(store=store))
    client = requests.Session()
    assert "Welcome: <b>Shared</b>" in set_name(client, a.url, "Shared").text
    # The same cookie at the other server finds the same session (cookies are per host, not
    # per port, so the client sends it there as a browser would behind a load balancer).
    page = client.get(f"{b.url}/demo/", timeout=5)
    assert "Welcome: <b>Shared</b>" in page.text
    # And a form shown by B posts fine to A: same CSRF token.
    resp = client.post(f"{a.url}/demo/setname",
                       data={"name": "Moved", "csrftoken": token_of(page.text)}, timeout=5)
    assert "Welcome: <b>Moved</b>" in client.get(f"{b.url}/demo/", timeout=5).text
    assert resp.status_code == 200


def test_shipped_demo_config_checks_ok():
    r = run_cli("check", "-c", str(REPO_ROOT / "resources" / "sessions-demo.conf"))
    assert r.returncode == 0, r


def test_check_reports_session_config_errors(tmp_path):
    body = """
[sessions]
store = redis://localhost
cookie = bad name
secret = short

[routes:line]
/ = session

[app:session]
call = berth.session
"""
    path, text = write_conf(tmp_path, body)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    assert diagnostic_lines(r, path, line_of(text, "store = redis")) == [
        f"{path}:{line_of(text, 'store = redis')}: [sessions] store: 'redis://localhost' is not a "
        "store: use sqlite:FILE or postgresql://user@host:port/database"]
    assert any("[sessions] cookie: 'bad name' is not a cookie name" in l
               for l in diagnostic_lines(r, path, line_of(text, "cookie = bad")))
    assert any("[sessions] secret: too short" in l
               for l in diagnostic_lines(r, path, line_of(text, "secret = short")))


def test_check_requires_a_secret(tmp_path):
    body = """
[routes:line]
/ = session

[app:session]
call = berth.session
"""
    path, text = write_conf(tmp_path, body)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    lines = diagnostic_lines(r, path, line_of(text, "[app:session]"))
    assert any("[sessions] secret: required by [app:session] (berth.session)" in l for l in lines), r
