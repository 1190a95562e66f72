"""Layer 15: operations conventions of the command line (issue #17): nginx's -t/-T, -v, -h on
every command, unknown options (usage line, exit 2), `log -f` across a USR1 reopen, `log -s` for
every log, `status --json`; secrets from files (KEY_file, $CREDENTIALS_DIRECTORY) and the
world-readable warning; additional_confs globs; [server] mime_types."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

import berth
from berth import diagnostic_lines, line_of, run_cli, wait_until, write_conf

ECHO = """
[routes:line]
/echo = echo

[app:echo]
call = berth.echo
"""

SECRET = "conformance-secret-0123456789abcdef"

# The commands and the first words of their usage line.
COMMANDS = ["run", "start", "stop", "kill", "reload", "restart", "status", "check", "log",
            "daemon", "keys", "cron", "mail", "version"]
LOG_NAMES = ["server", "request", "app", "cef", "cron", "smtpda", "admin-audit"]


# -- -t, -T, -v, -h ------------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version_flags_print_the_version(flag):
    r = run_cli(flag)
    assert r.returncode == 0, r
    assert r.stdout == run_cli("version").stdout
    assert re.fullmatch(r"berthd \d+\.\d+\S*\n", r.stdout), r


def test_dash_t_checks_like_check(tmp_path):
    path, _ = write_conf(tmp_path, ECHO)
    r = run_cli("-t", "-c", str(path))
    assert r.returncode == 0, r
    assert "configuration OK" in r.stdout, r
    bad, text = write_conf(tmp_path, ECHO + "\n[limits]\nheader_timeout = 3x\n", name="bad.conf")
    r = run_cli("-c", str(bad), "-t")
    assert r.returncode == 1, r
    assert diagnostic_lines(r, bad, line_of(text, "header_timeout = 3x")), r


def test_dash_capital_t_dumps_the_merged_configuration(tmp_path):
    path, text = write_conf(tmp_path, ECHO)
    r = run_cli("-T", "-c", str(path))
    assert r.returncode == 0, r
    assert "configuration OK" in r.stderr and "configuration OK" not in r.stdout, r
    dumped = [l for l in r.stdout.splitlines() if l.startswith("/echo = echo")]
    assert dumped and dumped[0].endswith(f"; {path}:{line_of(text, '/echo = echo')}"), r


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_on_every_command(command, flag, tmp_path):
    # No configuration is read for help: a missing file is no obstacle.
    r = run_cli(command, flag, "-c", str(tmp_path / "missing.conf"))
    assert r.returncode == 0, r
    assert r.stdout.startswith(f"usage: berthd {command}"), r
    assert not r.stderr, r


def test_help_lists_every_command():
    for args in (["-h"], ["--help"]):
        r = run_cli(*args)
        assert r.returncode == 0, r
        for command in COMMANDS:
            assert re.search(rf"(?m)^  {command}\s", r.stdout), (command, r)
        for flag in ("-t", "-T", "-v", "-h", "--version", "--help"):
            assert flag in r.stdout, (flag, r)


def test_top_level_help_lists_the_same_log_names_as_log_help():
    """`berthd -h` and `berthd log -h` take the -s names from one list (admin-audit was missing)."""
    log_help = run_cli("log", "-h").stdout
    names = re.search(r"(?m)^  -s NAME\s+(.*)$", log_help).group(1).replace(" (default)", "")
    names = [n.strip() for n in names.split(",")]
    assert "admin-audit" in names and "server" in names, log_help
    top = re.search(r"(?m)^  log\s.*\(-s ([^)]*)\)", run_cli("-h").stdout)
    assert top and top.group(1).split("|") == names, top


@pytest.mark.parametrize("args", [
    ["--bogus"], ["-x"], ["check", "--bogus"], ["status", "--frob"], ["run", "-q"],
    ["log", "-x"], ["keys", "--bogus"], ["cron", "--bogus"], ["mail", "--bogus"],
    ["daemon", "--bogus"], ["stop", "-T"],
])
def test_unknown_options_give_a_usage_line_and_exit_2(args, tmp_path):
    r = run_cli(*args, "-c", str(tmp_path / "missing.conf"))
    assert r.returncode == 2, r
    assert any("usage: berthd" in l for l in r.stderr.splitlines()), r
    assert any(args[-1] in l for l in r.stderr.splitlines()), r  # names the option
    assert not r.stdout, r


# -- log -s, log -f ------------------------------------------------------------------------------

def test_log_names_every_log_the_server_writes(tmp_path):
    path, _ = write_conf(tmp_path, ECHO + "\n[cron]\nlog = jobs.log\n")
    logs = tmp_path / "logs"
    files = {"server": "server.log", "request": "request.log", "app": "app.log", "cef": "cef.log",
             "cron": "jobs.log", "smtpda": "smtpda.log", "admin-audit": "admin-audit.log"}
    for name, file in files.items():
        (logs / file).write_text(f"first {name}\nlast line of {name}\n")
    for name in LOG_NAMES:
        r = run_cli("log", "-s", name, "-c", str(path))
        assert r.returncode == 0, (name, r)
        assert r.stdout.endswith(f"last line of {name}\n"), (name, r)
    r = run_cli("log", "-s", "nope", "-c", str(path))
    assert r.returncode == 2, r
    for name in LOG_NAMES:
        assert name in r.stderr, r


class Follower:
    """`berthd log -f` in the background, its output collected by a thread."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([str(berth.binary_path()), "log", "-f", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.output = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while chunk := self.proc.stdout.read1(65536):
            self.output += chunk

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=5)


