"""Layer 91: supervised daemons ([daemon:NAME], issue #11): berth.daemon_sample, external programs
with their output in app.log, restarts with back-off, FATAL, depends_on order, process groups on
stop, `berthd daemon start|stop|restart`, and nothing left behind when the master is killed."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import berth


def config(tmp: Path, daemons: str) -> str:
    return f"""
[server]
workers = 1
graceful_timeout = 3s
pid_file = {tmp}/berthd.pid
{daemons}
"""


def script(tmp: Path, name: str, body: str) -> Path:
    path = tmp / f"{name}.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def app_log(srv) -> str:
    path = srv.log_path("app.log")
    return path.read_text(errors="replace") if path.exists() else ""


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def pids(path: Path) -> list[int]:
    return [int(l) for l in path.read_text().split()] if path.exists() else []


def status(srv) -> str:
    result = berth.run_cli("status", "-c", str(srv.conf_path))
    assert result.returncode == 0, result
    return result.output


def daemon(srv, verb: str, name: str) -> berth.CliResult:
    return berth.run_cli("daemon", "-c", str(srv.conf_path), verb, name, timeout=30)


# A program that records its pid, starts a grandchild `sleep` in its process group (recording its
# pid too) and prints a line every 100 ms.
LOOPER = """echo $$ >> {tmp}/{name}.pids
sleep 1000 &
echo $! >> {tmp}/{name}.grandchildren
echo "hello $1 $GREETING"
echo "to stderr" >&2
while true; do echo "tick"; sleep 0.1; done
"""


def looper(tmp: Path, name: str) -> Path:
    return script(tmp, name, LOOPER.format(tmp=tmp, name=name))


def test_sample_logs_status_lines(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, """
[daemon:sample]
call = berth.daemon_sample
interval = 100ms
"""))
    assert berth.wait_until(lambda: "sample: sample daemon status line 3" in app_log(srv), 5), \
        app_log(srv)
    assert berth.wait_until(lambda: re.search(
        r"daemon sample: RUNNING, pid \d+, up \d+ s, restarts 0, last exit -; \d+ iterations",
        status(srv)), 5), status(srv)


def test_program_output_in_app_log_with_its_name(berth_server, tmp_path):
    prog = looper(tmp_path, "greeter")
    srv = berth_server(config(tmp_path, f"""
[daemon:greeter]
command = {prog} "big world"
environment = GREETING="from berth", OTHER=1
start_seconds = 200ms
"""))
    assert berth.wait_until(lambda: "greeter: tick" in app_log(srv), 5), app_log(srv)
    log = app_log(srv)
    assert re.search(r"\[info\] berth\.app\.daemon: greeter: hello big world from berth", log), log
    assert re.search(r"\[warning\] berth\.app\.daemon: greeter: to stderr", log), log
    assert berth.wait_until(lambda: "daemon greeter: RUNNING" in status(srv), 5), status(srv)
    program = pids(tmp_path / "greeter.pids")[0]
    assert f"daemon greeter: RUNNING, pid {program}" in status(srv)
    # Nothing of berthd's reaches the program: no shared memory, snapshot, channel or log file.
    inherited = [os.readlink(f"/proc/{program}/fd/{fd}") for fd in os.listdir(f"/proc/{program}/fd")]
    assert not [t for t in inherited if "memfd" in t or "socket" in t or t.endswith(".log")], \
        inherited


def test_output_to_files_and_user(berth_server, tmp_path):
    # Inline (no script file): as root the program runs as nobody, who can't enter tmp_path.
    as_root = os.geteuid() == 0
    srv = berth_server(config(tmp_path, f"""
[daemon:writer]
command = /bin/sh -c 'echo "uid $(id -u) umask $(umask) dir $(pwd)" && echo oops >&2 && exec sleep 1000'
directory = /
umask = 027
stdout = {tmp_path}/writer.out
stderr = {tmp_path}/writer.err
{"user = nobody" if as_root else ""}
"""))
    out, err = tmp_path / "writer.out", tmp_path / "writer.err"
    assert berth.wait_until(lambda: out.exists() and "uid" in out.read_text(), 5)
    uid = 65534 if as_root else os.geteuid()
    assert out.read_text().splitlines()[0] == f"uid {uid} umask 0027 dir /"
    assert berth.wait_until(lambda: err.exists() and err.read_text() == "oops\n", 5)
    assert "writer: oops" not in app_log(srv)


def test_killed_program_restarts_with_backoff(berth_server, tmp_path):
    prog = looper(tmp_path, "victim")
    srv = berth_server(config(tmp_path, f"""
