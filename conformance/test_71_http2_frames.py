"""Layer 71: HTTP/2 frame level, by h2spec's sections (RFC 9113; h2spec itself has no Debian
package): connection preface, frame size, header compression, stream states, flow control,
error codes, SETTINGS, PING, GOAWAY, RST_STREAM, CONTINUATION, and DATA/HEADERS/PRIORITY rules.
Every case runs over h2c (prior knowledge) and h2 over TLS.

Frames are built by hand (conformance/h2client.py: RawH2). As in h2spec, a connection error is a
GOAWAY with the expected code or (accepted) a plain close; a stream error is an RST_STREAM with
the expected code on that stream, or a connection error with it."""

from __future__ import annotations

import struct

import pytest

import berth
import h2client as h2
from h2client import (CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PING,
                PRIORITY, RST_STREAM, SETTINGS, WINDOW_UPDATE, frame, request_headers)

CONFIG = """
[server]
graceful_timeout = 2s

[routes:line]
/ = {tmp}/site
/echo = echo
/heartbeat = heartbeat

[app:echo]
call = berth.echo
max_echo = 1M

[app:heartbeat]
call = berth.heartbeat
"""

TEXT = b"0123456789" * 10


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"site/text.txt": TEXT,
                                              "site/big.bin": b"b" * (256 * 1024)}, tls=True)


@pytest.fixture(params=["h2c", "h2-tls"])
def conn(request, srv):
    tls = request.param == "h2-tls"
    c = h2.RawH2(srv.tls_port if tls else srv.port, tls=tls, timeout=3.0)
    yield c
    c.close()


def connection_error(c: h2.RawH2, *codes: int) -> None:
    code = c.connection_error(3.0)
    assert code is not None, f"neither GOAWAY nor close; frames {c.frames!r}"
    assert code == -1 or code in codes, (
        f"GOAWAY {h2.ERROR_NAMES.get(code, code)}, expected "
        f"{[h2.ERROR_NAMES[x] for x in codes]}; frames {c.frames!r}")


def stream_error(c: h2.RawH2, stream_id: int, *codes: int) -> None:
    f = c.read_until(lambda f: (f.type == RST_STREAM and f.stream_id == stream_id)
                     or f.type == GOAWAY, 3.0)
    if f is None:
        assert c.closed, f"no RST_STREAM on stream {stream_id}; frames {c.frames!r}"
        return
    assert f.error_code in codes, (f"{f!r}, expected {[h2.ERROR_NAMES[x] for x in codes]}; "
                                   f"frames {c.frames!r}")


def status_of(c: h2.RawH2, stream_id: int) -> int | None:
    f = c.stream_outcome(stream_id, 3.0)
    assert f is not None, f"no answer on stream {stream_id}; frames {c.frames!r}"
    assert f.type == HEADERS, f"{f!r}; frames {c.frames!r}"
    return c.response_status(f)


def still_serving(c: h2.RawH2, stream_id: int) -> None:
    """The connection survived: a PING is acknowledged and a new stream is served."""
    assert c.is_open(2.0), f"connection did not survive; frames {c.frames!r}"
    c.get(stream_id, "/heartbeat")
    assert status_of(c, stream_id) == 200


# ---------------------------------------------------------------------------------------------
# 3.4 Connection preface
# ---------------------------------------------------------------------------------------------

def test_server_preface_is_settings(conn):
    conn.start()
    first = conn.read_frame()
    assert first is not None and first.type == SETTINGS and not first.ack, conn.frames
    assert conn.read_until(lambda f: f.type == SETTINGS and f.ack), "our SETTINGS not ACKed"


def test_invalid_preface_closes(conn):
    conn.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + h2.settings_frame())
    data_or_goaway, closed = conn.wait_goaway_or_close(3.0)
    assert closed, f"connection still open after a bad preface; frames {conn.frames!r}"


def test_first_frame_not_settings_is_protocol_error(conn):
    conn.send(h2.PREFACE + h2.ping())
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_request_over_prior_knowledge(conn):
    conn.handshake()
    conn.get(1, "/text.txt")
    assert status_of(conn, 1) == 200
    body = b""
    while True:
        f = conn.read_until(lambda f: f.type == DATA and f.stream_id == 1)
        assert f is not None, conn.frames
        body += f.payload
        if f.end_stream:
            break
    assert body == TEXT


