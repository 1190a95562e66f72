"""Layer 52: built-in apps — berth.echo, berth.heartbeat, berth.stats (JSON and JSONP)."""

from __future__ import annotations

import json
import re

import pytest

import berth
from berth import build_request, chunked

CONFIG = """
[routes:line]
/echo = echo
/small = small
/heartbeat = heartbeat
/stats = stats

[app:echo]
call = berth.echo

[app:small]
call = berth.echo
max_echo = 1K

[app:heartbeat]
call = berth.heartbeat

[app:stats]
call = berth.stats
"""


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG)


# ---------------------------------------------------------------------------------------------
# berth.echo
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"", b"hello", bytes(range(256)) * 4, b"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                                  b"x" * 60000],
                         ids=["empty", "text", "all_bytes", "looks_like_http", "60k"])
def test_echo_content_length_body(srv, body):
    with srv.conn(timeout=5) as c:
        resp = c.roundtrip(build_request("POST", "/echo", body=body,
                                         headers=[("Content-Length", str(len(body)))]))
    assert resp.status == 200, resp
    assert resp.body == body


def test_echo_get_without_body(srv):
    resp = srv.request("GET", "/echo")
    assert resp.status == 200 and resp.body == b"", resp


@pytest.mark.parametrize("encoded,expected", [
    (chunked(b"hello", b" ", b"world"), b"hello world"),
    (b"5;name=value\r\nhello\r\n6;quoted=\"a b\"\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", b"0123456789abcdefghij"),
    (b"005\r\nhello\r\n0\r\n\r\n", b"hello"),
    (chunked(b"with", b"-trailer", trailers=b"X-Trailer: 1\r\n"), b"with-trailer"),
    (b"0\r\n\r\n", b""),
], ids=["plain", "extensions", "hex_case", "leading_zeros", "trailer", "empty"])
def test_echo_chunked_request_body(srv, encoded, expected):
    with srv.conn() as c:
        resp = c.roundtrip(build_request("POST", "/echo", headers=[("Transfer-Encoding", "chunked")])
                           + encoded)
        assert resp.status == 200 and resp.body == expected, resp
        # The connection stays usable: the decoder consumed exactly the message.
        assert c.roundtrip(build_request("GET", "/heartbeat")).status == 200


def test_echo_truncates_to_max_echo_and_reads_the_rest(srv):
    body = bytes(range(256)) * 20  # 5 KiB, max_echo is 1 KiB
    with srv.conn(timeout=5) as c:
        resp = c.roundtrip(build_request("POST", "/small", body=body))
        assert resp.status == 200, resp
        assert resp.body == body[:1024]
        # The extra 4 KiB were read and ignored: the next request on the connection is intact.
        nxt = c.roundtrip(build_request("POST", "/small", body=b"next"))
        assert nxt.status == 200 and nxt.body == b"next", nxt


def test_echo_truncates_chunked_body(srv):
    pieces = [b"a" * 700, b"b" * 700, b"c" * 700]
    with srv.conn(timeout=5) as c:
        resp = c.roundtrip(build_request("POST", "/small", headers=[("Transfer-Encoding", "chunked")])
                           + chunked(*pieces))
        assert resp.status == 200 and resp.body == b"".join(pieces)[:1024], resp
        assert c.roundtrip(build_request("GET", "/heartbeat")).status == 200


def test_echo_default_max_echo_is_64k(srv):
    body = b"z" * (100 * 1024)
    with srv.conn(timeout=5) as c:
        resp = c.roundtrip(build_request("POST", "/echo", body=body))
    assert resp.status == 200 and resp.body == body[:64 * 1024], (resp.status, len(resp.body))


# ---------------------------------------------------------------------------------------------
# berth.heartbeat
# ---------------------------------------------------------------------------------------------

def test_heartbeat(srv):
    resp = srv.request("GET", "/heartbeat")
    assert resp.status == 200, resp
    assert resp.body.strip() == b"OK", resp
    berth.assert_common_headers(resp)


def test_heartbeat_head(srv):
    with srv.conn() as c:
        c.send(build_request("HEAD", "/heartbeat") + build_request("GET", "/heartbeat"))
        head = c.recv_response(method="HEAD")
        assert head.status == 200 and head.body == b""
        assert c.recv_response().body.strip() == b"OK"


# ---------------------------------------------------------------------------------------------
# berth.stats
# ---------------------------------------------------------------------------------------------

def stats(srv) -> dict:
    resp = srv.request("GET", "/stats")
    assert resp.status == 200, resp
    assert (resp.header("content-type") or "").split(";")[0].strip() == "application/json", resp
    return json.loads(resp.body)


def test_stats_shape(srv):
    s = stats(srv)
    assert "start_time" in s, s
    assert isinstance(s.get("requests"), int) and not isinstance(s["requests"], bool), s
    assert isinstance(s.get("status"), dict), s
    assert "2xx" in s["status"], s


def test_stats_count_requests_and_statuses(srv):
    before = stats(srv)
    for _ in range(5):
        assert srv.request("GET", "/heartbeat").status == 200
    for _ in range(3):
        assert srv.request("GET", "/not-routed").status == 404

    def counted():
        after = stats(srv)
        return (after["requests"] - before["requests"] >= 8
                and after["status"].get("2xx", 0) - before["status"].get("2xx", 0) >= 5
                and after["status"].get("4xx", 0) - before["status"].get("4xx", 0) >= 3)

    assert berth.wait_until(counted, timeout=3.0, interval=0.2), (before, stats(srv))


def test_stats_request_counter_is_not_wildly_off(srv):
    reads = 0

    def requests_now():
        nonlocal reads
        reads += 1
        return stats(srv)["requests"]

    a = requests_now()
    for _ in range(10):
        srv.request("GET", "/heartbeat")
    berth.wait_until(lambda: requests_now() - a >= 10, timeout=3.0, interval=0.2)
    delta = requests_now() - a
    # Every /stats read is a request too; allow for those and nothing else.
    assert 10 <= delta <= 10 + reads, f"10 requests (+ {reads} stats reads) counted as {delta}"


@pytest.mark.parametrize("param", ["callback", "jsonp"])
def test_stats_jsonp(srv, param):
    resp = srv.request("GET", f"/stats?{param}=cb")
    assert resp.status == 200, resp
    assert (resp.header("content-type") or "").split(";")[0].strip() == "application/javascript", resp
    text = resp.body.decode().strip()
    m = re.fullmatch(r"cb\((.*)\);?", text, re.S)
    assert m, text[:200]
    assert "requests" in json.loads(m.group(1))


def test_stats_jsonp_dotted_name(srv):
    resp = srv.request("GET", "/stats?callback=app.handlers.on_stats_1")
    assert resp.status == 200 and resp.body.startswith(b"app.handlers.on_stats_1("), resp


@pytest.mark.parametrize("name", ["alert(1)", "%3Cscript%3E", "alert%281%29", "a;b", "a%20b", "a%0Ab",
                                  "a%22b", "%27", "x%3Dy"],
                         ids=["parens_raw", "script_tag", "parens_encoded", "semicolon", "space",
                              "newline", "quote", "apostrophe", "equals"])
def test_stats_jsonp_rejects_bad_callback(srv, name):
    resp = srv.request("GET", f"/stats?callback={name}")
    assert resp.status == 400, resp
    assert b"<script" not in resp.body.lower()
    assert b"alert" not in resp.body