def test_log_follow_survives_a_usr1_reopen(berth_server):
    srv = berth_server(ECHO)
    assert srv.request("GET", "/echo?before-follow").status == 200
    assert srv.request_log_lines(contains="before-follow")
    f = Follower("-s", "request", "-n", "0", "-c", str(srv.conf_path))
    try:
        # -n 0 starts at the end of the file as the follower finds it, which may be after a
        # first request (a slow start under load): ask until a new line shows.
        def new_line_shows() -> bool:
            assert srv.request("GET", "/echo?first-file").status == 200
            return wait_until(lambda: "first-file" in f.text(), 0.5)

        assert wait_until(new_line_shows, 10), f.text()
        assert "before-follow" not in f.text()  # -n 0: nothing of what was there
        first = f.text().count("first-file")
        # logrotate: rename, then USR1; the server writes a new request.log.
        srv.log_path("request.log").rename(srv.log_path("request.log.1"))
        srv.proc.send_signal(signal.SIGUSR1)
        assert wait_until(lambda: srv.log_path("request.log").exists(), 5)
        assert srv.request("GET", "/echo?second-file").status == 200
        assert wait_until(lambda: "second-file" in f.text(), 5), f.text()
        assert f.proc.poll() is None  # still following
        assert f.text().count("first-file") == first, f.text()  # the old file not read again
    finally:
        f.close()


def test_log_follow_rereads_a_file_truncated_in_place(tmp_path):
    # logrotate's copytruncate: the same file starts again from nothing.
    path, _ = write_conf(tmp_path, ECHO)
    log = tmp_path / "logs" / "app.log"
    log.write_text("old line one\nold line two\n")
    f = Follower("-s", "app", "-c", str(path))
    try:
        assert wait_until(lambda: "old line two" in f.text(), 5), f.text()
        with log.open("a") as out:
            out.write("appended\n")
        assert wait_until(lambda: "appended" in f.text(), 5), f.text()
        with log.open("w") as out:
            out.write("after truncate\n")
        assert wait_until(lambda: "after truncate" in f.text(), 5), f.text()
    finally:
        f.close()


# -- status --json -------------------------------------------------------------------------------

def master_config(tmp: Path) -> str:
    return f"""
[server]
workers = 2
graceful_timeout = 3s
pid_file = {tmp}/berthd.pid
{ECHO}
"""


def test_status_json_of_a_master(berth_server, tmp_path):
    srv = berth_server(master_config(tmp_path))

    def status():
        r = run_cli("status", "--json", "-c", str(srv.conf_path))
        assert r.returncode == 0, r
        return json.loads(r.stdout)

    assert wait_until(lambda: [v["ready"] for v in status()["services"]
                               if v["service"] == "http:http"] == [2], 10), status()
    assert srv.request("GET", "/echo").status == 200
    s = status()
    assert s["running"] is True and s["mode"] == "master"
    assert s["master_pid"] == srv.proc.pid
    assert isinstance(s["uptime_seconds"], int) and s["uptime_seconds"] >= 0
    assert s["generation"] >= 1 and re.fullmatch(r"[0-9a-f]{64}", s["config_sha256"]), s
    assert s["reload_in_progress"] is False
    http = [v for v in s["services"] if v["service"] == "http:http"]
    assert http == [{"service": "http:http", "kind": "http", "name": "http", "state": "running",
                     "ready": 2, "count": 2, "restarts": 0, "last_exit": None}], s
    children = [c for c in s["children"] if c["kind"] == "http"]
    assert len(children) == 2, s
    pids = berth.child_pids(srv.proc.pid)
    for c in children:
        assert c["pid"] in pids and c["state"] == "running" and c["restarts"] == 0, c
        assert c["last_exit"] is None and isinstance(c["requests"], int), c
        assert c["current_requests"] == [] and isinstance(c["stats"], dict), c
    assert sum(c["requests"] for c in children) >= 1, s
    assert s["cron"] == []


