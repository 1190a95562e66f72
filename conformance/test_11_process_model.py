"""Layer 11: the master/worker process model — workers are restarted, reloads drop nothing,
TERM drains, USR1 reopens logs, the CLI drives a daemon through its pid file."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

import berth
from berth import build_request

APPS = """
[routes:line]
/stats = stats
/hb = hb
/slow = slow
/crash = crash
/block = block

[app:stats]
call = berth.stats

[app:hb]
call = berth.heartbeat

[app:slow]
call = berth.fault
mode = slow
delay = 2s

[app:crash]
call = berth.fault
mode = crash

[app:block]
call = berth.fault
mode = block
delay = 30s
"""

ENV = {"BERTH_TEST_APPS": "1"}


def config(workers: int = 2, extra_server: str = "") -> str:
    return f"""
[server]
workers = {workers}
graceful_timeout = 4s
{extra_server}
{APPS}"""


def children(pid: int) -> set[int]:
    """Live child processes of pid (the workers of a master)."""
    return berth.child_pids(pid)


def wait_for_workers(srv, count: int, timeout: float = 5.0, exclude: set[int] = frozenset()) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = children(srv.proc.pid) - set(exclude)
        if len(pids) == count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"expected {count} workers, have {children(srv.proc.pid)}")


def status(srv) -> str:
    """`berthd status` of a server started with a pid_file (through its control socket). The
    master listens before it writes its pid file: until then this says "not running"."""
    return berth.run_cli("status", "-c", str(srv.conf_path), env=ENV).output


def wait_ready(srv, count: int = 2, restarts: int = 0, timeout: float = 8.0) -> None:
    """Until the master has heard "ready" from `count` HTTP children (they serve, not merely
    exist) and has counted `restarts` restarts: a replacement is started only after the master
    reaped the child it replaces, so the count says that one is gone too."""
    expected = re.compile(rf"service http:http: running, {count}/{count} ready, restarts {restarts},")
    assert berth.wait_until(lambda: expected.search(status(srv)), timeout), status(srv)


def accepted_by_a_worker(srv, conn) -> bool:
    """Whether a worker has accepted conn: /proc/net/tcp gives the server's end of a connection
    an inode only once accept() made it a socket of a process."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if local_port == srv.port and remote_port == conn.local_port and fields[9] != "0":
            return True
    return False


def serving_pid(conn) -> int:
    """The pid of the worker behind a keep-alive connection (berth.stats reports it)."""
    resp = conn.roundtrip(build_request("GET", "/stats"))
    assert resp.status == 200
    return json.loads(resp.body)["pid"]


@pytest.fixture
def srv(berth_server):
    # A pid file gives the server a control socket, so the tests can ask `berthd status`.
    server = berth_server(config(), env=ENV, server={"pid_file": "{tmp}/berthd.pid"})
    # The children exist before they serve: wait until both reported ready.
    wait_ready(server)
    wait_for_workers(server, 2)
    return server


def test_master_starts_the_configured_workers(srv):
    pids = wait_for_workers(srv, 2)
    seen = set()
    for _ in range(40):  # new connections spread over both workers
        with srv.conn() as c:
            seen.add(serving_pid(c))
        if seen == pids:
            break
    assert seen <= pids and seen, (seen, pids)
    assert "starting 2 worker(s)" in srv.server_log()


def test_kill9_worker_others_keep_working_and_it_is_replaced(srv):
    conns = [srv.conn(timeout=3) for _ in range(8)]
    try:
        owners = {c: serving_pid(c) for c in conns}
        victim = next(iter(owners.values()))
        os.kill(victim, signal.SIGKILL)
        survivors = [c for c, pid in owners.items() if pid != victim]
        for c in survivors:  # every connection on the other worker keeps working
            assert c.roundtrip(build_request("GET", "/hb")).status == 200
        # /proc lists the victim until it has died; its replacement comes after the master
        # reaped it, and serves once it reported ready.
        wait_ready(srv, restarts=1)
        replaced = wait_for_workers(srv, 2)
        assert victim not in replaced
        assert berth.wait_until(lambda: "killed by signal 9" in srv.server_log())
        assert srv.request("GET", "/hb").status == 200
    finally:
        for c in conns:
            c.close()


