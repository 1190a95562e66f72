"""Layer 41: size limits (HOSTILE-INPUTS cases 18-20, 25): 414, 431, 413 and max_connections.

Limits are set low so the cases are cheap; each "over" case has an "just under" twin so a server
that rejects everything can't pass.
"""

from __future__ import annotations

import socket
import time

import pytest

import berth
from berth import NoResponse, assert_common_headers, assert_error_body, build_request

KIB = 1024

CONFIG = """
[limits]
max_uri_bytes = 4K
max_header_bytes = 32K
max_field_bytes = 8K
max_headers = 100
max_body_bytes = 64K

[routes:line]
/echo = echo
/heartbeat = heartbeat

[app:echo]
call = berth.echo
max_echo = 64K

[app:heartbeat]
call = berth.heartbeat
"""


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG)


def send_and_get(srv, payload: bytes, timeout: float = 3.0):
    c = srv.conn(timeout=timeout)
    c.send(payload)
    return c, c.recv_response()


def expect_error(srv, payload: bytes, status: int, must_close: bool):
    c, resp = send_and_get(srv, payload)
    with c:
        assert resp.status == status, resp
        assert_common_headers(resp)
        assert_error_body(resp)
        if must_close:
            assert c.is_closed(2.0), f"connection left open after {status}"
    srv.assert_serving()


# ---------------------------------------------------------------------------------------------
# 414: request line / target
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [5 * KIB, 9 * KIB, 70 * KIB], ids=["5k", "9k", "70k"])
def test_uri_over_limit_is_414_and_close(srv, size):
    target = "/echo?" + "a" * size
    expect_error(srv, build_request("GET", target), 414, must_close=True)


def test_uri_just_under_limit_is_served(srv):
    target = "/echo?" + "a" * (4 * KIB - 200)
    resp = srv.request("GET", target)
    assert resp.status == 200, resp


def test_long_request_line_without_end_is_414_not_a_hang(srv):
    # No CRLF ever arrives: the server must answer once the line is known to be too long.
    c, resp = send_and_get(srv, b"GET /echo?" + b"b" * (16 * KIB))
    with c:
        assert resp.status == 414, resp
        assert c.is_closed(2.0)


# ---------------------------------------------------------------------------------------------
# 431: header block, header count, one field
# ---------------------------------------------------------------------------------------------

def many_headers(count: int, value_size: int):
    return [(f"X-H{i}", "v" * value_size) for i in range(count)]


def test_header_block_over_limit_is_431(srv):
    # 40 fields of 1 KiB: under the count and field limits, over max_header_bytes (32K).
    expect_error(srv, build_request("GET", "/heartbeat", headers=many_headers(40, KIB)), 431,
                 must_close=False)


def test_header_block_128k_is_431(srv):
    expect_error(srv, build_request("GET", "/heartbeat", headers=many_headers(128, KIB)), 431,
                 must_close=False)


def test_header_block_just_under_limit_is_served(srv):
    resp = srv.request("GET", "/heartbeat", headers=many_headers(24, KIB))
    assert resp.status == 200, resp


def test_too_many_headers_is_431(srv):
    expect_error(srv, build_request("GET", "/heartbeat", headers=many_headers(200, 4)), 431,
                 must_close=False)


def test_many_headers_under_limit_is_served(srv):
    resp = srv.request("GET", "/heartbeat", headers=many_headers(90, 4))
    assert resp.status == 200, resp


def test_one_huge_cookie_is_431(srv):
    expect_error(srv, build_request("GET", "/heartbeat", headers=[("Cookie", "c=" + "x" * 16 * KIB)]),
                 431, must_close=False)


def test_one_field_just_under_field_limit_is_served(srv):
    resp = srv.request("GET", "/heartbeat", headers=[("Cookie", "c=" + "x" * 6 * KIB)])
    assert resp.status == 200, resp


# ---------------------------------------------------------------------------------------------
# 413: bodies
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [64 * KIB + 1, 2 * KIB * KIB, 4 * KIB ** 3],
                         ids=["limit_plus_1", "2MiB", "4GiB"])
def test_content_length_over_limit_is_413_before_body(srv, length):
    head = build_request("POST", "/echo", headers=[("Content-Length", str(length))])
    with srv.conn() as c:
        c.send(head)  # and no body at all: the answer must come from the head alone
        t0 = time.monotonic()
        resp = c.recv_response(timeout=2.0)
        assert resp.status == 413, resp
        assert time.monotonic() - t0 < 2.0
        assert_common_headers(resp)
        assert_error_body(resp)
        assert c.is_closed(2.0), "connection left open after 413 with an unread body"
    srv.assert_serving()


