"""Layer 75: the [limits] timeouts on HTTP/2 connections and streams (issue #8: header, body,
send and idle timeouts per stream and per connection), with 1 s timeouts: an idle connection
is closed, a header block that never ends closes the connection, a stalled request body ends
its stream (408 or RST_STREAM) while the connection keeps serving. (A zero-window reader and
send_timeout: test_73, with idle_timeout left long so that it can't close the connection
first.) Windows as in test_42: between 0.8 s and 3.5 s."""

from __future__ import annotations

import time

import pytest

import h2client as h2
from h2client import DATA, END_STREAM, HEADERS, RST_STREAM, frame, request_headers

CONFIG = """
[limits]
header_timeout = 1s
body_timeout = 1s
idle_timeout = 1s
send_timeout = 1s

[routes:line]
/ = {tmp}/site
/echo = echo
/heartbeat = heartbeat

[app:echo]
call = berth.echo

[app:heartbeat]
call = berth.heartbeat
"""

LOW, HIGH = 0.8, 3.5


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"site/big.bin": b"x" * (1 << 20)}, tls=True)


@pytest.fixture(params=["h2c", "h2-tls"])
def conn(request, srv):
    tls = request.param == "h2-tls"
    c = h2.RawH2(srv.tls_port if tls else srv.port, tls=tls, timeout=6.0)
    yield c
    c.close()


def closed_after(c: h2.RawH2, t0: float) -> float:
    ga, closed = c.wait_goaway_or_close(6.0)
    assert closed, f"connection still open after 6 s; frames {c.frames!r}"
    if ga is not None:
        assert ga.error_code in (h2.NO_ERROR, h2.PROTOCOL_ERROR, h2.ENHANCE_YOUR_CALM), ga
    return time.monotonic() - t0


def test_idle_connection_is_closed(conn):
    conn.handshake()
    elapsed = closed_after(conn, time.monotonic())
    assert LOW <= elapsed <= HIGH, f"idle h2 connection closed after {elapsed:.2f}s"


def test_idle_after_a_request_is_closed(conn):
    conn.handshake()
    conn.get(1, "/heartbeat")
    assert conn.read_until(lambda f: f.stream_id == 1 and f.end_stream) is not None, conn.frames
    elapsed = closed_after(conn, time.monotonic())
    assert LOW <= elapsed <= HIGH, f"idle h2 connection closed after {elapsed:.2f}s"


def test_header_block_that_never_ends_closes_the_connection(conn):
    conn.handshake()
    block = conn.encode(request_headers("/heartbeat"))
    t0 = time.monotonic()
    conn.send(frame(HEADERS, END_STREAM, 1, block))  # no END_HEADERS, no CONTINUATION
    elapsed = closed_after(conn, t0)
    assert LOW <= elapsed <= HIGH, f"closed after {elapsed:.2f}s, header_timeout is 1s"


def test_stalled_request_body_ends_its_stream(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    conn.send(frame(DATA, 0, 1, b"part of a body"))
    t0 = time.monotonic()
    f = conn.read_until(lambda f: (f.stream_id == 1 and f.type in (HEADERS, RST_STREAM))
                        or f.type == h2.GOAWAY, 6.0)
    elapsed = time.monotonic() - t0
    if f is None:
        assert conn.closed, f"stalled body kept for 6 s; frames {conn.frames!r}"
    elif f.type == HEADERS:
        assert conn.response_status(f) == 408, conn.response_status(f)
    assert LOW <= elapsed <= HIGH, f"stream ended after {elapsed:.2f}s, body_timeout is 1s"


def test_other_streams_live_on_after_a_body_timeout(conn):
    conn.handshake()
    conn.headers(1, request_headers("/echo", method="POST"), end_stream=False)
    f = conn.read_until(lambda f: (f.stream_id == 1 and f.type in (HEADERS, RST_STREAM))
                        or f.type == h2.GOAWAY, 6.0)
    assert f is not None and f.type != h2.GOAWAY, \
        f"a body timeout on one stream ended the connection; frames {conn.frames!r}"
    conn.get(3, "/heartbeat")
    g = conn.stream_outcome(3)
    assert g is not None and g.type == HEADERS and conn.response_status(g) == 200, conn.frames