# ---------------------------------------------------------------------------------------------
# 4.1-4.2 Frame format and size
# ---------------------------------------------------------------------------------------------

def test_unknown_frame_type_is_ignored(conn):
    conn.handshake()
    conn.send(frame(0xFE, 0xFF, 0, b"whatever"))
    still_serving(conn, 1)


def test_unknown_flags_are_ignored(conn):
    conn.handshake()
    conn.send(frame(PING, 0xF0, 0, b"12345678"))
    f = conn.read_until(lambda f: f.type == PING)
    assert f is not None and f.ack and f.payload == b"12345678", conn.frames


def test_reserved_bit_in_stream_id_is_ignored(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    raw = frame(HEADERS, END_STREAM | END_HEADERS, 1, block)
    conn.send(raw[:5] + struct.pack(">I", 0x80000001) + raw[9:])  # R bit set on stream 1
    assert status_of(conn, 1) == 200


def test_data_frame_over_max_frame_size_is_frame_size_error(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(DATA, END_STREAM, 1, b"x" * 16385))
    stream_error(conn, 1, h2.FRAME_SIZE_ERROR)


def test_data_frame_of_max_size_is_accepted(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(DATA, END_STREAM, 1, b"x" * 16384))
    assert status_of(conn, 1) == 200


def test_headers_frame_over_max_frame_size_is_frame_size_error(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat", extra=[("x-pad", "p" * 8000)] * 3))
    assert len(block) > 16384
    conn.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    connection_error(conn, h2.FRAME_SIZE_ERROR)


def test_length_field_larger_than_payload_then_close(conn):
    """A frame that claims more bytes than arrive: the server waits, no crash, no reply."""
    conn.handshake()
    conn.send(frame(PING, 0, 0, b"1234", length=8))
    assert conn.read_until(lambda f: f.type == PING, 0.5) is None


# ---------------------------------------------------------------------------------------------
# 4.3 Header compression (HPACK)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("block", [b"\x80", b"\xff\xff\x7f", b"\x7f\x00", b"\x3f\xe1\xff\xff\xff\x0f"],
                         ids=["index_0", "index_beyond_table", "literal_index_beyond_table",
                              "table_size_update_too_big"])
def test_invalid_header_block_is_compression_error(conn, block):
    conn.handshake()
    conn.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    connection_error(conn, h2.COMPRESSION_ERROR)


@pytest.mark.parametrize("tail", [b"\x00\x01x\x82\x1f\xff", b"\x00\x01x\x81\x18",
                                  b"\x00\x01x\x84\xff\xff\xff\xff", b"\x20"],
                         ids=["huffman_padding_over_7_bits", "huffman_padded_with_zeros",
                              "huffman_eos", "table_size_update_at_the_end"])
def test_bad_hpack_after_good_fields_is_compression_error(conn, tail):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat")) + tail
    conn.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    connection_error(conn, h2.COMPRESSION_ERROR)


def test_dynamic_table_is_shared_across_streams(conn):
    conn.handshake()
    hdrs = request_headers("/heartbeat", extra=[("x-custom", "value-kept-in-the-table")])
    conn.headers(1, hdrs)  # the encoder adds x-custom to its dynamic table
    assert status_of(conn, 1) == 200
    block = conn.encode(hdrs)
    assert len(block) < 12, block  # the second block refers to the table
    conn.headers(3, hdrs, block=block)
    assert status_of(conn, 3) == 200


def test_header_block_split_over_continuation(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat", extra=[("x-a", "a" * 100)]))
    conn.send(frame(HEADERS, END_STREAM, 1, block[:10]) + frame(CONTINUATION, 0, 1, block[10:20])
              + frame(CONTINUATION, END_HEADERS, 1, block[20:]))
    assert status_of(conn, 1) == 200


# ---------------------------------------------------------------------------------------------
# 5.1 Stream states and identifiers
# ---------------------------------------------------------------------------------------------

def test_data_on_idle_stream_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(DATA, END_STREAM, 1, b"hello"))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_rst_stream_on_idle_stream_is_protocol_error(conn):
    conn.handshake()
    conn.send(h2.rst_stream(1))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_window_update_on_idle_stream_is_protocol_error(conn):
    conn.handshake()
    conn.send(h2.window_update(1, 100))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_headers_on_half_closed_remote_stream_is_stream_closed(conn):
    conn.handshake()
    conn.send(h2.settings_frame([(h2.INITIAL_WINDOW_SIZE, 0)]))  # keep the stream open
    conn.headers(1, request_headers("/text.txt"))
    conn.headers(1, [("x-late", "1")], end_stream=False)
    stream_error(conn, 1, h2.STREAM_CLOSED, h2.PROTOCOL_ERROR)


def test_data_on_half_closed_remote_stream_is_stream_closed(conn):
    conn.handshake()
    conn.send(h2.settings_frame([(h2.INITIAL_WINDOW_SIZE, 0)]))
    conn.headers(1, request_headers("/text.txt"))
    conn.send(frame(DATA, END_STREAM, 1, b"late"))
    stream_error(conn, 1, h2.STREAM_CLOSED)


def test_data_on_closed_stream(conn):
    conn.handshake()
    conn.get(1, "/heartbeat")
    assert status_of(conn, 1) == 200
    assert conn.read_until(lambda f: f.stream_id == 1 and f.end_stream) is not None
    conn.send(frame(DATA, END_STREAM, 1, b"late"))
    stream_error(conn, 1, h2.STREAM_CLOSED)


def test_even_stream_id_is_protocol_error(conn):
    conn.handshake()
    conn.get(2, "/heartbeat")
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_decreasing_stream_id_is_protocol_error(conn):
    """h2spec 5.1.1/2 (nghttp2 alone ignores it: berthd keeps the ids the client skipped)."""
    conn.handshake()
    conn.get(5, "/heartbeat")
    assert status_of(conn, 5) == 200
    conn.get(3, "/heartbeat")
    connection_error(conn, h2.PROTOCOL_ERROR, h2.STREAM_CLOSED)


def test_skipping_stream_ids_is_allowed_but_a_skipped_id_is_closed(conn):
    conn.handshake()
    conn.get(1, "/heartbeat")
    assert status_of(conn, 1) == 200
    conn.get(9, "/heartbeat")  # 3, 5 and 7 are closed by this (RFC 9113 5.1.1)
    assert status_of(conn, 9) == 200
    still_serving(conn, 11)
    conn.get(7, "/heartbeat")
    connection_error(conn, h2.PROTOCOL_ERROR)
    assert not any(f.stream_id == 7 and f.type == HEADERS for f in conn.frames), conn.frames


def test_trailers_on_a_lower_stream_are_accepted(conn):
    """A stream below the highest one is not a skipped one: its trailers still count."""
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(DATA, 0, 1, b"body"))
    conn.get(3, "/heartbeat")
    assert status_of(conn, 3) == 200
    conn.headers(1, [("x-trailer", "1")], end_stream=True)
    assert status_of(conn, 1) == 200
    assert conn.read_until(lambda f: f.stream_id == 1 and f.end_stream) is not None, conn.frames
    assert not any(f.type == GOAWAY for f in conn.frames), conn.frames


