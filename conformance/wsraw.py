"""A raw WebSocket client for the conformance suite (RFC 6455): the opening handshake by hand,
frames built and parsed here (any opcode, length encoding, mask or reserved bit a hostile client
may send), every read under a deadline through berth.RawConn."""

from __future__ import annotations

import base64
import os
import struct
import time

import berth

KEY = base64.b64encode(b"0123456789abcdef").decode()
TIMEOUT = 5.0


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    key = os.urandom(4) if mask else b""
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if len(payload) < 4096 \
            else _mask_fast(payload, key)
    return head + key + payload


def _mask_fast(payload, key):
    k = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(len(payload), "big")


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def handshake_request(path="/ws", headers=None, method="GET", version="13", key=KEY,
                      connection="Upgrade", upgrade="websocket"):
    lines = [f"{method} {path} HTTP/1.1", "Host: a"]
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ask(conn, request):
    """The response to a handshake: 101 is an interim status to RawConn, so no recv_final."""
    conn.send(request)
    return conn.recv_response()


class WsRaw:
    """A raw WebSocket client on a RawConn; frames come from conn.buf."""

    def __init__(self, srv, path="/ws", headers=None, timeout=TIMEOUT, rcvbuf=None):
        self.conn = berth.RawConn(srv.port, timeout=timeout, rcvbuf=rcvbuf)
        self.conn.send(handshake_request(path, headers))
        self.response = self.conn.recv_response()
        assert self.response.status == 101, self.response

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()

    def send(self, data):
        return self.conn.send(data)

    def send_frame(self, opcode, payload=b"", **kw):
        return self.conn.send(frame(opcode, payload, **kw))

    def recv_frame(self, timeout=TIMEOUT):
        """(fin, rsv, opcode, payload) or None on EOF/timeout."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed:
                return parsed
            if not self.conn._fill(deadline):
                return self._parse()

    def _parse(self):
        buf = self.conn.buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        assert not (b1 & 0x80), "server frames must not be masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, at = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, at = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < at + n:
            return None
        payload = buf[at:at + n]
        self.conn.buf = buf[at + n:]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

    def recv_message(self, timeout=TIMEOUT):
        """(opcode, payload) of the next data message, answering nothing; controls skipped."""
        parts, first = [], None
        while True:
            f = self.recv_frame(timeout)
            assert f is not None, "no message"
            fin, rsv, op, payload = f
            if op >= 8:
                continue
            if first is None:
                first = op
            parts.append(payload)
            if fin:
                return first, b"".join(parts)

    def expect_close(self, code, timeout=TIMEOUT):
        """The server's close frame carries code, and then the server closes the connection."""
        while True:
            f = self.recv_frame(timeout)
            assert f is not None, f"no close frame (wanted {code})"
            fin, rsv, op, payload = f
            if op == 0x8:
                break
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        assert got == code, (got, payload)
        assert self.conn.is_closed(timeout), "connection not closed after the close frame"
        return payload[2:]
