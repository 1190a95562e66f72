"""Layer 42: slow and idle clients (HOSTILE-INPUTS cases 21-24) with 1-second timeouts.

Each timeout has two sides: the slow client is cut off close to the deadline (not much later,
not before it), and a client that stays just inside the rules is not cut off.
"""

from __future__ import annotations

import threading
import time

import pytest

import berth
from berth import build_request

CONFIG = """
[limits]
header_timeout = 1s
body_timeout = 1s
idle_timeout = 1s
send_timeout = 1s

[routes:line]
/echo = echo
/heartbeat = heartbeat
/ = {tmp}/site

[app:echo]
call = berth.echo

[app:heartbeat]
call = berth.heartbeat
"""

BIG_SIZE = 16 * 1024 * 1024  # well over loopback socket buffers (tcp_wmem max is ~4 MiB)

# Deadline window for a 1 s timeout: not before ~0.8 s, and no later than 3 s.
EARLIEST, LATEST = 0.8, 3.0


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"site/big.bin": bytes(range(256)) * (BIG_SIZE // 256)})


def assert_in_window(elapsed: float, what: str):
    assert elapsed >= EARLIEST, f"{what} after {elapsed:.2f}s: earlier than the 1 s timeout"
    assert elapsed <= LATEST, f"{what} only after {elapsed:.2f}s (timeout is 1 s)"


def assert_408_or_nothing(data: bytes):
    if data:
        resps, _ = berth.parse_responses(data)
        assert resps and resps[0].status == 408, f"unexpected bytes before close: {data[:300]!r}"


# ---------------------------------------------------------------------------------------------
# header_timeout
# ---------------------------------------------------------------------------------------------

def test_connect_and_send_nothing_closed_silently_at_header_timeout(srv):
    with srv.conn(timeout=6) as c:
        t0 = time.monotonic()
        data = c.read_until_close(6)
        elapsed = time.monotonic() - t0
        assert c.eof, "idle new connection never closed"
        assert_in_window(elapsed, "closed")
        assert data == b"", f"nothing was received, so nothing should be sent: {data[:200]!r}"
    srv.assert_serving()


def test_partial_head_gets_408_then_close(srv):
    with srv.conn(timeout=6) as c:
        c.send(b"GET /heartbeat HTTP/1.1\r\nHost: a\r\n")
        t0 = time.monotonic()
        resp = c.recv_response(timeout=6)
        assert_in_window(time.monotonic() - t0, "408 sent")
        assert resp.status == 408, resp
        berth.assert_common_headers(resp)
        assert c.is_closed(2.0), "connection left open after 408"
    srv.assert_serving()


def slowloris(port: int, interval: float = 0.3, limit: float = 6.0) -> tuple[float, bytes, bool]:
    """Send one header byte every ``interval`` seconds until the server closes.
    Returns (seconds until closed, bytes received, closed?)."""
    payload = b"GET /heartbeat HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 1000
    with berth.RawConn(port, timeout=limit) as c:
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < limit:
            if not c.send(payload[i:i + 1]):
                break
            i += 1
            if c.is_closed(interval):
                break
        elapsed = time.monotonic() - t0
        closed = c.eof or c.send_error is not None
        return elapsed, c.buf, closed


def test_slowloris_closed_at_whole_head_deadline(srv):
    elapsed, data, closed = slowloris(srv.port)
    assert closed, "a client trickling header bytes was never cut off"
    assert_in_window(elapsed, "slowloris closed")
    assert_408_or_nothing(data)
    srv.assert_serving()


def test_slowloris_does_not_block_other_clients(srv):
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", slowloris(srv.port)))
    t.start()
    try:
        time.sleep(0.2)
        for _ in range(5):
            t0 = time.monotonic()
            resp = srv.request("GET", "/heartbeat", timeout=2)
            assert resp.status == 200
            assert time.monotonic() - t0 < 0.5, "a normal request was slowed down by a slow client"
            time.sleep(0.1)
    finally:
        t.join(8)
    assert result["r"][2], "slowloris client not closed"


# ---------------------------------------------------------------------------------------------
# body_timeout
# ---------------------------------------------------------------------------------------------

def test_stalled_body_is_closed_at_body_timeout(srv):
    with srv.conn(timeout=6) as c:
        c.send(build_request("POST", "/echo", headers=[("Content-Length", "100")]) + b"x" * 10)
        t0 = time.monotonic()
        data = c.read_until_close(6)
        elapsed = time.monotonic() - t0
        assert c.eof, "a stalled request body was never cut off"
        assert elapsed <= LATEST + 0.5, f"stalled body closed only after {elapsed:.2f}s"
        assert elapsed >= EARLIEST, f"stalled body closed after {elapsed:.2f}s, before the timeout"
        assert_408_or_nothing(data)
    srv.assert_serving()


def test_slow_body_within_body_timeout_is_served(srv):
    # Gaps of 0.6 s each (under the 1 s body_timeout), 1.8 s in total (over it): body_timeout
    # is between reads, not for the whole body.
    parts = [b"a" * 10, b"b" * 10, b"c" * 10]
    with srv.conn(timeout=5) as c:
        c.send(build_request("POST", "/echo", headers=[("Content-Length", "30")]))
        for p in parts:
            time.sleep(0.6)
            assert c.send(p), "server closed while the body was still arriving in time"
        resp = c.recv_response()
        assert resp.status == 200 and resp.body == b"".join(parts), resp


# ---------------------------------------------------------------------------------------------
# idle_timeout
# ---------------------------------------------------------------------------------------------

def test_idle_keepalive_closed_silently(srv):
    with srv.conn(timeout=6) as c:
        assert c.roundtrip(build_request("GET", "/heartbeat")).status == 200
        t0 = time.monotonic()
        assert c.is_closed(6.0), "idle keep-alive connection never closed"
        assert_in_window(time.monotonic() - t0, "idle connection closed")
        assert c.buf == b"", f"idle close should be silent, got {c.buf[:200]!r}"


def test_keepalive_reused_within_idle_timeout(srv):
    # Three requests 0.6 s apart (1.2 s in total): the idle timer restarts after each response.
    with srv.conn(timeout=3) as c:
        for _ in range(3):
            resp = c.roundtrip(build_request("GET", "/heartbeat"))
            assert resp.status == 200, resp
            time.sleep(0.6)
        assert c.roundtrip(build_request("GET", "/heartbeat")).status == 200


# ---------------------------------------------------------------------------------------------
# send_timeout (case 23: slow read)
# ---------------------------------------------------------------------------------------------

def test_client_that_stops_reading_is_cut_off(srv):
    with berth.RawConn(srv.port, timeout=8, rcvbuf=4096) as c:
        c.send(build_request("GET", "/big.bin"))
        time.sleep(3.0)  # read nothing for three send_timeouts
        t0 = time.monotonic()
        data = c.read_until_close(8)
        assert c.eof, "connection still open after the client stalled past send_timeout"
        assert time.monotonic() - t0 < 8
        assert len(data) < BIG_SIZE, "the whole file arrived: the stalled client was never cut off"
    srv.assert_serving()