# ---------------------------------------------------------------------------------------------
# 6.1 DATA, 6.2 HEADERS, 6.3 PRIORITY
# ---------------------------------------------------------------------------------------------

def test_data_on_stream_zero_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(DATA, 0, 0, b"x"))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_data_padding_longer_than_payload_is_protocol_error(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(DATA, PADDED | END_STREAM, 1, bytes([10]) + b"abc"))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_headers_on_stream_zero_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(HEADERS, END_STREAM | END_HEADERS, 0, conn.encode(request_headers())))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_padded_headers_are_accepted(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    conn.send(frame(HEADERS, END_STREAM | END_HEADERS | PADDED, 1, bytes([4]) + block + b"\0" * 4))
    assert status_of(conn, 1) == 200


def test_priority_on_stream_zero_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(PRIORITY, 0, 0, struct.pack(">IB", 1, 16)))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_priority_of_wrong_length_is_frame_size_error(conn):
    conn.handshake()
    conn.send(frame(PRIORITY, 0, 1, struct.pack(">I", 0)))
    stream_error(conn, 1, h2.FRAME_SIZE_ERROR)


def test_priority_on_idle_stream_is_allowed(conn):
    conn.handshake()
    conn.send(frame(PRIORITY, 0, 3, struct.pack(">IB", 0, 16)))
    still_serving(conn, 5)


