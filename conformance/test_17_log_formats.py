"""Issue 17, logs: request_log_format = combined | json, request_log = off, log_time = utc,
log_level, journald priority prefixes on stderr (JOURNAL_STREAM), bad values refused."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import uuid

import pytest

import berth
from berth import build_request, run_cli

ROUTES = """
[routes:line]
/echo = echo

[app:echo]
call = berth.echo
"""

# Apache's combined LogFormat: "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\"",
# as goaccess (COMBINED), awstats (LogFormat=1) and fail2ban's apache filters read it.
COMBINED_RE = re.compile(
    r'^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} '
    r'[+-]\d{4})\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$')


def marker() -> str:
    return uuid.uuid4().hex


def test_combined_is_apache_format(berth_server):
    srv = berth_server(ROUTES, server={"request_log_format": "combined"})
    mark = marker()
    resp = srv.request("GET", f"/echo?m={mark}",
                       headers=[("User-Agent", "Mozilla/5.0 (X11) t/1"),
                                ("Referer", "https://example.org/from")])
    assert resp.status == 200
    lines = srv.request_log_lines(contains=mark)
    assert len(lines) == 1, lines
    m = COMBINED_RE.match(lines[0])
    assert m, f"not Apache combined: {lines[0]!r}"
    assert m["host"] == "127.0.0.1"
    assert (m["ident"], m["user"]) == ("-", "-")
    assert m["request"] == f"GET /echo?m={mark} HTTP/1.1"
    assert m["status"] == "200"
    assert int(m["bytes"]) > 0
    assert m["referer"] == "https://example.org/from"
    assert m["agent"] == "Mozilla/5.0 (X11) t/1"
    stamp = dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 60

    # A request line that does not parse is "-", and a quote a client sends stays escaped.
    with socket.create_connection((berth.HOST, srv.port), timeout=3) as s:
        s.sendall(b"NOT-HTTP\r\n\r\n")
        s.recv(4096)
    srv.request("GET", "/echo?q=\"x\"", headers=[("User-Agent", 'a"b' + mark)])
    lines = srv.request_log_lines(count=3)
    assert len(lines) >= 3
    for line in lines:
        assert COMBINED_RE.match(line), f"not Apache combined: {line!r}"
    assert any('"-" 400 ' in line for line in lines), lines
    assert any('"a\\x22b' + mark + '"' in line for line in lines), lines


def test_user_agent_and_referer_found_whatever_their_case(berth_server):
    # Header names are case-insensitive (RFC 9110 5.1): the first User-Agent and Referer are
    # logged however a client spells them, and a name that only looks alike is not taken.
    srv = berth_server(ROUTES, server={"request_log_format": "combined"})
    mark = marker()
    with srv.conn() as c:
        c.send(build_request("GET", f"/echo?m={mark}", headers=[
            ("User-Agenu", "near"), ("USER_AGENT", "near"), ("Referers", "near"),
            ("uSeR-aGeNt", "first-" + mark), ("REFERER", "https://r.example/" + mark),
            ("User-Agent", "second"), ("Referer", "https://second.example/")]))
        assert c.recv_response().status == 200
        c.send(build_request("GET", f"/echo?n={mark}", headers=[
            ("User-Agenu", "near"), ("Refere", "near"), ("Xeferer", "near")]))
        assert c.recv_response().status == 200
    lines = srv.request_log_lines(contains=mark, count=2)
    assert len(lines) == 2, lines
    first = COMBINED_RE.match(next(line for line in lines if f"?m={mark}" in line))
    assert first and first["agent"] == "first-" + mark
    assert first["referer"] == "https://r.example/" + mark
    other = COMBINED_RE.match(next(line for line in lines if f"?n={mark}" in line))
    assert other and (other["agent"], other["referer"]) == ("-", "-")


def test_json_lines_are_typed(berth_server):
    srv = berth_server(ROUTES, server={"request_log_format": "json"})
    mark = marker()
    ua = "caf\u00e9 \u2028 agent " + mark
    with srv.conn() as c:
        c.send(build_request("POST", f"/echo?m={mark}", body=b"x" * 100,
                             headers=[("User-Agent", ua.encode().decode("latin-1"))]))
        resp = c.recv_response(method="POST")
        port = c.local_port
    assert resp.status == 200
    srv.request("GET", "/echo?second=" + mark)
    lines = srv.request_log_lines(contains=mark, count=2)
    assert len(lines) == 2, lines
    raw = srv.log_path("request.log").read_bytes()
    assert all(b < 0x80 for b in raw), "json request.log must be ASCII (\\u escapes)"
    records = [json.loads(line) for line in lines]  # every line is one JSON text
    r = next(r for r in records if r["method"] == "POST")
    assert r["client"] == f"127.0.0.1:{port}"
    assert r["url"] == f"/echo?m={mark}"
    assert r["version"] == "HTTP/1.1"
    assert r["status"] == 200 and isinstance(r["status"], int)
    assert isinstance(r["bytes_received"], int) and r["bytes_received"] > 100
    assert isinstance(r["bytes_sent"], int) and r["bytes_sent"] > 0
    assert r["txn"] == resp.header("X-Berth-Txn")
    assert re.fullmatch(r"C\d+-R1", r["local_txn"])
    assert r["user"] is None and r["token"] is None and r["referer"] is None
    assert r["user_agent"] == ua
    assert isinstance(r["handling_us"], int) and isinstance(r["sending_us"], int)
    assert r["server"].startswith("test:")
    stamp = dt.datetime.fromisoformat(r["time"])
    assert stamp.tzinfo is not None
    assert re.search(r"\.\d{3}", r["time"]), r["time"]
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 60


def test_log_time_utc(berth_server):
    srv = berth_server(ROUTES, server={"log_time": "utc"})
    mark = marker()
    srv.request("GET", f"/echo?m={mark}")
    line = srv.request_log_lines(contains=mark)[0]
    date, time_, rest = line.split(" ", 2)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", date) and re.fullmatch(r"\d{2}:\d{2}:\d{2}\.\d{3}Z", time_)
    stamp = dt.datetime.strptime(f"{date} {time_}", "%Y-%m-%d %H:%M:%S.%fZ")
    assert abs((dt.datetime.utcnow() - stamp).total_seconds()) < 60
    assert len(line.split(" ")) >= 17  # still Skitai's columns
    first = srv.server_log().splitlines()[0]
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z \[info\] ", first), first


def test_log_level_drops_debug(berth_server):
    debug = berth_server(ROUTES)
    quiet = berth_server(ROUTES, server={"log_level": "warning"})
    for srv in (debug, quiet):
        with socket.create_connection((berth.HOST, srv.port), timeout=3) as s:
            s.sendall(b"BAD\x01 / HTTP/1.1\r\n\r\n")
            s.recv(4096)
        srv.request("GET", "/echo")
    # The default keeps the rejected request's debug line; warning keeps neither debug nor info.
    assert berth.wait_until(lambda: "[debug]" in debug.server_log()), debug.server_log()
    quiet.request_log_lines(count=2)  # the requests are done and logged
    text = quiet.server_log()
    assert "[debug]" not in text and "[info]" not in text, text


def test_request_log_off(berth_server):
    srv = berth_server(ROUTES, server={"request_log": "off"})
    assert srv.request("GET", "/echo").status == 200
    on = srv.server_log()  # written by now: the server is serving
    assert on
    assert not srv.log_path("request.log").exists()


def test_journald_priorities_on_stderr(tmp_path):
    # JOURNAL_STREAM names stderr's device and inode: lines get sd-daemon priority prefixes.
    port = berth.free_port()
    text = berth.render_config(ROUTES, port=port, tmp=tmp_path, server={"log_dir": ""})
    stderr = tmp_path / "berthd.stderr"
    stderr.touch()
    st = os.stat(stderr)
    srv = berth.BerthServer(tmp_path, text, port=port,
                            env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    try:
        srv.start()
        with socket.create_connection((berth.HOST, port), timeout=3) as s:
            s.sendall(b"BAD\x01 / HTTP/1.1\r\n\r\n")
            s.recv(4096)
        assert berth.wait_until(lambda: "<7>" in srv.stderr()), srv.stderr()
    finally:
        srv.stop()
    lines = [l for l in srv.stderr().splitlines() if "[" in l]
    assert any(l.startswith("<6>") and "[info]" in l for l in lines), lines
    assert any(l.startswith("<7>") and "[debug]" in l for l in lines), lines


@pytest.mark.parametrize("key,value", [("request_log_format", "xml"), ("log_time", "mars"),
                                       ("log_level", "loud")])
def test_bad_values_are_config_errors(tmp_path, key, value):
    path, text = berth.write_conf(tmp_path, ROUTES, server={key: value})
    r = run_cli("check", "-c", str(path))
    assert r.returncode != 0
    line = berth.line_of(text, f"{key} = {value}")
    assert f"{path.name}:{line}:" in r.output and key in r.output, r.output