def test_status_json_of_a_single_process(berth_server, tmp_path):
    srv = berth_server(ECHO, server={"pid_file": f"{tmp_path}/single.pid"})
    assert wait_until(lambda: (tmp_path / "single.pid").exists(), 5)
    r = run_cli("status", "--json", "-c", str(srv.conf_path))
    assert r.returncode == 0, r
    s = json.loads(r.stdout)
    assert s["running"] is True and s["mode"] == "single", s
    assert s["master_pid"] == srv.proc.pid and s["generation"] is None, s
    assert s["services"] == [] and isinstance(s["children"], list), s


def test_status_json_when_not_running(tmp_path):
    path, _ = write_conf(tmp_path, ECHO, server={"pid_file": f"{tmp_path}/none.pid"})
    r = run_cli("status", "--json", "-c", str(path))
    assert r.returncode == 3, r
    assert json.loads(r.stdout) == {"running": False, "pid_file": f"{tmp_path}/none.pid"}


# -- secrets from files ----------------------------------------------------------------------

SESSIONS = """
[sessions]
store = sqlite:{tmp}/sessions.db
{secret}

[routes:line]
/demo = session demo

[app:session]
call = berth.session

[app:demo]
call = berth.session_demo
"""


def sessions_conf(tmp_path: Path, secret: str, mode: int = 0o600) -> tuple[Path, str]:
    path, text = write_conf(tmp_path, SESSIONS.replace("{secret}", secret))
    path.chmod(mode)
    return path, text


def test_secret_file_is_read_and_its_newline_dropped(berth_server, tmp_path):
    (tmp_path / "session.secret").write_text(SECRET + "\n")
    srv = berth_server(SESSIONS.replace("{secret}", f"secret_file = {tmp_path}/session.secret"))
    # The session flow works only if cookies verify under the secret read from the file.
    client = requests.Session()
    page = client.get(f"{srv.url}/demo/", timeout=5)
    assert page.status_code == 200, page.text
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert token, page.text
    resp = client.post(f"{srv.url}/demo/setname",
                       data={"name": "Filed", "csrftoken": html.unescape(token.group(1))},
                       timeout=5)
    assert resp.status_code == 200, resp.text
    assert "Filed" in client.get(f"{srv.url}/demo/", timeout=5).text


