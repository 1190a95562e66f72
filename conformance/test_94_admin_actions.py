"""Layer 94: the admin API's actions on other services — `cron/JOB/run` (the cron agent runs the
job now, logged in cron.log), `mail/retry` (every deferred message of the spool due now) and
`keys/rotate` (a new session key, as `berthd keys rotate`, its secret never logged)."""

from __future__ import annotations

import json
import re

import requests

import admin
import berth

# Never due by its schedule during a test (1 January, 00:00).
CRON_LINE = "0 0 1 1 * echo admin-ran-$((20+3))"


def cron_log(srv) -> str:
    path = srv.log_dir / "cron.log"
    return path.read_text(errors="replace") if path.exists() else ""


def test_cron_job_runs_now_through_the_agent(berth_server):
    srv = admin.start(berth_server, extra=f"\n[crontab:line]\n{CRON_LINE}\n")
    job = f"{srv.conf_path}:{berth.line_of(srv.conf_text, 'admin-ran')}"
    assert job.startswith("/")

    def agent_up():
        return any(c["kind"] == "cron" and c["state"] == "running"
                   for c in admin.call(srv, "GET", "/children").json()["children"])

    assert berth.wait_until(agent_up, 10), srv.describe()
    # The id as `berthd cron list` prints it, its slashes as they are.
    r = admin.call(srv, "POST", f"/cron{job}/run")
    assert r.status == 202, r
    body = r.json()
    assert body["job"] == job and body["pid"] > 0 and "admin-ran" in body["command"], body
    # The agent ran it: its start, output and exit are in cron.log like a scheduled run's.
    assert berth.wait_until(lambda: "admin-ran-23" in cron_log(srv)
                            and f" exit {job} " in cron_log(srv), 10), cron_log(srv)
    assert f" manual {job} " in cron_log(srv) and f" start {job} " in cron_log(srv)
    # Read tokens may not, unknown jobs are 404, and the call is audited.
    assert admin.call(srv, "POST", f"/cron{job}/run", token=admin.READ_TOKEN).status == 403
    r = admin.call(srv, "POST", f"/cron{srv.conf_path}:999/run")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found", r
    audit = srv.log_dir / "admin-audit.log"
    assert berth.wait_until(lambda: audit.exists() and f"/cron{job}/run" in audit.read_text(), 5)


def test_cron_lists_jobs_with_next_runs_and_last_results(berth_server):
    """GET cron: the jobs as `berthd cron list` reads them (same next runs, in the [cron]
    timezone), joined with the agent's last run and exit from cron.state."""
    env = {"BERTH_TEST_APPS": "1", "BERTH_TEST_NOW": "2026-03-28T12:00:00Z"}
    extra = ("\n[crontab:line]\n30 2 * * * /bin/true nightly-backup\n@reboot echo booted-$((40+2))\n"
             "\n[cron]\ntimezone = Europe/Berlin\n")
    srv = admin.start(berth_server, extra=extra, env=env)
    nightly = f"{srv.conf_path}:{berth.line_of(srv.conf_text, 'nightly-backup')}"
    reboot = f"{srv.conf_path}:{berth.line_of(srv.conf_text, 'booted-')}"

    def listing():
        r = admin.call(srv, "GET", "/cron", token=admin.READ_TOKEN)
        assert r.status == 200, r
        return r.json()

    # The @reboot job ran when the agent started; cron.state carries its exit.
    assert berth.wait_until(
        lambda: (listing()["jobs"][1]["last_exit"] or "").startswith("ok"), 10), listing()
    body = listing()
    assert body["timezone"] == "Europe/Berlin" and body["agent"] is True, body
    first, second = body["jobs"]
    assert first["id"] == nightly and first["schedule"] == "30 2 * * *", first
    assert first["command"] == "/bin/true nightly-backup" and first["reboot"] is False, first
    # 2026-03-29 02:30 does not exist in Berlin: the job runs once right after the jump.
    assert first["next"] == "2026-03-29T03:00:00+02:00", first
    assert first["last_run"] is None and first["last_exit"] is None, first
    assert second["id"] == reboot and second["reboot"] is True and second["next"] is None, second
    assert second["last_run"].startswith("20") and second["last_exit"] == "ok, status 0", second
    # The same next runs as the command line.
    r = berth.run_cli("cron", "list", "-c", str(srv.conf_path), "--json", env=env)
    assert r.returncode == 0, r.output
    cli = json.loads(r.stdout)
    assert [j["next"] for j in cli] == [j["next_runs"] for j in body["jobs"]], (cli, body)


def test_cron_run_without_jobs_is_404(berth_server):
    srv = admin.start(berth_server)
    r = admin.call(srv, "POST", "/cron/etc/berth.conf:3/run")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found", r
    body = admin.call(srv, "GET", "/cron").json()
    assert body["jobs"] == [] and body["agent"] is False, body


