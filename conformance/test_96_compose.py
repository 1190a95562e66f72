"""Layer 96: subrequests and berth.compose — a backend for frontend as configuration
(docs/gateway.md, "Subrequests and berth.compose").

Real JSON members (below) record what reaches them and notice a connection closed while they
are still working on its request (what a cancelled call must do to them)."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
import urllib.parse

import pytest

import berth
from proxymember import MemberSet


class JsonMember:
    """A keep-alive HTTP/1.1 member answering JSON by path:

      /v1/users/X        {"id": "X", "member": NAME}
      /v1/orders?user=X  [{"user": X, "member": NAME}]
      /slow?ms=N         waits N ms (watching for the peer's close), then {"slow": true}
      /big?n=N           a JSON string of N bytes
      /text              "plain text" as text/plain
      /fail              500 {"error": "boom"}
    """

    def __init__(self, name: str):
        self.name = name
        self.requests: list[dict] = []
        self.closed_while_working = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        for s in [self.sock] + self.conns:
            try:
                s.close()
            except OSError:
                pass

    def targets(self) -> list[str]:
        with self.lock:
            return [r["target"] for r in self.requests]

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
                with self.lock:
                    self.requests.append({"method": method, "target": target,
                                          "headers": headers})
                if not self._respond(conn, target):
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _send(self, conn, status: int, body: bytes, ctype: str = "application/json") -> None:
        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                     % (status, ctype.encode(), len(body)) + body)

    def _respond(self, conn, target: str) -> bool:
        url = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if path == "/slow":
            # Waits, but notices the peer closing the connection (a cancelled call).
            end = time.monotonic() + int(q.get("ms", "1000")) / 1000
            while time.monotonic() < end:
                ready, _, _ = select.select([conn], [], [], max(0.0, end - time.monotonic()))
                if ready and conn.recv(1, socket.MSG_PEEK) == b"":
                    with self.lock:
                        self.closed_while_working += 1
                    return False
            self._send(conn, 200, b'{"slow": true}')
        elif path.startswith("/v1/users/"):
            self._send(conn, 200, json.dumps({"id": path[len("/v1/users/"):],
                                              "member": self.name}).encode())
        elif path == "/v1/orders":
            self._send(conn, 200, json.dumps([{"user": q.get("user"),
                                               "member": self.name}]).encode())
        elif path == "/big":
            self._send(conn, 200, json.dumps("x" * int(q.get("n", "10"))).encode())
        elif path == "/text":
            self._send(conn, 200, b"plain text", "text/plain")
        elif path == "/fail":
            self._send(conn, 500, b'{"error": "boom"}')
        else:
            self._send(conn, 404, b'{"error": "no such path"}')
        return True


@pytest.fixture
def members():
    """JSON members instead of conftest's recording ones: members("users", "orders")."""
    with MemberSet(JsonMember) as made:
        yield made


def compose_config(users: JsonMember, orders: JsonMember, calls: str, extra: str = "") -> str:
    return f"""
[routes:line]
/bff = bff
/stats = stats

[app:bff]
call = berth.compose
{calls}
{extra}

[app:stats]
call = berth.stats

[@users]
members = {users.addr}

[@orders]
members = {orders.addr}
"""


def get_json(srv, target: str, timeout: float = 5.0):
    resp = srv.request("GET", target, timeout=timeout)
    assert resp.status == 200, resp
    assert resp.header("Content-Type") == "application/json"
    return resp, json.loads(resp.body)


def test_two_members_and_a_local_route_combined(berth_server, members):
    users, orders = members("u", "o")
    srv = berth_server(compose_config(users, orders, """
call_user = @users /v1/users/{user}
call_orders = @orders /v1/orders?user={user}
call_stats = /stats
call_text = @users /text
call_failing = @users /fail
"""))
    resp, doc = get_json(srv, "/bff?user=7")
    assert doc["user"] == {"id": "7", "member": "u"}
    assert doc["orders"] == [{"user": "7", "member": "o"}]
    assert isinstance(doc["stats"], dict)  # the local pipeline's berth.stats
    assert doc["text"] == "plain text"  # not JSON: embedded as a string
    assert doc["failing"] is None
    calls = doc["_calls"]
    assert calls["failing"]["error"] == "status 500"
    for name in ("user", "orders", "stats", "text"):
        assert calls[name]["status"] == 200 and "error" not in calls[name], calls
        assert calls[name]["ms"] >= 0
    # Each call carries the client's txn id with its own suffix.
    txn = resp.header("X-Berth-Txn")
    with users.lock:
        sent = [dict(r["headers"]).get("X-Berth-Txn") for r in users.requests]
    assert txn and all(s and s.startswith(txn + "-") for s in sent), (txn, sent)
    assert len(set(sent)) == len(sent)


def test_slow_call_times_out_as_null_and_its_connection_is_closed(berth_server, members):
    users, orders = members("u", "o")
    srv = berth_server(compose_config(users, orders, """
call_slow = @users /slow?ms=4000
call_fast = @orders /v1/orders?user=1
""", "timeout = 300ms"))
    started = time.monotonic()
    _, doc = get_json(srv, "/bff")
    assert time.monotonic() - started < 2.0
    assert doc["slow"] is None and doc["_calls"]["slow"]["error"] == "timeout"
    assert doc["fast"] == [{"user": "1", "member": "o"}]
    # The member sees its connection closed, not a request left hanging for 4 s.
    assert berth.wait_until(lambda: users.closed_while_working == 1, 2.5)


def test_deadline_answers_with_what_finished(berth_server, members):
    users, orders = members("u", "o")
    srv = berth_server(compose_config(users, orders, """
call_a = @users /slow?ms=4000
call_b = @orders /slow?ms=4000
call_c = @orders /v1/orders?user=2
""", "timeout = 10s\ndeadline = 400ms"))
    started = time.monotonic()
    _, doc = get_json(srv, "/bff")
    assert time.monotonic() - started < 2.0
    assert doc["a"] is None and doc["b"] is None
    assert doc["_calls"]["a"]["error"] == doc["_calls"]["b"]["error"] == "deadline"
    assert doc["c"] == [{"user": "2", "member": "o"}]


def test_client_leaving_mid_compose_closes_member_connections(berth_server, members):
    users, orders = members("u", "o")
    srv = berth_server(compose_config(users, orders, """
call_a = @users /slow?ms=5000
call_b = @orders /slow?ms=5000
""", "timeout = 20s"))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(berth.build_request("GET", "/bff"))
        assert berth.wait_until(lambda: len(users.targets()) == 1 and len(orders.targets()) == 1,
                                3)
        # A reset, not a half-close (after which HTTP/1.1 still owes the response).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    # The client is gone: both members see their connection closed well before 5 s.
    assert berth.wait_until(
        lambda: users.closed_while_working == 1 and orders.closed_while_working == 1, 3)
    srv.assert_serving()


def test_body_over_max_body_is_null(berth_server, members):
    users, orders = members("u", "o")
    srv = berth_server(compose_config(users, orders, """
call_big = @users /big?n=5000
call_small = @orders /big?n=10
""", "max_body = 1K"))
    _, doc = get_json(srv, "/bff")
    assert doc["big"] is None and doc["_calls"]["big"]["error"] == "body_too_large"
    assert doc["small"] == "x" * 10


def test_placeholders_are_encoded_and_hostile_values_refused(berth_server, members):
    users, orders = members("u", "o")
    srv = berth_server(compose_config(users, orders, """
call_user = @users /v1/users/{user}
call_orders = @orders /v1/orders?user={user}
call_seg = @users /v1/users/{1}
"""))
    hostile = "a b\r\nX-Evil: 1&admin=1"
    _, doc = get_json(srv, "/bff/seg%20one?user=" + urllib.parse.quote(hostile))
    # Spaces, CR LF, ':' and '&' reach the members percent-encoded: one line, one parameter.
    assert doc["user"] is not None, doc
    assert doc["user"]["id"] == urllib.parse.quote(hostile, safe="")
    assert doc["orders"] == [{"user": hostile, "member": "o"}]
    assert doc["seg"]["id"] == "seg%20one"
    with users.lock:
        assert not any(k.lower() == "x-evil" for r in users.requests for k, _ in r["headers"])
    # In a path, a value that climbs ("..", "../admin") is refused: nothing is sent.
    before = len(users.targets())
    for value in ("..", "../admin"):
        _, doc = get_json(srv, "/bff/x?user=" + urllib.parse.quote(value))
        assert doc["user"] is None
        assert doc["_calls"]["user"]["error"] == "bad value for {user}"
        assert doc["orders"][0]["user"] == value  # a query value may hold anything
    assert len(users.targets()) == before + 2  # only the {1} calls went out
    # A missing value fails its own call only.
    _, doc = get_json(srv, "/bff")
    assert doc["user"] is None and doc["_calls"]["user"]["error"] == "no value for {user}"
    assert doc["seg"] is None and doc["_calls"]["seg"]["error"] == "no value for {1}"


def test_bad_call_lines_stop_the_server(berth_server, members):
    users, orders = members("u", "o")
    with pytest.raises(berth.ServerStartError) as failed:
        berth_server(compose_config(users, orders, "call_x = @nowhere /a\ncall_y = GET"))
    text = str(failed.value)
    assert "[app:bff] call_x: no [@nowhere] section" in text, text
    assert "[app:bff] call_y: expected [METHOD] [@group] /path" in text, text


def test_authenticated_user_and_cookies_are_passed_on(berth_server, members):
    from test_62_basic_auth import basic, bcrypt_hash
    users, orders = members("u", "o")
    config = compose_config(users, orders, """
call_me = @users /v1/users/{user}
call_clean = @orders /v1/orders?user={user}
""").replace("/bff = bff", "/bff = auth bff") + f"""
[app:auth]
call = berth.basic_auth
auth_path = {{tmp}}/users
allow_insecure = yes
"""
    srv = berth_server(config, files={"users": f"alice {bcrypt_hash('secret')}\n"})
    resp = srv.request("GET", "/bff?user=bob", headers=[basic("alice", "secret"),
                                                        ("Cookie", "sid=s1")])
    assert resp.status == 200, resp
    doc = json.loads(resp.body)
    # The authenticated user wins over the query: a client can't ask for someone else's data.
    assert doc["me"]["id"] == "alice"
    assert doc["clean"][0]["user"] == "alice"
    with users.lock:
        headers = dict(users.requests[-1]["headers"])
    assert headers.get("Cookie") == "sid=s1"
    assert headers.get("Authorization", "").startswith("Basic ")
    assert headers.get("X-Forwarded-For") == "127.0.0.1"
