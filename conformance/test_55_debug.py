"""Layer 55: berth.debug — server-core's debug page: loopback-only by default, secrets masked."""

from __future__ import annotations

import json

import pytest

import berth

CONFIG = """
[routes:line]
/__debug__ = debug
/closed = closed

[app:debug]
call = berth.debug

[app:closed]
call = berth.debug
allow = 10.0.0.0/8

[api-gateway]
secret_key = SUPERSECRETVALUE
"""


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG)


def test_debug_page_for_loopback_client(srv):
    resp = srv.request("GET", "/__debug__")
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/html")
    body = resp.body.decode()
    assert "berthd debug" in body
    assert "[server]" in body


def test_debug_json_masks_secrets_and_reports_process(srv):
    resp = srv.request("GET", "/__debug__?format=json",
                       headers={"Authorization": "Basic dXNlcjpwYXNz", "Cookie": "sid=abc"})
    assert resp.status == 200
    report = json.loads(resp.body)
    assert report["server"]["pid"] == srv.proc.pid
    assert report["server"]["listeners"] == [f"127.0.0.1:{srv.port}"]
    assert report["workers"]["threads"] == 1
    assert report["config"]["api-gateway"]["secret_key"] == "********"
    assert "SUPERSECRETVALUE" not in resp.body.decode()
    assert report["request"]["headers"]["Authorization"] == "********"
    assert report["request"]["headers"]["Cookie"] == "********"
    assert report["request"]["script_name"] == "/__debug__"
    assert report["stats"]["requests"] >= 1


def test_debug_refuses_clients_not_allowed(srv):
    resp = srv.request("GET", "/closed")
    assert resp.status == 403
    assert b"SUPERSECRETVALUE" not in resp.body


def test_bad_allow_entry_is_a_config_error(tmp_path):
    conf, text = berth.write_conf(tmp_path, "[routes:line]\n/d = d\n[app:d]\ncall = berth.debug\n"
                                            "allow = 127.0.0.1, not-an-address\n")
    result = berth.run_cli("check", "-c", str(conf))
    assert result.returncode == 1
    line = berth.line_of(text, "allow =")
    assert any(l.startswith(f"{conf}:{line}: [app:d] allow: 'not-an-address'") for l in result.lines), result
