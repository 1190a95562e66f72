"""Layer 19: crashes and binary upgrades (issue #17). A crashing worker leaves its symbolised
stack and its request in server.log and is replaced; reloads and respawns keep working after a
package upgrade replaced the binary on disk."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading

import pytest

import berth
from berth import build_request

APPS = """
[routes:line]
/hb = hb
/abort = abort
/segv = segv
/echo = echo

[app:echo]
call = berth.echo

[app:hb]
call = berth.heartbeat

[app:abort]
call = berth.fault
mode = crash

[app:segv]
call = berth.fault
mode = segv
"""

ENV = {"BERTH_TEST_APPS": "1"}


def config(workers: int = 1) -> str:
    return f"""
[server]
workers = {workers}
graceful_timeout = 4s
{APPS}"""


def server_from(exe, tmp, conf: str, **server) -> berth.BerthServer:
    """A server (not started) that runs the binary at exe instead of $BERTHD."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = berth.free_port()
    text = berth.render_config(conf, port=port, tmp=tmp, server=server or None)
    srv = berth.BerthServer(tmp, text, port=port, env=ENV)
    srv.command = lambda: [str(exe), "run", "-c", str(srv.conf_path)]
    return srv


def crash(srv, target: str) -> None:
    with pytest.raises(berth.NoResponse):
        with srv.conn() as c:
            c.send(build_request("GET", target))
            c.recv_response(timeout=5)


@pytest.mark.parametrize("target,signo", [("/segv?who=me", 11), ("/abort?x=1", 6)])
def test_a_crash_leaves_a_symbolised_stack_and_the_request(berth_server, target, signo):
    srv = berth_server(config(), env=ENV)
    before = berth.child_pids(srv.proc.pid)
    crash(srv, target)
    # The worker's own raw report, written from its signal handler ...
    assert berth.wait_until(lambda: "berth crash end" in srv.server_log(), 20), srv.server_log()
    log = srv.server_log()
    assert re.search(rf"berth crash pid=\d+ tid=\d+ signal={signo} ", log), log
    assert f"berth request GET {target}" in log, log
    # ... which the master, having reaped it (killed by the signal: the status stays a
    # signal), symbolises: demangled names with file:line.
    # (libdw reads the binary's debug information first: allow for a loaded machine)
    # The master writes the report line by line, the exit status last: wait for all of it.
    def reported():
        log = srv.server_log()
        return "crashed; its stack" in log and (f"killed by signal {signo}" in log or
                                                "dumped core" in log)
    assert berth.wait_until(reported, 20), srv.server_log()
    log = srv.server_log()
    assert f"request GET {target}" in log
    assert re.search(r"#\d+ Berth::Apps::FaultApp::handle\(Berth::Http::Exchange&\)[^\n]* at "
                     r"\S*faultapp\.cpp:\d+", log), log
    # The worker was replaced and serves (the master symbolised the stack first: a loaded
    # machine may take seconds over both).
    assert berth.wait_until(lambda: len(berth.child_pids(srv.proc.pid) - before) == 1, 20)
    assert berth.wait_until(lambda: srv.request("GET", "/hb").status == 200, 10)




def test_crash_reports_follow_a_log_reopen(berth_server):
    srv = berth_server(config(), env=ENV)
    log = srv.log_path("server.log")
    # The master listens before its worker runs: rename only once the worker would get USR1.
    assert berth.wait_until(lambda: "worker(s) ready" in log.read_text(), 10), srv.describe()
    log.rename(log.with_name("server.log.1"))
    srv.proc.send_signal(signal.SIGUSR1)  # the master reopens, and forwards it to its worker
    assert berth.wait_until(lambda: log.exists() and
                            log.read_text().count("log files reopened") >= 2, 5)
    crash(srv, "/segv?rotated")
    assert berth.wait_until(lambda: "crashed; its stack" in log.read_text(), 5), log.read_text()
    text = log.read_text()
    assert "berth request GET /segv?rotated" in text and "berth crash end" in text, text

def test_a_single_process_server_leaves_the_raw_report(berth_server):
    srv = berth_server(config(workers=0), env=ENV)
    srv.stopped = srv.crash_reported = True  # it is meant to die here
    crash(srv, "/segv?single")
    assert srv.proc.wait(timeout=5) == -signal.SIGSEGV
    log = srv.server_log()
    assert "berth request GET /segv?single" in log, log
    assert re.search(r"berth frame 0 0x[0-9a-f]+ 0x[0-9a-f]+ [0-9a-f]+ \S*berthd", log), log
    assert "berth crash end" in log

