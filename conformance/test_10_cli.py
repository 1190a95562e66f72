"""Layer 10: the berthd command line and process lifecycle (version, check, run/stop)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time

import pytest

import berth
from berth import run_cli

ECHO_ROUTES = """
[routes:line]
/echo = echo

[app:echo]
call = berth.echo
"""


def standalone_conf(tmp_path, body: str = ECHO_ROUTES, port: int = 8080):
    return berth.write_conf(tmp_path, body, port=port)


def test_version_prints_name_and_version():
    r = run_cli("version")
    assert r.returncode == 0, r
    assert re.search(r"(?m)^berthd \d+\.\d+\S*\s*$", r.output), r


def test_unknown_command_fails():
    r = run_cli("no-such-command")
    assert r.returncode != 0, r


def test_check_valid_config_says_ok(tmp_path):
    path, _ = standalone_conf(tmp_path)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 0, r
    assert "configuration OK" in r.output, r
    assert not [l for l in r.lines if f"{path}:" in l and "warning" not in l], r


def test_check_reports_error_with_exit_1(tmp_path):
    path, text = standalone_conf(tmp_path, ECHO_ROUTES + "\n[limits]\nheader_timeout = 3x\n")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    assert "configuration OK" not in r.output, r
    n = berth.line_of(text, "header_timeout = 3x")
    assert f"{path}:{n}: [limits] header_timeout: '3x' is not a duration" in r.lines, r


def test_check_missing_config_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.conf"
    r = run_cli("check", "-c", str(missing))
    assert r.returncode == 1, r
    assert "nope.conf" in r.output, r
    assert "configuration OK" not in r.output, r


def test_check_reports_every_error_in_one_run(tmp_path):
    body = ECHO_ROUTES + "\n[limits]\nheader_timeout = 3x\nmax_body_bytes = lots\nmax_headers = many\n"
    path, text = standalone_conf(tmp_path, body)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    for needle, kind in (("header_timeout = 3x", "duration"), ("max_body_bytes = lots", "size"),
                         ("max_headers = many", "integer")):
        n = berth.line_of(text, needle)
        assert any(l.startswith(f"{path}:{n}: ") and f"is not a{'n' if kind == 'integer' else ''} {kind}" in l
                   for l in r.lines), (needle, r)


def test_run_serves_then_sigterm_stops_cleanly(berth_server):
    srv = berth_server(ECHO_ROUTES)
    resp = srv.request("POST", "/echo", body=b"ping")
    assert resp.status == 200 and resp.body == b"ping"
    rc = srv.signal_and_wait(signal.SIGTERM, timeout=5)
    assert rc is not None, "berthd did not exit within 5 s of SIGTERM"
    assert rc == 0, f"graceful stop should exit 0, got {rc}\n{srv.describe()}"
    with pytest.raises(OSError):
        socket.create_connection((berth.HOST, srv.port), timeout=1).close()


def test_sigterm_with_idle_keepalive_connection_still_exits(berth_server):
    srv = berth_server(ECHO_ROUTES)
    with srv.conn() as c:
        assert c.roundtrip(berth.build_request("GET", "/echo")).status == 200
        t0 = time.monotonic()
        rc = srv.signal_and_wait(signal.SIGTERM, timeout=5)
        assert rc is not None, "an idle keep-alive connection kept berthd from stopping"
        assert time.monotonic() - t0 < 5


def test_sigint_stops_immediately(berth_server):
    srv = berth_server(ECHO_ROUTES)
    assert srv.request("GET", "/echo").status == 200
    rc = srv.signal_and_wait(signal.SIGINT, timeout=5)
    assert rc is not None, "berthd did not exit within 5 s of SIGINT"


def _run_expecting_exit(tmp_path, path, timeout=10.0):
    """`berthd run` that must fail on its own; if it keeps running, the timeout kills it."""
    try:
        return run_cli("run", "-c", str(path), timeout=timeout, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"berthd run kept running with a config it should refuse ({path})")


def test_run_refuses_invalid_config(tmp_path):
    path, text = standalone_conf(tmp_path, ECHO_ROUTES + "\n[limits]\nheader_timeout = 3x\n",
                                 port=berth.free_port())
    r = _run_expecting_exit(tmp_path, path)
    assert r.returncode != 0, r
    n = berth.line_of(text, "header_timeout = 3x")
    assert f"{path}:{n}:" in r.output, r


def test_run_missing_config_file_fails(tmp_path):
    r = _run_expecting_exit(tmp_path, tmp_path / "missing.conf")
    assert r.returncode != 0, r
    assert "missing.conf" in r.output, r


def test_run_fails_when_port_is_taken(tmp_path):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind((berth.HOST, 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        path, _ = standalone_conf(tmp_path, port=port)
        r = _run_expecting_exit(tmp_path, path)
        assert r.returncode != 0, r
    finally:
        blocker.close()
