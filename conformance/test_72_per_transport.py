"""Layer 72: the content tests per transport — routing, static files (validators, ranges, a 20 MB
file), echo with large bodies both ways, heartbeat, stats, debug, sessions, basic auth and the
size limits, each run over HTTP/1.1, HTTPS/1.1, h2 over TLS (ALPN) and h2c (prior knowledge) by
the ``transport`` parameter (conftest.py). Apps must not know which protocol carried them
(issue #8): the same request gets the same answer on every transport.

HTTP/1-framing cases stay in test_40/42/43/44; the HTTP/1 versions of these tests in
test_41/50/51/52/55/60/62 are the reference the h1 parameter here repeats."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import time
import urllib.parse
import uuid

import pytest

import berth
import h2client as h2
from test_51_static import TRAVERSALS
from test_62_basic_auth import basic, bcrypt_hash

KIB = 1024
BIG = os.urandom(20 * 1024 * 1024 + 5)  # 20 MB: streamed in bounded chunks over h2
TEXT = b"0123456789" * 10
SECRET = "conformance-secret-0123456789abcdef"

CONFIG = """
[routes:line]
/ = {tmp}/site
/echo = echo
/heartbeat = heartbeat
/stats = stats
/__debug__ = debug
/demo = session demo
/private = auth echo
@ vhost.test
/ = {tmp}/vhost

[app:echo]
call = berth.echo
max_echo = 2M

[app:heartbeat]
call = berth.heartbeat

[app:stats]
call = berth.stats

[app:debug]
call = berth.debug

[sessions]
store = sqlite:{tmp}/sessions.db
secret = %s

[app:session]
call = berth.session

[app:demo]
call = berth.session_demo

[app:auth]
call = berth.basic_auth
auth_path = {tmp}/users
realm = Staff Area
allow_insecure = yes
""" % SECRET

FILES = {
    "site/index.html": "<html><body>home</body></html>\n",
    "site/text.txt": TEXT,
    "site/style.css": "body { color: red }\n",
    "site/big.bin": BIG,
    "vhost/id.txt": "vhost",
    "site/dir/index.html": "<p>dir</p>\n",
    "outside/secret.txt": "SECRET=outside",
    "users": f"alice {bcrypt_hash('secret')}\n",
}

LIMITS = """
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
    return module_berth_server(CONFIG, files=FILES, tls=True)


@pytest.fixture(scope="module")
def lsrv(module_berth_server):
    return module_berth_server(LIMITS, tls=True)


def expected_version(transport: str) -> str:
    return "HTTP/2.0" if transport.startswith("h2") else "HTTP/1.1"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Routing (test_50)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host,expected", [("a", b"default"), ("vhost.test", b"vhost"),
                                           ("VHOST.Test:8080", b"vhost")])
def test_vhost_selection(srv, transport, host, expected):
    path = "/id.txt" if expected == b"vhost" else "/text.txt"
    resp = srv.fetch("GET", path, host=host, transport=transport)
    assert resp.status == 200, resp
    assert resp.version == expected_version(transport)
    assert resp.body == (b"vhost" if expected == b"vhost" else TEXT), resp


def test_longest_prefix_and_404(srv, transport):
    assert srv.fetch("GET", "/echo", transport=transport).status == 200
    assert srv.fetch("GET", "/heartbeat", transport=transport).body.strip() == b"OK"
    resp = srv.fetch("GET", "/nothing-here", transport=transport)
    assert resp.status == 404, resp
    berth.assert_common_headers(resp)


# ---------------------------------------------------------------------------------------------
# Static files (test_51)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,ctype", [("/index.html", "text/html"), ("/style.css", "text/css"),
                                        ("/", "text/html")])
def test_static_content_type(srv, transport, path, ctype):
    resp = srv.fetch("GET", path, transport=transport)
    assert resp.status == 200, resp
    assert (resp.header("content-type") or "").split(";")[0] == ctype, resp
    berth.assert_common_headers(resp)


def test_static_etag_304(srv, transport):
    etag = srv.fetch("GET", "/text.txt", transport=transport).header("etag")
    assert etag, "no ETag"
    resp = srv.fetch("GET", "/text.txt", headers=[("If-None-Match", etag)], transport=transport)
    assert resp.status == 304 and resp.body == b"", resp
    assert resp.header("etag") == etag