def test_reload_and_respawn_after_the_binary_was_replaced(berth_server, tmp_path):
    # Run from a copy, as a package would install it, then replace the file the way dpkg
    # does (a new file renamed over the old one). The replacement is broken on purpose: a
    # worker started from the path would fail, one started from the master's binary works.
    exe = tmp_path / "bin" / "berthd"
    exe.parent.mkdir()
    shutil.copy2(berth.binary_path(), exe)
    srv = server_from(exe, tmp_path / "srv", config())
    try:
        srv.start()
        new = exe.parent / "berthd.dpkg-new"
        new.write_text("#!/bin/sh\nexit 1\n")
        new.chmod(0o755)
        os.replace(new, exe)
        srv.proc.send_signal(signal.SIGHUP)
        assert berth.wait_until(lambda: "reload complete: generation 2" in srv.server_log(), 10), \
            srv.server_log()
        assert srv.request("GET", "/hb?after-reload").status == 200
        # A crash after the replacement: the respawned worker runs too, and the master still
        # names the crashed frames (it reads its own binary through the fd it kept).
        crash(srv, "/segv?after-upgrade")
        # The master writes the report line by line (symbolising first): wait for the frame.
        assert berth.wait_until(lambda: re.search(r"#\d+ Berth::Apps::FaultApp::handle",
                                                  srv.server_log()), 20), \
            srv.server_log()
        assert berth.wait_until(lambda: srv.request("GET", "/hb").status == 200, 5)
    finally:
        srv.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_usr2_upgrade_hands_over_without_a_failed_request(tmp_path):
    exe = tmp_path / "bin" / "berthd"
    exe.parent.mkdir()
    shutil.copy2(berth.binary_path(), exe)
    pid_file = tmp_path / "srv" / "berthd.pid"
    srv = server_from(exe, tmp_path / "srv", config(workers=2), pid_file=pid_file)
    new_pid = 0
    failures: list[str] = []
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            try:
                r = srv.request("GET", "/echo")
                if r.status != 200:
                    failures.append("status %d %r" % (r.status, r.body[:300]))
            except Exception as e:  # a refused or dropped connection is what must not happen
                failures.append(repr(e))

    try:
        srv.start()
        old_pid = srv.proc.pid
        # The "new version", installed over the running one as a package would.
        new = exe.parent / "berthd.dpkg-new"
        shutil.copy2(berth.binary_path(), new)
        os.replace(new, exe)
        worker = threading.Thread(target=loop)
        worker.start()
        srv.stopped = True  # the old master exits on its own now
        srv.proc.send_signal(signal.SIGUSR2)
        assert srv.proc.wait(timeout=20) == 0, srv.server_log()
        assert berth.wait_until(lambda: srv.request("GET", "/hb").status == 200, 5)
        done.set()
        worker.join()
        new_pid = int(pid_file.read_text())
        assert new_pid != old_pid and pid_alive(new_pid)
        log = srv.server_log()
        assert f"new master (pid {new_pid}) ready; this master (pid {old_pid}) drains" in log, log
        assert not (tmp_path / "srv" / "berthd.pid.oldbin").exists()
        assert failures == [], failures[:5]
        # The new master answers the control socket.
        result = berth.run_cli("status", "-c", str(srv.conf_path), env=ENV)
        assert result.returncode == 0, result
    finally:
        done.set()
        srv.stop()
        if new_pid and pid_alive(new_pid):
            os.kill(new_pid, signal.SIGTERM)
            assert berth.wait_until(lambda: not pid_alive(new_pid), 10)


def test_usr2_to_a_broken_binary_keeps_the_old_master(tmp_path):
    exe = tmp_path / "bin" / "berthd"
    exe.parent.mkdir()
    shutil.copy2(berth.binary_path(), exe)
    pid_file = tmp_path / "srv" / "berthd.pid"
    srv = server_from(exe, tmp_path / "srv", config(), pid_file=pid_file)
    try:
        srv.start()
        new = exe.parent / "berthd.dpkg-new"
        new.write_text("#!/bin/sh\necho 'broken build' >&2\nexit 1\n")
        new.chmod(0o755)
        os.replace(new, exe)
        srv.proc.send_signal(signal.SIGUSR2)
        assert berth.wait_until(lambda: "upgrade failed" in srv.server_log(), 10), srv.server_log()
        assert "keeps serving" in srv.server_log()
        assert srv.alive()
        assert int(pid_file.read_text()) == srv.proc.pid
        assert srv.request("GET", "/hb").status == 200
        result = berth.run_cli("status", "-c", str(srv.conf_path), env=ENV)
        assert result.returncode == 0, result
    finally:
        srv.stop()