[daemon:victim]
command = {prog}
start_seconds = 200ms
backoff = 500ms
"""))
    assert berth.wait_until(lambda: "daemon victim: RUNNING" in status(srv), 5), status(srv)
    first = pids(tmp_path / "victim.pids")[0]
    killed = time.monotonic()
    os.kill(first, signal.SIGKILL)
    assert berth.wait_until(lambda: len(pids(tmp_path / "victim.pids")) == 2, 5)
    assert time.monotonic() - killed >= 0.4  # the back-off, not at once
    assert "victim killed by signal 9 (Killed); restarting in 0.5 s" in srv.server_log()
    assert berth.wait_until(lambda: "restarts 1, last exit killed by signal 9" in status(srv), 5), \
        status(srv)
    # The first run's grandchild went with it: a daemon's tree is never orphaned.
    assert berth.wait_until(lambda: not alive(pids(tmp_path / "victim.grandchildren")[0]), 3)


def test_program_that_exits_at_once_goes_fatal_while_http_serves(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, """
[daemon:broken]
command = /bin/sh -c "echo trying; exit 3"
start_seconds = 1s
start_retries = 2
backoff = 100ms
"""))
    assert berth.wait_until(lambda: "daemon broken: FATAL" in status(srv), 5), status(srv)
    assert app_log(srv).count("broken: trying") == 3  # the first start and 2 retries
    assert "FATAL after 3 failed starts in a row" in srv.server_log()
    assert "restarts 2, last exit exited with status 3" in status(srv)
    srv.assert_serving()
    # FATAL does not spin: the berthd child stays up, nothing is started again.
    time.sleep(0.5)
    assert app_log(srv).count("broken: trying") == 3
    assert "service daemon:broken: running, 1/1 ready, restarts 0" in status(srv)
    srv.assert_serving()


def test_depends_on_start_and_stop_order(berth_server, tmp_path):
    order = tmp_path / "order"
    body = """trap 'echo "{name} down" >> {order}; exit 0' TERM
sleep 0.3
echo "{name} up" >> {order}
while true; do sleep 0.1; done
"""
    db = script(tmp_path, "db", body.format(name="db", order=order))
    web = script(tmp_path, "web", body.format(name="web", order=order))
    srv = berth_server(config(tmp_path, f"""
[daemon:web]
command = {web}
depends_on = db
start_seconds = 500ms

[daemon:db]
command = {db}
start_seconds = 500ms
"""))
    assert berth.wait_until(lambda: "daemon web: RUNNING" in status(srv), 8), status(srv)
    assert order.read_text().split("\n")[:2] == ["db up", "web up"]
    assert "web waits for db to be RUNNING (depends_on)" in srv.server_log()
    assert srv.stop() == 0
    lines = order.read_text().splitlines()
    assert lines[2:] == ["web down", "db down"], lines


def test_daemon_stop_start_restart_kill_the_whole_group(berth_server, tmp_path):
    prog = looper(tmp_path, "worker")
    srv = berth_server(config(tmp_path, f"""
