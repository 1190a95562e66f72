"""Layer 96: rate limits (docs/gateway.md, "Rate limits") — berth.rate_limit in a pipeline and
`rate` on a member group: GCRA per key shared by every worker, 429 with Retry-After and the
RateLimit-* headers, keys by address, header and user, and `berthd check` at file:line."""

from __future__ import annotations

import base64
import concurrent.futures
import ctypes
import ctypes.util
import re
import socket
import time

import pytest

import berth
from berth import diagnostic_lines, line_of, run_cli, write_conf
from proxymember import group_config


def get(srv, path: str, headers=()):
    return srv.request("GET", path, headers=list(headers))


def test_429_with_headers_and_retry_after(berth_server):
    srv = berth_server("""
[routes:line]
/api = limit echo

[app:limit]
call = berth.rate_limit
rate = 2/m burst=3

[app:echo]
call = berth.echo
""")
    first = get(srv, "/api/x")
    assert first.status == 200, first
    assert first.header("RateLimit-Limit") == "3"
    assert first.header("RateLimit-Remaining") == "2"
    assert int(first.header("RateLimit-Reset")) >= 1
    assert [get(srv, "/api/x").status for _ in range(2)] == [200, 200]
    over = get(srv, "/api/x")
    assert over.status == 429, over
    assert over.header("RateLimit-Remaining") == "0"
    # 2/m: one request every 30 s.
    assert 1 <= int(over.header("Retry-After")) <= 30
    # Counted in berth.stats-style stats and one CEF event for the key, not one per denial.
    assert get(srv, "/api/x").status == 429
    assert berth.wait_until(lambda: "RateLimited" in _cef(srv))
    time.sleep(0.2)
    assert _cef(srv).count("RateLimited") == 1, _cef(srv)


