"""Layer 44: connection management and message semantics — keep-alive, Connection: close,
HTTP/1.0, HEAD, Expect: 100-continue (case 17), the headers every response carries, and the
shape of error responses."""

from __future__ import annotations

import email.utils
import time

import pytest

import berth
from berth import assert_common_headers, assert_error_body, build_request

CONFIG = """
[limits]
max_uri_bytes = 4K
max_header_bytes = 32K
max_headers = 100
max_body_bytes = 64K

[routes:line]
/echo = echo
/heartbeat = heartbeat
/ = {tmp}/site

[app:echo]
call = berth.echo

[app:heartbeat]
call = berth.heartbeat
"""

FILES = {"site/index.html": "<p>home</p>\n", "site/dir/index.html": "<p>dir</p>\n"}


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files=FILES)


# ---------------------------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------------------------

def test_http11_is_persistent_by_default(srv):
    with srv.conn() as c:
        for i in range(5):
            resp = c.roundtrip(build_request("POST", "/echo", body=b"n%d" % i))
            assert resp.status == 200 and resp.body == b"n%d" % i, resp
            assert "close" not in resp.connection_tokens(), resp
        assert c.is_open()


def test_connection_close_is_honoured(srv):
    with srv.conn() as c:
        resp = c.roundtrip(build_request("GET", "/heartbeat", headers=[("Connection", "close")]))
        assert resp.status == 200
        assert "close" in resp.connection_tokens(), f"no Connection: close in {resp!r}"
        assert c.is_closed(2.0), "socket not closed after Connection: close"
        assert c.buf == b""


def test_connection_close_token_in_a_list(srv):
    with srv.conn() as c:
        resp = c.roundtrip(build_request("GET", "/heartbeat", headers=[("Connection", "foo, Close")]))
        assert resp.status == 200
        assert c.is_closed(2.0), "Connection: foo, Close not treated as close"


def test_http10_closes_by_default(srv):
    with srv.conn() as c:
        resp = c.roundtrip(build_request("GET", "/heartbeat", version="HTTP/1.0"))
        assert resp.status == 200, resp
        assert c.is_closed(2.0), "HTTP/1.0 connection without keep-alive left open"


def test_http10_keepalive_is_kept_open(srv):
    req = build_request("GET", "/heartbeat", version="HTTP/1.0", headers=[("Connection", "keep-alive")])
    with srv.conn() as c:
        first = c.roundtrip(req)
        assert first.status == 200, first
        assert "keep-alive" in first.connection_tokens(), \
            f"an HTTP/1.0 client needs Connection: keep-alive to keep the connection: {first!r}"
        assert c.is_open(), "HTTP/1.0 keep-alive connection was closed"
        assert c.roundtrip(req).status == 200


# ---------------------------------------------------------------------------------------------
# HEAD
# ---------------------------------------------------------------------------------------------

def test_head_has_headers_but_no_body(srv):
    get = srv.request("GET", "/heartbeat")
    with srv.conn() as c:
        c.send(build_request("HEAD", "/heartbeat") + build_request("GET", "/heartbeat"))
        head = c.recv_response(method="HEAD")
        assert head.status == 200
        assert head.header("content-length") == str(len(get.body)), (head, get)
        after = c.recv_response()
        assert after.status == 200 and after.body == get.body, f"HEAD sent a body: {after!r}"


# ---------------------------------------------------------------------------------------------
# Expect: 100-continue
# ---------------------------------------------------------------------------------------------

def test_expect_100_continue_acceptable_body(srv):
    body = b"hello world"
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", headers=[("Content-Length", str(len(body))),
                                                        ("Expect", "100-continue")]))
        interim = c.recv_response(timeout=2.0)  # no body sent yet
        assert interim.status == 100, f"expected 100 Continue before the body, got {interim!r}"
        assert interim.raw_head.startswith(b"HTTP/1.1 100 Continue\r\n"), interim.raw_head
        c.send(body)
        final = c.recv_response(method="POST")
        assert final.status == 200 and final.body == body, final
        assert c.is_open()


def test_expect_100_continue_chunked(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked"),
                                                        ("Expect", "100-continue")]))
        assert c.recv_response(timeout=2.0).status == 100
        c.send(berth.chunked(b"abc", b"def"))
        final = c.recv_response(method="POST")
        assert final.status == 200 and final.body == b"abcdef", final


def test_expect_100_continue_over_limit_gets_413_without_100(srv):
    with srv.conn() as c:
        c.send(build_request("POST", "/echo", headers=[("Content-Length", str(10 * 1024 * 1024)),
                                                        ("Expect", "100-continue")]))
        resp = c.recv_response(timeout=2.0)
        assert resp.status == 413, f"expected 413 and no 100 Continue, got {resp!r}"
        assert_common_headers(resp)
        assert c.is_closed(2.0), "connection left open after 413 to Expect: 100-continue"
    srv.assert_serving()


# ---------------------------------------------------------------------------------------------
# Headers on every response, error bodies, transaction ids
# ---------------------------------------------------------------------------------------------

RESPONSES = [
    ("200", build_request("GET", "/heartbeat"), 200),
    ("200_echo", build_request("POST", "/echo", body=b"x"), 200),
    ("301", build_request("GET", "/dir"), 301),
    ("400", b"GET /heartbeat HTTP/1.1\r\n\r\n", 400),
    ("404", build_request("GET", "/no/such/file.txt"), 404),
    ("413", build_request("POST", "/echo", headers=[("Content-Length", "1000000")]), 413),
    ("414", build_request("GET", "/" + "u" * 5000), 414),
    ("431", build_request("GET", "/heartbeat", headers=[(f"X-{i}", "v") for i in range(150)]), 431),
]


@pytest.mark.parametrize("payload,status", [pytest.param(p, s, id=i) for i, p, s in RESPONSES])
def test_every_response_has_txn_date_server(srv, payload, status):
    with srv.conn() as c:
        c.send(payload)
        resp = c.recv_response()
        assert resp.status == status, resp
        assert_common_headers(resp)
        if status >= 400:
            assert_error_body(resp)


def test_404_body_text(srv):
    resp = srv.request("GET", "/definitely-missing")
    assert resp.status == 404
    assert resp.body.startswith(b"404 Not Found"), resp


def test_400_body_text(srv):
    with srv.conn() as c:
        c.send(b"GET /heartbeat HTTP/1.1\r\n\r\n")
        resp = c.recv_response()
    assert resp.status == 400
    assert resp.body.startswith(b"400 Bad Request"), resp


def test_txn_ids_are_unique(srv):
    txns = []
    with srv.conn() as c:
        for _ in range(10):
            txns.append(c.roundtrip(build_request("GET", "/heartbeat")).header("x-berth-txn"))
    for _ in range(10):
        txns.append(srv.request("GET", "/heartbeat").header("x-berth-txn"))
    assert all(txns) and len(set(txns)) == len(txns), txns


def test_date_header_is_current(srv):
    resp = srv.request("GET", "/heartbeat")
    sent = email.utils.parsedate_to_datetime(resp.header("date")).timestamp()
    assert abs(sent - time.time()) < 5, resp.header("date")