def test_static_if_modified_since_304(srv, transport):
    lm = srv.fetch("GET", "/text.txt", transport=transport).header("last-modified")
    resp = srv.fetch("GET", "/text.txt", headers=[("If-Modified-Since", lm)], transport=transport)
    assert resp.status == 304 and resp.body == b"", resp


@pytest.mark.parametrize("spec,first,last", [("bytes=0-9", 0, 9), ("bytes=90-", 90, 99),
                                             ("bytes=-5", 95, 99)])
def test_static_range(srv, transport, spec, first, last):
    resp = srv.fetch("GET", "/text.txt", headers=[("Range", spec)], transport=transport)
    assert resp.status == 206, resp
    assert resp.header("content-range") == f"bytes {first}-{last}/100", resp
    assert resp.body == TEXT[first:last + 1]


def test_static_unsatisfiable_range_416(srv, transport):
    resp = srv.fetch("GET", "/text.txt", headers=[("Range", "bytes=100-")], transport=transport)
    assert resp.status == 416, resp
    assert resp.header("content-range") == "bytes */100", resp


def test_static_range_in_the_big_file(srv, transport):
    resp = srv.fetch("GET", "/big.bin", headers=[("Range", "bytes=1000000-1999999")],
                     transport=transport)
    assert resp.status == 206, resp
    assert resp.body == BIG[1000000:2000000]


def test_static_head(srv, transport):
    resp = srv.fetch("HEAD", "/big.bin", transport=transport)
    assert resp.status == 200 and resp.body == b"", resp
    assert resp.header("content-length") == str(len(BIG)), resp


def test_static_20mb_file_streamed_intact(srv, transport):
    resp = srv.fetch("GET", "/big.bin", transport=transport, timeout=20)
    assert resp.status == 200, (resp.status, resp.headers)
    assert len(resp.body) == len(BIG)
    assert sha(resp.body) == sha(BIG)


@pytest.mark.parametrize("target", TRAVERSALS + ["/../outside/secret.txt",
                                                 "/%2e%2e/outside/secret.txt"])
def test_traversal_never_escapes_root(srv, transport, target):
    """HOSTILE case 27 per transport: an h2 :path goes through the same normalisation."""
    try:
        resp = srv.fetch("GET", target, transport=transport)
    except h2.StreamReset:
        return  # refused as malformed: fine
    assert resp.status in (400, 403, 404), (target, resp)
    assert b"root:" not in resp.body and b"SECRET" not in resp.body, (target, resp.body[:100])


# ---------------------------------------------------------------------------------------------
# Apps: echo, heartbeat, stats, debug (test_52, test_55)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 5, 60000, 1024 * 1024 + 3], ids=["empty", "5", "60k", "1M"])
def test_echo_bodies_both_ways(srv, transport, size):
    body = os.urandom(size)
    resp = srv.fetch("POST", "/echo", body=body, transport=transport, timeout=15)
    assert resp.status == 200, resp
    assert len(resp.body) == size and resp.body == body


@pytest.mark.parametrize("trailers", [False, True], ids=["pieces", "pieces_and_trailers"])
def test_echo_body_in_small_pieces(srv, transport, trailers):
    """A body sent in 200 small pieces (h1: chunks; h2: DATA frames), optionally followed by
    trailers (h1: a chunked trailer; h2: a trailing HEADERS frame)."""
    pieces = [bytes([65 + i % 26]) * 1000 for i in range(200)]
    body = b"".join(pieces)
    tls = transport.endswith("tls")
    port = srv.tls_port if tls else srv.port
    if transport.startswith("h1"):
        with berth.RawConn(port, timeout=5, tls=tls) as c:
            c.send(berth.build_request("POST", "/echo", headers=[
                ("Transfer-Encoding", "chunked"), ("Connection", "close")])
                + berth.chunked(*pieces, trailers=b"X-Trailer: 1\r\n" if trailers else b""))
            resp = c.recv_final()
    else:
        with h2.H2Client(port, tls=tls) as c:
            sid = c.request("POST", "/echo", body=body, chunk=1000,
                            trailers=[("x-trailer", "1")] if trailers else ())
            resp = h2.to_response(c.response(sid))
    assert resp.status == 200, resp
    assert resp.body == body


def test_echo_get_without_body(srv, transport):
    resp = srv.fetch("GET", "/echo", transport=transport)
    assert resp.status == 200 and resp.body == b"", resp