def test_headers_depending_on_itself_is_protocol_error(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    conn.send(frame(HEADERS, END_STREAM | END_HEADERS | h2.PRIORITY_FLAG, 1,
                    struct.pack(">IB", 1, 16) + block))
    stream_error(conn, 1, h2.PROTOCOL_ERROR)


def test_priority_depending_on_itself_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 16)))
    stream_error(conn, 1, h2.PROTOCOL_ERROR)


def test_unknown_frame_inside_a_header_block_is_protocol_error(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    conn.send(frame(HEADERS, END_STREAM, 1, block[:5]) + frame(0xFE, 0, 0, b"x")
              + frame(CONTINUATION, END_HEADERS, 1, block[5:]))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_push_promise_from_client_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(h2.PUSH_PROMISE, END_HEADERS, 1, struct.pack(">I", 2)
                    + conn.encode(request_headers())))
    connection_error(conn, h2.PROTOCOL_ERROR)


# ---------------------------------------------------------------------------------------------
# 6.4 RST_STREAM
# ---------------------------------------------------------------------------------------------

def test_rst_stream_on_stream_zero_is_protocol_error(conn):
    conn.handshake()
    conn.send(h2.rst_stream(0))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_rst_stream_of_wrong_length_is_frame_size_error(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(RST_STREAM, 0, 1, b"\0\0\0"))
    connection_error(conn, h2.FRAME_SIZE_ERROR)


def test_rst_stream_with_unknown_code_cancels_only_that_stream(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(h2.rst_stream(1, 0xABCD))
    still_serving(conn, 3)


# ---------------------------------------------------------------------------------------------
# 6.5 SETTINGS
# ---------------------------------------------------------------------------------------------

def test_settings_are_acknowledged(conn):
    conn.handshake()
    conn.send(h2.settings_frame([(h2.HEADER_TABLE_SIZE, 4096), (0xABC, 7)]))  # unknown id too
    f = conn.read_until(lambda f: f.type == SETTINGS and f.ack)
    assert f is not None and f.payload == b"", conn.frames


def test_settings_ack_with_payload_is_frame_size_error(conn):
    conn.handshake()
    conn.send(frame(SETTINGS, h2.ACK, 0, struct.pack(">HI", 1, 4096)))
    connection_error(conn, h2.FRAME_SIZE_ERROR)


def test_settings_on_a_stream_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(SETTINGS, 0, 1, struct.pack(">HI", 1, 4096)))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_settings_length_not_multiple_of_six_is_frame_size_error(conn):
    conn.handshake()
    conn.send(frame(SETTINGS, 0, 0, b"\0\x01\0\0\x10"))
    connection_error(conn, h2.FRAME_SIZE_ERROR)


@pytest.mark.parametrize("setting,value,code", [
    (h2.ENABLE_PUSH, 2, h2.PROTOCOL_ERROR),
    (h2.INITIAL_WINDOW_SIZE, 2 ** 31, h2.FLOW_CONTROL_ERROR),
    (h2.MAX_FRAME_SIZE, 16383, h2.PROTOCOL_ERROR),
    (h2.MAX_FRAME_SIZE, 2 ** 24, h2.PROTOCOL_ERROR),
], ids=["enable_push_2", "initial_window_2^31", "max_frame_16383", "max_frame_2^24"])
def test_invalid_setting_values(conn, setting, value, code):
    conn.handshake()
    conn.send(h2.settings_frame([(setting, value)]))
    connection_error(conn, code)


