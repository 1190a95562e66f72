"""Layer 14: one configuration snapshot per generation — the master reads and validates the files
once per generation and its children run that snapshot, never the files on disk; `berthd reload`
reports the outcome in its exit code."""

from __future__ import annotations

import os
import re
import signal
import stat
import time
from pathlib import Path

import berth
from berth import build_request

ENV = {"BERTH_TEST_APPS": "1"}


def config(tmp: Path, routes: str = "/a = hb", workers: int = 2, extra: str = "") -> str:
    return f"""
[server]
workers = {workers}
graceful_timeout = 3s
pid_file = {tmp}/berthd.pid
{extra}

[routes:line]
{routes}
/stats = stats

[app:hb]
call = berth.heartbeat

[app:stats]
call = berth.stats
"""


def children(pid: int) -> set[int]:
    """Live child processes of pid (the workers of a master)."""
    return berth.child_pids(pid)


def wait_for_children(srv, count: int, exclude: set[int] = frozenset(), timeout: float = 8.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = children(srv.proc.pid)
        if len(pids) == count and not (pids & set(exclude)):
            return pids
        time.sleep(0.05)
    raise AssertionError(f"expected {count} children without {exclude}, have {children(srv.proc.pid)}")


def status_of_every_worker(srv, target: str, tries: int = 30) -> set[int]:
    """Answers on fresh connections until both workers have answered: the statuses seen."""
    seen = set()
    for _ in range(tries):
        seen.add(srv.request("GET", target).status)
    return seen


def replace_one_worker(srv) -> int:
    before = wait_for_children(srv, 2)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    after = wait_for_children(srv, 2, exclude={victim})
    assert berth.wait_until(lambda: "killed by signal 9" in srv.server_log())
    return next(iter(after - before))


def test_respawn_runs_the_snapshot_in_force_while_the_file_is_broken(berth_server, tmp_path):
    srv = berth_server(config(tmp_path), env=ENV)
    assert srv.request("GET", "/a").status == 200
    original = srv.conf_path.read_text()
    # The route goes away and the file no longer parses: nothing of it may go live.
    srv.conf_path.write_text(original.replace("/a = hb", "/b = hb") + "\nthis is garbage\n")
    garbage_line = srv.conf_path.read_text().splitlines().index("this is garbage") + 1
    new_pid = replace_one_worker(srv)
    assert berth.wait_until(lambda: f"(pid {new_pid}) listening" in srv.server_log(), 5), srv.server_log()
    # Every worker, the new one included, serves generation 1: /a, not /b.
    assert status_of_every_worker(srv, "/a") == {200}
    assert status_of_every_worker(srv, "/b") == {404}
    assert "expected 'key = value'" not in srv.server_log()  # the respawn read no file
    reload = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert reload.returncode == 1, reload
    assert f"{srv.conf_path}:{garbage_line}: expected 'key = value'" in reload.output, reload
    assert srv.request("GET", "/a").status == 200
    assert len(children(srv.proc.pid)) == 2


def test_an_edited_file_goes_live_only_through_reload(berth_server, tmp_path):
    srv = berth_server(config(tmp_path), env=ENV)
    srv.conf_path.write_text(srv.conf_path.read_text().replace("/a = hb", "/a = hb\n/b = hb"))
    replace_one_worker(srv)
    assert status_of_every_worker(srv, "/b") == {404}  # not piecemeal: no worker has /b yet
    reload = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert reload.returncode == 0, reload
    assert "reload complete: generation 2 serving" in reload.output
    # The old workers drain after the new ones are ready; new connections reach the new ones.
    assert berth.wait_until(lambda: status_of_every_worker(srv, "/b", 10) == {200}, 8)


def test_reload_exit_codes(berth_server, tmp_path):
    srv = berth_server(config(tmp_path), env=ENV)
    ok = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert ok.returncode == 0, ok
    assert "reload complete" in ok.output
    text = srv.conf_path.read_text().replace("graceful_timeout = 3s", "graceful_timeout = 3x")
    srv.conf_path.write_text(text)
    line = text.splitlines().index("graceful_timeout = 3x") + 1
    bad = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert bad.returncode == 1, bad
    assert f"{srv.conf_path}:{line}: [server] graceful_timeout: '3x' is not a duration" in bad.output, bad
    assert "generation 2 keeps running" in bad.output
    assert srv.request("GET", "/a").status == 200


def test_reload_fails_when_the_new_children_fail(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, workers=1), env=ENV)
    # Valid for the master, but the new worker can't start: its log directory is a file.
    (tmp_path / "notadir").write_text("")
    srv.conf_path.write_text(re.sub(r"(?m)^log_dir = .*$", f"log_dir = {tmp_path}/notadir/logs",
                                    srv.conf_path.read_text()))
    bad = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert bad.returncode == 1, bad
    assert "reload failed: new http:http child 0" in bad.output, bad
    assert srv.request("GET", "/a").status == 200


def test_control_socket_is_owner_only(berth_server, tmp_path):
    srv = berth_server(config(tmp_path), env=ENV)
    sock = tmp_path / "berthd.sock"
    assert berth.wait_until(sock.exists)
    mode = sock.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    srv.stop()
    assert not sock.exists()


def test_once_reload_answers_no_new_connection_reaches_the_old_generation(berth_server, tmp_path):
    # `berthd reload` (and the admin API's apply and rollback) answers only once the old
    # generation's workers have left the shared listeners: the next connection meets the new
    # configuration, never a draining worker with the old one.
    srv = berth_server(config(tmp_path), env=ENV)
    with_b = srv.conf_path.read_text().replace("/a = hb", "/a = hb\n/b = hb")
    without_b = srv.conf_path.read_text()
    for round_ in range(6):
        text, expected = (with_b, 200) if round_ % 2 == 0 else (without_b, 404)
        srv.conf_path.write_text(text)
        reload = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
        assert reload.returncode == 0, reload
        seen = [srv.request("GET", "/b").status for _ in range(12)]
        assert seen == [expected] * 12, (round_, seen)
