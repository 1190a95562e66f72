"""Layer 40: HTTP/1.1 message framing and request smuggling (HOSTILE-INPUTS cases 1-15).

Every hostile request is followed, in the same write, by a valid pipelined request
(``FOLLOW``). A rejected request must get exactly one error response and then a closed
connection: a second response would mean the server kept parsing a stream it can't trust, i.e.
something was smuggled. After every case a fresh connection must still be served.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest

import berth
from berth import assert_common_headers, assert_error_body, build_request

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

FILES = {"site/index.html": "<html><body>index</body></html>\n"}

FOLLOW = b"GET /heartbeat?smuggled=1 HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files=FILES)


def req(*header_lines, method=b"POST", target=b"/echo", version=b"HTTP/1.1", body=b"",
        host=True) -> bytes:
    """A request head from raw header lines (bytes or str), exactly as given."""
    enc = [h if isinstance(h, bytes) else h.encode("latin-1") for h in header_lines]
    lines = [method + b" " + target + b" " + version]
    if host:
        lines.append(b"Host: a")
    return b"\r\n".join(lines + enc) + b"\r\n\r\n" + body


def chunked_post(body: bytes, *extra) -> bytes:
    return req(b"Transfer-Encoding: chunked", *extra, body=body)


# (id, payload, acceptable statuses, connection must close)
ALWAYS = True
UNCHECKED = None
REJECTS = [
    # -- case 1/2: CL and TE together ------------------------------------------------------
    ("cl_te", req("Content-Length: 6", "Transfer-Encoding: chunked", body=b"0\r\n\r\nG"), (400,), ALWAYS),
    ("te_cl", req("Transfer-Encoding: chunked", "Content-Length: 3",
                  body=b"8\r\nSMUGGLED\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("cl_te_zero", req("Content-Length: 0", "Transfer-Encoding: chunked",
                       body=b"5\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    # -- case 3: duplicate Content-Length --------------------------------------------------
    ("dup_cl_different", req("Content-Length: 5", "Content-Length: 6", body=b"hello!"), (400,), ALWAYS),
    ("dup_cl_equal", req("Content-Length: 5", "Content-Length: 5", body=b"hello"), (400,), ALWAYS),
    ("cl_list_different", req("Content-Length: 5, 6", body=b"hello!"), (400,), ALWAYS),
    # -- case 4: malformed Content-Length --------------------------------------------------
    ("cl_plus", req("Content-Length: +5", body=b"hello"), (400,), ALWAYS),
    ("cl_negative", req("Content-Length: -1", body=b"hello"), (400,), ALWAYS),
    ("cl_hex", req("Content-Length: 0x5", body=b"hello"), (400,), ALWAYS),
    ("cl_empty", req("Content-Length: ", body=b"hello"), (400,), ALWAYS),
    ("cl_underscore", req("Content-Length: 1_0", body=b"helloworld"), (400,), ALWAYS),
    ("cl_overflow", req("Content-Length: 99999999999999999999", body=b"hello"), (400,), ALWAYS),
    ("cl_inner_space", req("Content-Length: 05 5", body=b"hello"), (400,), ALWAYS),
    ("cl_suffix", req("Content-Length: 5x", body=b"hello"), (400,), ALWAYS),
    # -- case 5/6: Transfer-Encoding -------------------------------------------------------
    ("te_http10", req("Transfer-Encoding: chunked", version=b"HTTP/1.0",
                      body=b"5\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("te_chunked_chunked", chunked_post(b"5\r\nhello\r\n0\r\n\r\n").replace(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked, chunked"), (400,), ALWAYS),
    ("te_leading_comma", chunked_post(b"5\r\nhello\r\n0\r\n\r\n").replace(
        b"Transfer-Encoding: chunked", b"Transfer-Encoding: ,chunked"), (400,), ALWAYS),
    ("te_two_lines", chunked_post(b"5\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
     (400,), ALWAYS),
    ("te_gzip", req("Transfer-Encoding: gzip", body=b"hello"), (400, 501), ALWAYS),
    ("te_xchunked", req("Transfer-Encoding: xchunked", body=b"5\r\nhello\r\n0\r\n\r\n"), (400, 501), ALWAYS),
    ("te_chunked_identity", req("Transfer-Encoding: chunked, identity",
                                body=b"5\r\nhello\r\n0\r\n\r\n"), (400, 501), ALWAYS),
    ("te_gzip_chunked", req("Transfer-Encoding: gzip, chunked", body=b"5\r\nhello\r\n0\r\n\r\n"),
     (400, 501), ALWAYS),
    ("te_vertical_tab", req(b"Transfer-Encoding: chunked\x0b", body=b"5\r\nhello\r\n0\r\n\r\n"),
     (400, 501), ALWAYS),
    ("te_obs_fold", req(b"Transfer-Encoding:\r\n chunked", body=b"5\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("te_space_before_colon", req(b"Transfer-Encoding : chunked", body=b"5\r\nhello\r\n0\r\n\r\n"),
     (400,), ALWAYS),
    ("te_tab_before_colon", req(b"Transfer-Encoding\t: chunked", body=b"5\r\nhello\r\n0\r\n\r\n"),
     (400,), ALWAYS),
    # -- case 7: bad chunk sizes -----------------------------------------------------------
    ("chunk_0x", chunked_post(b"0x5\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_plus", chunked_post(b"+5\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_minus", chunked_post(b"-5\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_leading_space", chunked_post(b" 5\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_space_before_ext", chunked_post(b"5 ;ext\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_empty_size", chunked_post(b"\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_not_hex", chunked_post(b"zz\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    # Its first 16 digits already announce 2^60 bytes: refused as too large (413) before the 17th
    # digit is read. The zero-padded row below shows the digit cap itself (400).
    ("chunk_17_digits_overflow", chunked_post(b"10000000000000005\r\nhello\r\n0\r\n\r\n"), (400, 413), ALWAYS),
    ("chunk_17_digits_zero_padded", chunked_post(b"00000000000000005\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_16_digits_huge", chunked_post(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), (400, 413), ALWAYS),
    ("chunk_data_longer", chunked_post(b"5\r\nhelloXX\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_data_shorter", chunked_post(b"5\r\nhel\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_missing_crlf", chunked_post(b"5\r\nhello0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_bare_cr_in_ext", chunked_post(b"5;a=b\rX\r\nhello\r\n0\r\n\r\n"), (400,), ALWAYS),
    ("chunk_bare_lf", chunked_post(b"5\nhello\n0\n\n"), (400,), ALWAYS),
    # -- case 8: bare LF / bare CR ---------------------------------------------------------
    ("bare_lf_everywhere", b"GET /heartbeat HTTP/1.1\nHost: a\n\n", (400,), ALWAYS),
    ("bare_lf_request_line", b"GET /heartbeat HTTP/1.1\nHost: a\r\n\r\n", (400,), ALWAYS),
    ("bare_lf_one_header", b"GET /heartbeat HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", (400,), ALWAYS),
    ("bare_cr_in_value", req(b"X-A: a\rb", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("bare_cr_as_terminator", b"GET /heartbeat HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", (400,), ALWAYS),
    ("bare_cr_end_of_head", b"GET /heartbeat HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n", (400,), ALWAYS),
    ("bare_cr_request_line", b"GET /heartbeat HTTP/1.1\rHost: a\r\n\r\n", (400,), ALWAYS),
    # -- case 9: obs-fold ------------------------------------------------------------------
    ("obs_fold_space", req(b"X-A: a\r\n b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("obs_fold_tab", req(b"X-A: a\r\n\tb", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("obs_fold_content_length", req(b"Content-Length:\r\n 5", body=b"hello"), (400,), ALWAYS),
    # -- case 10: whitespace before the colon ----------------------------------------------
    ("space_before_colon", req(b"X-A : b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("space_before_colon_cl", req(b"Content-Length : 5", body=b"hello"), (400,), ALWAYS),
    # -- case 11: illegal bytes in fields --------------------------------------------------
    ("nul_in_value", req(b"X-A: a\x00b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("ctl_01_in_value", req(b"X-A: a\x01b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("ctl_1f_in_value", req(b"X-A: a\x1fb", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("del_in_value", req(b"X-A: a\x7fb", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("name_at_sign", req(b"X@A: b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("name_space", req(b"X A: b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("name_del", req(b"X\x7fA: b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("name_nbsp", req(b"X\xa0A: b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("name_paren", req(b"X(A): b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("name_nul", req(b"X\x00A: b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("name_empty", req(b": x", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("line_without_colon", req(b"NoColonHere", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    # -- case 12: Host ---------------------------------------------------------------------
    ("host_missing", req(method=b"GET", target=b"/heartbeat", host=False), (400,), ALWAYS),
    ("host_duplicate_same", req(b"Host: a", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("host_duplicate_different", req(b"Host: b", method=b"GET", target=b"/heartbeat"), (400,), ALWAYS),
    ("host_with_space", req(b"Host: a b", method=b"GET", target=b"/heartbeat", host=False), (400,), ALWAYS),
    ("host_with_userinfo", req(b"Host: a@b", method=b"GET", target=b"/heartbeat", host=False), (400,), ALWAYS),
    # -- case 13: request-target forms -----------------------------------------------------
    ("target_no_slash", req(method=b"GET", target=b"admin"), (400,), ALWAYS),
    ("target_options_star_path", req(method=b"OPTIONS", target=b"*/x"), (400,), ALWAYS),
    ("target_fragment", req(method=b"GET", target=b"/heartbeat#frag"), (400,), ALWAYS),
    ("target_get_star", req(method=b"GET", target=b"*"), (400, 405), UNCHECKED),
    ("target_space", req(method=b"GET", target=b"/heart beat"), (400,), ALWAYS),
    ("target_control", req(method=b"GET", target=b"/heart\x01beat"), (400,), ALWAYS),
    ("connect_authority", req(method=b"CONNECT", target=b"x:443"), (400, 405), UNCHECKED),
    ("connect_slash", req(method=b"CONNECT", target=b"/"), (400, 405), UNCHECKED),
    # -- case 14: bad method or version ----------------------------------------------------
    ("version_1_10", req(method=b"GET", target=b"/heartbeat", version=b"HTTP/1.10"), (400,), ALWAYS),
    ("version_01_1", req(method=b"GET", target=b"/heartbeat", version=b"HTTP/01.1"), (400,), ALWAYS),
    ("version_lowercase", req(method=b"GET", target=b"/heartbeat", version=b"http/1.1"), (400,), ALWAYS),
    ("version_suffix", req(method=b"GET", target=b"/heartbeat", version=b"HTTP/1.1x"), (400,), ALWAYS),
    ("version_no_minor", req(method=b"GET", target=b"/heartbeat", version=b"HTTP/1"), (400,), ALWAYS),
    ("version_1_2", req(method=b"GET", target=b"/heartbeat", version=b"HTTP/1.2"), (400, 505), ALWAYS),
    ("version_2_0", req(method=b"GET", target=b"/heartbeat", version=b"HTTP/2.0"), (400, 505), ALWAYS),
    ("version_3_0", req(method=b"GET", target=b"/heartbeat", version=b"HTTP/3.0"), (400, 505), ALWAYS),
    ("method_nul", req(method=b"G\x00T", target=b"/heartbeat"), (400, 501), ALWAYS),
    ("method_separator", req(method=b"GE(T", target=b"/heartbeat"), (400, 501), ALWAYS),
    ("method_10k", req(method=b"A" * 10240, target=b"/heartbeat"), (400, 414, 431, 501), ALWAYS),
]


@pytest.mark.parametrize("payload,statuses,must_close",
                         [pytest.param(p, s, c, id=i) for i, p, s, c in REJECTS])
def test_rejected(srv, payload, statuses, must_close):
    with srv.conn() as c:
        c.send(payload + FOLLOW)
        resp = c.recv_response()
        assert resp.status in statuses, f"expected {statuses}, got {resp!r}"
        assert_common_headers(resp)
        assert_error_body(resp)
        if must_close or resp.status == 400:
            assert c.is_closed(2.0), f"connection left open after {resp.status}"
            assert c.buf == b"", f"more data after the error response (smuggled?): {c.buf[:300]!r}"
    srv.assert_serving()


# ---------------------------------------------------------------------------------------------
# Valid-but-unusual requests must be served (a strict parser must not over-reject).
# ---------------------------------------------------------------------------------------------

def test_options_star_is_200(srv):
    with srv.conn() as c:
        resp = c.roundtrip(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", method="OPTIONS")
        assert resp.status == 200, resp
        assert_common_headers(resp)
        assert c.is_open(), "OPTIONS * should not close the connection"


def test_absolute_form_target(srv):
    resp = srv.request("GET", "http://a/heartbeat")
    assert resp.status == 200 and resp.body.strip() == b"OK", resp


def test_leading_crlf_before_request_line_is_ignored(srv):
    with srv.conn() as c:
        resp = c.roundtrip(b"\r\n" + build_request("GET", "/heartbeat"))
        assert resp.status == 200, resp


def test_obs_text_in_value_is_accepted(srv):
    resp = srv.request("GET", "/heartbeat", headers=[("X-Name", "caf\xe9 \xa0x")])
    assert resp.status == 200, resp


def test_transfer_coding_name_is_case_insensitive(srv):
    with srv.conn() as c:
        resp = c.roundtrip(req("Transfer-Encoding: Chunked", body=b"5\r\nhello\r\n0\r\n\r\n"))
        assert resp.status == 200 and resp.body == b"hello", resp


def test_http10_without_host_is_served(srv):
    with srv.conn() as c:
        resp = c.roundtrip(b"GET /heartbeat HTTP/1.0\r\n\r\n")
        assert resp.status == 200, resp


def test_header_value_whitespace_is_trimmed(srv):
    with srv.conn() as c:
        resp = c.roundtrip(req("Content-Length: \t 5 \t", body=b"hello"))
        assert resp.status == 200 and resp.body == b"hello", resp


# ---------------------------------------------------------------------------------------------
# Case 15 and 26: empty, stray and abrupt connections
# ---------------------------------------------------------------------------------------------

def test_empty_connection_is_harmless(srv):
    for _ in range(5):
        socket.create_connection((berth.HOST, srv.port), timeout=2).close()
    assert srv.assert_serving().status in (200, 404)


@pytest.mark.parametrize("junk", [b"\r\n", b"\r\n\r\n", b"\r\n" * 50],
                         ids=["one_crlf", "two_crlf", "fifty_crlf"])
def test_only_crlf_then_close_is_silent(srv, junk):
    with srv.conn() as c:
        c.send(junk)
        c.shutdown_write()
        assert c.is_closed(3.0), "server did not close after the client's EOF"
        assert c.buf == b"", f"server answered stray CRLFs: {c.buf[:200]!r}"
    srv.assert_serving()


def test_reset_mid_headers_is_harmless(srv):
    for _ in range(20):
        s = socket.create_connection((berth.HOST, srv.port), timeout=2)
        s.sendall(b"GET /heartbeat HTTP/1.1\r\nHost: a\r\nX-Partial: abc")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST
    time.sleep(0.1)
    assert srv.request("GET", "/heartbeat").status == 200


def test_reset_mid_body_is_harmless(srv):
    for _ in range(20):
        s = socket.create_connection((berth.HOST, srv.port), timeout=2)
        s.sendall(build_request("POST", "/echo", headers=[("Content-Length", "1000")]) + b"x" * 10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    time.sleep(0.1)
    assert srv.request("POST", "/echo", body=b"still here").body == b"still here"


def test_tls_client_hello_on_plain_port(srv):
    # Start of a TLS 1.2 ClientHello record.
    hello = bytes.fromhex("16030100a5010000a10303") + b"\x00" * 32 + b"\x00\x00\x04\x13\x01\x13\x02\x01\x00"
    data = berth.raw(srv.port, hello + b"\x00" * 100, timeout=3)
    if data:
        resps, _ = berth.parse_responses(data)
        assert resps and resps[0].status == 400, data[:200]
    srv.assert_serving()


def test_h2_preface_on_http1_port(srv):
    # [http2] h2c is on by default: the preface is answered by the HTTP/2 codec (its SETTINGS).
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    data = berth.raw(srv.port, preface, timeout=3)
    if data:
        assert len(data) >= 9 and data[3] == 0x04, data[:200]  # a SETTINGS frame
    srv.assert_serving()


def test_binary_garbage(srv):
    data = berth.raw(srv.port, bytes(range(256)) * 4 + b"\r\n\r\n", timeout=3)
    if data:
        resps, _ = berth.parse_responses(data)
        assert resps and resps[0].status == 400, data[:200]
    srv.assert_serving()
