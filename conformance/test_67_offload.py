"""Blocking work off the event loop (issue #7, section 5).

bcrypt checks of berth.basic_auth and the session store's SQL run in the worker's offload pool,
so a slow database or a burst of password checks never holds the event loop that serves every
other request; a full offload queue is answered 503 at once. Logging never blocks serving
either: with stderr a pipe nobody reads, requests keep being answered, and the lost lines are
reported once the pipe moves again.

The PostgreSQL cases use the throwaway server of test_61 (skipped without the Debian
postgresql package) and stall it with SIGSTOP on the postmaster and its backends.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

import berth
from berth import HOST, BerthServer, free_port, render_config
from test_61_sessions_postgresql import postgres, psql  # noqa: F401 - the module's PostgreSQL
from test_60_sessions import SECRET
from test_62_basic_auth import basic, bcrypt_hash


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def session_config(store: str, threads: int = 4, queue: int = 256, loops: int = 1) -> str:
    # One process, one event-loop thread: everything below shares the loop a stall would block.
    return f"""
[server]
workers = 0
threads = {loops}
offload_threads = {threads}
offload_queue = {queue}

[sessions]
store = {store}
secret = {SECRET}
purge_interval = 1h

[routes:line]
/demo = session demo
/__heartbeat__ = hb
/stats = stats

[app:session]
call = berth.session

[app:demo]
call = berth.session_demo

[app:hb]
call = berth.heartbeat

[app:stats]
call = berth.stats
"""


def offload_stats(srv) -> dict:
    return requests.get(f"{srv.url}/stats", timeout=5).json()["offload"]


def _postgres_pids(pg) -> list[int]:
    """The postmaster and every process it started (backends, background workers)."""
    with open(os.path.join(pg["data"], "postmaster.pid")) as f:
        master = int(f.readline())
    pids = [master]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master:
            pids.append(int(entry))
    return pids


@contextlib.contextmanager
def stalled(pg):
    """PostgreSQL stopped (SIGSTOP) for the block, continued whatever happens."""
    pids = _postgres_pids(pg)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def warm_client(srv) -> requests.Session:
    """A client with a stored session (the store and its cipher are open after this)."""
    client = requests.Session()
    # The very first request also starts the store's purge of expired rows, a background job
    # that takes a place in the offload queue: with a queue of one, that request may be 503.
    assert berth.wait_until(
        lambda: client.get(f"{srv.url}/demo/", timeout=10).status_code == 200, timeout=5)
    assert client.get(f"{srv.url}/demo/", timeout=10).status_code == 200
    return client


def timed_get(url: str, client=requests) -> tuple[int, float]:
    start = time.monotonic()
    resp = client.get(url, timeout=5)
    return resp.status_code, time.monotonic() - start


# --------------------------------------------------------------------------------------------
# A stalled database does not stall the event loop
# --------------------------------------------------------------------------------------------

def test_heartbeat_answers_while_a_session_request_waits_on_stalled_postgresql(
        berth_server, postgres):  # noqa: F811
    srv = berth_server(session_config(postgres["url"]))
    client = warm_client(srv)
    jobs_before = offload_stats(srv)["jobs"]
    result: dict = {}

    def session_request():
        try:
            resp = client.get(f"{srv.url}/demo/", timeout=20)
            result["status"] = resp.status_code
            result["done"] = time.monotonic()
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = repr(e)

    with stalled(postgres):
        stopped_at = time.monotonic()
        waiter = threading.Thread(target=session_request)
        waiter.start()
        # The request's session lookup has reached an offload thread (and the stalled server).
        assert berth.wait_until(lambda: offload_stats(srv)["jobs"] > jobs_before, timeout=5)
        latencies = []
        monitor = requests.Session()  # keep-alive, as a load balancer's health check would
        while time.monotonic() - stopped_at < 3.0:
            status, seconds = timed_get(f"{srv.url}/__heartbeat__", monitor)
            assert status == 200
            latencies.append(seconds)
            assert "status" not in result, "the session request did not wait on the database"
            time.sleep(0.1)
        # Within 100 ms each, on the same (only) event-loop thread, all through the stall.
        assert len(latencies) >= 5
        assert max(latencies) < 0.1, latencies
    waiter.join(timeout=20)
    assert result.get("status") == 200, result
    assert result["done"] - stopped_at >= 3.0


def test_full_offload_queue_is_503_at_once(berth_server, postgres):  # noqa: F811
    srv = berth_server(session_config(postgres["url"], threads=1, queue=1))
    clients = [warm_client(srv) for _ in range(4)]
    stats = offload_stats(srv)
    results: dict[int, int] = {}

    def session_request(i: int):
        try:
            results[i] = clients[i].get(f"{srv.url}/demo/", timeout=20).status_code
        except Exception:  # noqa: BLE001
            results[i] = -1

    with stalled(postgres):
        threads = [threading.Thread(target=session_request, args=(i,)) for i in range(4)]
        # The first holds the only offload thread (stuck on the database) ...
        threads[0].start()
        assert berth.wait_until(lambda: offload_stats(srv)["jobs"] > stats["jobs"], timeout=5)
        # ... the second waits in the queue (one place) ...
        threads[1].start()
        assert berth.wait_until(lambda: offload_stats(srv)["queued"] == 1, timeout=5)
        # ... and the others find it full: 503 at once, while the database is still stopped.
        start = time.monotonic()
        threads[2].start()
        threads[3].start()
        threads[2].join(timeout=5)
        threads[3].join(timeout=5)
        assert results.get(2) == 503 and results.get(3) == 503, results
        assert time.monotonic() - start < 2.0
        assert 0 not in results and 1 not in results
        assert offload_stats(srv)["rejected"] == stats["rejected"] + 2
        prometheus = requests.get(f"{srv.url}/stats?format=prometheus", timeout=5).text
        assert f"berth_offload_rejected_total {stats['rejected'] + 2}" in prometheus
    for t in threads[:2]:
        t.join(timeout=20)
    # The two that waited get their answer once the database is back. Each still has its
    # session to save, which a queue of one may have to refuse while the other's work waits
    # in it: 200, or 503 — never no answer.
    assert results[0] in (200, 503) and results[1] in (200, 503), results
    assert 200 in (results[0], results[1]), results
    # And the worker serves sessions again.
    assert clients[2].get(f"{srv.url}/demo/", timeout=10).status_code == 200


def test_a_worker_holds_one_store_connection_per_offload_thread(berth_server, postgres):  # noqa: F811
    # Four event-loop threads, each with its own berth.session instance, share the two offload
    # threads' connections.
    store = postgres["url"] + "?application_name=berth_test_67"
    srv = berth_server(session_config(store, threads=2, loops=4))
    errors = []

    def visitor():
        try:
            warm_client(srv)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    visitors = [threading.Thread(target=visitor) for _ in range(16)]
    for t in visitors:
        t.start()
    for t in visitors:
        t.join(timeout=30)
    assert not errors, errors
    connections = int(psql(postgres, "SELECT count(*) FROM pg_stat_activity "
                                     "WHERE application_name = 'berth_test_67'"))
    assert 1 <= connections <= 2, connections


# --------------------------------------------------------------------------------------------
# A burst of password checks does not stall the event loop
# --------------------------------------------------------------------------------------------

def test_wrong_passwords_do_not_delay_a_static_file(berth_server):
    # Cost 12: a few hundred milliseconds of CPU per check (current password-hashing advice);
    # a single check on the event loop would delay everything behind it past 100 ms.
    users = f"alice {bcrypt_hash('secret', cost=12)}\n"
    srv = berth_server("""