def test_initial_window_change_applies_to_open_streams(conn):
    """A zero window stalls the response; a larger INITIAL_WINDOW_SIZE releases it (6.9.2)."""
    conn.handshake([(h2.INITIAL_WINDOW_SIZE, 0)])
    conn.get(1, "/text.txt")
    assert status_of(conn, 1) == 200
    assert conn.read_until(lambda f: f.type == DATA and f.payload, 0.5) is None
    conn.send(h2.settings_frame([(h2.INITIAL_WINDOW_SIZE, 65535)]))
    f = conn.read_until(lambda f: f.type == DATA and f.stream_id == 1 and f.payload)
    assert f is not None and f.payload == TEXT[:len(f.payload)], conn.frames


# ---------------------------------------------------------------------------------------------
# 6.7 PING
# ---------------------------------------------------------------------------------------------

def test_ping_is_acked_with_the_same_payload(conn):
    conn.handshake()
    conn.send(h2.ping(b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    f = conn.read_until(lambda f: f.type == PING)
    assert f is not None and f.ack and f.payload == b"\x01\x02\x03\x04\x05\x06\x07\x08"


def test_ping_ack_from_client_gets_no_answer(conn):
    conn.handshake()
    conn.send(h2.ping(b"unasked!", ack=True))
    assert conn.read_until(lambda f: f.type == PING and f.payload == b"unasked!", 0.5) is None
    assert conn.is_open()


def test_ping_on_a_stream_is_protocol_error(conn):
    conn.handshake()
    conn.send(h2.ping(stream_id=1))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_ping_of_wrong_length_is_frame_size_error(conn):
    conn.handshake()
    conn.send(frame(PING, 0, 0, b"1234567"))
    connection_error(conn, h2.FRAME_SIZE_ERROR)


# ---------------------------------------------------------------------------------------------
# 6.8 GOAWAY
# ---------------------------------------------------------------------------------------------

def test_goaway_on_a_stream_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(GOAWAY, 0, 1, struct.pack(">II", 0, 0)))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_client_goaway_lets_the_server_close(conn):
    conn.handshake()
    conn.send(h2.goaway(0, h2.NO_ERROR))
    _, closed = conn.wait_goaway_or_close(3.0)
    assert closed or conn.is_open(), conn.frames  # closed, or harmless; never a crash


# ---------------------------------------------------------------------------------------------
# 6.9 WINDOW_UPDATE and flow control
# ---------------------------------------------------------------------------------------------

def test_zero_window_update_on_connection_is_protocol_error(conn):
    conn.handshake()
    conn.send(h2.window_update(0, 0))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_zero_window_update_on_stream_is_stream_error(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(h2.window_update(1, 0))
    stream_error(conn, 1, h2.PROTOCOL_ERROR)


def test_window_update_of_wrong_length_is_frame_size_error(conn):
    conn.handshake()
    conn.send(frame(WINDOW_UPDATE, 0, 0, b"\0\0\x01"))
    connection_error(conn, h2.FRAME_SIZE_ERROR)


def test_connection_window_overflow_is_flow_control_error(conn, srv):
    cef = srv.log_path("cef.log")
    since = cef.stat().st_size if cef.exists() else 0
    conn.handshake()
    conn.send(h2.window_update(0, 2 ** 31 - 1) + h2.window_update(0, 2 ** 31 - 1))
    connection_error(conn, h2.FLOW_CONTROL_ERROR)
    # A connection error is a security event too (docs/http2.md), as the floods' are.
    def events():
        text = cef.read_bytes()[since:].decode(errors="replace") if cef.exists() else ""
        return [l for l in text.splitlines() if l.startswith("CEF:")
                and "msg=HTTP/2 connection error: FLOW_CONTROL_ERROR" in l]
    assert berth.wait_until(lambda: events(), berth.LOG_POLL_TIMEOUT), \
        "no cef.log event for the window overflow"


def test_stream_window_overflow_is_flow_control_error(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(h2.window_update(1, 2 ** 31 - 1) + h2.window_update(1, 2 ** 31 - 1))
    stream_error(conn, 1, h2.FLOW_CONTROL_ERROR)


def test_zero_window_then_update_releases_data(conn):
    conn.handshake([(h2.INITIAL_WINDOW_SIZE, 0)])
    conn.get(1, "/text.txt")
    assert status_of(conn, 1) == 200
    assert conn.read_until(lambda f: f.type == DATA and f.payload, 0.5) is None, \
        "DATA sent into a zero window"
    conn.send(h2.window_update(1, 40))
    f = conn.read_until(lambda f: f.type == DATA and f.stream_id == 1 and f.payload)
    assert f is not None and f.payload == TEXT[:40], conn.frames
    assert conn.read_until(lambda f: f.type == DATA and f.payload, 0.3) is None, \
        "more DATA than the window allowed"
    conn.send(h2.window_update(1, 1000))
    f = conn.read_until(lambda f: f.type == DATA and f.stream_id == 1 and f.payload)
    assert f is not None and f.payload == TEXT[40:], conn.frames


def test_response_honours_a_small_window(conn):
    """The server never sends more DATA than the stream window (1000 bytes per update)."""
    conn.handshake([(h2.INITIAL_WINDOW_SIZE, 1000)])
    conn.get(1, "/big.bin")
    assert status_of(conn, 1) == 200
    got = 0
    for _ in range(3):
        while got < 1000 * (_ + 1):
            f = conn.read_until(lambda f: f.type == DATA and f.stream_id == 1, 2.0)
            assert f is not None, conn.frames[-5:]
            got += len(f.payload)
        assert got == 1000 * (_ + 1), got
        assert conn.read_until(lambda f: f.type == DATA and f.payload, 0.2) is None
        conn.send(h2.window_update(1, 1000))


# ---------------------------------------------------------------------------------------------
# 6.10 CONTINUATION
# ---------------------------------------------------------------------------------------------

def test_frame_between_headers_and_continuation_is_protocol_error(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    conn.send(frame(HEADERS, END_STREAM, 1, block[:5]) + h2.ping()
              + frame(CONTINUATION, END_HEADERS, 1, block[5:]))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_continuation_on_another_stream_is_protocol_error(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    conn.send(frame(HEADERS, END_STREAM, 1, block[:5])
              + frame(CONTINUATION, END_HEADERS, 3, block[5:]))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_continuation_after_end_headers_is_protocol_error(conn):
    conn.handshake()
    conn.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, conn.encode(request_headers()))
              + frame(CONTINUATION, END_HEADERS, 1, conn.encode([("x-a", "1")])))
    connection_error(conn, h2.PROTOCOL_ERROR)


def test_continuation_on_stream_zero_is_protocol_error(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    conn.send(frame(HEADERS, END_STREAM, 1, block[:5]) + frame(CONTINUATION, END_HEADERS, 0,
                                                               block[5:]))
    connection_error(conn, h2.PROTOCOL_ERROR)


# ---------------------------------------------------------------------------------------------
# 7 Error codes; 8.1 request/response exchange
# ---------------------------------------------------------------------------------------------

def test_unknown_error_code_in_goaway_is_accepted(conn):
    conn.handshake()
    conn.get(1, "/heartbeat")
    assert status_of(conn, 1) == 200
    conn.send(h2.goaway(1, 0xDEAD))
    _, closed = conn.wait_goaway_or_close(2.0)
    # Either way no crash: the module server answers the next connection.


def test_request_with_trailers(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(DATA, 0, 1, b"body"))
    conn.headers(1, [("x-trailer", "1")], end_stream=True)
    assert status_of(conn, 1) == 200
    f = conn.read_until(lambda f: f.type == DATA and f.stream_id == 1 and f.payload)
    assert f is not None and f.payload == b"body"


def test_trailers_without_end_stream_is_protocol_error(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(DATA, 0, 1, b"body"))
    conn.headers(1, [("x-trailer", "1")], end_stream=False)
    stream_error(conn, 1, h2.PROTOCOL_ERROR)


def test_many_streams_on_one_connection(conn):
    conn.handshake()
    for sid in range(1, 40, 2):
        conn.get(sid, "/heartbeat")
    ended = set()
    while len(ended) < 20:
        f = conn.read_until(lambda f: f.end_stream or f.type in (RST_STREAM, GOAWAY))
        assert f is not None and f.type not in (RST_STREAM, GOAWAY), conn.frames[-5:]
        ended.add(f.stream_id)
    assert ended == set(range(1, 40, 2))
