"""Layer 82: WebSocket over HTTP/2 (RFC 8441 extended CONNECT) — the same berth.ws_echo and
berth.ws_chat apps as over HTTP/1.1, reached through an h2 stream on h2c (prior knowledge) and on
TLS (ALPN h2): SETTINGS_ENABLE_CONNECT_PROTOCOL advertised, 200 on the stream, WebSocket frames
in DATA both ways, the close handshake ending the stream, bad extended CONNECTs refused without
killing the connection, and a chat where an h2 client and an HTTP/1.1 client hear each other.

python3-h2 drives the frames; every read has a deadline."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

h2 = pytest.importorskip("h2")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402
import websockets  # noqa: E402

TIMEOUT = 5.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("wsh2")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out",
                    "cert.pem", "-days", "2", "-subj", "/CN=localhost"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    return d


def config(tls_dir: Path | None) -> str:
    tls = f"""
[tls]
enabled = yes
cert = {tls_dir}/cert.pem
key = {tls_dir}/key.pem
""" if tls_dir else ""
    return f"""
[server]
workers = 0
graceful_timeout = 1s
{tls}
[routes:line]
/ws = ws
/small = small
/chat = chat
/echo = echo

[app:ws]
call = berth.ws_echo

[app:small]
call = berth.ws_echo
max_message_bytes = 1K

[app:chat]
call = berth.ws_chat

[app:echo]
call = berth.echo
"""


@pytest.fixture(scope="module", params=["h2c", "h2-tls"])
def srv(request, module_berth_server, certs):
    tls = request.param == "h2-tls"
    server = module_berth_server(config(certs if tls else None))
    server.h2_tls = tls
    return server


# ---------------------------------------------------------------------------------------------
# A minimal h2 client holding one connection, enough for extended CONNECT streams.

def ws_frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """A client frame: always masked (RFC 6455 §5.3)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def parse_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """Whole server frames (unmasked) taken off the front of buf."""
    out = []
    while len(buf) >= 2:
        assert not buf[1] & 0x80, "server frames must not be masked"
        n = buf[1] & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                break
            n = struct.unpack("!H", bytes(buf[2:4]))[0]
            pos = 4
        elif n == 127:
            if len(buf) < 10:
                break
            n = struct.unpack("!Q", bytes(buf[2:10]))[0]
            pos = 10
        if len(buf) < pos + n:
            break
        out.append((buf[0] & 0x0F, bytes(buf[pos:pos + n])))
        del buf[:pos + n]
    return out


class NoticeAwareConnection(h2.connection.H2Connection):
    """python-h2 takes every GOAWAY as final; the drain's first one (last stream 2^31-1) is only
    a notice (RFC 9113 §6.8) and streams go on after it."""

    def _receive_goaway_frame(self, frame):
        result = super()._receive_goaway_frame(frame)
        if frame.last_stream_id == 2**31 - 1:
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return result


