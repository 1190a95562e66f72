"""Layer 21: `berthd check` is pure and `berthd check -T` shows the configuration.

* Validation has no side effects: `berthd check` (and `check -T`) on a configuration with a log
  collector, a SQLite session store, log_dir and pid_file creates no file or directory.
* `check -T` (nginx -T) prints the merged configuration (includes read, ${ENV} expanded) with a
  `; file:line` origin on each line, secrets masked, and exits as `check` does.
* [server] umask is applied to the files the server creates.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import requests

from berth import line_of, run_cli

SECRET = "s3ss10n-s3cr3t-0123456789"
DB_PASSWORD = "pg-pa55word"

SIDE_EFFECTS = """
[server]
name = pure
ip = 127.0.0.1
port = 1
workers = 0
log_dir = {tmp}/logs
pid_file = {tmp}/run/berthd.pid
allow_root = yes

[routes:line]
/logs = collector
/s = session demo

[app:collector]
call = berth.log_collector
file = {tmp}/records.jsonl

[app:session]
call = berth.session

[app:demo]
call = berth.session_demo

[sessions]
store = sqlite:{tmp}/db/sessions.db
secret = """ + SECRET + "\n"


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def write(tmp: Path, name: str, text: str) -> Path:
    """text with {tmp} replaced, written to tmp/name."""
    path = tmp / name
    path.write_text(text.replace("{tmp}", str(tmp)))
    return path


def test_check_creates_no_file(tmp_path):
    work = tmp_path / "work"  # log_dir, pid_file, the collector's file and the database go here
    work.mkdir()
    path = tmp_path / "berth.conf"
    path.write_text(SIDE_EFFECTS.replace("{tmp}", str(work)))
    before = listing(tmp_path)
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 0, r
    assert "configuration OK" in r.output, r
    r = run_cli("check", "-T", "-c", str(path))
    assert r.returncode == 0, r
    assert listing(tmp_path) == before


def test_the_same_config_serves_and_creates_its_files(berth_server):
    # The collector's files are created when the server starts (after the privilege drop),
    # not when it is validated.
    srv = berth_server({"routes:line": ["/logs = collector"],
                        "app:collector": {"call": "berth.log_collector",
                                          "file": "{tmp}/records.jsonl"}})
    assert (srv.tmp / "records.jsonl").exists()
    r = requests.get(f"{srv.url}/logs?msg=hello&levelname=INFO&name=t", timeout=5)
    assert r.status_code == 200
    assert "hello" in (srv.tmp / "records.jsonl").read_text()


DUMP_MAIN = """
[berth]
additional_confs = inc.conf

[server]
name = ${BERTH_T_NAME}
port = 8089
workers = 0
allow_root = yes

[tls]
passphrase = tls-passphrase-value

[sessions]
store = postgresql://berth:""" + DB_PASSWORD + """@127.0.0.1:5432/berth
secret = """ + SECRET + """
"""

DUMP_INC = """
[limits]
max_headers = 64

[routes:line]
/echo = echo

