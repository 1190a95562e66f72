"""Layer 92: the cron agent ([crontab:line], [cron], `berthd cron list|run`).

Jobs use the test-only seconds schedule (`@seconds S M H DOM MON DOW command`, accepted only
with BERTH_TEST_APPS=1, see README.md) so nothing waits for minutes, except one test that
watches a real `* * * * *` job fire within 61 s. `berthd cron list` reads BERTH_TEST_NOW (with
BERTH_TEST_APPS=1) as the current time, so its next run times are exact. The PostgreSQL lock
test starts a throwaway PostgreSQL (pgserver.py) and two berthd nodes sharing it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import uuid

import pytest

import berth
import pgserver

ENV = {"BERTH_TEST_APPS": "1"}


def cron_config(lines: list[str], cron: dict | None = None, workers: int = 1) -> str:
    text = f"[server]\nworkers = {workers}\n\n[crontab:line]\n" + "\n".join(lines) + "\n"
    if cron:
        text += "\n[cron]\n" + "".join(f"{k} = {v}\n" for k, v in cron.items())
    return text


def cron_log(srv) -> list[str]:
    path = srv.log_dir / "cron.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def wait_log(srv, predicate, timeout: float = 10.0) -> list[str]:
    assert berth.wait_until(lambda: predicate(cron_log(srv)), timeout, 0.1), \
        "cron.log never matched:\n" + "\n".join(cron_log(srv)[-40:]) + "\n" + srv.describe(2000)
    return cron_log(srv)


def events(lines: list[str], event: str, job: str | None = None) -> list[str]:
    return [l for l in lines if l.split(" ")[1:2] == [event] and (job is None or f" {job} " in l)]


def job_id(srv, needle: str) -> str:
    return f"{srv.conf_path}:{berth.line_of(srv.conf_text, needle)}"


def test_jobs_run_logged_output_captured_and_redirection_honoured(berth_server):
    srv = berth_server(cron_config([
        "@seconds * * * * * * echo out-line; echo err-line >&2; echo FOO=$FOO HOME=$HOME",
        "@seconds * * * * * * echo redirected-line > {tmp}/redirected.txt 2>&1",
        "@seconds * * * * * * exit 3",
        "@reboot echo booted >> {tmp}/boot.txt",
    ], cron={"environment": "FOO=bar"}), env=ENV)
    out = job_id(srv, "out-line")
    red = job_id(srv, "redirected-line")
    fail = job_id(srv, "exit 3")
    lines = wait_log(srv, lambda l: events(l, "exit", out) and events(l, "exit", red)
                     and events(l, "exit", fail))
    # start and exit lines: "TIME start FILE:LINE pid N: COMMAND", "TIME exit ... status N ...".
    assert any(re.search(r" start .* pid \d+: echo out-line", l) for l in events(lines, "start", out))
    assert re.search(r"pid \d+ status 0 duration \d+\.\d+s$", events(lines, "exit", out)[0])
    assert re.search(r"status 3 duration", events(lines, "exit", fail)[0])
    output = [l for l in events(lines, "output", out)]
    assert any(l.endswith(": out-line") for l in output), lines
    assert any(l.endswith(": err-line") for l in output), lines
    # A clean environment plus [cron] environment.
    assert any(": FOO=bar HOME=" in l for l in output), lines
    # A redirected job's output is not captured; it went where the line said.
    assert not events(lines, "output", red)
    assert (srv.tmp / "redirected.txt").read_text().strip() == "redirected-line"
    # @reboot ran once, at the start.
    assert (srv.tmp / "boot.txt").read_text() == "booted\n"
    # Each line's timestamp carries the UTC offset.
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d|Z) ", lines[0])


def test_overlap_skip_and_max_runtime_kill(berth_server):
    marker = str(40000 + uuid.uuid4().int % 9999)
    srv = berth_server(cron_config([
        "@seconds * * * * * * sleep 2.5",
        # Runs once (later runs find the flag and exit), killed by max_runtime.
        f"@seconds * * * * * * [ -e {{tmp}}/once ] && exit 0; touch {{tmp}}/once; "
        f"sleep {marker} & sleep 30",
    ], cron={"max_runtime": "1500ms"}), env=ENV)
    slow = job_id(srv, "sleep 2.5")
    hog = job_id(srv, "touch")
    lines = wait_log(srv, lambda l: len(events(l, "skip", slow)) >= 2, timeout=12)
    assert "still running (overlap = skip)" in events(lines, "skip", slow)[0]
    # Never two runs at once: starts and exits alternate.
    seq = [l.split(" ")[1] for l in lines if f" {slow} " in l and l.split(" ")[1] in ("start", "exit")]
    assert all(a != b for a, b in zip(seq, seq[1:])), seq

    # max_runtime kills the whole process group (the background sleep too), and says so.
    lines = wait_log(srv, lambda l: events(l, "kill", hog) and len(events(l, "exit", hog)) >= 2,
                     timeout=8)
    assert "max_runtime 1.5s exceeded" in events(lines, "kill", hog)[0]
    assert re.search(r" signal 9 duration", events(lines, "exit", hog)[0])
    assert berth.wait_until(lambda: subprocess.run(["pgrep", "-f", f"sleep {marker}"],
                                                   capture_output=True).returncode != 0, 3)


def test_stats_count_runs_failures_and_skips(berth_server):
    srv = berth_server(cron_config([
        "@seconds * * * * * * false",
        "@seconds * * * * * * sleep 1.5",
    ]) + "\n[app:stats]\ncall = berth.stats\n\n[routes:line]\n/stats = stats\n", env=ENV)
    wait_log(srv, lambda l: events(l, "skip") and len(events(l, "exit")) >= 3)

    def stat(name):
        body = json.loads(srv.request("GET", "/stats").body)
        return body["apps"].get(name, 0)
    assert berth.wait_until(lambda: stat("cron.runs") >= 3 and stat("cron.failures") >= 1
                            and stat("cron.skipped") >= 1, 5), srv.request("GET", "/stats").body


def test_per_job_last_run_and_exit_in_stats_and_prometheus(berth_server):
    srv = berth_server(cron_config([
        "@seconds * * * * * * exit 3",
        "@seconds * * * * * * /usr/bin/python3 -c 'import os; os.kill(os.getpid(), 15)'",
        "@seconds 0 0 0 1 1 * true",
    ]) + "\n[app:stats]\ncall = berth.stats\n[app:metrics]\ncall = berth.metrics\n\n"
        "[routes:line]\n/stats = stats\n/metrics = metrics\n", env=ENV)
    name = srv.conf_path.name
    fails, killed, never = (f"{name}:{berth.line_of(srv.conf_text, needle)}"
                            for needle in ("exit 3", "os.kill", "* true"))
    before = int(__import__("time").time())
    wait_log(srv, lambda l: len(events(l, "exit")) >= 2)

    def apps():
        return json.loads(srv.request("GET", "/stats").body)["apps"]
    assert berth.wait_until(lambda: apps().get(f"cron_last_exit:{fails}") == 3
                            and apps().get(f"cron_last_exit:{killed}") == 128 + 15, 5), json.dumps(apps())
    stats = apps()
    assert stats[f"cron_last_run:{fails}"] >= before - 1, stats
    assert stats[f"cron_last_run:{never}"] == 0, stats  # declared, not run yet
    metrics = srv.request("GET", "/metrics").body.decode()
    assert "# TYPE berth_cron_job_last_run_seconds gauge" in metrics, metrics
    assert f'berth_cron_job_last_exit{{job="{fails}"}} 3\n' in metrics, metrics
    assert f'berth_cron_job_last_exit{{job="{killed}"}} 143\n' in metrics, metrics
    last_run = re.search(rf'(?m)^berth_cron_job_last_run_seconds{{job="{re.escape(fails)}"}} (\d+)$',
                         metrics)
    assert last_run and int(last_run.group(1)) >= before - 1, metrics
    # Only the labelled families carry them, not the generic app-stat one.
    assert "cron_last_run" not in "".join(l for l in metrics.splitlines(True)
                                          if l.startswith("berth_app_stat")), metrics


def test_status_shows_each_job_and_usr1_reopens_cron_log(berth_server):
    srv = berth_server(cron_config(["@seconds * * * * * * echo status-job"]),
                       server={"pid_file": "{tmp}/berthd.pid"}, env=ENV)
    job = job_id(srv, "status-job")
    wait_log(srv, lambda l: events(l, "exit", job))
    r = berth.run_cli("status", "-c", str(srv.conf_path))
    assert r.returncode == 0, r.output
    assert re.search(rf"^cron {re.escape(job)} \(@seconds \* \* \* \* \* \*\): last run "
                     r"\d{4}-\S+ \((ok, status 0|running)\), next \d{4}-\S+$", r.stdout, re.M), r.stdout
    # logrotate moves the file and sends USR1: the agent writes a new cron.log.
    log = srv.log_dir / "cron.log"
    log.rename(srv.log_dir / "cron.log.1")
    os.kill(srv.proc.pid, signal.SIGUSR1)
    assert berth.wait_until(lambda: log.exists() and events(cron_log(srv), "exit", job), 5), \
        srv.describe(2000)


def test_restarted_agent_does_not_rerun_reboot_jobs(berth_server):
    srv = berth_server(cron_config(["@reboot echo booted >> {tmp}/boot.txt",
                                    "@seconds * * * * * * true"]), env=ENV)
    state = srv.log_dir / "cron.state"
    reboot = job_id(srv, "@reboot")
    # cron.log is written in batches: see the first agent's lines on disk before killing it.
    wait_log(srv, lambda l: events(l, "exit", reboot) and state.exists())
    agent = json.loads(state.read_text())["pid"]
    os.kill(agent, signal.SIGKILL)
    # The supervisor starts a new agent (its pid in cron.state), which skips @reboot.
    assert berth.wait_until(lambda: state.exists() and json.loads(state.read_text())["pid"] != agent,
                            10, 0.1), srv.describe(2000)
    # A new agent logs its @reboot starts before anything else: once it ran a scheduled job,
    # a wrongly repeated @reboot would show.
    tick = job_id(srv, "* true")
    done = len(events(cron_log(srv), "exit", tick))
    wait_log(srv, lambda l: len(events(l, "exit", tick)) > done + 1)
    assert len(events(cron_log(srv), "start", reboot)) == 1
    assert (srv.tmp / "boot.txt").read_text() == "booted\n"


def test_check_reports_invalid_lines_with_file_line_and_field(tmp_path):
    conf = tmp_path / "berth.conf"
    text = ("[server]\nport = 0\n\n[crontab:line]\n"
            "61 * * * * /bin/true\n"
            "* * * foo * /bin/true\n"
            "*/2 * * * *\n"
            "@fortnightly /bin/true\n"
            "0 3 * * 8 /bin/true\n"
            "0 3 * * * /bin/true\n"
            "\n[cron]\noverlap = sometimes\ntimezone = Mars/Olympus\nlock = redis://db\n")
    conf.write_text(text)
    r = berth.run_cli("check", "-c", str(conf))
    assert r.returncode == 1, r.output
    for needle, field in (("61 *", "minute: 61 is out of range 0-59 (column 1)"),
                          ("foo", "month: 'foo' is not a number or name (column 7)"),
                          ("*/2 * * * *", "command: missing"),
                          ("@fortnightly", "schedule: unknown '@fortnightly'"),
                          ("* * 8", "day of week: 8 is out of range 0-7 (column 9)"),
                          ("overlap", "[cron] overlap: 'sometimes' is not skip, queue or allow"),
                          ("timezone", "[cron] timezone: 'Mars/Olympus' is not a known time zone"),
                          ("lock", "[cron] lock: 'redis://db' is not a postgresql://")):
        want = f"{conf}:{berth.line_of(text, needle)}: "
        assert any(l.startswith(want) and field in l for l in r.output.splitlines()), \
            (want, field, r.output)
    assert f"{conf}:{berth.line_of(text, '0 3 * * * ')}:" not in r.output
    # cron list refuses the same lines.
    r = berth.run_cli("cron", "list", "-c", str(conf))
    assert r.returncode == 1 and f"{conf}:5: [crontab:line] minute: 61" in r.stderr, r.output


def test_cron_list_text_and_json(tmp_path):
    conf = tmp_path / "berth.conf"
    text = ("[crontab:line]\n"
            "30 2 * * * /usr/bin/backup > /dev/null 2>&1\n"
            "@reboot /bin/true\n"
            "\n[cron]\ntimezone = Europe/Berlin\n")
    conf.write_text(text)
    env = {**ENV, "BERTH_TEST_NOW": "2026-03-28T12:00:00Z"}
    r = berth.run_cli("cron", "list", "-c", str(conf), "--json", env=env)
    assert r.returncode == 0, r.output
    jobs = json.loads(r.stdout)
    assert jobs[0] == {
        "file": str(conf), "line": 2, "schedule": "30 2 * * *",
        "command": "/usr/bin/backup > /dev/null 2>&1",
        # 2026-03-29 02:30 does not exist in Berlin: the job runs once right after the jump.
        "next": ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00",
                 "2026-03-31T02:30:00+02:00", "2026-04-01T02:30:00+02:00",
                 "2026-04-02T02:30:00+02:00"]}
    assert jobs[1]["schedule"] == "@reboot" and jobs[1]["next"] == []

    r = berth.run_cli("cron", "-c", str(conf), "list", env=env)
    assert r.returncode == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == f"{conf}:2  30 2 * * *  /usr/bin/backup > /dev/null 2>&1"
    assert lines[1].strip() == "2026-03-29T03:00:00+02:00"
    assert f"{conf}:3  @reboot  /bin/true" in lines


def test_cron_run_runs_one_job_now(tmp_path):
    conf = tmp_path / "berth.conf"
    conf.write_text("[crontab:line]\n0 0 1 1 * echo hello-$FOO; echo oops >&2; exit 7\n"
                    "\n[cron]\nenvironment = FOO=world\n")
    r = berth.run_cli("cron", "run", f"{conf}:2", "-c", str(conf))
    assert r.returncode == 7, r.output
    assert r.stdout.strip() == "hello-world"
    assert r.stderr.strip() == "oops"
    r = berth.run_cli("cron", "run", f"{conf}:9", "-c", str(conf))
    assert r.returncode == 1 and "no job at" in r.stderr


def test_single_process_runs_jobs_too(berth_server):
    srv = berth_server(cron_config(["@seconds * * * * * * echo single"], workers=0), env=ENV)
    wait_log(srv, lambda l: any(l_.endswith(": single") for l_ in events(l, "output")))


def test_seconds_schedule_needs_test_apps(tmp_path):
    conf = tmp_path / "berth.conf"
    conf.write_text("[server]\nport = 0\n\n[crontab:line]\n@seconds * * * * * * /bin/true\n")
    r = berth.run_cli("check", "-c", str(conf), env={"BERTH_TEST_APPS": "0"})
    assert r.returncode == 1 and f"{conf}:5: [crontab:line] schedule: unknown '@seconds'" in r.output


@pytest.fixture(scope="module")
def postgres():
    with pgserver.postgres_server("berth_cron") as pg:
        yield pg


def slot_rows(pg) -> int:
    exists = pgserver.psql(pg, "SELECT to_regclass('berth_cron_slots') IS NOT NULL", "berth_cron")
    if exists != "t":
        return 0
    return int(pgserver.psql(pg, "SELECT count(*) FROM berth_cron_slots", "berth_cron"))


def test_postgresql_lock_runs_each_slot_once_per_cluster(berth_server, postgres, tmp_path):
    before = slot_rows(postgres)
    out = tmp_path / "runs.txt"
    # Every 2 s; both nodes append to one file, so the file counts the cluster's runs.
    lines = [f"@seconds */2 * * * * * echo run-$(date +%s) >> {out}"]
    conf = cron_config(lines, cron={"lock": postgres["url"]})
    a = berth_server(conf, env=ENV)
    b = berth_server(conf, env=ENV)
    job_a, job_b = job_id(a, "echo run-"), job_id(b, "echo run-")

    def starts():
        return events(cron_log(a), "start", job_a) + events(cron_log(b), "start", job_b)

    def elsewhere():
        return events(cron_log(a), "elsewhere") + events(cron_log(b), "elsewhere")
    # Three slots both nodes competed for: three runs, and the loser said so each time.
    assert berth.wait_until(lambda: len(starts()) >= 3 and len(elsewhere()) >= 3, 20, 0.1), \
        "\n".join(cron_log(a) + ["--"] + cron_log(b))
    a.stop()
    b.stop()
    runs = out.read_text().splitlines()
    rows = slot_rows(postgres) - before
    # Exactly one run per slot in the whole cluster: no slot ran twice, every run started.
    assert len(runs) == len(starts()) >= 3, (runs, starts())
    assert len(set(runs)) == len(runs), runs
    # A slot whose claim answered while its node was stopping is recorded but not run.
    assert rows - len(runs) in (0, 1), (rows, runs)


def test_postgresql_lock_node_dying_mid_job_does_not_block_the_next_slot(berth_server, postgres,
                                                                          tmp_path):
    marker = str(50000 + uuid.uuid4().int % 9999)
    out = tmp_path / "runs.txt"
    lines = [f"@seconds */2 * * * * * echo $(date +%s) >> {out}; sleep {marker}"]
    conf = cron_config(lines, cron={"lock": postgres["url"], "overlap": "allow"})
    nodes = [berth_server(conf, env=ENV), berth_server(conf, env=ENV)]
    try:
        def runner():
            for srv in nodes:
                if events(cron_log(srv), "start"):
                    return srv
        assert berth.wait_until(lambda: runner() is not None, 10, 0.1)
        dead = runner()
        survivor = nodes[1 - nodes.index(dead)]
        # The node that runs the job dies mid-job: master and agent at once (its job, in a
        # session of its own, goes on sleeping).
        dead.stopped = True
        os.killpg(dead.proc.pid, signal.SIGKILL)
        dead.proc.wait(5)
        seen = len(events(cron_log(survivor), "start"))
        # The next slots are new rows: the survivor takes them.
        wait_log(survivor, lambda l: len(events(l, "start")) >= seen + 2, timeout=8)
        runs = out.read_text().splitlines()
        assert len(set(runs)) == len(runs), runs
    finally:
        subprocess.run(["pkill", "-f", f"sleep {marker}"], capture_output=True)


@pytest.mark.berth_timeout(80)
def test_real_minute_job_fires(berth_server):
    """The one test on a real clock: a `* * * * *` job runs within 61 s of the start."""
    srv = berth_server(cron_config(["* * * * * echo tick >> {tmp}/tick.txt"]))
    tick = srv.tmp / "tick.txt"
    assert berth.wait_until(tick.exists, 61, 0.25), "\n".join(cron_log(srv))
    assert tick.read_text().strip().splitlines()[0] == "tick"
    line = events(wait_log(srv, lambda l: events(l, "start")), "start")[0]
    # It started on the minute.
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:0[0-2]", line), line