def test_mail_retry_delivers_deferred_messages_now(berth_server):
    from test_93_mail import Handler, post, simple, smtpda_log, start_smtp

    port = berth.free_port()  # nothing listens yet: the first attempt is deferred
    extra = f"""
[app:mail]
call = berth.mail

[mailer]
smtpserver = 127.0.0.1:{port}
spool_dir = {{tmp}}/spool
retry_interval = 5m
max_retry = 5
"""
    srv = admin.start(berth_server, extra=extra, routes="/mail = mail\n")
    assert post(srv, simple()).status == 202
    assert berth.wait_until(lambda: " status=deferred " in smtpda_log(srv), 10), srv.describe()

    def queue():
        r = admin.call(srv, "GET", "/mail", token=admin.READ_TOKEN)
        assert r.status == 200, r
        return r.json()

    # GET mail: the deferred message with its attempt, next attempt and error.
    assert berth.wait_until(lambda: queue()["messages"]
                            and queue()["messages"][0]["status"] == "deferred", 5), queue()
    body = queue()
    assert body["total"] == 1, body
    m = body["messages"][0]
    assert m["to"] == ["bob@example.org"] and m["subject"] == "hello", m
    assert m["from"] == "alice@example.org" and m["attempts"] == 1 and m["last_error"], m
    assert m["next_attempt"].endswith("Z") and m["queued"].endswith("Z"), m
    handler = Handler()
    controller = start_smtp(handler, port=port)
    try:
        r = admin.call(srv, "POST", "/mail/retry")
        assert r.status == 200 and r.json()["retried"] == 1, r
        # Delivered on the mailer's next pass, not after retry_interval.
        assert berth.wait_until(lambda: handler.messages, 10), smtpda_log(srv)
    finally:
        controller.stop()
    assert admin.call(srv, "POST", "/mail/retry").json()["retried"] == 0
    assert berth.wait_until(lambda: queue() == {"total": 0, "messages": []}, 5), queue()


def test_mail_retry_without_spool_is_404(berth_server):
    srv = admin.start(berth_server)
    r = admin.call(srv, "POST", "/mail/retry")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found", r
    r = admin.call(srv, "GET", "/mail")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found", r


SECRET0 = "conformance-secret-0123456789abcdef"
SECRET1 = "rotated-secret-ZYXWVUTSRQPONMLKJIH987"


def test_keys_rotate_registers_a_pending_key_and_never_logs_the_secret(berth_server, tmp_path):
    from test_60_sessions import set_name

    db = tmp_path / "keys.db"
    extra = f"""
[sessions]
store = sqlite:{db}
secret = {SECRET0}
keynum = 0

[app:session]
call = berth.session

[app:demo]
call = berth.session_demo
"""
    srv = admin.start(berth_server, extra=extra, routes="/demo = session demo\n")
    assert "Welcome" in set_name(requests.Session(), srv.url, "Ada").text
    body = {"keynum": 4, "secret": SECRET1, "when": "+1h"}
    assert admin.call(srv, "POST", "/keys/rotate", body, token=admin.READ_TOKEN).status == 403
    r = admin.call(srv, "POST", "/keys/rotate", body)
    assert r.status == 200, r
    answer = r.json()
    assert answer["keynum"] == 4 and answer["previous_keynum"] == 0, answer
    assert "keynum = 4" in answer["next"] and SECRET1 not in r.body.decode()
    listed = berth.run_cli("keys", "-c", str(srv.conf_path), "list")
    assert listed.returncode == 0 and re.search(r"^4 .*pending$", listed.stdout, re.M), listed
    # The chain's newest key is now 4: the configured key 0 can't register another.
    r = admin.call(srv, "POST", "/keys/rotate", {"keynum": 5, "secret": SECRET1 + "x"})
    assert r.status == 409, r
    # Unusable input: the same secret, a short one, a time without a zone, no keynum.
    for bad, status in (({"keynum": 6, "secret": SECRET0}, 422),
                        ({"keynum": 6, "secret": "short"}, 422),
                        ({"keynum": 6, "secret": SECRET1, "when": "2030-01-01T00:00:00"}, 422),
                        ({"secret": SECRET1}, 400)):
        r = admin.call(srv, "POST", "/keys/rotate", bad)
        assert r.status == status, (bad, r)
    audit = srv.log_dir / "admin-audit.log"
    assert berth.wait_until(lambda: audit.exists() and "/keys/rotate" in audit.read_text(), 5)
    for log in (p for p in srv.log_dir.iterdir() if p.is_file()):
        assert SECRET1 not in log.read_text(errors="replace"), log