[app:echo]
call = berth.echo
"""


def dump(tmp_path: Path, main: str = DUMP_MAIN, env=None):
    path = write(tmp_path, "main.conf", main)
    inc = write(tmp_path, "inc.conf", DUMP_INC)
    r = run_cli("check", "-T", "-c", str(path), env={"BERTH_T_NAME": "from-env", **(env or {})})
    return r, path, inc


def origin_of(r, start: str) -> str:
    lines = [line for line in r.stdout.splitlines() if line.startswith(start)]
    assert len(lines) == 1, (start, r.stdout)
    assert "; " in lines[0], lines[0]
    return lines[0].rsplit("; ", 1)[1]


def test_dump_shows_merged_values_with_origins(tmp_path):
    r, path, inc = dump(tmp_path)
    assert r.returncode == 0, r
    main_text = path.read_text()
    inc_text = inc.read_text()
    # ${ENV} expanded, every line with the file:line it came from, included files merged.
    assert origin_of(r, "name = from-env") == f"{path}:{line_of(main_text, 'name =')}"
    assert origin_of(r, "port = 8089") == f"{path}:{line_of(main_text, 'port =')}"
    assert origin_of(r, "max_headers = 64") == f"{inc}:{line_of(inc_text, 'max_headers')}"
    assert origin_of(r, "/echo = echo") == f"{inc}:{line_of(inc_text, '/echo')}"
    assert origin_of(r, "[app:echo]") == f"{inc}:{line_of(inc_text, '[app:echo]')}"
    assert origin_of(r, "[server]") == f"{path}:{line_of(main_text, '[server]')}"
    # The verdict goes to stderr, so stdout is the configuration alone.
    assert "configuration OK" in r.stderr
    assert "configuration OK" not in r.stdout


def test_dump_masks_secrets(tmp_path):
    r, _, _ = dump(tmp_path)
    assert r.returncode == 0, r
    for secret in (SECRET, DB_PASSWORD, "tls-passphrase-value"):
        assert secret not in r.output
    assert "secret = ********" in r.stdout
    assert "passphrase = ********" in r.stdout
    assert "postgresql://berth:********@127.0.0.1:5432/berth" in r.stdout


def test_dump_reads_back_as_the_same_configuration(tmp_path):
    r, _, _ = dump(tmp_path)
    assert r.returncode == 0, r
    # Saved as one file, the dump is a configuration of its own (includes commented out).
    copy = tmp_path / "copy" / "all.conf"
    copy.parent.mkdir()
    copy.write_text(r.stdout)
    again = run_cli("check", "-T", "-c", str(copy))
    assert again.returncode == 0, again
    body = [line.rsplit("; ", 1)[0].rstrip() for line in r.stdout.splitlines()
            if line and not line.startswith("#")]
    body_again = [line.rsplit("; ", 1)[0].rstrip() for line in again.stdout.splitlines()
                  if line and not line.startswith("#")]
    assert body_again == body


def test_dump_exit_code_is_checks(tmp_path):
    main = DUMP_MAIN.replace("max_headers", "x") + "\n[limits]\nheader_timeout = 3x\n"
    r, path, _ = dump(tmp_path, main)
    assert r.returncode == 1, r
    line = line_of(path.read_text(), "header_timeout")
    assert f"{path}:{line}: [limits] header_timeout: '3x' is not a duration" in r.stderr
    assert "configuration has errors" in r.stderr
    # The configuration is printed all the same, with the bad value where it was written.
    assert origin_of(r, "header_timeout = 3x") == f"{path}:{line}"


def test_umask_applies_to_created_files(berth_server):
    srv = berth_server({"routes:line": ["/logs = collector"],
                        "app:collector": {"call": "berth.log_collector",
                                          "file": "{tmp}/records.jsonl"}},
                       server={"umask": "077"})
    requests.get(f"{srv.url}/logs?msg=x&levelname=INFO&name=t", timeout=5)
    for path in (srv.tmp / "records.jsonl", srv.log_dir / "server.log"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


def test_debug_page_masks_what_check_dump_masks(berth_server):
    # berth.debug uses the same masking: schema secrets and passwords inside URLs.
    srv = berth_server({"routes:line": ["/__debug__ = debug"],
                        "app:debug": {"call": "berth.debug"},
                        "sessions": {"store": f"postgresql://berth:{DB_PASSWORD}@db/berth",
                                     "secret": SECRET}})
    r = requests.get(f"{srv.url}/__debug__?format=json", timeout=5)
    assert r.status_code == 200
    assert DB_PASSWORD not in r.text and SECRET not in r.text
    sessions = r.json()["config"]["sessions"]
    assert sessions["store"] == "postgresql://berth:********@db/berth"
    assert sessions["secret"] == "********"
