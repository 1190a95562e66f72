"""Layer 13: the supervisor runs every service kind the same way — the toy berth.ticker service
(only with BERTH_TEST_APPS=1) is crashed, reloaded, stopped, shown in status and given up on
when it crash-loops, while the HTTP workers keep serving."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import berth

ENV = {"BERTH_TEST_APPS": "1"}


def config(tmp: Path, ticker: str = "", workers: int = 2) -> str:
    return f"""
[server]
workers = {workers}
graceful_timeout = 3s
pid_file = {tmp}/berthd.pid

[routes:line]
/hb = hb
/stats = stats

[app:hb]
call = berth.heartbeat

[app:stats]
call = berth.stats
{ticker}
"""


def ticker(tmp: Path, name: str = "t1", interval: str = "100ms", extra: str = "") -> str:
    return f"""
[ticker:{name}]
interval = {interval}
file = {tmp}/{name}.ticks
{extra}
"""


def ticks(tmp: Path, name: str = "t1") -> list[str]:
    path = tmp / f"{name}.ticks"
    return path.read_text().splitlines() if path.exists() else []


def ticker_pids(tmp: Path, name: str = "t1") -> list[int]:
    """The pids that started, in order (from the ticker's `start pid P` lines)."""
    return [int(l.split()[-1]) for l in ticks(tmp, name) if l.startswith(f"{name} start pid ")]


def status(srv) -> str:
    result = berth.run_cli("status", "-c", str(srv.conf_path), env=ENV)
    assert result.returncode == 0, result
    return result.output


def test_status_shows_each_service_and_child(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path)), env=ENV)
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 1)
    # The ticker writes its start line before the master hears it is ready: wait for both.
    assert berth.wait_until(lambda: all(s in status(srv) for s in (
        "service http:http: running, 2/2 ready", "service berth.ticker:t1: running, 1/1 ready")))
    out = status(srv)
    assert re.search(r"service http:http: running, 2/2 ready, restarts 0, last exit -", out), out
    assert re.search(r"service berth\.ticker:t1: running, 1/1 ready, restarts 0", out), out
    assert sum("worker slot" in l and "http:http, running" in l for l in out.splitlines()) == 2, out
    pid = ticker_pids(tmp_path)[0]
    assert f"pid {pid}, berth.ticker:t1, running" in out, out
    # berth.stats names the service of every slot, and the ticker's own stat.
    stats = json.loads(srv.request("GET", "/stats").body)
    kinds = sorted((w["service"], w["name"]) for w in stats["workers"] if w["state"] == "running")
    assert kinds == [("berth.ticker", "t1"), ("http", "http"), ("http", "http")], stats["workers"]
    assert berth.wait_until(lambda: json.loads(srv.request("GET", "/stats").body)["apps"]["ticks"] > 0)
    prom = srv.request("GET", "/stats?format=prometheus").body.decode()
    assert 'berth_worker_service_info{worker="' in prom and 'service="berth.ticker",name="t1"' in prom


def test_a_killed_ticker_is_restarted_and_counted(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path)), env=ENV)
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 1)
    first = ticker_pids(tmp_path)[0]
    os.kill(first, signal.SIGKILL)
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 2, 5)
    assert berth.wait_until(lambda: "berth.ticker:t1 child 0 (pid %d) killed by signal 9" % first
                            in srv.server_log())
    expected = r"service berth\.ticker:t1: running, 1/1 ready, restarts 1, last exit killed by signal 9"
    assert berth.wait_until(lambda: re.search(expected, status(srv))), status(srv)
    assert srv.request("GET", "/hb").status == 200


def test_a_crash_looping_ticker_is_marked_failed_while_http_serves(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path, "boom", "50ms", "mode = crash\ncrash_loop_limit = 3")),
                       env=ENV)
    assert berth.wait_until(lambda: "service berth.ticker:boom failed" in srv.server_log(), 10), srv.server_log()
    assert "The other services keep running" in srv.server_log()
    assert len(ticker_pids(tmp_path, "boom")) == 3  # crash_loop_limit: 3 starts, no 4th
    for _ in range(10):
        assert srv.request("GET", "/hb").status == 200
    out = status(srv)
    assert "service berth.ticker:boom: failed (crash loop)" in out, out
    assert re.search(r"worker slot \d+: pid 0, berth\.ticker:boom, failed", out), out
    stats = json.loads(srv.request("GET", "/stats").body)
    failed = [w for w in stats["workers"] if w["state"] == "failed"]
    assert [(w["service"], w["name"]) for w in failed] == [("berth.ticker", "boom")]
    assert failed[0]["last_exit"] == {"signal": 6}
    time.sleep(0.5)
    assert len(ticker_pids(tmp_path, "boom")) == 3  # still not restarted