def _hammer(port: int, stop: threading.Event, results: dict) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            with berth.RawConn(port, timeout=3) as c:
                # The heartbeat too: a reload is not a stop, so the old generation's draining
                # workers still answer 200 (a load balancer must not take the server out).
                path = "/hb" if n % 2 else "/stats"
                c.send(build_request("GET", path, headers=[("Connection", "close")]))
                resp = c.recv_response()
                if resp.status == 200:
                    results["ok"] += 1
                else:
                    results["bad"] += 1
                    results.setdefault("errors", []).append(f"status {resp.status}")
        except Exception as e:  # noqa: BLE001 - any failure counts
            results["bad"] += 1
            results.setdefault("errors", []).append(repr(e))


def test_hup_during_request_stream_drops_nothing(srv):
    stop = threading.Event()
    results = {"ok": 0, "bad": 0}
    threads = [threading.Thread(target=_hammer, args=(srv.port, stop, results)) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        for reloads in (1, 2):
            old = children(srv.proc.pid)
            srv.proc.send_signal(signal.SIGHUP)
            assert berth.wait_until(lambda: srv.server_log().count("reload complete") >= reloads, 5)
            time.sleep(0.8)
            assert berth.wait_until(lambda: not (children(srv.proc.pid) & old), 6)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert results["bad"] == 0, results.get("errors", [])[:5]
    assert results["ok"] > 50


def test_reload_with_broken_config_keeps_serving(srv):
    before = wait_for_workers(srv, 2)
    srv.conf_path.write_text(srv.conf_path.read_text().replace("graceful_timeout = 4s",
                                                               "graceful_timeout = 4x"))
    srv.proc.send_signal(signal.SIGHUP)
    assert berth.wait_until(lambda: "reload failed" in srv.server_log())
    assert "'4x' is not a duration" in srv.server_log()
    assert srv.request("GET", "/hb").status == 200
    assert children(srv.proc.pid) == before


def test_term_waits_for_a_slow_in_flight_request(srv):
    with srv.conn(timeout=6) as c:
        c.send(build_request("GET", "/slow"))
        # TERM once a worker holds the request (the app answers from a timer, so `berthd status`
        # shows no thread busy with it).
        assert berth.wait_until(lambda: accepted_by_a_worker(srv, c), 5)
        srv.proc.send_signal(signal.SIGTERM)
        resp = c.recv_response(timeout=6)
        assert resp.status == 200 and resp.body == b"slow\n"
    assert srv.proc.wait(timeout=8) == 0


def test_usr1_during_worker_start_up_kills_no_worker(berth_server):
    # The master forwards USR1 to every child; a child that has not installed its handler yet
    # must keep it pending, not die of it (its default action).
    srv = berth_server(config(workers=2), env=ENV, server={"pid_file": "{tmp}/berthd.pid"})
    for _ in range(20):
        srv.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.01)
    wait_ready(srv, 2)
    time.sleep(0.3)
    log = srv.server_log()
    assert "killed by signal" not in log, log
    assert srv.request("GET", "/hb").status == 200


def test_usr1_reopens_log_files(srv):
    assert srv.request("GET", "/hb").status == 200
    log = srv.log_path("request.log")
    assert berth.wait_until(lambda: log.exists() and log.stat().st_size > 0)
    os.rename(log, log.with_suffix(".log.1"))
    srv.proc.send_signal(signal.SIGUSR1)
    # The master and each of the 2 workers reopen on their own signal, and say so.
    assert berth.wait_until(lambda: srv.server_log().count("log files reopened") >= 3)
    assert srv.request("GET", "/hb?after-rotation").status == 200
    assert berth.wait_until(lambda: log.exists() and "after-rotation" in log.read_text(), 3)


