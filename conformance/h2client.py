"""A small HTTP/2 client for the conformance suite (python3-h2 plus hand-built frames).

Two levels, both bounded in time (every read has a deadline) and talking to 127.0.0.1 only:

* ``H2Client`` drives ``_connection.H2Connection`` over a socket: prior knowledge (h2c), TLS with
  ALPN ``h2`` (certificate checks off) or the ``Upgrade: h2c`` path from HTTP/1.1. ``request()``
  sends headers, a body in chunks (honouring the peer's flow-control windows) and trailers;
  ``response()`` reads until the stream ends or is reset. ``fetch()`` returns a ``berth.Response``
  with version ``HTTP/2.0`` so per-transport tests can treat h1 and h2 alike.
* ``RawH2`` writes frames byte by byte (9-byte header + payload) for the malformed and flood cases
  and reads frames back until GOAWAY, RST_STREAM or close, with a deadline.
"""

from __future__ import annotations

import base64
import errno
import os
import select
import socket
import ssl
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import hpack

import berth


import h2.config as _config  # noqa: E402  (python3-h2)
import h2.connection as _connection  # noqa: E402
import h2.events as _events  # noqa: E402
import h2.exceptions as _exceptions  # noqa: E402
import h2.settings as _settings  # noqa: E402

HOST = berth.HOST
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 §6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
FRAME_NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY", RST_STREAM: "RST_STREAM",
               SETTINGS: "SETTINGS", PUSH_PROMISE: "PUSH_PROMISE", PING: "PING",
               GOAWAY: "GOAWAY", WINDOW_UPDATE: "WINDOW_UPDATE", CONTINUATION: "CONTINUATION"}

# Flags.
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes (RFC 9113 §7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM, INADEQUATE_SECURITY, HTTP_1_1_REQUIRED = range(14)
ERROR_NAMES = {v: k for k, v in dict(
    NO_ERROR=0, PROTOCOL_ERROR=1, INTERNAL_ERROR=2, FLOW_CONTROL_ERROR=3, SETTINGS_TIMEOUT=4,
    STREAM_CLOSED=5, FRAME_SIZE_ERROR=6, REFUSED_STREAM=7, CANCEL=8, COMPRESSION_ERROR=9,
    CONNECT_ERROR=10, ENHANCE_YOUR_CALM=11, INADEQUATE_SECURITY=12,
    HTTP_1_1_REQUIRED=13).items()}

# SETTINGS identifiers.
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, MAX_FRAME_SIZE, \
    MAX_HEADER_LIST_SIZE = range(1, 7)
ENABLE_CONNECT_PROTOCOL = 8


# --------------------------------------------------------------------------------------------
# Sockets
# --------------------------------------------------------------------------------------------

def client_tls_context(alpn: Sequence[str] = ("h2",)) -> ssl.SSLContext:
    """A client context with certificate checks off and the given ALPN list."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def connect(port: int, *, tls: bool = False, alpn: Sequence[str] = ("h2",),
            timeout: float = 5.0, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        sock = client_tls_context(alpn).wrap_socket(sock, server_hostname="localhost")
    return sock


def _recv(sock: socket.socket, deadline: float, size: int = 65536) -> bytes | None:
    """Bytes, b"" on EOF/reset, or None when the deadline passed first."""
    remaining = deadline - time.monotonic()
    pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
    if not pending:
        if remaining <= 0:
            return None
        r, _, _ = select.select([sock], [], [], remaining)
        if not r:
            return None
    try:
        return sock.recv(size)
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return b""
    except socket.timeout:
        return None
    except OSError as e:
        if e.errno in (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN):
            return b""
        raise


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError):
        return False
    except OSError as e:
        if e.errno in (errno.ECONNRESET, errno.EPIPE):
            return False
        raise


# --------------------------------------------------------------------------------------------
# Raw frames
# --------------------------------------------------------------------------------------------

def frame(ftype: int, flags: int = 0, stream_id: int = 0, payload: bytes = b"",
          length: int | None = None) -> bytes:
    """One frame: 24-bit length, type, flags, 31-bit stream id, payload. ``length`` overrides the
    length field (for frame-size lies)."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", stream_id & 0x7FFFFFFF) + payload