def test_reload_keeps_an_unchanged_ticker_and_restarts_a_changed_one(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path)), env=ENV)
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 1)
    first = ticker_pids(tmp_path)[0]
    ok = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert ok.returncode == 0, ok
    assert ticker_pids(tmp_path) == [first]  # Keep: its section did not change
    srv.conf_path.write_text(srv.conf_path.read_text().replace("interval = 100ms", "interval = 150ms"))
    ok = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert ok.returncode == 0, ok
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 2)
    assert berth.wait_until(lambda: f"t1 stop pid {first}" in ticks(tmp_path))


def test_a_respawn_waiting_out_its_back_off_survives_a_reload_that_keeps_the_service(
        berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path, "boom", "50ms",
                                                  "mode = crash\ncrash_loop_limit = 0"), workers=1),
                       env=ENV)
    # From the 5th quick crash in a row on, the back-off is 1.6 s and more: reload meanwhile.
    assert berth.wait_until(lambda: "(5 in a row); restarting in" in srv.server_log(), 10), \
        srv.server_log()
    ok = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert ok.returncode == 0, ok
    started = len(ticker_pids(tmp_path, "boom"))
    # The ticker's section did not change, so the reload kept the service and its pending
    # restart: it comes, under the new generation (a reload that kept it must not lose it).
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path, "boom")) > started, 5), \
        srv.server_log()
    assert srv.request("GET", "/hb").status == 200


def test_reload_without_its_section_stops_the_ticker(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path)), env=ENV)
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 1)
    pid = ticker_pids(tmp_path)[0]
    text = srv.conf_path.read_text()
    section = ticker(tmp_path).strip()
    assert section in text
    srv.conf_path.write_text(text.replace(section, ""))
    ok = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert ok.returncode == 0, ok
    assert berth.wait_until(lambda: f"t1 stop pid {pid}" in ticks(tmp_path))
    assert berth.wait_until(lambda: "berth.ticker" not in status(srv))
    assert srv.request("GET", "/hb").status == 200


def test_restart_command_and_term_reach_the_ticker(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path)), env=ENV)
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 1)
    first = ticker_pids(tmp_path)[0]
    restart = berth.run_cli("restart", "t1", "-c", str(srv.conf_path), env=ENV)
    assert restart.returncode == 0, restart
    assert berth.wait_until(lambda: len(ticker_pids(tmp_path)) == 2)
    assert berth.wait_until(lambda: f"t1 stop pid {first}" in ticks(tmp_path))
    unknown = berth.run_cli("restart", "nope", "-c", str(srv.conf_path), env=ENV)
    assert unknown.returncode == 1 and "no service nope" in unknown.output
    second = ticker_pids(tmp_path)[1]
    assert srv.stop() == 0
    assert f"t1 stop pid {second}" in ticks(tmp_path)


def test_single_process_hosts_every_service(berth_server, tmp_path):
    srv = berth_server(config(tmp_path, ticker(tmp_path), workers=0), env=ENV)
    assert berth.wait_until(lambda: any(" tick " in l for l in ticks(tmp_path)))
    assert ticker_pids(tmp_path) == [srv.proc.pid]
    assert srv.request("GET", "/hb").status == 200
    assert srv.stop() == 0
    assert f"t1 stop pid {srv.proc.pid}" in ticks(tmp_path)


def test_the_ticker_needs_the_test_environment(tmp_path):
    conf, text = berth.write_conf(tmp_path, ticker(tmp_path))
    result = berth.run_cli("check", "-c", str(conf), env={"BERTH_TEST_APPS": "0"})
    assert result.returncode == 1
    line = berth.line_of(text, "[ticker:t1]")
    assert berth.diagnostic_lines(result, conf, line), result