def test_crashing_worker_is_restarted_with_the_status_logged(srv):
    before = wait_for_workers(srv, 2)
    with pytest.raises(berth.NoResponse):
        with srv.conn() as c:
            c.send(build_request("GET", "/crash"))
            c.recv_response(timeout=3)
    assert berth.wait_until(lambda: "killed by signal 6" in srv.server_log() or
                            "dumped core" in srv.server_log(), 3)
    after = wait_for_workers(srv, 2)
    assert len(after - before) == 1
    assert srv.request("GET", "/hb").status == 200


def test_max_requests_recycles_workers(berth_server):
    srv = berth_server(config(workers=1, extra_server="max_requests = 5\nmax_requests_jitter = 0"),
                       env=ENV)
    first = wait_for_workers(srv, 1)
    for i in range(14):
        assert srv.request("GET", f"/hb?{i}").status == 200
        time.sleep(0.05)
    assert berth.wait_until(lambda: "recycling this worker" in srv.server_log(), 3)
    # The recycled worker drains before it exits; its successor starts after that.
    assert berth.wait_until(lambda: len(children(srv.proc.pid)) == 1 and
                            not (children(srv.proc.pid) & first), 5), children(srv.proc.pid)


def test_cli_start_status_stop_with_pid_file(tmp_path):
    port = berth.free_port()
    pid_file = tmp_path / "berthd.pid"
    conf, _ = berth.write_conf(tmp_path, config(extra_server=f"pid_file = {pid_file}"), port=port)
    result = berth.run_cli("start", "-c", str(conf), env=ENV, timeout=15)
    try:
        assert result.returncode == 0, result
        pid = int(pid_file.read_text())
        assert berth.wait_until(lambda: len(children(pid)) == 2)
        again = berth.run_cli("start", "-c", str(conf), env=ENV)
        assert again.returncode == 1 and "already running" in again.output
        status = berth.run_cli("status", "-c", str(conf))
        assert status.returncode == 0, status
        assert f"pid {pid}" in status.output
        assert sum("worker slot" in l for l in status.lines) == 2, status
        reload = berth.run_cli("reload", "-c", str(conf))
        assert reload.returncode == 0
    finally:
        stop = berth.run_cli("stop", "-c", str(conf), timeout=20)
    assert stop.returncode == 0, stop
    assert not pid_file.exists()
    assert berth.run_cli("status", "-c", str(conf)).returncode == 3


def test_cli_start_replaces_a_stale_pid_file(tmp_path):
    port = berth.free_port()
    pid_file = tmp_path / "berthd.pid"
    pid_file.write_text("999999\n")  # nobody
    conf, _ = berth.write_conf(tmp_path, config(workers=1, extra_server=f"pid_file = {pid_file}"),
                               port=port)
    result = berth.run_cli("start", "-c", str(conf), env=ENV, timeout=15)
    try:
        assert result.returncode == 0, result
        assert "stale pid file" in result.output
        assert int(pid_file.read_text()) != 999999
    finally:
        berth.run_cli("stop", "-c", str(conf), timeout=20)


def test_cli_start_reports_a_bad_config_on_the_terminal(tmp_path):
    conf, text = berth.write_conf(tmp_path, "[limits]\nheader_timeout = 3x\n"
                                             f"[server]\npid_file = {tmp_path}/p.pid\n")
    result = berth.run_cli("start", "-c", str(conf))
    assert result.returncode == 1
    assert "'3x' is not a duration" in result.output


def test_stats_aggregate_across_workers_adds_up(srv):
    wait_for_workers(srv, 2)
    sent = 40
    for i in range(sent):
        assert srv.request("GET", f"/hb?{i}").status == 200
    resp = srv.request("GET", "/stats")
    stats = json.loads(resp.body)
    live = [w for w in stats["workers"] if w["state"] in ("running", "draining")]
    assert {w["pid"] for w in live} == children(srv.proc.pid)
    assert stats["requests"] == sent
    assert sum(w["values"]["requests"] for w in stats["workers"]) == sent
    assert stats["status"]["2xx"] == sent


