"""Layer 45: engine faults found by hostile testing (issue 7, section 7) and exchanges async apps
can trust (section 4): a client that closes mid-body frees its max_connections slot at once;
max_connections is one server-wide limit and its 503 is a full response (Date, Server,
X-Berth-Txn, request.log, stats); the abort handler runs when the engine answers in the middle
of a body the app reads; an exception from an async callback is a 500 and the worker survives.

The fault modes come from berth.fault, enabled only with BERTH_TEST_APPS=1."""

from __future__ import annotations

import json
import time

import pytest

import berth
from berth import build_request, chunked

ENV = {"BERTH_TEST_APPS": "1"}

APPS = """
[routes:line]
/echo = echo
/hb = hb
/stats = stats
/read = read
/aborts = aborts
/throw-async = throw_async
/throw-in-body = throw_in_body
/throw = throw

[app:echo]
call = berth.echo

[app:hb]
call = berth.heartbeat

[app:stats]
call = berth.stats

[app:read]
call = berth.fault
mode = read_body
delay = 10ms

[app:aborts]
call = berth.fault
mode = aborts

[app:throw_async]
call = berth.fault
mode = throw_async
delay = 50ms

[app:throw_in_body]
call = berth.fault
mode = throw_in_body

[app:throw]
call = berth.fault
mode = throw
"""


def _served(srv, timeout: float = 0.5) -> bool:
    try:
        return srv.request("GET", "/hb", timeout=timeout).status == 200
    except (OSError, berth.NoResponse):
        return False


# ---------------------------------------------------------------------------------------------
# A client that closes in the middle of its body
# ---------------------------------------------------------------------------------------------

HALF_BODIES = {
    "content-length": (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 500,
                       False),
    "chunked": (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"200\r\n" + b"x" * 300, False),
    "after-100-continue": (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n"
                           b"Expect: 100-continue\r\n\r\n", True),
}


@pytest.mark.parametrize("kind", list(HALF_BODIES))
def test_client_closing_mid_body_frees_its_slot_at_once(berth_server, kind):
    n = 4
    srv = berth_server(APPS + f"\n[limits]\nmax_connections = {n}\nbody_timeout = 60s\n", env=ENV)
    payload, wait_continue = HALF_BODIES[kind]
    conns = [berth.RawConn(srv.port, timeout=3) for _ in range(n)]
    try:
        for c in conns:
            c.send(payload)
        if wait_continue:
            for c in conns:
                assert c.recv_response().status == 100
        # The server is full now: a newcomer is refused.
        time.sleep(0.2)
        assert srv.request("GET", "/hb").status == 503
    finally:
        for c in conns:
            c.close()
    started = time.monotonic()
    assert berth.wait_until(lambda: _served(srv), timeout=1.0, interval=0.05), \
        f"no new request served within 1 s after {n} clients closed mid-body ({kind})"
    assert time.monotonic() - started < 1.5
    # Each abandoned request is logged as closed by the client.
    lines = srv.request_log_lines(contains="POST /echo", count=n)
    assert sum(1 for l in lines if " 499 " in l) == n, lines


# ---------------------------------------------------------------------------------------------
# max_connections: one limit for the whole server, refused with a full 503
# ---------------------------------------------------------------------------------------------

def test_max_connections_is_one_limit_across_workers(berth_server):
    limit = 3
    srv = berth_server(APPS + f"\n[server]\nworkers = 2\n\n[limits]\nmax_connections = {limit}\n",
                       env=ENV)
    assert berth.wait_until(lambda: _served(srv, 1.0), timeout=10)
    keepers: list[berth.RawConn] = []

    def one_more_keeper() -> bool:
        # The probes above close asynchronously: until the server has seen their ends they
        # still hold places, so a keeper may be refused for a moment.
        c = berth.RawConn(srv.port, timeout=3)
        if c.roundtrip(build_request("GET", "/hb")).status == 200:
            keepers.append(c)
            return True
        c.close()
        return False

    try:
        for _ in range(limit):
            assert berth.wait_until(one_more_keeper, timeout=3)
        refused = []
        for _ in range(6):
            with berth.RawConn(srv.port, timeout=3) as c:
                c.send(build_request("GET", "/hb"))
                refused.append(c.recv_response())
        # Per-worker limits would have let a second worker serve some of these.
        assert [r.status for r in refused] == [503] * 6, refused
        for r in refused:
            assert r.header("date") and r.header("server") and r.header("x-berth-txn"), r
        txns = [r.header("x-berth-txn") for r in refused]
        assert len(set(txns)) == 6
        for txn in txns:
            lines = srv.request_log_lines(contains=txn)
            assert len(lines) == 1, (txn, lines)
            # The request was never read: method, URL and version are "-".
            fields = lines[0].split(" ")
            assert len(fields) == 17 and fields[4:8] == ["-", "-", "-", "503"], lines[0]
        for k in keepers:  # still served
            assert k.roundtrip(build_request("GET", "/hb")).status == 200
    finally:
        for k in keepers:
            k.close()
    # The refusals are counted in the stats like any response.
    assert berth.wait_until(lambda: _served(srv, 1.0), timeout=3)
    stats = json.loads(srv.request("GET", "/stats").body)
    assert stats["status"]["5xx"] >= 6, stats.get("status")


