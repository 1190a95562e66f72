"""Layer 80: WebSocket (RFC 6455) — berth.ws_echo over HTTP/1.1 and TLS, with python3-websockets
for what a real client does and raw frames for what a hostile one does (HOSTILE-INPUTS items 35
and 36), plus cases after the Autobahn testsuite's categories 1-7 and 9 (framing, pings,
reserved bits, opcodes, fragmentation, UTF-8, close handling, limits) with bounded sizes.

Every read has a deadline: raw reads through RawConn, websockets calls under asyncio.wait_for."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import ssl
import struct
import time
import zlib

import pytest
import websockets

import berth
from wsraw import TIMEOUT, WsRaw, ask, close_payload, frame, handshake_request

CONFIG = """
[server]
graceful_timeout = 1s

[routes:line]
/ws = ws
/small = small
/plain = plain
/origin = origin
/capped = capped
/pinger = pinger

[app:ws]
call = berth.ws_echo

[app:small]
call = berth.ws_echo
max_message_bytes = 4K
max_frame_bytes = 2K

[app:plain]
call = berth.ws_echo
deflate = no

[app:origin]
call = berth.ws_echo
allowed_origins = https://good.example, http://localhost:8000

[app:capped]
call = berth.ws_echo
max_connections = 2

[app:pinger]
call = berth.ws_echo
ping_interval = 300ms
pong_timeout = 400ms
"""


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG)


def url(srv, path="/ws", scheme="ws"):
    return f"{scheme}://127.0.0.1:{srv.port}{path}"


def run(coro, timeout=TIMEOUT * 2):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---------------------------------------------------------------------------------------------
# Echo with a real client
# ---------------------------------------------------------------------------------------------

def test_echo_text_and_binary(srv):
    async def go():
        async with websockets.connect(url(srv)) as ws:
            await ws.send("hello, wörld")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello, wörld"
            await ws.send(bytes(range(256)))
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == bytes(range(256))
            await ws.send("")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == ""
        return ws.close_code
    assert run(go()) == 1000


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "uncompressed"])
def test_one_megabyte_message(srv, compression):
    big = os.urandom(1 << 19) + bytes(1 << 19)  # half random, half compressible: exactly 1 MiB

    async def go():
        async with websockets.connect(url(srv), compression=compression,
                                      max_size=2 << 20) as ws:
            assert bool(ws.extensions) == (compression is not None)
            await ws.send(big)
            return await asyncio.wait_for(ws.recv(), TIMEOUT * 2)
    assert run(go(), timeout=30) == big


def test_permessage_deflate_negotiated_and_compresses(srv):
    text = "All work and no play makes Jack a dull boy. " * 24000  # ~1 MB, compressible
    text = text[:1 << 20]

    async def go():
        async with websockets.connect(url(srv, "/ws?compressed-1m"), max_size=2 << 20) as ws:
            ext = ws.extensions
            await ws.send(text)
            echoed = await asyncio.wait_for(ws.recv(), TIMEOUT * 2)
            return ext, echoed
    ext, echoed = run(go(), timeout=30)
    assert [e.name for e in ext] == ["permessage-deflate"]
    assert echoed == text
    # Both sides compressed: request.log counts far fewer bytes than 1 MB each way.
    line = srv.request_log_lines(contains="/ws?compressed-1m")[-1]
    fields = line.split()
    status_at = fields.index("101")
    assert int(fields[status_at + 1]) < 200_000 and int(fields[status_at + 2]) < 200_000, line


def test_deflate_refused_by_app_option(srv):
    resp = None
    with berth.RawConn(srv.port) as c:
        resp = ask(c, handshake_request(
            "/plain", [("Sec-WebSocket-Extensions", "permessage-deflate")]))
    assert resp.status == 101 and not resp.has_header("Sec-WebSocket-Extensions"), resp


@pytest.mark.parametrize("offer,accepted", [
    ("permessage-deflate", "permessage-deflate"),
    ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ("permessage-deflate; server_max_window_bits=10",
     "permessage-deflate; server_max_window_bits=10"),
    ("permessage-deflate; server_max_window_bits=16", None),
    ("permessage-deflate; server_max_window_bits", None),
    ("permessage-deflate; bogus=1", None),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", None),
    ("permessage-deflate; bogus, permessage-deflate", "permessage-deflate"),
    ("x-webkit-deflate-frame", None),
], ids=["plain", "client_bits", "no_takeover", "server_bits", "bits_16", "bits_no_value",
        "unknown_param", "duplicate", "second_offer", "other_extension"])
def test_deflate_negotiation(srv, offer, accepted):
    with berth.RawConn(srv.port) as c:
        resp = ask(c, handshake_request("/ws", [("Sec-WebSocket-Extensions", offer)]))
    assert resp.status == 101, resp
    assert resp.header("Sec-WebSocket-Extensions") == accepted, resp


def test_deflate_bomb_is_refused_while_inflating(srv):
    # 16 MB of zeros compress to about 16 KB; the app allows 4K messages and 2K frames, so the
    # bomb goes in 2K frames and must be refused long before it is inflated whole.
    comp = zlib.compressobj(wbits=-15)
    data = comp.compress(bytes(16 << 20)) + comp.flush(zlib.Z_SYNC_FLUSH)
    data = data[:-4]
    with berth.RawConn(srv.port) as c:
        c.send(handshake_request("/small", [("Sec-WebSocket-Extensions", "permessage-deflate")]))
        resp = c.recv_response()
        assert resp.status == 101 and resp.header("Sec-WebSocket-Extensions")
        ws = WsRaw.__new__(WsRaw)
        ws.conn = c
        chunks = [data[i:i + 2000] for i in range(0, len(data), 2000)]
        for i, chunk in enumerate(chunks[:4]):
            ws.send_frame(0x2 if i == 0 else 0x0, chunk, fin=False, rsv=4 if i == 0 else 0)
        ws.expect_close(1009)


# ---------------------------------------------------------------------------------------------
# Handshake (HOSTILE-INPUTS item 35)
# ---------------------------------------------------------------------------------------------

def test_handshake_answer(srv):
    with berth.RawConn(srv.port) as c:
        resp = ask(c, handshake_request("/plain", [("Sec-WebSocket-Protocol", "chat")]))
    assert resp.status == 101, resp
    assert resp.header("Upgrade").lower() == "websocket"
    assert "upgrade" in resp.connection_tokens()
    # RFC 6455 §1.3's example key and accept value.
    with berth.RawConn(srv.port) as c:
        resp = ask(c, handshake_request("/plain", key="dGhlIHNhbXBsZSBub25jZQ=="))
    assert resp.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp
    # ws_echo speaks no subprotocol, so it chooses none.
    assert not resp.has_header("Sec-WebSocket-Protocol")


@pytest.mark.parametrize("kwargs,status", [
    (dict(key=None), 400),
    (dict(key="c2hvcnQ="), 400),                      # 5 bytes
    (dict(key="not base64 at all!!!!!!!"), 400),
    (dict(key=base64.b64encode(b"x" * 17).decode()), 400),
    (dict(version="12"), 426),
    (dict(version="8"), 426),
    (dict(version=None), 426),
    (dict(method="POST"), 400),
    (dict(connection=None), 400),
    (dict(connection="keep-alive"), 400),
    (dict(upgrade="h3"), 400),
    (dict(connection=None, upgrade=None, key=None, version=None), 426),
], ids=["no_key", "short_key", "bad_base64", "long_key", "version_12", "version_8",
        "no_version", "post", "no_connection", "connection_keepalive", "other_upgrade",
        "plain_get"])
def test_bad_handshakes(srv, kwargs, status):
    with berth.RawConn(srv.port) as c:
        resp = ask(c, handshake_request("/ws", **kwargs))
    assert resp.status == status, resp
    assert resp.header("Sec-WebSocket-Accept") is None
    if status == 426 and kwargs.get("version"):
        assert resp.header("Sec-WebSocket-Version") == "13", resp


def test_version_426_names_13(srv):
    with berth.RawConn(srv.port) as c:
        resp = ask(c, handshake_request("/ws", version="7"))
    assert resp.status == 426 and resp.header("Sec-WebSocket-Version") == "13", resp


@pytest.mark.parametrize("origin,status", [
    ("https://good.example", 101),
    ("HTTPS://GOOD.EXAMPLE", 101),
    ("http://localhost:8000", 101),
    ("https://evil.example", 403),
    ("https://good.example.evil", 403),
    ("null", 403),
    (None, 101),
], ids=["allowed", "case", "second", "foreign", "suffix", "null", "no_origin"])
def test_origin_check(srv, origin, status):
    headers = [("Origin", origin)] if origin else []
    with berth.RawConn(srv.port) as c:
        resp = ask(c, handshake_request("/origin", headers))
    assert resp.status == status, resp


def test_origin_refused_with_websockets_client(srv):
    async def go():
        try:
            async with websockets.connect(url(srv, "/origin"), origin="https://evil.example"):
                return None
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
    assert run(go()) == 403


def test_max_connections_503(srv):
    with WsRaw(srv, "/capped"), WsRaw(srv, "/capped"):
        with berth.RawConn(srv.port) as c:
            resp = ask(c, handshake_request("/capped"))
        assert resp.status == 503, resp
    # Closed sessions free their slots (the server notices the EOF).
    deadline = time.monotonic() + TIMEOUT
    while True:
        with berth.RawConn(srv.port) as c:
            resp = ask(c, handshake_request("/capped"))
        if resp.status == 101 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert resp.status == 101, resp


def test_request_log_has_one_101_line(srv):
    with WsRaw(srv, "/plain?log-check") as ws:
        ws.send_frame(0x1, b"abc")
        assert ws.recv_message() == (0x1, b"abc")
        ws.send_frame(0x8, close_payload(1000))
        ws.expect_close(1000)
    lines = srv.request_log_lines(contains="/plain?log-check")
    assert len(lines) == 1 and " HTTP/1.1 101 " in lines[0], lines


# ---------------------------------------------------------------------------------------------
# Frames (HOSTILE-INPUTS item 36) and Autobahn categories
# ---------------------------------------------------------------------------------------------

# Category 1: framing — text and binary of the boundary lengths.
@pytest.mark.parametrize("length", [0, 125, 126, 127, 128, 65535, 65536, 100_000])
@pytest.mark.parametrize("opcode", [0x1, 0x2], ids=["text", "binary"])
def test_ab1_framing_lengths(srv, opcode, length):
    payload = b"*" * length
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(opcode, payload)
        assert ws.recv_message() == (opcode, payload)


def test_ab1_payload_sent_in_small_tcp_pieces(srv):
    data = frame(0x1, b"Hello-" * 50)
    with WsRaw(srv, "/plain") as ws:
        for i in range(0, len(data), 7):
            ws.send(data[i:i + 7])
        assert ws.recv_message() == (0x1, b"Hello-" * 50)


# Category 2: pings and pongs.
@pytest.mark.parametrize("payload", [b"", b"ping!", bytes(range(125)), "héllo".encode()],
                         ids=["empty", "text", "125_binary", "utf8"])
def test_ab2_ping_answered_with_same_payload(srv, payload):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x9, payload)
        f = ws.recv_frame()
        assert f == (True, 0, 0xA, payload)


def test_ab2_ping_over_125_bytes(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x9, b"x" * 126)
        ws.expect_close(1002)


def test_ab2_unsolicited_pong_ignored(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0xA, b"unsolicited")
        ws.send_frame(0x1, b"still here")
        assert ws.recv_frame() == (True, 0, 0x1, b"still here")


def test_ab2_ten_pings(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send(b"".join(frame(0x9, b"p%d" % i) for i in range(10)))
        for i in range(10):
            assert ws.recv_frame() == (True, 0, 0xA, b"p%d" % i)


def test_ping_flood_without_reading_is_bounded_and_closed(srv, berth_server):
    # A client that floods pings and never reads its pongs: the server stops reading once its
    # queue is full (so the client's sends block: bounded output) and send_timeout ends it.
    s = berth_server("""