def test_relative_secret_file_comes_from_credentials_directory(tmp_path):
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "session-secret").write_text(SECRET)
    path, text = sessions_conf(tmp_path, "secret_file = session-secret")
    r = run_cli("check", "-c", str(path), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert r.returncode == 0, r
    assert not [l for l in r.lines if f"{path}:" in l], r
    # Without systemd's variable the name is relative to the file's directory: not there.
    r = run_cli("check", "-c", str(path), env={"CREDENTIALS_DIRECTORY": ""})
    assert r.returncode == 1, r
    n = line_of(text, "secret_file =")
    assert any(f"[sessions] secret_file: cannot read '{tmp_path}/session-secret'" in l
               for l in diagnostic_lines(r, path, n)), r


def test_secret_file_errors_at_file_line(tmp_path):
    path, text = sessions_conf(tmp_path, f"secret = {SECRET}\nsecret_file = {tmp_path}/nope")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    n = line_of(text, "secret_file =")
    assert any("[sessions] secret_file: set secret or secret_file, not both" in l
               for l in diagnostic_lines(r, path, n)), r
    (tmp_path / "empty").write_text("\n")
    path, text = sessions_conf(tmp_path, f"secret_file = {tmp_path}/empty")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    assert any("the file is empty" in l
               for l in diagnostic_lines(r, path, line_of(text, "secret_file ="))), r


def test_file_keys_exist_beside_every_secret(tmp_path):
    body = f"""
[tls]
passphrase_file = {tmp_path}/pp

[tls:example.org]
passphrase_file = {tmp_path}/pp

[mailer]
password_file = {tmp_path}/pp
"""
    (tmp_path / "pp").write_text("pass\n")
    path, _ = write_conf(tmp_path, body)
    r = run_cli("check", "-c", str(path))
    assert not [l for l in r.lines if "unknown key" in l], r


def test_check_warns_about_an_inline_secret_anyone_can_read(tmp_path):
    path, text = sessions_conf(tmp_path, f"secret = {SECRET}", mode=0o644)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 0, r
    n = line_of(text, "secret =")
    warning = diagnostic_lines(r, path, n)
    assert len(warning) == 1 and "warning:" in warning[0] and "world-readable" in warning[0], r
    assert SECRET not in r.output
    path.chmod(0o640)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 0, r
    assert not diagnostic_lines(r, path, n), r


# -- additional_confs globs ----------------------------------------------------------------------

def test_additional_confs_glob_reads_matches_in_sorted_order(tmp_path):
    confd = tmp_path / "conf.d"
    confd.mkdir()
    (confd / "20-b.conf").write_text("[limits]\nmax_headers = 20\n")
    (confd / "10-a.conf").write_text("[limits]\nmax_headers = 10\nbody_timeout = 9s\n")
    (confd / "notes.txt").write_text("not a config [\n")
    path, _ = write_conf(tmp_path, ECHO + "\n[berth]\nadditional_confs = conf.d/*.conf none.d/*.conf\n")
    r = run_cli("check", "-T", "-c", str(path))
    assert r.returncode == 0, r
    assert [l for l in r.stdout.splitlines() if l.startswith("max_headers = 20 ")], r
    assert [l for l in r.stdout.splitlines() if l.startswith("body_timeout = 9s ")], r
    # The files read, in the dump's header: the matches in sorted order, nothing else.
    header = r.stdout.splitlines()[0]
    assert header.endswith(f"{path}, {tmp_path}/conf.d/10-a.conf, {tmp_path}/conf.d/20-b.conf"), r
    assert "notes.txt" not in r.output and not r.stderr.replace("configuration OK", "").strip(), r


# -- mime_types ----------------------------------------------------------------------------------

STATIC = """
[server]
mime_types = {tmp}/mime.types

[routes:line]
/ = {tmp}/site
"""


def test_mime_types_file_extends_and_overrides_the_table(berth_server):
    srv = berth_server(STATIC, files={
        "mime.types": "# comment\nimage/jxl\t\tjxl\nmodel/gltf-binary glb\n"
                      "text/x-special css\napplication/x-empty\n",
        "site/a.jxl": "x", "site/b.GLB": "x", "site/c.css": "x", "site/d.png": "x",
        "site/e.deb": "x"})
    types = {name: srv.request("GET", f"/{name}").header("Content-Type")
             for name in ("a.jxl", "b.GLB", "c.css", "d.png", "e.deb")}
    assert types == {"a.jxl": "image/jxl", "b.GLB": "model/gltf-binary",
                     "c.css": "text/x-special; charset=utf-8", "d.png": "image/png",
                     "e.deb": "application/octet-stream"}, types


def test_mime_types_builtin_no_replaces_the_table(berth_server):
    """With mime_types_builtin = no the file is the whole table: .png, which the built-in table
    has, becomes application/octet-stream; the file's own entries still apply."""
    srv = berth_server(STATIC.replace("[routes:line]", "mime_types_builtin = no\n\n[routes:line]"),
                       files={"mime.types": "image/jxl jxl\ntext/x-special css\n",
                              "site/a.jxl": "x", "site/c.css": "x", "site/d.png": "x"})
    types = {name: srv.request("GET", f"/{name}").header("Content-Type")
             for name in ("a.jxl", "c.css", "d.png")}
    assert types == {"a.jxl": "image/jxl", "c.css": "text/x-special; charset=utf-8",
                     "d.png": "application/octet-stream"}, types


def test_bad_mime_types_file_is_a_check_error(tmp_path):
    (tmp_path / "mime.types").write_text("image/jxl jxl\nnot-a-type foo\n")
    path, text = write_conf(tmp_path, STATIC.replace("{tmp}", str(tmp_path)))
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    assert diagnostic_lines(r, tmp_path / "mime.types", 2), r
    (tmp_path / "mime.types").unlink()
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1, r
    assert any("[server] mime_types: cannot read" in l
               for l in diagnostic_lines(r, path, line_of(text, "mime_types ="))), r