# ---------------------------------------------------------------------------------------------
# Exchanges async apps can trust
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fault_srv(module_berth_server):
    return module_berth_server(APPS + "\n[limits]\nmax_body_bytes = 1K\n", env=ENV)


def _aborts(srv) -> int:
    body = srv.request("GET", "/aborts").body.decode()
    assert body.startswith("aborts "), body
    return int(body.split()[1])


def test_read_body_app_completes_normally(fault_srv):
    before = _aborts(fault_srv)
    resp = fault_srv.request("POST", "/read", body=b"y" * 600)
    assert resp.status == 200 and resp.body == b"read\n"
    assert _aborts(fault_srv) == before


def test_abort_handler_runs_on_engine_answered_413_mid_body(fault_srv):
    before = _aborts(fault_srv)
    body = chunked(b"z" * 600, b"z" * 600)  # over max_body_bytes once the second chunk arrives
    with fault_srv.conn() as c:
        c.send(build_request("POST", "/read", headers=[("Transfer-Encoding", "chunked")]) + body)
        resp = c.recv_response(method="POST")
    assert resp.status == 413, resp
    assert berth.wait_until(lambda: _aborts(fault_srv) == before + 1, timeout=2), _aborts(fault_srv)


def test_abort_handler_runs_on_engine_answered_400_mid_body(fault_srv):
    before = _aborts(fault_srv)
    with fault_srv.conn() as c:
        c.send(build_request("POST", "/read", headers=[("Transfer-Encoding", "chunked")])
               + b"10\r\n" + b"q" * 16 + b"\r\nnot-hex\r\n\r\n")
        resp = c.recv_response(method="POST")
    assert resp.status == 400, resp
    assert berth.wait_until(lambda: _aborts(fault_srv) == before + 1, timeout=2)


def test_abort_handler_runs_when_the_client_leaves_mid_body(fault_srv):
    before = _aborts(fault_srv)
    with fault_srv.conn() as c:
        c.send(b"POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\n" + b"w" * 100)
        time.sleep(0.1)
    assert berth.wait_until(lambda: _aborts(fault_srv) == before + 1, timeout=2)


def test_exception_in_async_timer_is_a_500_and_the_worker_survives(fault_srv):
    for _ in range(3):
        resp = fault_srv.request("GET", "/throw-async")
        assert resp.status == 500, resp
        assert resp.header("x-berth-txn") and resp.header("x-berth-txn").encode() in resp.body
        assert fault_srv.request("GET", "/hb").status == 200
    assert fault_srv.alive()
    assert berth.wait_until(lambda: "deliberate failure in a timer" in fault_srv.server_log(), 3)


def test_exception_in_body_callback_is_a_500_and_the_worker_survives(fault_srv):
    resp = fault_srv.request("POST", "/throw-in-body", body=b"b" * 100)
    assert resp.status == 500, resp
    assert fault_srv.request("GET", "/hb").status == 200
    assert fault_srv.alive()


def test_abort_handler_runs_when_handle_throws(fault_srv):
    before = _aborts(fault_srv)
    resp = fault_srv.request("GET", "/throw")
    assert resp.status == 500, resp
    assert berth.wait_until(lambda: _aborts(fault_srv) == before + 1, timeout=2)
    assert fault_srv.request("GET", "/hb").status == 200