def _cef(srv) -> str:
    try:
        return srv.log_path("cef.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def test_header_key_separates_clients(berth_server):
    srv = berth_server("""
[routes:line]
/api = limit echo

[app:limit]
call = berth.rate_limit
rate = 1/h burst=2
rate_key = header:X-Api-Key

[app:echo]
call = berth.echo
""")
    a = [get(srv, "/api", [("X-Api-Key", "a")]).status for _ in range(3)]
    b = [get(srv, "/api", [("X-Api-Key", "b")]).status for _ in range(3)]
    assert a == [200, 200, 429]
    assert b == [200, 200, 429]


# bcrypt through libcrypt, as test_62_basic_auth does.
_LIBCRYPT = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_LIBCRYPT.crypt_gensalt.restype = ctypes.c_char_p
_LIBCRYPT.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
_LIBCRYPT.crypt.restype = ctypes.c_char_p
_LIBCRYPT.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def _bcrypt(password: str) -> str:
    return _LIBCRYPT.crypt(password.encode(), _LIBCRYPT.crypt_gensalt(b"$2b$", 4, None, 0)).decode()


def _basic(user: str, password: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


def test_user_key_after_basic_auth(berth_server):
    users = f"alice {_bcrypt('a')}\nbob {_bcrypt('b')}\n"
    srv = berth_server("""
[routes:line]
/api = auth limit echo

[app:auth]
call = berth.basic_auth
auth_path = {tmp}/users
allow_insecure = yes

[app:limit]
call = berth.rate_limit
rate = 1/h burst=1
rate_key = user

[app:echo]
call = berth.echo
""", files={"users": users})
    assert get(srv, "/api", [_basic("alice", "a")]).status == 200
    assert get(srv, "/api", [_basic("alice", "a")]).status == 429
    assert get(srv, "/api", [_basic("bob", "b")]).status == 200


def test_shared_by_every_worker(berth_server):
    """Two workers, many connections: over the whole server at most rate + burst in a second."""
    srv = berth_server("""
[server]
workers = 2

[routes:line]
/metrics = metrics
/api = limit echo

[app:limit]
call = berth.rate_limit
rate = 20/s burst=10

[app:echo]
call = berth.echo

[app:metrics]
call = berth.metrics
""")

    def one(_):
        return get(srv, "/api").status

    statuses: list[int] = []
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        # At least a second, and until the limit was hit (a loaded machine may be slow).
        while time.monotonic() - start < 1.0 or (429 not in statuses and
                                                 time.monotonic() - start < 5.0):
            statuses += list(pool.map(one, range(32)))
    elapsed = time.monotonic() - start
    ok = statuses.count(200)
    assert 429 in statuses, statuses
    assert set(statuses) <= {200, 429}
    # burst + rate x elapsed, plus one for rounding: never burst x workers.
    assert 10 <= ok <= 10 + 20 * elapsed + 2, (ok, elapsed, len(statuses))
    # Both workers took requests (one connection per request), and their counts add up.
    metrics = get(srv, "/metrics").body.decode()
    per_worker = re.findall(r'berth_worker_app_stat_total\{worker="(\d+)",name="rl:limit:'
                            r'(?:allowed|limited)"\} (\d+)', metrics)
    busy = {w for w, n in per_worker if int(n) > 0}
    assert len(busy) == 2, per_worker
    assert sum(int(n) for _, n in per_worker) == len(statuses), per_worker


def test_group_rate_on_proxied_requests(berth_server, members):
    (member,) = members(1)
    srv = berth_server(group_config(member.addr, "rate = 1/m burst=2", stats=True))
    first = get(srv, "/x")
    assert first.status == 200 and first.body.decode().startswith("member=m0"), first
    # The headers reach the client with the member's response.
    assert first.header("RateLimit-Remaining") == "1", first
    statuses = [get(srv, "/x").status for _ in range(3)]
    assert statuses == [200, 429, 429]
    # The refused requests never reached the member.
    assert member.count() == 2
    metrics = get(srv, "/metrics").body.decode()
    assert 'name="rl:@g:limited"} 2' in metrics, metrics
    assert 'name="rl:@g:allowed"} 2' in metrics, metrics


def test_api_gateway_rate_applies_to_groups_without_their_own(berth_server, members):
    (member,) = members(1)
    srv = berth_server(f"""
[routes:line]
/a = @a
/b = @b

[api-gateway]
rate = 1/h burst=1

[@a]
members = {member.addr}

[@b]
members = {member.addr}
rate = 1/h burst=2
""")
    assert [get(srv, "/a").status for _ in range(2)] == [200, 429]
    assert [get(srv, "/b").status for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("value, message", [
    ("rate = 100/d", 'rate "100/d": expected N/s, N/m or N/h'),
    ("rate = 10/s\nrate_key = cookie", 'rate_key "cookie": expected ip, user, token or header'),
])
def test_check_reports_bad_values_at_file_and_line(tmp_path, value, message):
    path, text = write_conf(tmp_path, f"""
[routes:line]
/api = limit echo

[app:limit]
call = berth.rate_limit
{value}

[app:echo]
call = berth.echo
""")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    key = value.splitlines()[-1].split("=")[0].strip() + " ="
    lines = diagnostic_lines(r, path, line_of(text, key))
    assert any(message in l for l in lines), r


def test_max_connections_per_ip(berth_server):
    srv = berth_server("""
[limits]
max_connections_per_ip = 2

[routes:line]
/metrics = metrics
/ = echo

[app:metrics]
call = berth.metrics

[app:echo]
call = berth.echo
""")
    held = [socket.create_connection((berth.HOST, srv.port), timeout=3) for _ in range(2)]
    try:
        # Both held connections are served.
        for s in held:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200"), "held connection not served"
        with socket.create_connection((berth.HOST, srv.port), timeout=3) as third:
            data = b""
            while chunk := third.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.1 503"), data
        # Refused again: counted, but logged once per address and minute.
        with socket.create_connection((berth.HOST, srv.port), timeout=3) as fourth:
            assert fourth.recv(4096).startswith(b"HTTP/1.1 503")
        held.pop().close()
        # The freed unit is given back once the server has seen the close; a try before that
        # is refused (and counted) too.
        refused = [2]

        def served() -> bool:
            status = srv.request("GET", "/").status
            refused[0] += status == 503
            return status == 200

        assert berth.wait_until(served)
    finally:
        for s in held:
            s.close()
    assert berth.wait_until(lambda: "max_connections_per_ip (2) reached" in srv.server_log())
    assert srv.server_log().count("max_connections_per_ip (2) reached") == 1
    metrics = get(srv, "/metrics").body.decode()
    assert f'name="connections_refused_per_ip"}} {refused[0]}' in metrics, refused
