"""A recording HTTP/1.1 upstream member for the gateway tests (conformance/test_9x_proxy*.py).

Each Member listens on a free loopback port in a thread, keeps connections alive, records every
request it parsed (method, target, headers, body length) and answers by path:

  /...            200 "member=<name> path=<target>"
  /slow?ms=N      waits N ms first
  /big?n=N        N bytes of body with Content-Length (streamed in 64 KiB writes)
  /chunked?n=N    N bytes of body, chunked
  /die?n=N        announces 10 MB, sends N bytes, then closes the connection
  /hop            a response carrying hop-by-hop fields and one named by Connection
  /upload         reads the body (any framing), answers its length and sha256

MemberSet makes members for one test and closes them at its end (the `members` fixture of
conftest.py); group_config() is the smallest config that routes to a group [@g] of them.
Every member listens on a port of its own, so the tests stay safe to run in parallel.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import urllib.parse


class Member:
    def __init__(self, name: str, tls_context=None):
        self.name = name
        self.tls_context = tls_context  # an ssl.SSLContext: the member speaks HTTPS
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.connections = 0
        self.open_socks: list[socket.socket] = []
        self.sni: list = []
        self.health_status = 200  # what /health answers
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stops listening and drops every open connection (a member that went away)."""
        self._stop = True
        for s in [self.sock] + self.open_socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.open_socks.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            if self.tls_context is not None:
                conn = self.tls_context.wrap_socket(conn, server_side=True)
                self.sni.append(getattr(conn, "server_hostname", None))
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].decode("latin-1").split(" ", 2)
                headers = []
                for line in lines[1:]:
                    k, v = line.decode("latin-1").split(":", 1)
                    headers.append((k.strip(), v.strip()))
                hmap = {}
                for k, v in headers:
                    hmap.setdefault(k.lower(), v)
                sha = hashlib.sha256()
                size = 0
                if "chunked" in hmap.get("transfer-encoding", ""):
                    while True:
                        while b"\r\n" not in buf:
                            buf += conn.recv(65536)
                        line, buf = buf.split(b"\r\n", 1)
                        n = int(line.split(b";")[0], 16)
                        while len(buf) < n + 2:
                            data = conn.recv(1 << 20)
                            if not data:
                                return
                            buf += data
                        if n == 0:
                            buf = buf[2:]
                            break
                        sha.update(buf[:n])
                        size += n
                        buf = buf[n + 2:]
                elif "content-length" in hmap:
                    remaining = int(hmap["content-length"])
                    while remaining > 0:
                        if not buf:
                            buf = conn.recv(min(remaining, 1 << 20))
                            if not buf:
                                return
                        take = buf[:remaining]
                        sha.update(take)
                        size += len(take)
                        remaining -= len(take)
                        buf = buf[len(take):]
                record = {"method": method, "target": target, "headers": headers,
                          "raw": head, "body": size}
                with self.lock:
                    self.requests.append(record)
                if not self._respond(conn, method, target, hmap, size, sha.hexdigest()):
                    return
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _respond(self, conn, method, target, hmap, size, digest) -> bool:
        if hmap.get("upgrade", "").lower() == "websocket":
            # A WebSocket handshake, then a raw echo of every byte until the peer's end.
            import base64
            key = hmap.get("sec-websocket-key", "")
            accept = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            while True:
                data = conn.recv(65536)
                if not data:
                    return False
                conn.sendall(data)
        url = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if path.endswith("/slow"):
            time.sleep(int(q.get("ms", "1000")) / 1000)
        if path.endswith("/big") or path.endswith("/die"):
            n = int(q.get("n", "0"))
            announced = 10_000_000 if path.endswith("/die") else n
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % announced)
            if method == "HEAD":
                return True
            block = b"x" * 65536
            sent = 0
            while sent < n:
                piece = block[: min(65536, n - sent)]
                conn.sendall(piece)
                sent += len(piece)
            return not path.endswith("/die")
        if path.endswith("/chunked"):
            n = int(q.get("n", "0"))
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            sent = 0
            while sent < n:
                piece = min(10000, n - sent)
                conn.sendall(b"%x\r\n" % piece + b"y" * piece + b"\r\n")
                sent += piece
            conn.sendall(b"0\r\n\r\n")
            return True
        if path == "/health":
            status = self.health_status
            conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % status)
            return True
        if path.endswith("/upload"):
            body = f"{size} {digest}".encode()
        elif path.endswith("/hop"):
            body = b"hop"
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: X-Private\r\nX-Private: secret\r\n"
                         b"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n"
                         b"Upgrade: h2c\r\nX-Kept: yes\r\nContent-Length: 3\r\n\r\nhop")
            return True
        else:
            body = f"member={self.name} path={target}".encode()
        out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
        conn.sendall(out + (b"" if method == "HEAD" else body))
        return True


def dead_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class MemberSet:
    """The members of one test: members(2) -> [m0, m1], members("users") -> [users]; keyword
    arguments go to each member (tls_context=...). Closed together by close() or `with`.
    kind is the member class (anything with a name argument and close())."""

    def __init__(self, kind=Member):
        self.kind = kind
        self.made: list = []

    def __call__(self, *names, **kwargs) -> list:
        if len(names) == 1 and isinstance(names[0], int):
            names = tuple(f"m{len(self.made) + i}" for i in range(names[0]))
        out = [self.kind(name, **kwargs) for name in names]
        self.made.extend(out)
        return out

    def close(self) -> None:
        for m in self.made:
            m.close()

    def __enter__(self) -> "MemberSet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


STATS_APPS = """
[app:stats]
call = berth.stats

[app:metrics]
call = berth.metrics
"""


def group_config(members_line: str, extra: str = "", route: str = "/ = @g",
                 stats: bool = False) -> str:
    """[routes:line] with route (to @g by default) and [@g] with members_line and extra lines.
    stats=True also routes /stats and /metrics to berth.stats and berth.metrics."""
    routes = f"/stats = stats\n/metrics = metrics\n{route}" if stats else route
    return f"""
[routes:line]
{routes}
{STATS_APPS if stats else ""}
[@g]
members = {members_line}
{extra}
"""
