"""Layer 54: an app that fails — the client gets 500 with only the transaction id, server.log
gets the exception text, and the server keeps serving (server-core's error catcher).

Uses the berth.fault test app, which berthd only offers with BERTH_TEST_APPS=1."""

from __future__ import annotations

import pytest

import berth
from berth import build_request

CONFIG = """
[server]
graceful_timeout = 1s

[routes:line]
/boom = boom
/late = late
/hang = hang
/heartbeat = heartbeat

[app:boom]
call = berth.fault
mode = throw

[app:late]
call = berth.fault
mode = throw_after

[app:hang]
call = berth.fault
mode = never

[app:heartbeat]
call = berth.heartbeat
"""


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, env={"BERTH_TEST_APPS": "1"})


def test_exception_becomes_500_with_txn_and_is_logged(srv):
    resp = srv.request("GET", "/boom")
    assert resp.status == 500
    txn = resp.header("X-Berth-Txn")
    assert txn and txn in resp.body.decode()
    assert b"deliberate" not in resp.body  # internals never reach the client
    assert berth.wait_until(lambda: f"txn {txn}" in srv.server_log())
    log = srv.server_log()
    assert "deliberate failure" in log
    assert srv.request("GET", "/heartbeat").status == 200


def test_keep_alive_connection_survives_a_failing_app(srv):
    with srv.conn() as c:
        assert c.roundtrip(build_request("GET", "/boom")).status == 500
        assert c.roundtrip(build_request("GET", "/heartbeat")).status == 200


def test_failure_after_response_started_closes_the_connection(srv):
    with srv.conn() as c:
        c.send(build_request("GET", "/late"))
        data = c.read_until_close(timeout=3)
        # The chunked body never gets its last chunk: the client can tell it is incomplete.
        assert data.startswith(b"HTTP/1.1 200")
        assert not data.endswith(b"0\r\n\r\n")
    assert srv.request("GET", "/heartbeat").status == 200


def test_app_that_never_answers_does_not_block_others(srv):
    with srv.conn(timeout=1) as stuck:
        stuck.send(build_request("GET", "/hang"))
        with pytest.raises(berth.NoResponse):
            stuck.recv_response(timeout=0.5)
        assert srv.request("GET", "/heartbeat").status == 200


def test_fault_app_is_unavailable_without_the_test_switch(tmp_path):
    conf, _ = berth.write_conf(tmp_path, "[routes:line]\n/boom = boom\n[app:boom]\ncall = berth.fault\n")
    result = berth.run_cli("check", "-c", str(conf), env={"BERTH_TEST_APPS": "0"})
    assert result.returncode == 1
    assert "cannot be built" in result.output