[daemon:worker]
command = {prog}
start_seconds = 200ms
stop_timeout = 2s
"""))
    assert berth.wait_until(lambda: "daemon worker: RUNNING" in status(srv), 5), status(srv)
    program = pids(tmp_path / "worker.pids")[0]
    grandchild = pids(tmp_path / "worker.grandchildren")[0]
    assert alive(grandchild)

    result = daemon(srv, "stop", "worker")
    assert result.returncode == 0 and "worker: STOPPED" in result.stdout, result
    assert not alive(program)
    assert berth.wait_until(lambda: not alive(grandchild), 2)
    assert "daemon worker: STOPPED" in status(srv)
    time.sleep(0.3)  # stays stopped (supervisorctl semantics)
    assert len(pids(tmp_path / "worker.pids")) == 1

    result = daemon(srv, "start", "worker")
    assert result.returncode == 0 and "worker: RUNNING" in result.stdout, result
    assert len(pids(tmp_path / "worker.pids")) == 2

    result = daemon(srv, "restart", "worker")
    assert result.returncode == 0 and "worker: RUNNING" in result.stdout, result
    assert len(pids(tmp_path / "worker.pids")) == 3
    assert not alive(pids(tmp_path / "worker.pids")[1])

    result = daemon(srv, "status", "worker")
    assert result.returncode == 0 and "daemon worker: RUNNING" in result.stdout, result
    result = daemon(srv, "stop", "nosuch")
    assert result.returncode == 1 and "no service daemon:nosuch" in result.output, result
    result = daemon(srv, "frobnicate", "worker")
    assert result.returncode == 2, result


def test_instances_and_master_killed(berth_server, tmp_path):
    prog = looper(tmp_path, "multi")
    srv = berth_server(config(tmp_path, f"""
[daemon:multi]
command = {prog} %(n)
instances = 2
start_seconds = 200ms
"""))
    assert berth.wait_until(lambda: len(pids(tmp_path / "multi.pids")) == 2, 5)
    assert berth.wait_until(lambda: "multi.0: hello 0" in app_log(srv) and
                            "multi.1: hello 1" in app_log(srv), 5), app_log(srv)
    programs = pids(tmp_path / "multi.pids") + pids(tmp_path / "multi.grandchildren")
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(5)
    assert berth.wait_until(lambda: not any(alive(p) for p in programs), 15), \
        [p for p in programs if alive(p)]


def test_check_reports_bad_daemon_sections(tmp_path):
    conf, text = berth.write_conf(tmp_path, """
[daemon:a]
call = berth.daemon_sample
command = /bin/true

[daemon:b]
command = /bin/true "open
stop_signal = TERMINATE
autorestart = sometimes
depends_on = nosuch

[daemon:c]
command = /bin/true
depends_on = d

[daemon:d]
command = /bin/true
depends_on = c
environment = A=1, B

[daemon:e]
instances = 0
""")
    result = berth.run_cli("check", "-c", str(conf))
    assert result.returncode != 0, result
    out = result.output
    for needle, message in [
        ("[daemon:a]", "set either call or command, not both"),
        ("command = /bin/true \"open", "unterminated \" quote"),
        ("stop_signal = TERMINATE", "'TERMINATE' is not TERM"),
        ("autorestart = sometimes", "'sometimes' is not always, on-failure or never"),
        ("depends_on = nosuch", "no [daemon:nosuch] section"),
        ("depends_on = d", "dependency cycle: c -> d -> c"),
        ("environment = A=1, B", "'B' is not NAME=VALUE"),
        ("[daemon:e]", "set call (a built-in daemon) or command (a program)"),
    ]:
        line = berth.line_of(text, needle)
        assert re.search(rf"{re.escape(str(conf))}:{line}: .*{re.escape(message)}", out), \
            (needle, out)
    assert "instances" in out, out


def test_reload_keeps_unchanged_and_replaces_changed_one_after_the_other(berth_server, tmp_path):
    keep, change = looper(tmp_path, "keep"), looper(tmp_path, "change")
    body = """
[daemon:keep]
command = {keep}
start_seconds = 200ms

[daemon:change]
command = {change} {arg}
start_seconds = 200ms
"""
    srv = berth_server(config(tmp_path, body.format(keep=keep, change=change, arg="one")))
    assert berth.wait_until(lambda: status(srv).count("RUNNING") == 2, 5), status(srv)
    srv.conf_path.write_text(srv.conf_path.read_text().replace(f"{change} one", f"{change} two"))
    result = berth.run_cli("reload", "-c", str(srv.conf_path), timeout=30)
    assert result.returncode == 0, result
    assert berth.wait_until(lambda: "change: hello two" in app_log(srv), 5), app_log(srv)
    assert len(pids(tmp_path / "keep.pids")) == 1
    first, second = pids(tmp_path / "change.pids")
    assert not alive(first)
    # The new child started its program only once the old one had stopped: never both at once.
    log = srv.server_log()
    assert "change waits for its previous generation to stop" in log, log
    assert log.index("change stopped:") < log.rindex("change started"), log