[limits]
send_timeout = 1s
[routes:line]
/ws = ws
[app:ws]
call = berth.ws_echo
send_buffer_bytes = 64K
""")
    ws = WsRaw(s, "/ws", rcvbuf=4096)
    with ws:
        ws.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        ws.conn.sock.settimeout(0.5)
        ping = frame(0x9, b"x" * 125)
        sent = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                ws.conn.sock.sendall(ping * 64)
                sent += len(ping) * 64
            except (socket.timeout, BlockingIOError):
                break
            except OSError:
                break
        # The server stopped taking pings long before 10 s of flooding (tens of MB).
        assert sent < 32 << 20, sent
        # Reading would unblock the server: wait past send_timeout first, then the bytes that
        # are still here end with the close, not with more pongs.
        time.sleep(2.5)
        assert ws.conn.is_closed(timeout=5), "flooding client not closed"


# Category 3: reserved bits.
@pytest.mark.parametrize("rsv", [1, 2, 3, 4, 5, 6, 7])
def test_ab3_reserved_bits(srv, rsv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, b"hello", rsv=rsv)
        ws.expect_close(1002)


def test_ab3_reserved_bits_on_ping(srv):
    with WsRaw(srv, "/ws") as ws:  # RSV1 stays reserved on controls even with deflate
        ws.send_frame(0x9, b"", rsv=4)
        ws.expect_close(1002)


# Category 4: opcodes.
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_ab4_reserved_opcodes(srv, opcode):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, b"before")
        assert ws.recv_message() == (0x1, b"before")
        ws.send_frame(opcode, b"x")
        ws.expect_close(1002)


# Category 5: fragmentation.
def test_ab5_fragmented_text(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, b"frag", fin=False)
        ws.send_frame(0x0, b"men", fin=False)
        ws.send_frame(0x0, b"ted")
        assert ws.recv_message() == (0x1, b"fragmented")


def test_ab5_fragmented_with_websockets_client(srv):
    async def go():
        async with websockets.connect(url(srv)) as ws:
            await ws.send(iter(["one ", "two ", "three"]))
            return await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert run(go()) == "one two three"


def test_ab5_ping_between_fragments(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x2, b"ab", fin=False)
        ws.send_frame(0x9, b"mid")
        ws.send_frame(0x0, b"cd")
        assert ws.recv_frame() == (True, 0, 0xA, b"mid")
        assert ws.recv_message() == (0x2, b"abcd")


def test_ab5_one_byte_fragments(srv):
    text = "fragments one byte at a time".encode()
    with WsRaw(srv, "/plain") as ws:
        for i, b in enumerate(text):
            ws.send_frame(0x1 if i == 0 else 0x0, bytes([b]), fin=i == len(text) - 1)
        assert ws.recv_message() == (0x1, text)


@pytest.mark.parametrize("frames", [
    [(0x0, b"lone", True)],
    [(0x0, b"lone", False), (0x0, b"x", True)],
    [(0x1, b"a", False), (0x1, b"b", True)],
    [(0x1, b"a", False), (0x2, b"b", True)],
    [(0x1, b"done", True), (0x0, b"after", True)],
    [(0x9, b"", False)],
    [(0x8, close_payload(1000), False)],
], ids=["continuation_no_start", "continuation_no_start_unfinished", "text_inside_text",
        "binary_inside_text", "continuation_after_final", "fragmented_ping", "fragmented_close"])
def test_ab5_bad_fragmentation(srv, frames):
    with WsRaw(srv, "/plain") as ws:
        for op, payload, fin in frames:
            ws.send_frame(op, payload, fin=fin)
        if frames[0] == (0x1, b"done", True):
            assert ws.recv_message() == (0x1, b"done")
        ws.expect_close(1002)


# Category 6: UTF-8.
VALID_UTF8 = ["κόσμε".encode(), "\u0080".encode(), "\u07ff".encode(), "\u0800".encode(),
              "\uffff".encode(), "\U00010000".encode(), "\U0010ffff".encode(),
              "\ud7ff".encode(), "\ue000".encode(), "Hello-µ@ßöäüàá-UTF-8!!".encode()]
INVALID_UTF8 = [b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
                b"\x80", b"\xbf", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                b"\xf8\x88\x80\x80\xaf", b"\xc1\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
                b"\xf4\x90\x80\x80", b"\xfe", b"\xff", b"\xce", b"a\xe1\xbd"]


@pytest.mark.parametrize("text", VALID_UTF8, ids=range(len(VALID_UTF8)))
def test_ab6_valid_utf8_split_at_every_byte(srv, text):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, text)
        assert ws.recv_message() == (0x1, text)
        # The same text in one-byte fragments: sequences split between frames are fine.
        for i, b in enumerate(text):
            ws.send_frame(0x1 if i == 0 else 0x0, bytes([b]), fin=i == len(text) - 1)
        assert ws.recv_message() == (0x1, text)


@pytest.mark.parametrize("text", INVALID_UTF8, ids=range(len(INVALID_UTF8)))
def test_ab6_invalid_utf8(srv, text):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, text)
        ws.expect_close(1007)


def test_ab6_invalid_utf8_split_across_fragments(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, b"ok \xed", fin=False)   # could still be valid
        ws.send_frame(0x0, b"\xa0\x80 surrogate")   # U+D800: not
        ws.expect_close(1007)


def test_ab6_invalid_utf8_fails_fast(srv):
    # The message never ends: the server must refuse at the bad byte, not wait for FIN.
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, b"good start", fin=False)
        ws.send_frame(0x0, b"\xc0\xaf", fin=False)
        ws.expect_close(1007)


def test_ab6_invalid_utf8_in_compressed_message(srv):
    comp = zlib.compressobj(wbits=-15)
    data = comp.compress(b"abc\xff\xfe") + comp.flush(zlib.Z_SYNC_FLUSH)
    with berth.RawConn(srv.port) as c:
        c.send(handshake_request("/ws", [("Sec-WebSocket-Extensions", "permessage-deflate")]))
        assert c.recv_response().status == 101
        ws = WsRaw.__new__(WsRaw)
        ws.conn = c
        ws.send_frame(0x1, data[:-4], rsv=4)
        ws.expect_close(1007)


def test_binary_is_not_utf8_checked(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x2, b"\xff\xfe\xc0")
        assert ws.recv_message() == (0x2, b"\xff\xfe\xc0")


# Category 7: close handling.
@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000,
                                  3999, 4000, 4999])
def test_ab7_close_code_echoed(srv, code):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x8, close_payload(code, b"bye"))
        ws.expect_close(code)


def test_ab7_close_without_code(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x8, b"")
        f = ws.recv_frame()
        assert f == (True, 0, 0x8, b""), f
        assert ws.conn.is_closed(TIMEOUT)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1012 + 4, 1015, 1016, 2000, 2999,
                                  5000, 65535])
def test_ab7_invalid_close_codes(srv, code):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x8, close_payload(code))
        ws.expect_close(1002)


def test_ab7_close_with_one_byte_payload(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x8, b"\x03")
        ws.expect_close(1002)


def test_ab7_close_reason_invalid_utf8(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x8, close_payload(1000, b"\xce\xba\xe1\xbd\xb9\xed\xa0\x80"))
        ws.expect_close(1007)


def test_ab7_close_reason_max_length(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x8, close_payload(1000, b"r" * 123))
        ws.expect_close(1000)


def test_ab7_data_after_close_ignored(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send(frame(0x8, close_payload(1000)) + frame(0x1, b"late") + frame(0x9, b"late"))
        ws.expect_close(1000)


def test_ab7_websockets_close_code(srv):
    async def go():
        ws = await websockets.connect(url(srv))
        await ws.close(code=4321, reason="done")
        return ws.close_code, ws.close_reason
    assert run(go()) == (4321, "")


def test_peer_drops_connection_without_close(srv):
    ws = WsRaw(srv, "/plain")
    ws.send_frame(0x1, b"partial", fin=False)
    ws.conn.close()
    srv.assert_serving()


# Masking and lengths (HOSTILE item 36).
def test_unmasked_client_frame(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send_frame(0x1, b"no mask", mask=False)
        ws.expect_close(1002)


def test_64bit_length_with_high_bit(srv):
    with WsRaw(srv, "/plain") as ws:
        ws.send(struct.pack("!BBQ", 0x82, 0xFF, 1 << 63) + os.urandom(4))
        ws.expect_close(1002)


# Category 9: limits and bulk (bounded sizes).
def test_ab9_frame_over_max_frame_bytes(srv):
    with WsRaw(srv, "/small") as ws:
        # Refused on the header alone: no payload follows.
        ws.send(frame(0x2, b"", length=2049))
        ws.expect_close(1009)


def test_ab9_message_over_max_message_bytes(srv):
    with WsRaw(srv, "/small") as ws:
        ws.send_frame(0x2, b"a" * 2048, fin=False)
        ws.send_frame(0x0, b"b" * 2048, fin=False)
        ws.send_frame(0x0, b"c")
        ws.expect_close(1009)


def test_ab9_message_at_the_limit(srv):
    with WsRaw(srv, "/small") as ws:
        ws.send_frame(0x2, b"a" * 2048, fin=False)
        ws.send_frame(0x0, b"b" * 2048)
        assert ws.recv_message() == (0x2, b"a" * 2048 + b"b" * 2048)


def test_ab9_oversized_with_websockets_client(srv):
    async def go():
        async with websockets.connect(url(srv, "/small")) as ws:
            await ws.send("x" * 5000)
            try:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            except websockets.exceptions.ConnectionClosed:
                pass
            return ws.close_code
    assert run(go()) == 1009


@pytest.mark.parametrize("size,count", [(64, 1000), (4096, 200), (65536, 50), (1 << 20, 4)],
                         ids=["64x1000", "4Kx200", "64Kx50", "1Mx4"])
def test_ab9_bulk_messages(srv, size, count):
    payload = os.urandom(size)

    async def go():
        async with websockets.connect(url(srv), max_size=2 << 20, compression=None) as ws:
            for _ in range(count):
                await ws.send(payload)
            for _ in range(count):
                assert await asyncio.wait_for(ws.recv(), TIMEOUT * 2) == payload
            return True
    assert run(go(), timeout=40)


def test_ab9_frames_of_varying_size(srv):
    text = ("0123456789" * 6554)[:65536].encode()
    with WsRaw(srv, "/plain") as ws:
        for chunk in (1, 64, 256, 1024, 4096, 65536):
            parts = [text[i:i + chunk] for i in range(0, len(text), chunk)]
            ws.send(b"".join(frame(0x1 if i == 0 else 0x0, p, fin=i == len(parts) - 1)
                             for i, p in enumerate(parts)))
            assert ws.recv_message() == (0x1, text)


# ---------------------------------------------------------------------------------------------
# Keep-alive pings
# ---------------------------------------------------------------------------------------------

def test_server_pings_an_idle_client_and_drops_a_dead_one(srv):
    with WsRaw(srv, "/pinger") as ws:
        f = ws.recv_frame(timeout=3)
        assert f is not None and f[2] == 0x9, f
        # Never answered: closed after pong_timeout.
        assert ws.conn.is_closed(timeout=3)


def test_answered_pings_keep_the_connection(srv):
    async def go():
        async with websockets.connect(url(srv, "/pinger"), ping_interval=None) as ws:
            await asyncio.sleep(1.5)  # websockets answers the server's pings by itself
            await ws.send("alive")
            return await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert run(go()) == "alive"


# ---------------------------------------------------------------------------------------------
# TLS (wss)
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
def test_wss_echo(berth_server, tmp_path):
    import subprocess
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "k.pem", "-out",
                    "c.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    s = berth_server(f"""
