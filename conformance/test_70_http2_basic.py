"""Layer 70: HTTP/2 end to end — curl over h2c (prior knowledge and Upgrade) and over TLS (ALPN),
static files and 5 MB echo both ways, request.log's HTTP/2.0, the [http2] switches, per-protocol
stats, and a few frame-level cases with python3-h2 (limits per stream, a malformed stream that
leaves the connection serving, a flood answered with GOAWAY ENHANCE_YOUR_CALM, the drain's
GOAWAY). The frame-level suite proper is test_71 onwards."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import berth

h2 = pytest.importorskip("h2")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.errors  # noqa: E402
import h2.events  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("curl") is None or shutil.which("openssl") is None,
                                reason="curl or openssl missing")

BIG = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("h2site")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out",
                    "cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    (d / "www").mkdir()
    (d / "www" / "index.html").write_text("hello h2\n")
    (d / "www" / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (d / "upload.bin").write_bytes(os.urandom(BIG))
    return d


def config(site: Path, http2: str = "", tls: bool = False) -> str:
    tls_section = f"""
[tls]
enabled = yes
cert = {site}/cert.pem
key = {site}/key.pem
""" if tls else ""
    return f"""
[server]
graceful_timeout = 2s

[limits]
max_uri_bytes = 1K
max_body_bytes = 8M
{tls_section}
[http2]
{http2}

[routes:line]
/ = {site}/www
/echo = echo
/stats = stats
/small = small

[app:echo]
call = berth.echo
max_echo = 8M

[app:small]
call = berth.echo
max_body_bytes = 1K