def settings_frame(pairs: Iterable[tuple[int, int]] = (), ack: bool = False) -> bytes:
    return frame(SETTINGS, ACK if ack else 0, 0,
                 b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment & 0x7FFFFFFF))


def rst_stream(stream_id: int, code: int = CANCEL) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def ping(payload: bytes = b"12345678", ack: bool = False, stream_id: int = 0) -> bytes:
    return frame(PING, ACK if ack else 0, stream_id, payload)


def goaway(last_stream_id: int = 0, code: int = NO_ERROR, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug)


def data_frame(stream_id: int, payload: bytes = b"", end_stream: bool = False) -> bytes:
    return frame(DATA, END_STREAM if end_stream else 0, stream_id, payload)


def request_headers(path: str = "/", method: str = "GET", authority: str = "a",
                    scheme: str = "http",
                    extra: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    return [(":method", method), (":scheme", scheme), (":authority", authority),
            (":path", path), *extra]


@dataclass
class Frame:
    type: int
    flags: int
    stream_id: int
    payload: bytes
    headers: list[tuple[bytes, bytes]] | None = None  # decoded HEADERS (after END_HEADERS)

    @property
    def name(self) -> str:
        return FRAME_NAMES.get(self.type, f"type{self.type}")

    @property
    def error_code(self) -> int | None:
        if self.type == RST_STREAM and len(self.payload) >= 4:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY and len(self.payload) >= 8:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    @property
    def last_stream_id(self) -> int | None:
        if self.type == GOAWAY and len(self.payload) >= 4:
            return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF
        return None

    @property
    def ack(self) -> bool:
        return self.type in (SETTINGS, PING) and bool(self.flags & ACK)

    @property
    def end_stream(self) -> bool:
        return self.type in (DATA, HEADERS) and bool(self.flags & END_STREAM)

    def __repr__(self) -> str:
        extra = ""
        if self.error_code is not None:
            extra = f" {ERROR_NAMES.get(self.error_code, self.error_code)}"
        return (f"<{self.name} flags=0x{self.flags:x} stream={self.stream_id} "
                f"len={len(self.payload)}{extra}>")


class RawH2:
    """A hand-driven HTTP/2 connection: send exact frames, read frames back with deadlines.

    ``start()`` sends the preface and a SETTINGS frame and (``auto_ack``, the default)
    acknowledges the server's SETTINGS and PINGs when reading. Every frame read is kept in ``frames``."""

    def __init__(self, port: int, *, tls: bool = False, timeout: float = 5.0,
                 rcvbuf: int | None = None):
        self.sock = connect(port, tls=tls, timeout=timeout, rcvbuf=rcvbuf)
        self.timeout = timeout
        self.buf = b""
        self.closed = False
        self.frames: list[Frame] = []
        self.auto_ack = True
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_allowed_table_size = 1 << 16
        self.send_failed = False
        self._block: bytearray | None = None  # a header block waiting for END_HEADERS
        self._block_frame: Frame | None = None

    def __enter__(self) -> "RawH2":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes) -> bool:
        ok = _send(self.sock, data)
        self.send_failed = self.send_failed or not ok
        return ok

    def start(self, settings: Iterable[tuple[int, int]] = (), preface: bytes = PREFACE) -> "RawH2":
        self.send(preface + settings_frame(settings))
        return self

    def handshake(self, settings: Iterable[tuple[int, int]] = (),
                  timeout: float | None = None) -> "RawH2":
        """start(), then read until the server's SETTINGS and the ACK of ours arrived."""
        self.start(settings)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got_settings = got_ack = False
        while not (got_settings and got_ack):
            f = self.read_frame(deadline)
            if f is None:
                raise AssertionError(f"no SETTINGS exchange; frames {self.frames!r}")
            if f.type == SETTINGS:
                got_ack |= f.ack
                got_settings |= not f.ack
        return self

    def encode(self, headers: Sequence[tuple[str, str]] | Sequence[tuple[bytes, bytes]]) -> bytes:
        return self.encoder.encode(list(headers), huffman=False)

    def headers(self, stream_id: int, headers: Sequence[tuple[str, str]], *,
                end_stream: bool = True, end_headers: bool = True,
                block: bytes | None = None) -> bool:
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return self.send(frame(HEADERS, flags, stream_id,
                               self.encode(headers) if block is None else block))

    def get(self, stream_id: int, path: str = "/", **kw) -> bool:
        return self.headers(stream_id, request_headers(path, **kw))

    # -- reading ---------------------------------------------------------------------------
    def read_frame(self, deadline: float | None = None) -> Frame | None:
        """The next frame, or None at EOF or when the deadline passed (check ``closed``)."""
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    f = Frame(self.buf[3], self.buf[4],
                              int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
                              self.buf[9:9 + n])
                    self.buf = self.buf[9 + n:]
                    self.frames.append(f)
                    self._decode_headers(f)
                    if self.auto_ack and f.type == SETTINGS and not f.ack:
                        self.send(settings_frame(ack=True))
                    elif self.auto_ack and f.type == PING and not f.ack and f.stream_id == 0:
                        self.send(ping(f.payload, ack=True))  # e.g. the drain's PING
                    return f
            if self.closed:
                return None
            data = _recv(self.sock, deadline)
            if data is None:
                return None
            if not data:
                self.closed = True
                continue
            self.buf += data

    def read_until(self, predicate: Callable[[Frame], bool], timeout: float | None = None
                   ) -> Frame | None:
        """Read frames until one matches (returned), EOF or the deadline (None)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(deadline)
            if f is None:
                return None
            if predicate(f):
                return f

    def wait_goaway_or_close(self, timeout: float | None = None) -> tuple[Frame | None, bool]:
        """(the GOAWAY if one came, whether the connection closed) within timeout. Keeps reading
        after a GOAWAY until the close or the deadline."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        ga = None
        while True:
            f = self.read_frame(deadline)
            if f is None:
                return ga, self.closed
            if f.type == GOAWAY and ga is None:
                ga = f

    def connection_error(self, timeout: float | None = None) -> int | None:
        """The GOAWAY error code, or -1 when the connection just closed, or None when neither
        happened before the deadline."""
        ga, closed = self.wait_goaway_or_close(timeout)
        if ga is not None:
            return ga.error_code
        return -1 if closed else None

    def stream_outcome(self, stream_id: int, timeout: float | None = None) -> Frame | None:
        """The first HEADERS or RST_STREAM on stream_id, or a GOAWAY, or None."""
        return self.read_until(lambda f: (f.stream_id == stream_id and f.type in (HEADERS, RST_STREAM))
                               or f.type == GOAWAY, timeout)

    def _decode_headers(self, f: Frame) -> None:
        """Every header block the server sends goes through the one HPACK decoder, in order,
        so the dynamic table stays in step whichever frames a test looks at."""
        if f.type == HEADERS:
            payload = f.payload
            if f.flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            if f.flags & PRIORITY_FLAG:
                payload = payload[5:]
            self._block, self._block_frame = bytearray(payload), f
        elif f.type == CONTINUATION and self._block is not None:
            self._block += f.payload
        else:
            return
        if f.flags & END_HEADERS:
            try:
                decoded = self.decoder.decode(bytes(self._block), raw=True)
            except Exception:  # noqa: BLE001 - a server bug; the test sees headers None
                decoded = None
            self._block_frame.headers = decoded
            f.headers = decoded
            self._block = self._block_frame = None

    def response_status(self, f: Frame) -> int | None:
        """The :status in a HEADERS frame (decoded when it was read)."""
        if f.headers is None and f.type == HEADERS and not f.flags & END_HEADERS:
            self.read_until(lambda g: g.type == CONTINUATION and bool(g.flags & END_HEADERS))
        for k, v in f.headers or []:
            if k == b":status":
                return int(v)
        return None

    def is_open(self, timeout: float = 0.3) -> bool:
        """A PING gets its ACK: the connection is alive and still served."""
        payload = b"alive?!!"
        if not self.send(ping(payload)):
            return False
        f = self.read_until(lambda f: (f.type == PING and f.ack) or f.type == GOAWAY, timeout)
        return f is not None and f.type == PING and f.payload == payload


