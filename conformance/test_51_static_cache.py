"""Layer 51: the static app's open-file cache (open_file_cache, open_file_cache_valid): a file
changed, deleted, created or swapped for an escaping symlink on disk is seen within `valid`
(200 ms here) and never before a look-up repeats every check; `open_file_cache = 0` sees changes
at once; a long `valid` really serves what was remembered."""

from __future__ import annotations

import os
import time

import pytest

from berth import wait_until

VALID = 0.2  # open_file_cache_valid below
MARGIN = 3.0  # the machine is shared: seen within VALID + MARGIN, never asserted faster

CONFIG = """
[server]
open_file_cache = 100
open_file_cache_valid = 200ms

[routes:line]
/ = {tmp}/site
/nocache = nocache
/long = long

[app:nocache]
call = berth.static
root = {tmp}/nocache
open_file_cache = 0

[app:long]
call = berth.static
root = {tmp}/long
open_file_cache_valid = 60s
"""

FILES = {
    "site/changed.txt": "version one\n",
    "site/deleted.txt": "soon gone\n",
    "site/swapped.txt": "public page\n",
    "site/renamed.txt": "old build\n",
    "nocache/a.txt": "first\n",
    "long/a.txt": "remembered\n",
    "outside/secret.txt": "SECRET=outside\n",
}


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files=FILES)


def get(srv, path, **kw):
    return srv.request("GET", path, **kw)


def body_becomes(srv, path, expected, forbidden=b"SECRET"):
    """Polls path until it answers `expected` (bytes, or an int status); every answer on the way
    must be free of `forbidden`. Returns the seconds it took."""
    start = time.monotonic()
    seen = []

    def check():
        resp = get(srv, path)
        assert forbidden not in resp.body, (path, resp.status, resp.body)
        seen.append((resp.status, resp.body[:40]))
        return resp.status == expected if isinstance(expected, int) else resp.body == expected

    assert wait_until(check, VALID + MARGIN, 0.02), (path, seen[-3:])
    return time.monotonic() - start


def test_modified_file_is_served_new_within_valid(srv):
    assert get(srv, "/changed.txt").body == b"version one\n"
    path = srv.tmp / "site/changed.txt"
    path.write_bytes(b"version two, longer\n")
    old = time.time() - 3600  # another mtime second, whatever the clock did meanwhile
    os.utime(path, (old, old))
    body_becomes(srv, "/changed.txt", b"version two, longer\n")
    resp = get(srv, "/changed.txt")
    assert resp.header("Content-Length") == str(len(b"version two, longer\n"))


def test_file_replaced_by_rename_is_served_new(srv):
    assert get(srv, "/renamed.txt").body == b"old build\n"
    tmp = srv.tmp / "site/.renamed.tmp"
    tmp.write_bytes(b"new build\n")  # same size: only the inode differs
    os.replace(tmp, srv.tmp / "site/renamed.txt")
    body_becomes(srv, "/renamed.txt", b"new build\n")


def test_deleted_file_becomes_404(srv):
    assert get(srv, "/deleted.txt").status == 200
    os.unlink(srv.tmp / "site/deleted.txt")
    body_becomes(srv, "/deleted.txt", 404)
    assert get(srv, "/deleted.txt").status == 404


def test_created_file_is_found_after_a_cached_404(srv):
    assert get(srv, "/late.txt").status == 404
    (srv.tmp / "site/late.txt").write_bytes(b"arrived\n")
    body_becomes(srv, "/late.txt", b"arrived\n")


def test_escaping_symlink_refused_after_being_cached(srv):
    # Cached as a regular file inside the root, then swapped for a symlink leaving it.
    for _ in range(3):
        assert get(srv, "/swapped.txt").body == b"public page\n"
    path = srv.tmp / "site/swapped.txt"
    os.unlink(path)
    os.symlink(srv.tmp / "outside/secret.txt", path)
    body_becomes(srv, "/swapped.txt", 404)
    time.sleep(VALID * 2)  # past another revalidation: still refused
    for _ in range(3):
        resp = get(srv, "/swapped.txt")
        assert resp.status == 404 and b"SECRET" not in resp.body


def test_cache_off_sees_changes_at_once(srv):
    assert get(srv, "/nocache/a.txt").body == b"first\n"
    (srv.tmp / "nocache/a.txt").write_bytes(b"second, at once\n")
    assert get(srv, "/nocache/a.txt").body == b"second, at once\n"


def test_long_valid_serves_what_it_remembered(srv):
    # The trade-off the docs state: within `valid` a changed file is answered as it was (its
    # ETag and length), bytes read from the same open file.
    first = get(srv, "/long/a.txt")
    assert first.status == 200 and first.body == b"remembered\n"
    path = srv.tmp / "long/a.txt"
    path.write_bytes(b"REMEMBERED\n")  # same length, in place
    os.utime(path, (1_000_000_000, 1_000_000_000))
    again = get(srv, "/long/a.txt")
    assert again.header("ETag") == first.header("ETag")
    assert again.header("Last-Modified") == first.header("Last-Modified")
    assert again.body == b"REMEMBERED\n"
    # A conditional request against the remembered validators is still a 304.
    cond = get(srv, "/long/a.txt", headers=[("If-None-Match", first.header("ETag"))])
    assert cond.status == 304