[app:stats]
call = berth.stats
"""


@pytest.fixture(scope="module")
def h2c(module_berth_server, site):
    return module_berth_server(config(site))


@pytest.fixture(scope="module")
def h2tls(module_berth_server, site):
    return module_berth_server(config(site, tls=True))


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", str(int(timeout)), *args],
                          capture_output=True, timeout=timeout + 5)


def switched(verbose: bytes) -> bool:
    """curl -v saw a 101 status line (not merely "101" in a port number or a size)."""
    return re.search(rb"^< HTTP/1\.1 101 ", verbose, re.M) is not None


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class H2Client:
    """A python3-h2 client on a plain socket: sends what a test says, collects events."""

    def __init__(self, port: int, settings: dict | None = None):
        self.sock = socket.create_connection((berth.HOST, port), timeout=5)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                      validate_outbound_headers=False,
                                      normalize_outbound_headers=False))
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.events: list = []
        self.closed = False

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path: str, method: str = "GET", extra=(), end_stream: bool = True) -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", method), (":path", path), (":scheme", "http"),
                   (":authority", "localhost"), *extra]
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.flush()
        return sid

    def pump(self, until, timeout: float = 5.0) -> None:
        """Reads until until(events) is true, the connection ends, or the timeout."""
        deadline = time.monotonic() + timeout
        while not until(self.events) and not self.closed and time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            try:
                self.events.extend(self.conn.receive_data(data))
            except h2.exceptions.ProtocolError:
                self.closed = True
                break
            for e in self.events:
                if isinstance(e, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            self.flush()

    def response(self, sid: int, timeout: float = 5.0) -> tuple[int | None, bytes, bool]:
        """(status, body, reset) of stream sid."""
        def done(events):
            return any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                       and e.stream_id == sid for e in events)
        self.pump(done, timeout)
        status, body, reset = None, b"", False
        for e in self.events:
            if getattr(e, "stream_id", None) != sid:
                continue
            if isinstance(e, h2.events.ResponseReceived):
                status = int(dict(e.headers)[":status"])
            elif isinstance(e, h2.events.DataReceived):
                body += e.data
            elif isinstance(e, h2.events.StreamReset):
                reset = True
        return status, body, reset

    def goaway(self, timeout: float = 5.0):
        self.pump(lambda ev: any(isinstance(e, h2.events.ConnectionTerminated) for e in ev),
                  timeout)
        for e in self.events:
            if isinstance(e, h2.events.ConnectionTerminated):
                return e
        return None

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------------------------
# End to end with curl


def test_get_static_over_h2c_prior_knowledge(h2c, site):
    r = curl("--http2-prior-knowledge", "-w", "\n%{http_version}", f"{h2c.url}/index.html")
    assert r.returncode == 0, r.stderr
    body, version = r.stdout.rsplit(b"\n", 1)
    assert body == b"hello h2\n" and version == b"2"
    lines = h2c.request_log_lines("GET /index.html HTTP/2.0 200")
    assert lines, h2c.request_log_lines()


def test_get_big_file_over_h2c(h2c, site):
    r = curl("--http2-prior-knowledge", f"{h2c.url}/big.bin")
    assert r.returncode == 0, r.stderr
    assert md5(r.stdout) == md5((site / "www" / "big.bin").read_bytes())


def test_h2c_upgrade_from_http11(h2c):
    r = curl("--http2", "-v", f"{h2c.url}/index.html")
    assert r.returncode == 0, r.stderr
    assert switched(r.stderr), r.stderr
    assert b"HTTP/2 200" in r.stderr
    assert r.stdout == b"hello h2\n"


def test_upgrade_with_a_body_stays_http11(h2c):
    r = curl("--http2", "-v", "--data-binary", "abc", "-H", "Content-Type: text/plain",
             f"{h2c.url}/echo")
    assert r.returncode == 0, r.stderr
    assert not switched(r.stderr) and r.stdout == b"abc"


@pytest.mark.parametrize("transport", ["h2c", "tls"])
def test_post_echo_5mb_both_ways(transport, h2c, h2tls, site):
    upload = site / "upload.bin"
    if transport == "h2c":
        r = curl("--http2-prior-knowledge", "--data-binary", f"@{upload}", "-H",
                 "Content-Type: application/octet-stream", f"{h2c.url}/echo")
    else:
        r = curl("--http2", "--cacert", f"{site}/cert.pem", "--data-binary", f"@{upload}",
                 "-H", "Content-Type: application/octet-stream", "-w", "%{http_version}",
                 "--resolve", f"localhost:{h2tls.port}:127.0.0.1",
                 f"https://localhost:{h2tls.port}/echo")
        assert r.stdout.endswith(b"2")
        r = subprocess.CompletedProcess(r.args, r.returncode, r.stdout[:-1], r.stderr)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == BIG and md5(r.stdout) == md5(upload.read_bytes())
    srv = h2c if transport == "h2c" else h2tls
    assert srv.request_log_lines("POST /echo HTTP/2.0 200")


def test_tls_alpn_offers_h2_first(h2tls, site):
    ctx = ssl.create_default_context(cafile=str(site / "cert.pem"))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((berth.HOST, h2tls.port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
    r = curl("--http2", "--cacert", f"{site}/cert.pem", "-w", "%{http_version}", "-o",
             os.devnull, "--resolve", f"localhost:{h2tls.port}:127.0.0.1",
             f"https://localhost:{h2tls.port}/big.bin")
    assert r.returncode == 0 and r.stdout == b"2", r.stderr


def test_http2_disabled(berth_server, site):
    srv = berth_server(config(site, http2="enabled = no", tls=True))
    ctx = ssl.create_default_context(cafile=str(site / "cert.pem"))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((berth.HOST, srv.port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"


def test_h2c_off_serves_http11_only(berth_server, site):
    srv = berth_server(config(site, http2="h2c = no"))
    r = curl("--http2", "-v", f"{srv.url}/index.html")
    assert r.returncode == 0, r.stderr
    assert not switched(r.stderr) and r.stdout == b"hello h2\n"
    r = curl("--http2-prior-knowledge", f"{srv.url}/index.html", timeout=5)
    assert r.returncode != 0


def test_stats_count_protocols(h2c):
    assert curl("--http2-prior-knowledge", f"{h2c.url}/index.html").returncode == 0
    assert curl("--http1.1", f"{h2c.url}/index.html").returncode == 0
    r = curl("--http2-prior-knowledge", f"{h2c.url}/stats")
    stats = json.loads(r.stdout)
    p = stats["protocols"]
    assert p["http2_requests"] >= 1 and p["http1_requests"] >= 1, p
    assert p["http2_connections"] >= 1 and p["http1_connections"] >= 1, p
    r = curl("--http2-prior-knowledge", f"{h2c.url}/stats?format=prometheus")
    assert b'berth_protocol_requests_total{protocol="h2"}' in r.stdout
    assert b"berth_http2_streams_open" in r.stdout


# --------------------------------------------------------------------------------------------
# Frame level (python3-h2)


def cef_contains(srv, text: str, timeout: float = berth.LOG_POLL_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if text in srv.log_path("cef.log").read_text(errors="replace"):
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return False


def test_many_streams_on_one_connection(h2c):
    c = H2Client(h2c.port)
    sids = [c.request("/index.html") for _ in range(20)]
    for sid in sids:
        status, body, reset = c.response(sid)
        assert status == 200 and body == b"hello h2\n" and not reset
    c.close()


def test_limits_per_stream_and_connection_survives(h2c):
    c = H2Client(h2c.port)
    sid = c.request("/" + "a" * 2000)
    assert c.response(sid)[0] == 414
    sid = c.request("/small", "POST", [("content-length", "5000")], end_stream=False)
    assert c.response(sid)[0] == 413
    sid = c.request("/index.html", extra=[("x-big", "v" * 40000)])
    status, _, reset = c.response(sid)
    assert status == 431 or reset
    sid = c.request("/nothing-here")
    assert c.response(sid)[0] == 404
    sid = c.request("/index.html")
    assert c.response(sid)[:2] == (200, b"hello h2\n")
    c.close()


def test_malformed_request_is_a_stream_error(h2c):
    c = H2Client(h2c.port)
    sid = c.request("/index.html", extra=[("Upper-Case", "x")])
    status, _, reset = c.response(sid)
    assert reset and status is None
    sid = c.request("/index.html", extra=[("connection", "keep-alive")])
    status, _, reset = c.response(sid)
    assert reset and status is None
    sid = c.request("/index.html")
    assert c.response(sid)[0] == 200  # the connection survived
    c.close()
    assert h2c.request_log_lines("Upper-Case", count=0, timeout=0.2) == []


def test_ping_flood_gets_enhance_your_calm(h2c):
    c = H2Client(h2c.port)
    for i in range(1000):
        c.conn.ping(i.to_bytes(8, "big"))
    try:
        c.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    ev = c.goaway()
    assert ev is not None and ev.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    c.close()
    assert cef_contains(h2c, "msg=HTTP/2 PING flood")
    h2c.assert_serving()


def test_rapid_reset_gets_enhance_your_calm(h2c):
    c = H2Client(h2c.port)
    try:
        for _ in range(600):
            sid = c.request("/index.html")
            c.conn.reset_stream(sid)
            c.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    ev = c.goaway()
    assert ev is not None and ev.error_code == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    c.close()
    assert cef_contains(h2c, "msg=HTTP/2 rapid reset")
    h2c.assert_serving()


def read_frames(sock: socket.socket, until, timeout: float = 5.0) -> list:
    """Raw frames (hyperframe) until until(frames) or the connection ends: python3-h2 refuses
    to go on once it has seen a GOAWAY, even the drain's first notice."""
    from hyperframe.frame import Frame
    frames, buf = [], b""
    deadline = time.monotonic() + timeout
    while not until(frames) and time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not data:
            break
        buf += data
        while len(buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            frame.parse_body(memoryview(buf[9:9 + length]))
            frames.append(frame)
            buf = buf[9 + length:]
    return frames


def test_drain_sends_two_goaways_and_finishes_streams(berth_server, site):
    from hyperframe.frame import DataFrame, GoAwayFrame
    srv = berth_server(config(site))
    c = H2Client(srv.port)
    sid = c.request("/echo", "POST", [("content-length", "4")], end_stream=False)
    c.pump(lambda ev: False, timeout=0.3)
    srv.proc.send_signal(signal.SIGTERM)
    goaways = lambda fs: [f for f in fs if isinstance(f, GoAwayFrame)]
    frames = read_frames(c.sock, lambda fs: len(goaways(fs)) >= 2, timeout=4)
    first, final = goaways(frames)[:2]
    assert first.last_stream_id == 2**31 - 1 and first.error_code == 0
    assert final.last_stream_id == sid and final.error_code == 0
    data = DataFrame(sid, data=b"ping")
    data.flags.add("END_STREAM")
    c.sock.sendall(data.serialize())
    frames = read_frames(c.sock, lambda fs: any(isinstance(f, DataFrame) and
                                                "END_STREAM" in f.flags for f in fs))
    body = b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == sid)
    assert body == b"ping"
    c.close()