def test_body_exactly_at_limit_is_served(srv):
    body = bytes(range(256)) * 256  # 64 KiB
    with srv.conn(timeout=5) as c:
        resp = c.roundtrip(build_request("POST", "/echo", body=body))
    assert resp.status == 200, resp
    assert resp.body == body


def test_chunked_body_growing_past_limit_is_413_and_close(srv):
    piece = b"z" * (16 * KIB)
    head = build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
    with srv.conn(timeout=5) as c:
        c.send(head)
        for _ in range(8):  # 128 KiB in total, twice the limit, no last chunk
            if not c.send(b"%x\r\n%s\r\n" % (len(piece), piece)):
                break
        resp = c.recv_response()
        assert resp.status == 413, resp
        assert_common_headers(resp)
        assert c.is_closed(2.0), "connection left open after 413 mid-body"
    srv.assert_serving()


def test_chunked_body_under_limit_is_served(srv):
    pieces = [b"q" * (15 * KIB)] * 4  # 60 KiB
    with srv.conn(timeout=5) as c:
        resp = c.roundtrip(build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
                           + berth.chunked(*pieces))
    assert resp.status == 200 and resp.body == b"".join(pieces), resp


# ---------------------------------------------------------------------------------------------
# max_connections (case 25)
# ---------------------------------------------------------------------------------------------

MAXCONN_CONFIG = CONFIG.replace("[limits]\n", "[limits]\nmax_connections = 5\nheader_timeout = 5s\n")
PROBE = build_request("GET", "/heartbeat")


def flood(srv, count: int):
    """Open ``count`` connections, send a request on each, and classify them within ~3 s.
    Returns (conns, outcome per conn: 'served' | 'rejected' | 'refused' | 'hung')."""
    conns, outcomes = [], []
    for _ in range(count):
        try:
            conns.append(berth.RawConn(srv.port, timeout=3))
        except OSError:
            outcomes.append("refused")
    for c in conns:
        c.send(PROBE)
    deadline = time.monotonic() + 3.0
    for c in conns:
        try:
            resp = c.recv_response(timeout=max(0.05, deadline - time.monotonic()))
            assert resp.status in (200, 503), resp
            outcomes.append("served" if resp.status == 200 else "rejected")
        except NoResponse as e:
            outcomes.append("hung" if e.reason == "timed out" else "rejected")
    return conns, outcomes


def test_max_connections_caps_concurrent_connections(berth_server):
    srv = berth_server(MAXCONN_CONFIG)
    with srv.conn(timeout=3) as keeper:
        assert keeper.roundtrip(PROBE).status == 200
        conns, outcomes = flood(srv, 10)
        try:
            assert outcomes.count("hung") == 0, \
                f"excess connections left hanging instead of refused/closed: {outcomes}"
            # However the server makes room, no more than 5 connections may be open at once.
            still_open = sum(1 for c in conns if c.is_open(0.2)) + (1 if keeper.is_open(0.2) else 0)
            assert still_open <= 5, f"{still_open} connections open with max_connections = 5 ({outcomes})"
            assert outcomes.count("rejected") + outcomes.count("refused") >= 5, outcomes
        finally:
            for c in conns:
                c.close()
    # Once the flood is gone, new connections are accepted again.
    assert berth.wait_until(lambda: _fresh_ok(srv), timeout=3.0, interval=0.2), \
        "no new connection accepted after the flood closed"


def test_max_connections_existing_keepalive_survives_flood(berth_server):
    srv = berth_server(MAXCONN_CONFIG)
    with srv.conn(timeout=3) as keeper:
        assert keeper.roundtrip(PROBE).status == 200
        conns, outcomes = flood(srv, 10)
        for c in conns:
            c.close()
        time.sleep(0.2)
        assert keeper.is_open(0.1), f"the existing keep-alive connection was dropped for the flood ({outcomes})"
        assert keeper.roundtrip(PROBE).status == 200


def _fresh_ok(srv) -> bool:
    try:
        with srv.conn(timeout=1) as c:
            return c.roundtrip(PROBE).status == 200
    except (OSError, AssertionError):
        return False
