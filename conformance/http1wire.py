"""HTTP/1.1 on the wire for the conformance suite: build exact requests, parse what comes back
(status line, headers, body by Content-Length, chunked or close; several pipelined responses from
one buffer) and talk over a raw socket (``RawConn``, ``raw()``). No server knowledge here:
``berth`` starts the servers and re-exports these names."""

from __future__ import annotations

import errno
import re
import select
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

HOST = "127.0.0.1"

def build_request(method: str = "GET", target: str = "/", *, host: str | None = "a",
                  headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                  version: str = "HTTP/1.1", content_length: bool | None = None) -> bytes:
    """A well-formed request. Content-Length is added when there is a body (unless the headers
    already frame it or ``content_length`` is False)."""
    hdrs = list(headers)
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    framed = any(k.lower() in ("content-length", "transfer-encoding") for k, _ in hdrs)
    if content_length is None:
        content_length = bool(body) and not framed
    if content_length:
        hdrs.append(("Content-Length", str(len(body))))
    lines += [f"{k}: {v}" for k, v in hdrs]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*pieces: bytes, trailers: bytes = b"") -> bytes:
    """Encode pieces as a chunked body (a zero-size last chunk and optional trailer lines)."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n" + trailers + b"\r\n"


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""
    chunked: bool = False
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None

    def connection_tokens(self) -> set[str]:
        return {t.strip().lower() for v in self.header_all("connection") for t in v.split(",")}

    def __repr__(self) -> str:
        body = self.body[:200]
        return (f"<Response {self.version} {self.status} {self.reason!r} "
                f"headers={self.headers!r} body[:200]={body!r} len={len(self.body)}>")


class ProtocolError(AssertionError):
    """The server sent something that is not a valid HTTP/1.x response."""


class NoResponse(AssertionError):
    """No (complete) response arrived: the connection closed or the wait timed out."""

    def __init__(self, reason: str, partial: bytes = b""):
        super().__init__(f"no complete response ({reason}); received {partial[:300]!r}")
        self.reason = reason
        self.partial = partial


_STATUS_RE = re.compile(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$")


def _no_body(method: str | None, status: int) -> bool:
    return (method or "").upper() == "HEAD" or 100 <= status < 200 or status in (204, 304)


def parse_response(buf: bytes, method: str | None = "GET",
                   eof: bool = False) -> tuple[Response | None, int]:
    """Parse one response from the start of buf. Returns (response, bytes consumed), or
    (None, 0) when more data is needed. ``eof`` says the peer closed (ends a close-delimited
    body). Raises ProtocolError on garbage."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 1 << 20:
            raise ProtocolError(f"response head over 1 MiB: {buf[:200]!r}")
        return None, 0
    head = buf[:end]
    lines = head.split(b"\r\n")
    m = _STATUS_RE.match(lines[0])
    if not m:
        raise ProtocolError(f"bad status line {lines[0][:200]!r}")
    headers = []
    for line in lines[1:]:
        if b":" not in line:
            raise ProtocolError(f"bad response header line {line!r}")
        k, v = line.split(b":", 1)
        headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
    resp = Response(version=m.group(1).decode(), status=int(m.group(2)),
                    reason=(m.group(3) or b"").decode("latin-1"), headers=headers,
                    raw_head=buf[:end + 4])
    pos = end + 4
    if _no_body(method, resp.status):
        return resp, pos
    te = resp.header("transfer-encoding")
    if te is not None and "chunked" in te.lower():
        resp.chunked = True
        body = bytearray()
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None, 0
            size_text = buf[pos:eol].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size in response: {buf[pos:eol][:100]!r}")
            pos = eol + 2
            if size == 0:
                # trailers until an empty line
                while True:
                    eol = buf.find(b"\r\n", pos)
                    if eol < 0:
                        return None, 0
                    line = buf[pos:eol]
                    pos = eol + 2
                    if not line:
                        resp.body = bytes(body)
                        return resp, pos
                    k, _, v = line.partition(b":")
                    resp.trailers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
            if len(buf) < pos + size + 2:
                return None, 0
            body += buf[pos:pos + size]
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise ProtocolError("chunk data not followed by CRLF in response")
            pos += size + 2
    cl = resp.header_all("content-length")
    if cl:
        if len(set(cl)) != 1 or not cl[0].isdigit():
            raise ProtocolError(f"bad Content-Length in response: {cl!r}")
        n = int(cl[0])
        if len(buf) < pos + n:
            return None, 0
        resp.body = buf[pos:pos + n]
        return resp, pos + n
    if not eof:
        return None, 0
    resp.body = buf[pos:]
    return resp, len(buf)


