"""Helpers for the admin API tests (test_94_admin*.py, test_95_admin_config.py): a server with
[admin] on a free port, a tiny JSON client with a bearer token, a Server-Sent Events reader."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path

import berth

ADMIN_TOKEN = "admintoken-0123456789abcdef"
READ_TOKEN = "readtoken-0123456789abcdef"


def config(admin_port: int, extra: str = "", workers: int = 1, routes: str = "") -> str:
    return f"""
[server]
workers = {workers}
graceful_timeout = 2s
pid_file = {{tmp}}/berthd.pid

[routes:line]
/hb = hb
/stats = stats
{routes}
[app:hb]
call = berth.heartbeat

[app:stats]
call = berth.stats

[admin]
enabled = yes
port = {admin_port}
token_file = {{tmp}}/admin.tokens
{extra}
"""


def start(factory, extra: str = "", tokens: bool = True, workers: int = 1, env=None,
          routes: str = ""):
    """A server with the admin API on its own free port; with tokens, a token file holding an
    admin token (label "ops") and a read token (label "viewer") is written first."""
    port = berth.free_port()
    files = ({"admin.tokens": f"{ADMIN_TOKEN} admin ops\n{READ_TOKEN} read viewer\n"}
             if tokens else None)
    srv = factory(config(port, extra=extra, workers=workers, routes=routes), files=files, env=env)
    srv.admin_port = port
    assert berth.wait_until(lambda: _can_connect(port), 10), srv.describe()
    return srv


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection((berth.HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:500]!r}>"


def call(srv, method: str, path: str, body=None, token: str | None = ADMIN_TOKEN,
         headers: dict[str, str] | None = None, timeout: float = 30) -> Answer:
    conn = http.client.HTTPConnection(berth.HOST, srv.admin_port, timeout=timeout)
    h = {"Host": f"{berth.HOST}:{srv.admin_port}"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    try:
        conn.request(method, "/api/v1" + path, body=body, headers=h)
        r = conn.getresponse()
        return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


class EventStream:
    """Reads Server-Sent Events from an admin endpoint (HTTP/1.0: the body is not chunked)."""

    def __init__(self, srv, path: str, token: str = READ_TOKEN, last_event_id: str | None = None):
        self.sock = socket.create_connection((berth.HOST, srv.admin_port), timeout=5)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self.sock.sendall((f"GET /api/v1{path} HTTP/1.0\r\nHost: {berth.HOST}\r\n"
                           f"Authorization: Bearer {token}\r\n{extra}\r\n").encode())
        self.buf = b""
        self.head = None

    def events(self, duration: float, until=None) -> list[dict]:
        """Events received within duration seconds (stops early once until(events) is true)."""
        out: list[dict] = []
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            self.buf += data
            if self.head is None and b"\r\n\r\n" in self.buf:
                self.head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            if self.head is None:
                continue
            text = self.buf.decode(errors="replace")
            while "\n\n" in text:
                block, text = text.split("\n\n", 1)
                event = {"data": [], "id": None, "event": "message"}
                for line in block.replace("\r", "").split("\n"):
                    if line.startswith("data: "):
                        event["data"].append(line[6:])
                    elif line.startswith("id: "):
                        event["id"] = line[4:]
                    elif line.startswith("event: "):
                        event["event"] = line[7:]
                if event["data"]:
                    event["data"] = "\n".join(event["data"])
                    out.append(event)
            self.buf = text.encode()
            if until and until(out):
                break
        return out

    def close(self):
        self.sock.close()
