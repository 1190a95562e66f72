"""Layer 64: cef.log — security events in ArcSight CEF (Mozilla server-core's log_cef):
connections closed for bad input are "BadRequest" events with the client address, the
request's txn id and the reason; good requests log nothing; without log_dir the events go to
standard error."""

from __future__ import annotations

import re
import time
import uuid

import pytest

import berth
from berth import build_request, raw

CONFIG = """
[routes:line]
/echo = echo

[app:echo]
call = berth.echo

[limits]
max_uri_bytes = 1K
header_timeout = 1s
"""

CEF_RE = re.compile(r"^CEF:0\|Mozilla\|Berth\|[^|]+\|(?P<sig>[^|]*)\|(?P<name>[^|]*)\|"
                    r"(?P<sev>\d+)\|(?P<ext>.*)$")


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG)


def cef_lines(srv, since: int = 0, count: int = 1,
              timeout: float = berth.LOG_POLL_TIMEOUT) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = srv.log_path("cef.log").read_bytes()[since:].decode(errors="replace")
        except FileNotFoundError:
            text = ""
        lines = [l for l in text.splitlines() if l.strip()]
        if len(lines) >= count or time.monotonic() >= deadline:
            return lines
        time.sleep(0.05)


def cef_size(srv) -> int:
    try:
        return srv.log_path("cef.log").stat().st_size
    except FileNotFoundError:
        return 0


def ext_fields(ext: str) -> dict[str, str]:
    starts = [m.start(1) for m in re.finditer(r"(?:^| )([A-Za-z0-9]+)=", ext)]
    out = {}
    for n, s in enumerate(starts):
        end = starts[n + 1] - 1 if n + 1 < len(starts) else len(ext)
        key, _, value = ext[s:end].partition("=")
        out[key] = value
    return out


def test_cef_log_exists_at_start(srv):
    assert srv.log_path("cef.log").exists()


@pytest.mark.parametrize("name,data,status", [
    ("cl-and-te", build_request("POST", "/echo", headers=[("Content-Length", "5"),
                                                            ("Transfer-Encoding", "chunked")],
                                body=b"0\r\n\r\n", content_length=False), 400),
    ("bare-lf", b"GET /echo HTTP/1.1\nHost: a\n\n", 400),
    ("uri-too-long", build_request("GET", "/echo?" + "x" * 2000), 414),
    ("bad-version", b"GET /echo HTTP/3.7\r\nHost: a\r\n\r\n", 505),
])
def test_bad_request_is_a_cef_event(srv, name, data, status):
    since = cef_size(srv)
    reply = raw(srv.port, data)
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200]
    txn = re.search(rb"\r\nX-Berth-Txn: *([^\r]+)\r\n", reply, re.I)
    lines = cef_lines(srv, since)
    assert len(lines) == 1, lines
    m = CEF_RE.match(lines[0])
    assert m, lines[0]
    assert m["sig"] == "BadRequest" and m["name"] == "Bad request" and m["sev"] == "3", lines[0]
    ext = ext_fields(m["ext"])
    assert ext["src"] == "127.0.0.1" and int(ext["spt"]) > 0, ext
    assert ext["cn1Label"] == "status" and ext["cn1"] == str(status), ext
    assert ext.get("msg"), ext
    assert "suser" not in ext
    if txn:
        assert ext["cs1Label"] == "txn" and ext["cs1"] == txn.group(1).decode(), ext


def test_header_timeout_is_a_cef_event(srv):
    since = cef_size(srv)
    with srv.conn(timeout=5) as c:
        c.send(b"GET /echo HTTP/1.1\r\nHost: a\r\n")
        assert c.is_closed(timeout=4)
    lines = cef_lines(srv, since)
    assert len(lines) == 1 and "|BadRequest|" in lines[0] and " cn1=408" in lines[0], lines


def test_good_requests_log_nothing(srv):
    since = cef_size(srv)
    for _ in range(3):
        assert srv.request("POST", "/echo", body=b"ok").status == 200
    assert srv.request("GET", "/nothing-here").status == 404
    time.sleep(0.3)
    assert cef_lines(srv, since, timeout=0) == []


def test_hostile_target_stays_one_line(srv):
    since = cef_size(srv)
    mark = uuid.uuid4().hex
    # A valid head whose chunked body is broken: the request fields are known, and the target
    # holds '=' and '\' that must be escaped.
    data = build_request("POST", f"/echo?a=b\\c&m={mark}",
                         headers=[("Transfer-Encoding", "chunked")], body=b"zz\r\n",
                         content_length=False)
    raw(srv.port, data)
    lines = cef_lines(srv, since)
    assert len(lines) == 1, lines
    assert f"request=/echo?a\\=b\\\\c&m\\={mark}" in lines[0], lines[0]
    assert "requestMethod=POST" in lines[0]


def test_without_log_dir_cef_goes_to_stderr(berth_server):
    srv = berth_server(CONFIG, server={"log_dir": ""})
    raw(srv.port, b"GET /echo HTTP/1.1\nHost: a\n\n")
    assert berth.wait_until(lambda: "CEF:0|Mozilla|Berth|" in srv.stderr()), srv.stderr()
    line = next(l for l in srv.stderr().splitlines() if "CEF:0|" in l)
    assert line.startswith("CEF:0|Mozilla|Berth|") and "|BadRequest|" in line, line