[server]
workers = 0
threads = 1

[routes:line]
/private = auth private
/ = {tmp}/site

[app:auth]
call = berth.basic_auth
auth_path = {tmp}/users
allow_insecure = yes

[app:private]
call = berth.echo
""", files={"users": users, "site/index.html": "static\n"})
    static_url = f"{srv.url}/index.html"
    # Each static request on a connection of its own, as a new visitor's browser would open.
    baseline = [timed_get(static_url) for _ in range(5)]
    assert all(status == 200 for status, _ in baseline)
    baseline = [seconds for _, seconds in baseline]

    name, value = basic("alice", "wrong")
    request = (f"GET /private/x HTTP/1.1\r\nHost: a\r\n{name}: {value}\r\n"
               f"Connection: close\r\n\r\n").encode()
    socks = []
    for _ in range(20):
        s = socket.create_connection((HOST, srv.port), timeout=10)
        s.sendall(request)
        socks.append(s)
    answers: dict[int, bytes] = {}

    def pending() -> int:
        for i, s in enumerate(socks):
            if i in answers:
                continue
            s.setblocking(False)
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            finally:
                s.setblocking(True)
            answers[i] = data
        return len(socks) - len(answers)

    # The first static request starts with all 20 checks sent and unanswered; the later ones
    # count while some are still in flight.
    status, first = timed_get(static_url)
    assert status == 200
    during = [first]
    deadline = time.monotonic() + 30
    while pending() and time.monotonic() < deadline:
        status, seconds = timed_get(static_url)
        assert status == 200
        if pending():
            during.append(seconds)
    for s in socks:
        s.close()
    assert len(answers) == 20
    assert all(a.startswith(b"HTTP/1.1 401") for a in answers.values()), answers
    assert max(during) - max(baseline) < 0.1, (during, baseline)


# --------------------------------------------------------------------------------------------
# A stalled log sink does not stall serving
# --------------------------------------------------------------------------------------------

def test_requests_are_served_while_nobody_reads_stderr(tmp_path):
    # log_dir empty: every log goes to stderr, which is a pipe this test does not read.
    port = free_port()
    text = render_config("""
[routes:line]
/echo = echo

[app:echo]
call = berth.echo
""", port=port, tmp=tmp_path, server={"log_dir": ""})
    srv = BerthServer(tmp_path, text, port=port)
    srv.proc = subprocess.Popen(srv.command(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
                                start_new_session=True)
    with berth._LIVE_LOCK:
        berth._LIVE.add(srv)
    drained = bytearray()
    try:
        srv.wait_ready()
        # request.log lines of ~7 KB each: the pipe (64 KiB) and the sink's memory (1 MiB)
        # fill long before the last request.
        client = requests.Session()
        agent = "a" * 7000
        slowest = 0.0
        for i in range(400):
            start = time.monotonic()
            resp = client.get(f"{srv.url}/echo/{i}", headers={"User-Agent": agent}, timeout=5)
            slowest = max(slowest, time.monotonic() - start)
            assert resp.status_code == 200
        assert slowest < 1.0, slowest

        # Someone reads again: the writer moves, and server.log (stderr here) says what was lost.
        def drain():
            while True:
                chunk = srv.proc.stderr.read1(65536)
                if not chunk:
                    return
                drained.extend(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        assert berth.wait_until(lambda: b"log lines: sink stalled" in drained, timeout=10), \
            drained[-2000:].decode(errors="replace")
        line = next(l for l in bytes(drained).splitlines() if b"sink stalled" in l)
        assert b"[warning] berth.log: dropped " in line
        assert requests.get(f"{srv.url}/echo/after", timeout=5).status_code == 200
    finally:
        srv.stop()