# --------------------------------------------------------------------------------------------
# The python3-h2 client
# --------------------------------------------------------------------------------------------

@dataclass
class StreamState:
    stream_id: int
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    informational: list[int] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False
    reset_code: int | None = None

    @property
    def done(self) -> bool:
        return self.ended or self.reset_code is not None


class ConnectionClosed(AssertionError):
    pass


class H2Client:
    """HTTP/2 over one socket with python3-h2. Waits are bounded by ``timeout``.

    ``ack_data``: acknowledge received DATA (open the windows again) automatically; a set of
    stream ids in ``hold`` is not acknowledged (a slow reader on those streams)."""

    def __init__(self, port: int, *, tls: bool = False, upgrade: bool = False,
                 timeout: float = 5.0, authority: str = "a", settings: dict | None = None,
                 connection_window: int | None = None, upgrade_target: str = "/",
                 upgrade_body: bytes = b""):
        self.port = port
        self.tls = tls
        self.timeout = timeout
        self.authority = authority
        self.scheme = "https" if tls else "http"
        self.sock = connect(port, tls=tls, timeout=timeout)
        if tls:
            alpn = self.sock.selected_alpn_protocol()
            if alpn != "h2":
                self.sock.close()
                raise AssertionError(f"ALPN selected {alpn!r}, not h2")
        cfg = _config.H2Configuration(client_side=True, header_encoding=None,
                                        validate_inbound_headers=False)
        self.conn = _connection.H2Connection(config=cfg)
        if settings:
            self.conn.local_settings = _settings.Settings(client=True, initial_values=settings)
        self.streams: dict[int, StreamState] = {}
        self.hold: set[int] = set()
        self.goaway: _events.ConnectionTerminated | None = None
        self.closed = False
        self.pings: list[bytes] = []
        self.upgrade_response: berth.Response | None = None
        if upgrade:
            self._upgrade(upgrade_target, upgrade_body)
        else:
            self.conn.initiate_connection()
            self.flush()
        if connection_window:
            self.conn.increment_flow_control_window(connection_window)
            self.flush()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "H2Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            if not self.closed:
                self.conn.close_connection()
                _send(self.sock, self.conn.data_to_send())
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def _upgrade(self, target: str, body: bytes) -> None:
        settings = self.conn.initiate_upgrade_connection()
        head = (f"GET {target} HTTP/1.1\r\nHost: {self.authority}\r\n"
                f"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                f"HTTP2-Settings: {settings.decode()}\r\n")
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        _send(self.sock, head.encode() + b"\r\n" + body)
        deadline = time.monotonic() + self.timeout
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = _recv(self.sock, deadline)
            if not data:
                raise AssertionError(f"no answer to Upgrade: h2c; got {buf!r}")
            buf += data
        resp, used = berth.parse_response(buf, "GET")
        if resp is None:  # a 101 has no body; anything else may need more bytes
            resp, used = berth.parse_response(buf, "GET", eof=True)
        self.upgrade_response = resp
        if resp.status != 101:
            raise AssertionError(f"Upgrade: h2c answered {resp!r}")
        self.streams[1] = StreamState(1)
        self.flush()
        if buf[used:]:
            self._feed(buf[used:])

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not _send(self.sock, data):
            self.closed = True

    # -- events ------------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except _exceptions.ProtocolError as e:
            self.flush()
            self.closed = True
            raise ConnectionClosed(f"server broke the protocol: {e!r}") from None
        for ev in events:
            sid = getattr(ev, "stream_id", None)
            st = self.streams.get(sid) if sid else None
            if isinstance(ev, (_events.ResponseReceived, _events.InformationalResponseReceived,
                               _events.TrailersReceived)) and st is not None:
                hdrs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in ev.headers]
                status = next((int(v) for k, v in hdrs if k == ":status"), None)
                plain = [(k, v) for k, v in hdrs if not k.startswith(":")]
                if isinstance(ev, _events.InformationalResponseReceived):
                    st.informational.append(status)
                elif isinstance(ev, _events.TrailersReceived):
                    st.trailers = plain
                else:
                    st.status, st.headers = status, plain
            elif isinstance(ev, _events.DataReceived):
                if st is not None:
                    st.body += ev.data
                if sid not in self.hold:
                    try:
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                    except _exceptions.StreamClosedError:
                        pass
            elif isinstance(ev, _events.StreamEnded) and st is not None:
                st.ended = True
            elif isinstance(ev, _events.StreamReset) and st is not None:
                st.reset_code = int(ev.error_code)
            elif isinstance(ev, _events.ConnectionTerminated):
                self.goaway = ev
            elif isinstance(ev, _events.PingAckReceived):
                self.pings.append(ev.ping_data)
        self.flush()

    def pump(self, deadline: float) -> bool:
        """Read once and process what came. False on EOF or when the deadline passed."""
        if self.closed:
            return False
        data = _recv(self.sock, deadline)
        if data is None:
            return False
        if not data:
            self.closed = True
            return False
        self._feed(data)
        return True

    def release(self, stream_id: int) -> None:
        """Stop holding a stream: acknowledge what it received so far."""
        self.hold.discard(stream_id)
        st = self.streams.get(stream_id)
        if st is not None and st.body:
            try:
                self.conn.acknowledge_received_data(len(st.body), stream_id)
            except (_exceptions.StreamClosedError, ValueError):
                pass
            self.flush()

    # -- requests ------------------------------------------------------------------------------
    def send_headers(self, method: str = "GET", target: str = "/",
                     headers: Sequence[tuple[str, str]] = (), end_stream: bool = True,
                     authority: str | None = None) -> int:
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", self.scheme),
                (":authority", authority or self.authority), (":path", target)]
        hdrs += [(k.lower(), v) for k, v in headers]
        self.streams[sid] = StreamState(sid)
        self.conn.send_headers(sid, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in hdrs],
                               end_stream=end_stream)
        self.flush()
        return sid

    def send_body(self, stream_id: int, body: bytes, chunk: int = 16384,
                  end_stream: bool = True, deadline: float | None = None) -> None:
        """Send body honouring flow control (waits for WINDOW_UPDATEs, bounded)."""
        deadline = deadline or time.monotonic() + self.timeout
        view = memoryview(body)
        while view:
            st = self.streams[stream_id]
            if st.done:
                return  # the server answered early or reset the stream
            window = min(self.conn.local_flow_control_window(stream_id),
                         self.conn.max_outbound_frame_size, chunk)
            if window <= 0:
                if not self.pump(deadline):
                    if time.monotonic() >= deadline or self.closed:
                        raise AssertionError(f"flow-control window stayed closed on stream "
                                             f"{stream_id} ({len(view)} bytes left)")
                continue
            try:
                self.conn.send_data(stream_id, bytes(view[:window]))
            except _exceptions.StreamClosedError:
                return  # reset by the server between two chunks
            view = view[window:]
            self.flush()
            self._poll()
        if end_stream:
            try:
                self.conn.end_stream(stream_id)
            except _exceptions.StreamClosedError:
                return
            self.flush()

    def send_trailers(self, stream_id: int, trailers: Sequence[tuple[str, str]]) -> None:
        self.conn.send_headers(stream_id, [(k.lower().encode(), v.encode()) for k, v in trailers],
                               end_stream=True)
        self.flush()

    def _poll(self) -> None:
        """Process whatever already arrived without waiting."""
        while not self.closed:
            r, _, _ = select.select([self.sock], [], [], 0)
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0
            if not r and not pending:
                return
            if not self.pump(time.monotonic() + 0.01):
                return

    def request(self, method: str = "GET", target: str = "/",
                headers: Sequence[tuple[str, str]] = (), body: bytes = b"",
                trailers: Sequence[tuple[str, str]] = (), chunk: int = 16384,
                authority: str | None = None) -> int:
        has_body = bool(body) or bool(trailers)
        sid = self.send_headers(method, target, headers, end_stream=not has_body,
                                authority=authority)
        if body:
            self.send_body(sid, body, chunk=chunk, end_stream=not trailers)
        if trailers:
            self.send_trailers(sid, trailers)
        return sid

    def response(self, stream_id: int, timeout: float | None = None) -> StreamState:
        """Read until the stream ends or is reset. Raises on timeout or connection close."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        st = self.streams[stream_id]
        while not st.done:
            if not self.pump(deadline):
                if st.done:
                    break
                why = "closed" if self.closed else "timed out"
                ga = f" after GOAWAY {self.goaway!r}" if self.goaway else ""
                raise ConnectionClosed(f"stream {stream_id}: no complete response ({why}{ga}); "
                                       f"status={st.status} body={len(st.body)} bytes")
        return st

    def fetch(self, method: str = "GET", target: str = "/",
              headers: Sequence[tuple[str, str]] = (), body: bytes = b"",
              timeout: float | None = None, **kw) -> berth.Response:
        sid = self.request(method, target, headers, body, **kw)
        return to_response(self.response(sid, timeout))

    def ping(self, payload: bytes = b"pingpong", timeout: float | None = None) -> bool:
        self.conn.ping(payload)
        self.flush()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while payload not in self.pings:
            if not self.pump(deadline):
                return False
        return True


def to_response(st: StreamState) -> berth.Response:
    """A StreamState as a berth.Response (version HTTP/2.0). A reset stream raises."""
    if st.status is None:
        raise StreamReset(st.stream_id, st.reset_code)
    resp = berth.Response(version="HTTP/2.0", status=st.status, reason="", headers=st.headers,
                          body=bytes(st.body), trailers=st.trailers)
    resp.reset_code = st.reset_code  # type: ignore[attr-defined]
    return resp


class StreamReset(AssertionError):
    def __init__(self, stream_id: int, code: int | None):
        name = ERROR_NAMES.get(code, code) if code is not None else "no status"
        super().__init__(f"stream {stream_id} reset without a response ({name})")
        self.stream_id = stream_id
        self.code = code


def fetch(port: int, method: str = "GET", target: str = "/", *, tls: bool = False,
          headers: Sequence[tuple[str, str]] = (), body: bytes = b"", authority: str = "a",
          timeout: float = 5.0, upgrade: bool = False) -> berth.Response:
    """One request on a fresh HTTP/2 connection."""
    with H2Client(port, tls=tls, timeout=timeout, authority=authority, upgrade=upgrade,
                  connection_window=16 << 20) as c:
        if upgrade:
            return to_response(c.response(1, timeout))
        return c.fetch(method, target, headers, body, timeout=timeout)


def upgrade_settings_header(settings: dict | None = None) -> str:
    payload = b"".join(struct.pack(">HI", k, v) for k, v in (settings or {}).items())
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
