"""Session data at rest under the AppCipher, and key rotation with `berthd keys`, black box.

The sessions demo stores a name; the SQLite file is then read directly (python's sqlite3) to see
that berth_sessions.data is ciphertext. `berthd keys rotate` registers a new key while the server
runs; after the configuration is updated and the server restarted, the same cookie still finds
the same session. `berthd keys list` shows the chain and never a secret. A keynum edited without
a rotation makes berth.session answer 503, with the reason in server.log.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import requests

from berth import run_cli, wait_until, write_conf
from test_60_sessions import set_name, sid_of

SECRET0 = "conformance-secret-0123456789abcdef"
SECRET1 = "rotated-secret-ZYXWVUTSRQPONMLKJIH987"


def keys_config(store: str, keynum: int, secret: str) -> str:
    return f"""
[sessions]
store = {store}
secret = {secret}
keynum = {keynum}

[routes:line]
/demo = session demo

[app:session]
call = berth.session

[app:demo]
call = berth.session_demo
"""


def rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT id, data FROM berth_sessions").fetchall()


def secret_file(directory: Path, secret: str, name: str = "new.secret") -> Path:
    path = directory / name
    path.write_text(secret + "\n")
    os.chmod(path, 0o600)
    return path


def server_log_has(srv, needle: str) -> bool:
    def check() -> bool:
        try:
            return needle in srv.log_path("server.log").read_text(errors="replace")
        except FileNotFoundError:
            return False
    return wait_until(check, timeout=3.0)


def test_stored_data_is_ciphertext(berth_server, tmp_path):
    db = tmp_path / "keys.db"
    srv = berth_server(keys_config(f"sqlite:{db}", 0, SECRET0))
    client = requests.Session()
    name = "Zebediah-Q7x"
    assert f"Welcome: <b>{name}</b>" in set_name(client, srv.url, name).text
    stored = rows(db)
    assert stored, "no session row"
    for ident, data in stored:
        assert re.fullmatch(r"0:[A-Za-z0-9+/]+=*", data), data
        assert name not in data and "name" not in data
    # Nor anywhere in the file or its WAL.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("keys.db*"))
    assert name.encode() not in raw
    # The id column is the hash of the cookie's id, not the id.
    ident = sid_of(client).split(".")[0]
    assert ident not in {i for i, _ in stored}


def test_rotation_keeps_the_session(berth_server, tmp_path):
    db = tmp_path / "keys.db"
    store = f"sqlite:{db}"
    old = berth_server(keys_config(store, 0, SECRET0))
    client = requests.Session()
    assert "Welcome: <b>Before rotation</b>" in set_name(client, old.url, "Before rotation").text
    cookie = sid_of(client)
    assert cookie.split(".")[1] == "0"

    # Rotate while the server runs, with the configuration it runs with.
    new_secret = secret_file(tmp_path, SECRET1)
    r = run_cli("keys", "-c", str(old.conf_path), "rotate", "--keynum", "1",
                "--secret-file", str(new_secret))
    assert r.returncode == 0, r
    assert "keynum = 1" in r.stdout
    assert f"secret = <the contents of {new_secret}>" in r.stdout
    assert SECRET1 not in r.output and SECRET0 not in r.output
    # The running server (old configuration) keeps serving the session.
    assert "Welcome: <b>Before rotation</b>" in client.get(f"{old.url}/demo/", timeout=5).text

    listed = run_cli("keys", "-c", str(old.conf_path), "list")
    assert listed.returncode == 0, listed
    assert re.search(r"^0 .*retired, wrapped under key 1, configured$", listed.stdout, re.M), listed
    assert re.search(r"^1 .*active$", listed.stdout, re.M), listed
    assert "not the newest: set keynum = 1" in listed.stdout

    # The operator updates keynum and secret and restarts.
    old.stop()
    new = berth_server(keys_config(store, 1, new_secret.read_text().strip()))
    page = client.get(f"{new.url}/demo/", timeout=5)
    assert page.status_code == 200
    assert "Welcome: <b>Before rotation</b>" in page.text
    assert sid_of(client) == cookie  # the old cookie verified: no new one was needed
    # Read once under the new key, the row was re-encrypted under it.
    assert all(data.startswith("1:") for _, data in rows(db)), rows(db)

    listed = run_cli("keys", "-c", str(new.conf_path), "list")
    assert listed.returncode == 0, listed
    assert re.search(r"^0 .*retired, wrapped under key 1$", listed.stdout, re.M), listed
    assert re.search(r"^1 .*active, configured$", listed.stdout, re.M), listed
    assert "the configured keynum and secret open this chain" in listed.stdout
    assert SECRET0 not in listed.output and SECRET1 not in listed.output

    # New sessions are signed under key 1.
    other = requests.Session()
    set_name(other, new.url, "After rotation")
    assert sid_of(other).split(".")[1] == "1"


def test_pending_key_waits_for_its_time(berth_server, tmp_path):
    db = tmp_path / "keys.db"
    store = f"sqlite:{db}"
    old = berth_server(keys_config(store, 0, SECRET0))
    client = requests.Session()
    set_name(client, old.url, "Pending")
    r = run_cli("keys", "-c", str(old.conf_path), "rotate", "--keynum", "5",
                "--secret-file", str(secret_file(tmp_path, SECRET1)), "--when", "+1h")
    assert r.returncode == 0, r
    assert "restart every node before" in r.stdout
    listed = run_cli("keys", "-c", str(old.conf_path), "list")
    assert re.search(r"^5 .*pending$", listed.stdout, re.M), listed
    assert re.search(r"^0 .*active, wrapped under key 5, configured$", listed.stdout, re.M)
    old.stop()
    # Restarted with key 5 before its time: still encrypting and signing under key 0, so nodes
    # not yet restarted can read everything.
    new = berth_server(keys_config(store, 5, SECRET1))
    assert "Welcome: <b>Pending</b>" in client.get(f"{new.url}/demo/", timeout=5).text
    other = requests.Session()
    set_name(other, new.url, "Also pending")
    assert sid_of(other).split(".")[1] == "0"
    assert all(data.startswith("0:") for _, data in rows(db))


def test_keynum_edited_without_rotation_is_503(berth_server, tmp_path):
    db = tmp_path / "keys.db"
    store = f"sqlite:{db}"
    first = berth_server(keys_config(store, 0, SECRET0))
    set_name(requests.Session(), first.url, "Orphan")
    first.stop()
    edited = berth_server(keys_config(store, 1, SECRET1))
    assert requests.get(f"{edited.url}/demo/", timeout=5).status_code == 503
    assert requests.get(f"{edited.url}/demo/", timeout=5).status_code == 503
    edited.assert_serving()
    assert server_log_has(edited, "key 0 is the newest in the key store but keynum 1 is "
                                  "configured"), edited.server_log()
    # `berthd check` does not open databases, so it can't know; `berthd keys list` does.
    assert run_cli("check", "-c", str(edited.conf_path)).returncode == 0
    listed = run_cli("keys", "-c", str(edited.conf_path), "list")
    assert listed.returncode == 1, listed
    assert "do NOT open this chain" in listed.stdout


def test_wrong_secret_is_503(berth_server, tmp_path):
    db = tmp_path / "keys.db"
    first = berth_server(keys_config(f"sqlite:{db}", 0, SECRET0))
    set_name(requests.Session(), first.url, "Mine")
    first.stop()
    wrong = berth_server(keys_config(f"sqlite:{db}", 0, SECRET1))
    assert requests.get(f"{wrong.url}/demo/", timeout=5).status_code == 503
    assert server_log_has(wrong, "does not match the key store"), wrong.server_log()
    assert SECRET1 not in wrong.server_log()


def test_rotate_refuses_bad_input(tmp_path):
    db = tmp_path / "keys.db"
    path, _ = write_conf(tmp_path, keys_config(f"sqlite:{db}", 0, SECRET0))
    conf = str(path)
    good = secret_file(tmp_path, SECRET1)

    def keys(*args: str):
        return run_cli("keys", "-c", conf, *args)

    # Nothing to rotate before the store exists (a typo in the path must not start a chain).
    r = keys("rotate", "--keynum", "1", "--secret-file", str(good))
    assert r.returncode == 1 and "does not exist" in r.stderr, r
    r = keys("list")
    assert r.returncode == 0 and "no keys on record" in r.stdout, r
    assert not db.exists()
    with sqlite3.connect(db) as conn:  # an empty file: the store exists, without keys
        conn.execute("CREATE TABLE t (x)")

    assert keys("rotate", "--secret-file", str(good)).returncode == 2
    assert keys("rotate", "--keynum", "1").returncode == 2
    assert keys("rotate", "--keynum", "-1", "--secret-file", str(good)).returncode == 2
    assert keys("rotate", "--keynum", "x", "--secret-file", str(good)).returncode == 2
    assert keys("rotate", "--keynum", "1", "--secret-file", str(good), "--bogus").returncode == 2
    assert keys("frobnicate").returncode == 2
    r = keys("rotate", "--keynum", "1", "--secret-file", str(good), "--when", "2030-01-01T09:00")
    assert r.returncode == 2 and "no time zone" in r.stderr, r
    r = keys("rotate", "--keynum", "1", "--secret-file", str(good), "--when", "tomorrow")
    assert r.returncode == 2, r
    r = keys("rotate", "--keynum", "1", "--secret-file", str(secret_file(tmp_path, "short", "s")))
    assert r.returncode == 1 and "too short" in r.stderr, r
    r = keys("rotate", "--keynum", "1",
             "--secret-file", str(secret_file(tmp_path, "has a space in it, 0123456789", "sp")))
    assert r.returncode == 1 and "printable ASCII" in r.stderr, r
    r = keys("rotate", "--keynum", "1", "--secret-file", str(secret_file(tmp_path, SECRET0, "o")))
    assert r.returncode == 1 and "new key needs a new secret" in r.stderr, r
    r = keys("rotate", "--keynum", "0", "--secret-file", str(good))
    assert r.returncode == 1 and "must be greater" in r.stderr, r
    loose = secret_file(tmp_path, SECRET1, "loose")
    os.chmod(loose, 0o644)
    r = keys("rotate", "--keynum", "2", "--secret-file", str(loose),
             "--when", "2030-01-01T09:00:00Z")
    assert r.returncode == 0, r
    assert "readable by other users" in r.stderr
    assert "active from 2030-01-01T09:00:00Z" in r.stdout
    # Only one change can be pending from this configuration: key 0 is no longer the newest.
    r = keys("rotate", "--keynum", "3", "--secret-file", str(good))
    assert r.returncode == 1 and "already holds key 2" in r.stderr, r
    assert SECRET1 not in r.output


def test_keys_usage():
    r = run_cli("keys", "--help")
    assert r.returncode == 0
    assert "rotate --keynum N --secret-file PATH" in r.stdout
    r = run_cli("--help")
    assert "keys" in r.stdout