class H2:
    def __init__(self, srv):
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=TIMEOUT)
        if srv.h2_tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
            assert raw.selected_alpn_protocol() == "h2"
        self.sock = raw
        self.scheme = "https" if srv.h2_tls else "http"
        self.authority = f"127.0.0.1:{srv.port}"
        self.conn = NoticeAwareConnection(h2.config.H2Configuration(
            client_side=True, validate_outbound_headers=False))
        self.conn.initiate_connection()
        self.flush()
        self.data: dict[int, bytearray] = {}
        self.headers: dict[int, list] = {}
        self.ended: set[int] = set()
        self.reset: dict[int, int] = {}
        self.goaway = None
        self.remote_settings: dict[int, int] = {}

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self, until, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for the server"
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            for ev in self.conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    self.headers[ev.stream_id] = ev.headers
                elif isinstance(ev, h2.events.DataReceived):
                    self.data.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended.add(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset[ev.stream_id] = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.goaway = ev.error_code
                elif isinstance(ev, h2.events.RemoteSettingsChanged):
                    for code, setting in ev.changed_settings.items():
                        self.remote_settings[int(code)] = setting.new_value
            self.flush()

    def wait_settings(self):
        self.pump(lambda: self.remote_settings)

    def connect(self, path="/ws", extra=None, protocol="websocket") -> int:
        self.wait_settings()
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "CONNECT"), (":scheme", self.scheme), (":path", path),
                   (":authority", self.authority)]
        if protocol is not None:
            headers.insert(1, (":protocol", protocol))
        headers += extra if extra is not None else [("sec-websocket-version", "13")]
        self.conn.send_headers(sid, headers)
        self.flush()
        self.pump(lambda: sid in self.headers or sid in self.reset)
        return sid

    def status(self, sid) -> int:
        return int(dict(self.headers[sid])[b":status"])

    def send(self, sid, data: bytes, end=False):
        """Sends data in frames the peer's windows and max frame size allow, waiting for
        WINDOW_UPDATEs when they are used up."""
        view = memoryview(data)
        while True:
            room = min(self.conn.local_flow_control_window(sid),
                       self.conn.max_outbound_frame_size)
            if room <= 0 and view:
                before = self.conn.local_flow_control_window(sid)
                self.pump(lambda: self.conn.local_flow_control_window(sid) > before)
                continue
            piece = bytes(view[:room])
            view = view[len(piece):]
            last = not view
            self.conn.send_data(sid, piece, end_stream=end and last)
            self.flush()
            if last:
                return

    def frames(self, sid, count=1) -> list[tuple[int, bytes]]:
        got: list[tuple[int, bytes]] = []

        def enough():
            got.extend(parse_frames(self.data.setdefault(sid, bytearray())))
            return len(got) >= count or sid in self.ended or sid in self.reset

        self.pump(enough)
        return got

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------------------------------------

def test_enable_connect_protocol_advertised(srv):
    c = H2(srv)
    try:
        c.wait_settings()
        assert c.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL) == 1
    finally:
        c.close()


def test_echo_over_extended_connect(srv):
    c = H2(srv)
    try:
        sid = c.connect()
        assert c.status(sid) == 200
        assert sid not in c.ended  # the stream stays open as the tunnel
        c.send(sid, ws_frame(0x1, "héllo h2".encode()))
        assert c.frames(sid) == [(0x1, "héllo h2".encode())]
        big = os.urandom(300 * 1024)
        c.send(sid, ws_frame(0x2, big))
        assert c.frames(sid) == [(0x2, big)]
    finally:
        c.close()


def test_close_handshake_ends_the_stream(srv):
    c = H2(srv)
    try:
        sid = c.connect()
        c.send(sid, ws_frame(0x8, struct.pack("!H", 4000) + b"bye"))
        frames = c.frames(sid)
        assert frames[0][0] == 0x8
        assert struct.unpack("!H", frames[0][1][:2])[0] == 4000  # the code is echoed
        c.pump(lambda: sid in c.ended or sid in c.reset)
        assert sid in c.ended, "the server ends its side with END_STREAM after the close frame"
    finally:
        c.close()


def test_protocol_errors_close_the_websocket_not_the_connection(srv):
    c = H2(srv)
    try:
        bad = c.connect()
        # An unmasked client frame: 1002, then the stream ends; the connection keeps serving.
        c.send(bad, bytes([0x81, 0x02]) + b"hi")
        frames = c.frames(bad)
        assert frames and frames[0][0] == 0x8
        assert struct.unpack("!H", frames[0][1][:2])[0] == 1002
        big = c.connect("/small")
        c.send(big, ws_frame(0x2, b"x" * 2000))
        frames = c.frames(big)
        assert struct.unpack("!H", frames[0][1][:2])[0] == 1009
        good = c.connect()
        c.send(good, ws_frame(0x1, b"still here"))
        assert c.frames(good) == [(0x1, b"still here")]
    finally:
        c.close()