def test_heartbeat(srv, transport):
    resp = srv.fetch("GET", "/heartbeat", transport=transport)
    assert resp.status == 200 and resp.body.strip() == b"OK", resp
    berth.assert_common_headers(resp)


def test_stats_counts_the_requests(srv, transport):
    def requests_now() -> int:
        resp = srv.fetch("GET", "/stats", transport=transport)
        assert resp.status == 200, resp
        return json.loads(resp.body)["requests"]

    before = requests_now()
    for _ in range(5):
        assert srv.fetch("GET", "/heartbeat", transport=transport).status == 200
    assert berth.wait_until(lambda: requests_now() - before >= 5, timeout=3.0, interval=0.2)


def test_stats_jsonp(srv, transport):
    resp = srv.fetch("GET", "/stats?callback=cb", transport=transport)
    assert resp.status == 200, resp
    assert re.fullmatch(rb"cb\((.*)\);?\s*", resp.body, re.S), resp.body[:200]


def test_debug_page(srv, transport):
    resp = srv.fetch("GET", "/__debug__?format=json", transport=transport)
    assert resp.status == 200, resp
    assert json.loads(resp.body)["server"]["pid"] == srv.proc.pid


def test_request_log_shows_the_protocol(srv, transport):
    mark = uuid.uuid4().hex
    assert srv.fetch("GET", f"/heartbeat?m={mark}", transport=transport).status == 200
    lines = srv.request_log_lines(contains=mark)
    assert len(lines) == 1, lines
    fields = berth.parse_request_log_line(lines[0])
    assert fields, lines[0]
    assert fields["version"] == expected_version(transport), lines[0]
    assert fields["status"] == "200"


# ---------------------------------------------------------------------------------------------
# Sessions and basic auth (test_60, test_62)
# ---------------------------------------------------------------------------------------------

def _sid_cookie(resp: berth.Response) -> str:
    cookies = [c for c in resp.header_all("set-cookie") if c.startswith("sid=")]
    assert len(cookies) == 1, resp.headers
    return cookies[0].split(";", 1)[0]


def test_session_cookie_round_trip(srv, transport):
    page = srv.fetch("GET", "/demo/", transport=transport)
    assert page.status == 200, page
    assert b"Please enter your name" in page.body
    cookie = _sid_cookie(page)
    token = re.search(rb'name="csrftoken" value="([^"]+)"', page.body)
    assert token, page.body[:500]
    form = urllib.parse.urlencode({"name": "Ada", "csrftoken": html.unescape(token.group(1).decode())})
    posted = srv.fetch("POST", "/demo/setname", transport=transport, body=form.encode(),
                       headers=[("Cookie", cookie),
                                ("Content-Type", "application/x-www-form-urlencoded")])
    assert posted.status == 303, posted
    cookie = _sid_cookie(posted) if posted.header_all("set-cookie") else cookie
    again = srv.fetch("GET", "/demo/", transport=transport, headers=[("Cookie", cookie)])
    assert again.status == 200
    assert b"Welcome: <b>Ada</b>" in again.body, again.body[:500]


def test_basic_auth_401_then_200(srv, transport):
    resp = srv.fetch("GET", "/private", transport=transport)
    assert resp.status == 401, resp
    assert resp.header("www-authenticate") == 'Basic realm="Staff Area", charset="UTF-8"'
    mark = uuid.uuid4().hex
    resp = srv.fetch("POST", f"/private?m={mark}", body=b"payload", transport=transport,
                     headers=[basic("alice", "secret")])
    assert resp.status == 200 and resp.body == b"payload", resp
    fields = berth.parse_request_log_line(srv.request_log_lines(contains=mark)[0])
    assert fields and fields["user"] == "alice"


# ---------------------------------------------------------------------------------------------
# Limits (test_41): 414, 431, 413 — over h2 a 4xx response or RST_STREAM before the body
# ---------------------------------------------------------------------------------------------

