"""berth.session on PostgreSQL: several berthd nodes sharing sessions through one database.

A throwaway PostgreSQL server (pgserver.py, on Debian's postgresql package) is started on
127.0.0.1 on a free port for this module and stopped at the end whatever happens. Skipped only
when the server binaries are not installed.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

import pgserver
from berth import free_port, run_cli
from test_60_sessions import SECRET, demo_config, plant, set_name, sid_of, token_of

DB = "berth_sessions"


@pytest.fixture(scope="module")
def postgres():
    with pgserver.postgres_server(DB) as pg:
        yield pg


def psql(postgres, sql: str) -> str:
    return pgserver.psql(postgres, sql, DB)


def test_session_created_on_node_a_is_valid_on_node_b(berth_server, postgres):
    a = berth_server(demo_config(store=postgres["url"]))
    b = berth_server(demo_config(store=postgres["url"]))
    client = requests.Session()
    assert "Welcome: <b>Node A</b>" in set_name(client, a.url, "Node A").text
    page = client.get(f"{b.url}/demo/", timeout=5)
    assert page.status_code == 200
    assert "Welcome: <b>Node A</b>" in page.text
    # A form from B posts to A: the CSRF token lives in the shared store too.
    resp = client.post(f"{a.url}/demo/setname",
                       data={"name": "Changed", "csrftoken": token_of(page.text)}, timeout=5)
    assert resp.status_code == 200
    assert "Welcome: <b>Changed</b>" in client.get(f"{b.url}/demo/", timeout=5).text


def test_rotation_on_one_node_invalidates_old_id_everywhere(berth_server, postgres):
    a = berth_server(demo_config(store=postgres["url"]))
    b = berth_server(demo_config(store=postgres["url"]))
    client = requests.Session()
    client.get(f"{a.url}/demo/", timeout=5)
    before = sid_of(client)
    assert "Welcome: <b>Rotated</b>" in set_name(client, b.url, "Rotated").text
    assert sid_of(client) != before
    stale = requests.Session()
    plant(stale, before)
    assert "Rotated" not in stale.get(f"{a.url}/demo/", timeout=5).text


def test_database_holds_hashes_not_ids(berth_server, postgres):
    a = berth_server(demo_config(store=postgres["url"]))
    client = requests.Session()
    set_name(client, a.url, "Hashed")
    ident = sid_of(client).split(".")[0]
    assert psql(postgres, f"SELECT count(*) FROM berth_sessions WHERE id = '{ident}'") == "0"
    # The data is ciphertext ("keynum:base64"), never the name in the clear.
    assert psql(postgres, "SELECT count(*) FROM berth_sessions WHERE data LIKE '%Hashed%'") == "0"
    assert int(psql(postgres, "SELECT count(*) FROM berth_sessions WHERE data LIKE '0:%'")) >= 1


def test_nodes_share_the_key_chain(berth_server, postgres):
    # Both nodes find the one key chain in berth_keys: what one encrypts, the other decrypts.
    a = berth_server(demo_config(store=postgres["url"]))
    b = berth_server(demo_config(store=postgres["url"]))
    client = requests.Session()
    set_name(client, a.url, "Chained")
    assert "Welcome: <b>Chained</b>" in client.get(f"{b.url}/demo/", timeout=5).text
    assert psql(postgres, "SELECT keynum FROM berth_keys ORDER BY keynum") == "0"


def test_expired_sessions_are_purged(berth_server, postgres):
    srv = berth_server(demo_config(store=postgres["url"], timeout="1s") +
                       "\n[sessions]\npurge_interval = 1s\n")
    client = requests.Session()
    set_name(client, srv.url, "Purged")
    key = psql(postgres, "SELECT id FROM berth_sessions ORDER BY last_seen DESC LIMIT 1")
    assert key
    time.sleep(2.2)
    # Any request runs the purge once the interval has passed.
    requests.get(f"{srv.url}/demo/", timeout=5)
    assert psql(postgres, f"SELECT count(*) FROM berth_sessions WHERE id = '{key}'") == "0"


def test_rotation_shared_by_two_nodes(berth_server, postgres, tmp_path):
    # A database of its own: after the rotation the other tests' key 0 is no longer the newest.
    db = "berth_rotation"
    r = subprocess.run(pgserver.as_postgres([f"{postgres['bindir']}/createdb", "-h", "127.0.0.1", "-p",
                                     str(postgres["port"]), "-U", "postgres", db]),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    url = f"postgresql://postgres@127.0.0.1:{postgres['port']}/{db}"
    a = berth_server(demo_config(store=url))
    b = berth_server(demo_config(store=url))
    client = requests.Session()
    assert "Welcome: <b>Rotating</b>" in set_name(client, a.url, "Rotating").text
    cookie = sid_of(client)
    new_secret = tmp_path / "new.secret"
    new_secret.write_text("pg-rotated-secret-0123456789abcdef\n")
    new_secret.chmod(0o600)
    r = run_cli("keys", "-c", str(a.conf_path), "rotate", "--keynum", "1",
                "--secret-file", str(new_secret))
    assert r.returncode == 0, r
    # Every node restarted with the new key reads the session made under the old one, and the
    # cookie signed under key 0 still verifies.
    rotated = demo_config(store=url).replace(SECRET, "pg-rotated-secret-0123456789abcdef") + \
        "\n[sessions]\nkeynum = 1\n"
    a.stop()
    b.stop()
    a2 = berth_server(rotated)
    b2 = berth_server(rotated)
    assert "Welcome: <b>Rotating</b>" in client.get(f"{b2.url}/demo/", timeout=5).text
    assert "Welcome: <b>Rotating</b>" in client.get(f"{a2.url}/demo/", timeout=5).text
    assert sid_of(client) == cookie
    keys = subprocess.run(pgserver.as_postgres([f"{postgres['bindir']}/psql", "-h", "127.0.0.1", "-p",
                                        str(postgres["port"]), "-U", "postgres", "-d", db, "-tAc",
                                        "SELECT keynum FROM berth_keys ORDER BY keynum"]),
                          capture_output=True, text=True, timeout=30)
    assert keys.stdout.split() == ["0", "1"], (keys.stdout, keys.stderr)
    listed = run_cli("keys", "-c", str(a2.conf_path), "list")
    assert listed.returncode == 0, listed
    assert "active, configured" in listed.stdout


def test_unreachable_database_is_503_not_a_crash(berth_server):
    port = free_port()  # nothing listens there
    srv = berth_server(demo_config(store=f"postgresql://postgres@127.0.0.1:{port}/{DB}"))
    resp = requests.get(f"{srv.url}/demo/", timeout=10)
    assert resp.status_code == 503
    assert requests.get(f"{srv.url}/demo/", timeout=10).status_code == 503
    srv.assert_serving()