def test_prometheus_across_workers_parses_and_adds_up(srv):
    sent = 25
    for i in range(sent):
        assert srv.request("GET", f"/hb?{i}").status == 200
    resp = srv.request("GET", "/stats?format=prometheus")
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/plain")
    samples = {}
    typed = set()
    for line in resp.body.decode().splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        float(value)  # every sample value is a number
        name = name_labels.split("{", 1)[0]
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in typed:
                base = name[: -len(suffix)]
        assert base in typed, f"sample {name} has no # TYPE"
        samples[name_labels] = float(value)
    assert samples["berth_requests_total"] == sent
    per_worker = [v for k, v in samples.items() if k.startswith("berth_worker_requests_total{")]
    assert sum(per_worker) == sent


def test_hung_worker_is_reported_and_replaced(berth_server, tmp_path):
    srv = berth_server(config(extra_server=f"worker_timeout = 2s\npid_file = {tmp_path}/berthd.pid"),
                       env=ENV)
    wait_ready(srv)
    before = wait_for_workers(srv, 2)
    with srv.conn(timeout=10) as c:
        c.send(build_request("GET", "/block?which=stuck"))
        # Wait until the hang has begun (`berthd status` shows the request running), so the
        # requests below can only reach the other worker.
        assert berth.wait_until(lambda: "GET /block?which=stuck running" in berth.run_cli(
            "status", "-c", str(srv.conf_path)).output, 5)
        # The other worker keeps serving while this one hangs.
        for _ in range(5):
            assert srv.request("GET", "/stats").status == 200
        assert berth.wait_until(lambda: "has not answered" in srv.server_log(), 8)
        with pytest.raises(berth.NoResponse):
            c.recv_response(timeout=5)
    log = srv.server_log()
    assert "GET /block?which=stuck" in log
    assert berth.wait_until(lambda: "berth stack pid=" in srv.server_log(), 6), srv.server_log()
    # The master symbolises the stack: it names the function the thread is stuck in, demangled,
    # with its file:line.
    assert berth.wait_until(lambda: "hung; its stack" in srv.server_log(), 6), srv.server_log()
    assert re.search(r"#\d+ Berth::Apps::FaultApp::handle\(Berth::Http::Exchange&\)[^\n]* at "
                     r"\S*faultapp\.cpp:\d+", srv.server_log()), srv.server_log()
    # The killed worker closes its sockets before /proc stops listing it: wait until the master
    # reaped it and its successor is ready.
    wait_ready(srv, restarts=1)
    after = wait_for_workers(srv, 2)
    assert len(after - before) == 1, (before, after)
    assert srv.request("GET", "/hb").status == 200


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_privileges_dropped_to_the_configured_user(tmp_path):
    import pwd
    import subprocess
    import tempfile
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    # Workers re-read the configuration as that user, so it lives in a world-readable place
    # (pytest's own temp dirs are root-only).
    base = Path(tempfile.mkdtemp(prefix="berth-user-", dir="/tmp"))
    base.chmod(0o755)
    port = berth.free_port()
    conf = base / "berth.conf"
    conf.write_text(f"""
[server]
ip = 127.0.0.1
port = {port}
workers = 1
user = nobody
log_dir = {base}/logs
pid_file = {base}/run/berthd.pid
graceful_timeout = 2s
{APPS}""")
    conf.chmod(0o644)
    proc = subprocess.Popen([str(berth.binary_path()), "run", "-c", str(conf)], env={**os.environ, **ENV},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        class Handle:  # enough of a BerthServer for the helpers above
            pass
        h = Handle()
        h.proc = proc
        worker = next(iter(wait_for_workers(h, 1)))
        uids = [l for l in Path(f"/proc/{proc.pid}/status").read_text().splitlines() if l.startswith("Uid:")]
        assert uids[0].split()[1] == str(nobody.pw_uid)  # the master dropped root too
        wuids = [l for l in Path(f"/proc/{worker}/status").read_text().splitlines() if l.startswith("Uid:")]
        assert wuids[0].split()[1] == str(nobody.pw_uid)
        assert berth.wait_until(lambda: berth.raw(port, b"GET /hb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200"))
        log = base / "logs" / "request.log"
        assert berth.wait_until(lambda: log.exists() and "/hb" in log.read_text(), 3)
        assert (base / "run" / "berthd.pid").stat().st_uid == nobody.pw_uid
        # USR1 still reopens the logs as that user.
        os.rename(log, base / "logs" / "request.log.1")
        proc.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        berth.raw(port, b"GET /hb?again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert berth.wait_until(lambda: log.exists() and "again" in log.read_text(), 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.skipif(not Path("/usr/bin/systemd-socket-activate").exists(),
                    reason="systemd-socket-activate (package systemd) missing")
@pytest.mark.parametrize("workers", [0, 2])
def test_systemd_socket_activation(tmp_path, workers):
    import subprocess
    port = berth.free_port()
    conf, _ = berth.write_conf(tmp_path, f"[server]\nworkers = {workers}\n[routes:line]\n"
                                         "/hb = hb\n[app:hb]\ncall = berth.heartbeat\n", port=port)
    # systemd-socket-activate (which passes no environment of ours) holds the port and execs berthd on the first connection with
    # LISTEN_FDS: berthd could not bind the port itself, so an answer proves it adopted it.
    proc = subprocess.Popen(["/usr/bin/systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                             str(berth.binary_path()), "run", "-c", str(conf)],
                            env={**os.environ, **ENV}, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "activate.err", "w"))
    try:
        assert berth.wait_until(lambda: _listening(port), 5)
        resp = berth.raw(port, b"GET /hb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", timeout=5)
        assert resp.startswith(b"HTTP/1.1 200"), (tmp_path / "activate.err").read_text()
        assert "Address already in use" not in (tmp_path / "logs" / "server.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()


def _listening(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not Path("/usr/bin/systemd-socket-activate").exists(),
                    reason="systemd-socket-activate (package systemd) missing")
@pytest.mark.parametrize("workers", [0, 1])
def test_systemd_socket_activation_matches_file_descriptor_names(tmp_path, workers):
    """LISTEN_FDNAMES decides which passed socket a listener adopts, before the address: the
    sockets are passed in the opposite order to the config, each at the OTHER listener's port.
    The listener named `edge` expects PROXY protocol, `web` does not, so what a plain request
    gets on each port shows which listener adopted which socket. With workers, the master passes
    the names on to them."""
    import subprocess
    port_a, port_b = berth.free_port(), berth.free_port()
    conf, _ = berth.write_conf(
        tmp_path, f"[server]\nworkers = {workers}\nlisten = 127.0.0.1:{port_b} name=web, "
                  f"127.0.0.1:{port_a} name=edge proxy_protocol\n[routes:line]\n"
                  "/hb = hb\n[app:hb]\ncall = berth.heartbeat\n")
    proc = subprocess.Popen(["/usr/bin/systemd-socket-activate", "-l", f"127.0.0.1:{port_a}",
                             "-l", f"127.0.0.1:{port_b}", "--fdname=web:edge",
                             str(berth.binary_path()), "run", "-c", str(conf)],
                            env={**os.environ, **ENV}, stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "activate.err", "w"))
    request = b"GET /hb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    try:
        assert berth.wait_until(lambda: _listening(port_a) and _listening(port_b), 5)
        # port_a's socket is named web: plain HTTP, although the config puts web on port_b.
        resp = berth.raw(port_a, request, timeout=5)
        assert resp.startswith(b"HTTP/1.1 200"), (tmp_path / "activate.err").read_text()
        # port_b's socket is named edge: a request without a PROXY header is refused.
        assert not berth.raw(port_b, request, timeout=5).startswith(b"HTTP/1.1 200")
        proxied = (f"PROXY TCP4 192.0.2.7 127.0.0.1 40000 {port_b}\r\n").encode() + request
        assert berth.raw(port_b, proxied, timeout=5).startswith(b"HTTP/1.1 200")
        assert "Address already in use" not in (tmp_path / "logs" / "server.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()