def outcome(srv, transport: str, method: str, target: str, headers=(), *,
            declared_length: int | None = None) -> int | str:
    """The status, or "reset" when an h2 stream was refused with RST_STREAM (no body sent
    when declared_length is given: the answer must come from the head alone)."""
    if transport.startswith("h1"):
        hdrs = list(headers) + [("Connection", "close")]
        if declared_length is not None:
            hdrs.append(("Content-Length", str(declared_length)))
        tls = transport == "h1-tls"
        with berth.RawConn(srv.tls_port if tls else srv.port, timeout=5, tls=tls) as c:
            c.send(berth.build_request(method, target, headers=hdrs))
            return c.recv_final().status
    tls = transport == "h2-tls"
    with h2.H2Client(srv.tls_port if tls else srv.port, tls=tls) as c:
        hdrs = [(k.lower(), v) for k, v in headers]
        if declared_length is not None:
            hdrs.append(("content-length", str(declared_length)))
        sid = c.send_headers(method, target, hdrs, end_stream=declared_length is None)
        st = c.response(sid)
        if st.status is None:
            assert st.reset_code is not None
            return "reset"
        return st.status


@pytest.mark.parametrize("size", [5 * KIB, 9 * KIB], ids=["5k", "9k"])
def test_uri_over_limit(lsrv, transport, size):
    got = outcome(lsrv, transport, "GET", "/echo?" + "a" * size)
    assert got in ((414,) if transport.startswith("h1") else (414, "reset")), got
    assert lsrv.fetch("GET", "/heartbeat", transport=transport).status == 200


def test_uri_under_limit(lsrv, transport):
    assert outcome(lsrv, transport, "GET", "/heartbeat?" + "a" * 3 * KIB) == 200


def test_header_block_over_limit(lsrv, transport):
    headers = [(f"X-H{i}", "v" * 4000) for i in range(10)]  # 40 KB > 32K, each field < 8K
    got = outcome(lsrv, transport, "GET", "/heartbeat", headers)
    assert got in ((431,) if transport.startswith("h1") else (431, "reset")), got
    assert lsrv.fetch("GET", "/heartbeat", transport=transport).status == 200


def test_one_huge_field_is_431(lsrv, transport):
    got = outcome(lsrv, transport, "GET", "/heartbeat", [("Cookie", "c=" + "x" * 10 * KIB)])
    assert got in ((431,) if transport.startswith("h1") else (431, "reset")), got


def test_headers_under_limit_are_served(lsrv, transport):
    headers = [(f"X-H{i}", "v" * 2000) for i in range(10)]
    assert outcome(lsrv, transport, "GET", "/heartbeat", headers) == 200


def test_too_many_headers(lsrv, transport):
    headers = [(f"X-N{i}", "1") for i in range(150)]
    got = outcome(lsrv, transport, "GET", "/heartbeat", headers)
    assert got in ((431,) if transport.startswith("h1") else (431, "reset")), got


@pytest.mark.parametrize("length", [64 * KIB + 1, 4 * KIB ** 3], ids=["limit_plus_1", "4GiB"])
def test_declared_body_over_limit_is_refused_before_the_body(lsrv, transport, length):
    t0 = time.monotonic()
    got = outcome(lsrv, transport, "POST", "/echo", declared_length=length)
    assert got in ((413,) if transport.startswith("h1") else (413, "reset")), got
    assert time.monotonic() - t0 < 3.0


def test_body_at_limit_is_served(lsrv, transport):
    body = bytes(range(256)) * 256  # 64 KiB
    resp = lsrv.fetch("POST", "/echo", body=body, transport=transport)
    assert resp.status == 200 and resp.body == body, resp


def test_undeclared_body_growing_past_limit(lsrv, transport):
    """A body without a declared length that grows past the limit: 413 (h1 chunked) or a 413 /
    RST_STREAM on h2, and the connection (h2) survives for other streams."""
    piece = b"z" * (16 * KIB)
    if transport.startswith("h1"):
        tls = transport == "h1-tls"
        with berth.RawConn(lsrv.tls_port if tls else lsrv.port, timeout=5, tls=tls) as c:
            c.send(berth.build_request("POST", "/echo",
                                       headers=[("Transfer-Encoding", "chunked")]))
            for _ in range(8):
                if not c.send(b"%x\r\n%s\r\n" % (len(piece), piece)):
                    break
            assert c.recv_final().status == 413
        return
    tls = transport == "h2-tls"
    with h2.H2Client(lsrv.tls_port if tls else lsrv.port, tls=tls) as c:
        sid = c.send_headers("POST", "/echo", end_stream=False)
        try:
            c.send_body(sid, piece * 8)
        except AssertionError:
            pass  # the server stopped granting window: it refused the body
        st = c.response(sid)
        assert st.status == 413 or st.reset_code is not None, st
        assert c.fetch("GET", "/heartbeat").status == 200  # the connection survived
