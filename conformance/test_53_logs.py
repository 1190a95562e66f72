"""Layer 53: request.log (skitai's fields, one line per request, txn = X-Berth-Txn), server.log,
and `berthd log`."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

import berth
from berth import build_request, parse_request_log_line, run_cli

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

UA = "Mozilla/5.0 (X11; Linux x86_64) berth-conformance/1.0"


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"site/index.html": "home"})


def marker() -> str:
    return uuid.uuid4().hex


def one_line(srv, mark: str) -> dict:
    lines = srv.request_log_lines(contains=mark)
    assert len(lines) == 1, f"expected one request.log line containing {mark}, got {lines}"
    fields = parse_request_log_line(lines[0])
    assert fields, f"request.log line does not match the documented format:\n{lines[0]}"
    return fields


def test_request_log_line_fields(srv):
    mark = marker()
    body = b"b" * 1000
    payload = build_request("POST", f"/echo?marker={mark}", body=body, headers=[("User-Agent", UA)])
    with srv.conn() as c:
        c.send(payload)
        resp = c.recv_response(method="POST")
        client_port = c.local_port
    assert resp.status == 200
    f = one_line(srv, mark)

    stamp = dt.datetime.strptime(f"{f['date']} {f['time']}", "%Y.%m.%d %H:%M:%S")
    now_local, now_utc = dt.datetime.now(), dt.datetime.utcnow()
    assert min(abs((stamp - now_local).total_seconds()), abs((stamp - now_utc).total_seconds())) < 120, f
    assert f["client_ip"] == "127.0.0.1", f
    assert int(f["client_port"]) == client_port, f
    assert int(f["server_port"]) == srv.port, f
    assert f["server_name"], f
    assert f["method"] == "POST", f
    assert f["url"] == f"/echo?marker={mark}", f
    assert f["version"] == "HTTP/1.1", f
    assert f["status"] == "200", f
    assert len(body) <= int(f["bytes_received"]) <= len(payload), f
    sent = len(resp.raw_head) + len(resp.body)
    assert len(body) <= int(f["bytes_sent"]) <= sent, (f, sent)
    assert f["global_txn"] == resp.header("x-berth-txn"), (f, resp.header("x-berth-txn"))
    assert f["local_txn"] and f["local_txn"] != "", f
    assert f["user"] == "-" and f["token"] == "-", f
    assert f["user_agent"] == UA, f


def test_one_line_per_request_and_txns_match(srv):
    mark = marker()
    txns = set()
    with srv.conn() as c:
        for i in range(5):
            resp = c.roundtrip(build_request("GET", f"/heartbeat?m={mark}&i={i}"))
            txns.add(resp.header("x-berth-txn"))
    lines = srv.request_log_lines(contains=mark, count=5)
    assert len(lines) == 5, lines
    parsed = [parse_request_log_line(l) for l in lines]
    assert all(parsed), lines
    assert {p["global_txn"] for p in parsed} == txns
    assert len({p["client_port"] for p in parsed}) == 1, "same connection, same client port"


@pytest.mark.parametrize("method,target,version,status", [
    ("GET", "/missing-{m}", "HTTP/1.1", 404),
    ("HEAD", "/heartbeat?{m}", "HTTP/1.1", 200),
    ("GET", "/heartbeat?{m}", "HTTP/1.0", 200),
    ("POST", "/echo?{m}", "HTTP/1.1", 200),
], ids=["404", "head", "http10", "post"])
def test_logged_method_version_status(srv, method, target, version, status):
    mark = marker()
    target = target.replace("{m}", mark)
    resp = srv.request(method, target, version=version)
    assert resp.status == status, resp
    f = one_line(srv, mark)
    assert (f["method"], f["url"], f["version"], f["status"]) == (method, target, version, str(status)), f


def test_request_log_without_user_agent(srv):
    mark = marker()
    srv.request("GET", f"/heartbeat?{mark}")
    lines = srv.request_log_lines(contains=mark)
    assert lines and parse_request_log_line(lines[0]), lines


def test_server_log_mentions_startup(srv):
    assert (srv.log_dir / "server.log").exists(), "no server.log in log_dir"
    text = srv.server_log()
    assert text.strip(), "server.log is empty"
    assert re.search(r"start|listen", text, re.I), text[:500]


def test_berthd_log_prints_request_log_tail(srv):
    mark = marker()
    srv.request("GET", f"/heartbeat?{mark}")
    assert srv.request_log_lines(contains=mark)
    r = run_cli("log", "-c", str(srv.conf_path), "-s", "request", "-n", "4096")
    assert r.returncode == 0, r
    assert mark in r.stdout, r
    content = (srv.log_dir / "request.log").read_text()
    out = r.stdout.rstrip("\n")
    assert content.rstrip("\n").endswith(out), "output is not the tail of request.log"
    assert len(out.encode()) <= 4096, len(out.encode())


def test_berthd_log_respects_byte_count(srv):
    for _ in range(5):
        srv.request("GET", f"/heartbeat?{marker()}")
    assert len(srv.request_log_lines(count=5)) >= 5
    r = run_cli("log", "-c", str(srv.conf_path), "-s", "request", "-n", "100")
    assert r.returncode == 0, r
    out = r.stdout.rstrip("\n")
    assert len(out.encode()) <= 100, r
    assert (srv.log_dir / "request.log").read_text().rstrip("\n").endswith(out)


def test_berthd_log_server(srv):
    text = srv.server_log()
    r = run_cli("log", "-c", str(srv.conf_path), "-s", "server", "-n", "65536")
    assert r.returncode == 0, r
    last = [l for l in text.splitlines() if l.strip()][-1]
    assert last in r.stdout, r


def test_request_log_escapes_non_ascii_like_nginx(srv):
    """NEL, U+2028, invalid UTF-8, quotes and backslashes in client values are written as
    \\xHH: no viewer can see a line break or a forged line, and the line splits on spaces."""
    mark = marker()
    ua = b'evil\xc2\x85forged\xe2\x80\xa8line\xff "q" \\ end'
    target = f"/heartbeat?{mark}".encode()
    payload = b"GET " + target + b" HTTP/1.1\r\nHost: a\r\nUser-Agent: " + ua + b"\r\n\r\n"
    with srv.conn() as c:
        c.send(payload)
        resp = c.recv_response()
    assert resp.status == 200, resp
    assert srv.request_log_lines(contains=mark)
    raw_lines = [l for l in (srv.log_dir / "request.log").read_bytes().split(b"\n")
                 if mark.encode() in l]
    assert len(raw_lines) == 1, raw_lines
    line = raw_lines[0]
    assert all(0x20 <= b < 0x7F for b in line), line
    text = line.decode("ascii")
    assert ('"evil\\xC2\\x85forged\\xE2\\x80\\xA8line\\xFF \\x22q\\x22 \\x5C end"'
            in text), text
    assert parse_request_log_line(text), text
