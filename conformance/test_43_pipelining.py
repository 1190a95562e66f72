"""Layer 43: pipelining (HOSTILE-INPUTS case 16): order, bodies that never swallow the next
request, an invalid request in the middle, and back-pressure."""

from __future__ import annotations

import hashlib
import socket
import time
import uuid

import pytest

import berth
from berth import build_request, chunked

CONFIG = """
[routes:line]
/echo = echo
/heartbeat = heartbeat
/ = {tmp}/site

[app:echo]
call = berth.echo

[app:heartbeat]
call = berth.heartbeat
"""

PAGE = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"site/page.bin": PAGE})


def read_n(conn: berth.RawConn, methods, timeout: float = 5.0):
    out = []
    for m in methods:
        out.append(conn.recv_response(method=m, timeout=timeout))
    return out


def test_three_requests_in_one_write(srv):
    bodies = [b"one", b"two", b"three"]
    with srv.conn() as c:
        c.send(b"".join(build_request("POST", "/echo", body=b) for b in bodies))
        resps = read_n(c, ["POST"] * 3)
        assert [r.status for r in resps] == [200, 200, 200]
        assert [r.body for r in resps] == bodies
        txns = [r.header("x-berth-txn") for r in resps]
        assert len(set(txns)) == 3, f"transaction ids not unique: {txns}"
        assert c.is_open(), "keep-alive connection closed after pipelined requests"


def test_hundred_pipelined_requests_in_order(srv):
    with srv.conn(timeout=5) as c:
        c.send(b"".join(build_request("POST", f"/echo?n={i}", body=b"req-%d" % i) for i in range(100)))
        for i in range(100):
            r = c.recv_response(method="POST", timeout=5)
            assert r.status == 200 and r.body == b"req-%d" % i, (i, r)


def test_valid_invalid_valid(srv):
    m1, m3 = uuid.uuid4().hex, uuid.uuid4().hex
    payload = (build_request("POST", f"/echo?marker={m1}", body=b"first")
               + b"GET /heartbeat HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"
               + build_request("POST", f"/echo?marker={m3}", body=b"third"))
    with srv.conn() as c:
        c.send(payload)
        first = c.recv_response(method="POST")
        assert first.status == 200 and first.body == b"first", first
        second = c.recv_response()
        assert second.status == 400, second
        assert c.is_closed(2.0), "connection left open after the invalid pipelined request"
        assert c.buf == b"", f"the request after the invalid one was answered: {c.buf[:300]!r}"
    # The third request must not have been processed at all.
    assert srv.request_log_lines(contains=m1), "first request missing from request.log"
    time.sleep(0.3)
    assert not srv.request_log_lines(contains=m3, timeout=0), "third request was processed"
    srv.assert_serving()


def test_zero_length_body_then_request(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", headers=[("Content-Length", "0")])
               + build_request("GET", "/heartbeat"))
        a, b = read_n(c, ["POST", "GET"])
        assert a.status == 200 and a.body == b"", a
        assert b.status == 200 and b.body.strip() == b"OK", b


def test_body_does_not_swallow_next_request(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", body=b"hello") + build_request("GET", "/heartbeat"))
        a, b = read_n(c, ["POST", "GET"])
        assert a.body == b"hello", a
        assert b.status == 200 and b.body.strip() == b"OK", b


def test_body_that_looks_like_a_request_stays_a_body(srv):
    inner = build_request("GET", "/heartbeat")
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", body=inner) + build_request("POST", "/echo", body=b"x"))
        a, b = read_n(c, ["POST", "POST"])
        assert a.body == inner, a
        assert b.body == b"x", b
        assert c.is_open()


def test_chunked_body_then_request(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
               + chunked(b"hel", b"lo") + build_request("GET", "/heartbeat"))
        a, b = read_n(c, ["POST", "GET"])
        assert a.body == b"hello", a
        assert b.status == 200 and b.body.strip() == b"OK", b


def test_head_then_get(srv):
    with srv.conn() as c:
        c.send(build_request("HEAD", "/page.bin") + build_request("GET", "/heartbeat"))
        a = c.recv_response(method="HEAD")
        assert a.status == 200 and a.header("content-length") == str(len(PAGE)), a
        b = c.recv_response()
        assert b.status == 200 and b.body.strip() == b"OK", \
            f"response after HEAD is garbled (body sent for HEAD?): {b!r}"


def test_connection_close_in_the_middle_stops_processing(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", body=b"A")
               + build_request("POST", "/echo", body=b"B", headers=[("Connection", "close")])
               + build_request("POST", "/echo", body=b"C"))
        a, b = read_n(c, ["POST", "POST"])
        assert (a.body, b.body) == (b"A", b"B")
        assert "close" in b.connection_tokens(), b
        assert c.is_closed(2.0)
        assert c.buf == b"", "a request after Connection: close was answered"


def test_requests_split_across_many_writes(srv):
    payload = (build_request("POST", "/echo", body=b"split-1")
               + build_request("GET", "/heartbeat")
               + build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
               + chunked(b"split", b"-3"))
    with srv.conn(timeout=5) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(payload), 3):
            c.send(payload[i:i + 3])
            time.sleep(0.002)
        a, b, d = read_n(c, ["POST", "GET", "POST"])
        assert a.body == b"split-1" and b.body.strip() == b"OK" and d.body == b"split-3"


def test_pipelined_large_responses_with_backpressure(srv):
    # 200 requests for a 16 KiB file (3.2 MiB of responses) sent before reading anything:
    # the server must not deadlock, drop or reorder while the client is slow to read.
    n = 200
    with srv.conn(timeout=10) as c:
        c.send(b"".join(build_request("GET", f"/page.bin?i={i}") for i in range(n)))
        time.sleep(0.5)
        digest = hashlib.sha256(PAGE).digest()
        for i in range(n):
            r = c.recv_response(timeout=10)
            assert r.status == 200, (i, r)
            assert hashlib.sha256(r.body).digest() == digest, f"response {i} corrupted"