[tls]
enabled = yes
cert = {tmp_path}/c.pem
key = {tmp_path}/k.pem
[routes:line]
/ws = ws
[app:ws]
call = berth.ws_echo
""")
    ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))
    big = os.urandom(300_000)

    async def go():
        async with websockets.connect(f"wss://127.0.0.1:{s.port}/ws", ssl=ctx) as ws:
            await ws.send("over tls")
            first = await asyncio.wait_for(ws.recv(), TIMEOUT)
            await ws.send(big)
            second = await asyncio.wait_for(ws.recv(), TIMEOUT)
        return first, second, ws.close_code
    assert run(go()) == ("over tls", big, 1000)


# ---------------------------------------------------------------------------------------------
# Options are checked with file:line
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line,words,rc", [
    ("max_connections = -1", "max_connections", 1),
    ("ping_interval = soon", "ping_interval", 1),
    ("max_message_bytes = lots", "max_message_bytes", 1),
    ("deflate = perhaps", "deflate", 1),
    ("max_frame_byte = 1K", "did you mean 'max_frame_bytes'", 0),  # a warning
], ids=["negative_cap", "bad_duration", "bad_size", "bad_bool", "unknown_key"])
def test_bad_options_reported_with_file_and_line(tmp_path, line, words, rc):
    text = f"[routes:line]\n/ws = ws\n\n[app:ws]\ncall = berth.ws_echo\n{line}\n"
    path, full = berth.write_conf(tmp_path, text)
    r = berth.run_cli("check", "-c", str(path))
    assert r.returncode == rc, r
    wanted = f"{path.name}:{berth.line_of(full, line)}:"
    assert any(wanted in l and words in l for l in r.output.splitlines()), r.output


def test_good_options_check_ok(tmp_path):
    text = ("[routes:line]\n/ws = ws\n\n[app:ws]\ncall = berth.ws_echo\nmax_message_bytes = 64K\n"
            "max_frame_bytes = 16K\nping_interval = 0\npong_timeout = 2s\nclose_timeout = 1s\n"
            "send_buffer_bytes = 256K\nallowed_origins = https://a.example, https://b.example\n"
            "max_connections = 0\ndeflate = no\n")
    path, _ = berth.write_conf(tmp_path, text)
    r = berth.run_cli("check", "-c", str(path))
    assert r.returncode == 0 and "configuration OK" in r.output, r


# ---------------------------------------------------------------------------------------------
# Graceful stop
# ---------------------------------------------------------------------------------------------

def test_graceful_stop_says_going_away(berth_server):
    import signal
    s = berth_server("""
[server]
graceful_timeout = 5s
[routes:line]
/ws = ws
[app:ws]
call = berth.ws_echo
""")
    with WsRaw(s, "/ws") as ws:
        s.stopped = True  # the exit below is intended
        started = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        # The drain tells the WebSocket at once (1001), well before graceful_timeout; the
        # client's close answer lets the worker finish.
        while True:
            f = ws.recv_frame(4)
            assert f is not None, "no close frame on drain"
            if f[2] == 0x8:
                break
        assert struct.unpack("!H", f[3][:2])[0] == 1001
        ws.send_frame(0x8, close_payload(1001))
        assert ws.conn.is_closed(timeout=4)
        assert time.monotonic() - started < 4
    assert s.proc.wait(timeout=10) is not None