def test_several_websockets_on_one_connection(srv):
    c = H2(srv)
    try:
        sids = [c.connect() for _ in range(5)]
        for i, sid in enumerate(sids):
            c.send(sid, ws_frame(0x1, f"stream {i}".encode()))
        for i, sid in enumerate(sids):
            assert c.frames(sid) == [(0x1, f"stream {i}".encode())]
    finally:
        c.close()


@pytest.mark.parametrize("extra,protocol,status", [
    ([("sec-websocket-version", "12")], "websocket", 426),  # wrong version
    ([], "websocket", 426),                                # no version at all
    ([("sec-websocket-version", "13")], "bogus-proto", None),  # nobody speaks it
])
def test_bad_extended_connect(srv, extra, protocol, status):
    c = H2(srv)
    try:
        sid = c.connect(extra=extra, protocol=protocol)
        if status is not None:
            assert c.status(sid) == status
        else:
            assert sid in c.reset or c.status(sid) >= 400
        ok = c.connect()  # the connection survives
        assert c.status(ok) == 200
    finally:
        c.close()


def test_plain_connect_is_405(srv):
    c = H2(srv)
    try:
        c.wait_settings()
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", "example.com:443")])
        c.flush()
        c.pump(lambda: sid in c.headers or sid in c.reset)
        assert sid in c.reset or c.status(sid) == 405
    finally:
        c.close()


def test_request_log_names_http2(srv):
    c = H2(srv)
    try:
        sid = c.connect("/ws?logged=h2ws")
        c.send(sid, ws_frame(0x8, struct.pack("!H", 1000)))
        c.frames(sid)
        c.pump(lambda: sid in c.ended or sid in c.reset)
    finally:
        c.close()
    line = srv.request_log_lines(contains="logged=h2ws")[0]
    fields = line.split()
    assert "HTTP/2.0" in fields and "CONNECT" in fields
    assert fields[fields.index("HTTP/2.0") + 1] == "200"  # the stream's status, as h2 answers


def test_chat_between_h2_and_http1_clients(srv):
    scheme = "wss" if srv.h2_tls else "ws"
    ctx = None
    if srv.h2_tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

    c = H2(srv)
    try:
        sid = c.connect("/chat")
        assert c.status(sid) == 200

        async def h1_side():
            async with websockets.connect(f"{scheme}://127.0.0.1:{srv.port}/chat", ssl=ctx,
                                          open_timeout=TIMEOUT) as ws:
                # The h1 client speaks; the h2 client must hear it, and vice versa.
                await ws.send("from h1")
                heard = []
                while "from h1" not in heard:
                    heard.append(await asyncio.wait_for(ws.recv(), TIMEOUT))
                c.send(sid, ws_frame(0x1, b"from h2"))
                got = c.frames(sid, count=2)
                assert (0x1, b"from h1") in got
                while "from h2" not in heard:
                    heard.append(await asyncio.wait_for(ws.recv(), TIMEOUT))

        asyncio.run(asyncio.wait_for(h1_side(), TIMEOUT * 3))
    finally:
        c.close()


def test_drain_says_going_away_on_the_stream(berth_server, certs):
    import signal
    s = berth_server(config(None).replace("graceful_timeout = 1s", "graceful_timeout = 5s"))
    s.h2_tls = False
    c = H2(s)
    try:
        sid = c.connect()
        s.stopped = True  # the exit below is intended
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        frames = c.frames(sid)
        assert frames[0][0] == 0x8 and struct.unpack("!H", frames[0][1][:2])[0] == 1001
        c.send(sid, ws_frame(0x8, struct.pack("!H", 1001)))
        c.pump(lambda: sid in c.ended or sid in c.reset)
        assert time.monotonic() - started < 4
    finally:
        c.close()
    assert s.proc.wait(timeout=10) is not None