def parse_responses(buf: bytes, methods: Sequence[str] | str = "GET",
                    eof: bool = True) -> tuple[list[Response], bytes]:
    """Every complete response in buf (pipelined), plus the unparsed rest."""
    out = []
    i = 0
    while buf:
        method = methods if isinstance(methods, str) else (
            methods[i] if i < len(methods) else "GET")
        resp, used = parse_response(buf, method, eof=eof)
        if resp is None:
            break
        out.append(resp)
        buf = buf[used:]
        i += 1
    return out, buf


class RawConn:
    """A client socket with a receive buffer. All waits are bounded by ``timeout``."""

    def __init__(self, port: int, timeout: float = 3.0, host: str = HOST,
                 rcvbuf: int | None = None, tls: bool = False,
                 alpn: Sequence[str] = ("http/1.1",)):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        if tls:  # HTTPS/1.1 for the per-transport tests: certificate checks off
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(list(alpn))
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.eof = False
        self.reset = False
        self.send_error: OSError | None = None

    # context manager
    def __enter__(self) -> "RawConn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, data: bytes) -> bool:
        """sendall; a peer that already closed is recorded (send_error), not raised."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout) as e:
            self.send_error = e
            return False

    def shutdown_write(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _fill(self, deadline: float) -> bool:
        """Read once more into buf. False on EOF/reset or when the deadline passed."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
            if not pending:
                r, _, _ = select.select([self.sock], [], [], remaining)
                if not r:
                    return False
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            self.eof = self.reset = True
            return False
        except socket.timeout:
            return False
        except OSError as e:
            if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
                self.eof = self.reset = True
                return False
            raise
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def recv_response(self, method: str = "GET", timeout: float | None = None) -> Response:
        """The next response (1xx interim responses included) or NoResponse."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            resp, used = parse_response(self.buf, method, eof=self.eof)
            if resp is not None:
                self.buf = self.buf[used:]
                return resp
            if self.eof:
                raise NoResponse("connection closed" + (" (reset)" if self.reset else ""),
                                 self.buf)
            if not self._fill(deadline) and not self.eof and time.monotonic() >= deadline:
                raise NoResponse("timed out", self.buf)

    def recv_final(self, method: str = "GET", timeout: float | None = None) -> Response:
        """The next final (non-1xx) response, skipping interim ones."""
        while True:
            resp = self.recv_response(method, timeout)
            if resp.status >= 200:
                return resp

    def roundtrip(self, data: bytes, method: str = "GET", timeout: float | None = None) -> Response:
        self.send(data)
        return self.recv_final(method, timeout)

    def read_until_close(self, timeout: float | None = None) -> bytes:
        """Everything until EOF or timeout (check .eof to know which). Consumes buf."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._fill(deadline):
            pass
        data, self.buf = self.buf, b""
        return data

    def is_closed(self, timeout: float = 2.0) -> bool:
        """True when the server closes (EOF or reset) within timeout. Bytes that arrive meanwhile
        stay in ``buf`` for the caller to inspect."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._fill(deadline)
        return self.eof

    def is_open(self, timeout: float = 0.3) -> bool:
        """True when nothing closes the connection for ``timeout`` seconds."""
        return not self.is_closed(timeout)


def raw(port: int, data: bytes, timeout: float = 3.0, shutdown: bool = False) -> bytes:
    """Send bytes on a fresh connection and return everything read until the server closes
    or ``timeout`` passes."""
    with RawConn(port, timeout=timeout) as c:
        c.send(data)
        if shutdown:
            c.shutdown_write()
        return c.read_until_close(timeout)
