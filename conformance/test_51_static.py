"""Layer 51: static files (berth.static) — types, validators and 304, ranges (case 28), HEAD,
index files and redirects, dotfiles, traversal (case 27), symlinks, big files."""

from __future__ import annotations

import email.utils
import hashlib
import os
import socket
import struct
import subprocess

import pytest
import requests

import berth
from berth import build_request

CONFIG = """
[routes:line]
/ = {tmp}/site
/assets = assets
/follow = follow

[app:assets]
call = berth.static
root = {tmp}/assets
index = home.html
allow_dotfiles = yes
cache_control = max-age=60

[app:follow]
call = berth.static
root = {tmp}/site
follow_symlinks = yes
"""

TEXT = b"0123456789" * 10  # 100 bytes
BIG = os.urandom(3 * 1024 * 1024 + 17)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6300010000050001")

FILES = {
    "site/index.html": "<html><body>home</body></html>\n",
    "site/style.css": "body { color: red }\n",
    "site/img.png": PNG,
    "site/text.txt": TEXT,
    "site/big.bin": BIG,
    "site/with space.txt": "spaced",
    "site/caf\u00e9.txt": "utf8 name",
    "site/dir/index.html": "<p>dir index</p>\n",
    "site/dir/.env": "SECRET=dir-dotfile",
    "site/emptydir": ("dir",),
    "site/.hidden": "SECRET=dotfile",
    "site/.git/config": "SECRET=git",
    "site/link_etc": ("symlink", "/etc"),
    "site/link_passwd": ("symlink", "/etc/passwd"),
    "site/link_out": ("symlink", "{tmp}/outside"),
    "outside/secret.txt": "SECRET=outside",
    "assets/home.html": "<p>assets home</p>\n",
    "assets/style.css": "p { margin: 0 }\n",
    "assets/.well": "dotfile allowed",
}


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files=FILES)


def get(srv, path, headers=(), method="GET"):
    return srv.request(method, path, headers=list(headers))


# ---------------------------------------------------------------------------------------------
# Basics
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,ctype", [
    ("/index.html", "text/html"),
    ("/style.css", "text/css"),
    ("/img.png", "image/png"),
    ("/", "text/html"),
    ("/assets/style.css", "text/css"),
], ids=["html", "css", "png", "index", "app_static_css"])
def test_content_type_by_extension(srv, path, ctype):
    resp = get(srv, path)
    assert resp.status == 200, resp
    assert (resp.header("content-type") or "").split(";")[0].strip().lower() == ctype, resp


def test_file_bytes_and_length(srv):
    resp = get(srv, "/text.txt")
    assert resp.status == 200 and resp.body == TEXT
    assert resp.header("content-length") == str(len(TEXT))
    assert not resp.chunked


def test_query_string_is_not_part_of_the_file_name(srv):
    assert get(srv, "/text.txt?v=123").body == TEXT


@pytest.mark.parametrize("path,body", [("/with%20space.txt", b"spaced"),
                                       ("/caf%C3%A9.txt", b"utf8 name")], ids=["space", "utf8"])
def test_percent_encoded_names(srv, path, body):
    resp = get(srv, path)
    assert resp.status == 200 and resp.body == body, resp


def test_missing_file_is_404(srv):
    resp = get(srv, "/no-such-file.html")
    assert resp.status == 404 and resp.body.startswith(b"404 Not Found"), resp


def test_index_for_directory_with_slash(srv):
    resp = get(srv, "/dir/")
    assert resp.status == 200 and resp.body == b"<p>dir index</p>\n", resp


def test_directory_without_slash_redirects(srv):
    resp = get(srv, "/dir")
    assert resp.status == 301, resp
    location = resp.header("location") or ""
    assert location.endswith("/dir/"), resp


def test_directory_without_index_is_not_listed(srv):
    resp = get(srv, "/emptydir/")
    assert resp.status in (403, 404), resp


def test_index_option(srv):
    resp = get(srv, "/assets/")
    assert resp.status == 200 and resp.body == b"<p>assets home</p>\n", resp


def test_cache_control_option(srv):
    assert get(srv, "/assets/style.css").header("cache-control") == "max-age=60"


# ---------------------------------------------------------------------------------------------
# Validators and conditional GET
# ---------------------------------------------------------------------------------------------

def test_etag_and_last_modified(srv):
    resp = get(srv, "/text.txt")
    etag = resp.header("etag")
    assert etag and etag.strip('W/').startswith('"') and etag.endswith('"'), resp
    lm = resp.header("last-modified")
    assert lm, resp
    mtime = os.stat(srv.tmp / "site" / "text.txt").st_mtime
    assert abs(email.utils.parsedate_to_datetime(lm).timestamp() - mtime) < 1.5, (lm, mtime)


def test_if_none_match_gives_304(srv):
    etag = get(srv, "/text.txt").header("etag")
    resp = get(srv, "/text.txt", [("If-None-Match", etag)])
    assert resp.status == 304, resp
    assert resp.body == b""
    assert resp.header("etag") == etag
    berth.assert_common_headers(resp)


def test_if_none_match_in_a_list_gives_304(srv):
    etag = get(srv, "/text.txt").header("etag")
    assert get(srv, "/text.txt", [("If-None-Match", f'"nope", {etag}')]).status == 304


def test_if_none_match_other_gives_200(srv):
    resp = get(srv, "/text.txt", [("If-None-Match", '"something-else"')])
    assert resp.status == 200 and resp.body == TEXT


def test_if_modified_since_gives_304(srv):
    lm = get(srv, "/text.txt").header("last-modified")
    resp = get(srv, "/text.txt", [("If-Modified-Since", lm)])
    assert resp.status == 304 and resp.body == b"", resp


def test_if_modified_since_old_date_gives_200(srv):
    resp = get(srv, "/text.txt", [("If-Modified-Since", "Mon, 01 Jan 1990 00:00:00 GMT")])
    assert resp.status == 200 and resp.body == TEXT


def test_if_modified_since_garbage_is_ignored(srv):
    resp = get(srv, "/text.txt", [("If-Modified-Since", "not a date")])
    assert resp.status == 200 and resp.body == TEXT


def test_if_none_match_wins_over_if_modified_since(srv):
    lm = get(srv, "/text.txt").header("last-modified")
    resp = get(srv, "/text.txt", [("If-None-Match", '"other"'), ("If-Modified-Since", lm)])
    assert resp.status == 200, resp


# ---------------------------------------------------------------------------------------------
# Ranges (case 28)
# ---------------------------------------------------------------------------------------------

SIZE = len(TEXT)
GOOD_RANGES = [
    ("bytes=0-9", 0, 9),
    ("bytes=10-", 10, SIZE - 1),
    ("bytes=-5", SIZE - 5, SIZE - 1),
    ("bytes=90-200", 90, SIZE - 1),
    ("bytes=99-99", 99, 99),
    ("bytes=-1000", 0, SIZE - 1),
]


@pytest.mark.parametrize("spec,first,last", GOOD_RANGES, ids=[g[0] for g in GOOD_RANGES])
def test_single_range(srv, spec, first, last):
    resp = get(srv, "/text.txt", [("Range", spec)])
    assert resp.status == 206, resp
    assert resp.header("content-range") == f"bytes {first}-{last}/{SIZE}", resp
    assert resp.body == TEXT[first:last + 1]
    assert resp.header("content-length") == str(last - first + 1)


@pytest.mark.parametrize("spec", ["bytes=100-", "bytes=1000-2000", "bytes=99999999999-",
                                  "bytes=99999999999999999999999-"])
def test_unsatisfiable_range_is_416(srv, spec):
    resp = get(srv, "/text.txt", [("Range", spec)])
    assert resp.status == 416, resp
    assert resp.header("content-range") == f"bytes */{SIZE}", resp


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-5", "bytes 0-5", "bytes=--5", "bytes=0-5-",
                                  "bytes=", "bytes=-", "bytes=0x0-5", "bytes=+0-5"])
def test_malformed_range_is_ignored(srv, spec):
    resp = get(srv, "/text.txt", [("Range", spec)])
    assert resp.status == 200, resp
    assert resp.body == TEXT


@pytest.mark.parametrize("spec", ["bytes=5-1", "bytes=-0"])
def test_invalid_range_is_ignored_or_416(srv, spec):
    resp = get(srv, "/text.txt", [("Range", spec)])
    assert resp.status in (200, 416), resp
    if resp.status == 200:
        assert resp.body == TEXT


def test_thousand_ranges_are_bounded(srv):
    spec = "bytes=" + ",".join(["0-0"] * 1000)
    resp = get(srv, "/big.bin", [("Range", spec)])
    assert resp.status in (200, 206, 416), resp
    if resp.status == 200:
        assert hashlib.sha256(resp.body).digest() == hashlib.sha256(BIG).digest()
    elif resp.status == 206:
        # Only acceptable if coalesced: never 1000 parts.
        assert len(resp.body) <= 2048, f"1000 overlapping ranges produced {len(resp.body)} bytes"
    srv.assert_serving()


def test_overlapping_ranges_are_bounded(srv):
    spec = "bytes=" + ",".join(["0-1048575"] * 50)
    resp = get(srv, "/big.bin", [("Range", spec)])
    assert resp.status in (200, 206, 416), resp
    assert len(resp.body) <= len(BIG) + 4096, f"{len(resp.body)} bytes for overlapping ranges"


def test_range_in_the_middle_of_a_big_file(srv):
    resp = get(srv, "/big.bin", [("Range", "bytes=1000000-1999999")])
    assert resp.status == 206
    assert resp.body == BIG[1000000:2000000]


# ---------------------------------------------------------------------------------------------
# HEAD
# ---------------------------------------------------------------------------------------------

def test_head_static(srv):
    with srv.conn() as c:
        c.send(build_request("HEAD", "/big.bin") + build_request("GET", "/text.txt"))
        head = c.recv_response(method="HEAD")
        assert head.status == 200
        assert head.header("content-length") == str(len(BIG))
        assert head.header("etag") and head.header("last-modified")
        after = c.recv_response()
        assert after.body == TEXT, f"HEAD leaked a body into the next response: {after!r}"


# ---------------------------------------------------------------------------------------------
# Dotfiles, symlinks, traversal (case 27)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/.hidden", "/.git/config", "/dir/.env", "/.git/", "/%2ehidden"])
def test_dotfiles_are_404(srv, path):
    resp = get(srv, path)
    assert resp.status == 404, resp
    assert b"SECRET" not in resp.body


def test_allow_dotfiles_option(srv):
    resp = get(srv, "/assets/.well")
    assert resp.status == 200 and resp.body == b"dotfile allowed", resp


@pytest.mark.parametrize("path", ["/link_etc/passwd", "/link_passwd", "/link_out/secret.txt"])
def test_symlink_out_of_root_is_refused(srv, path):
    resp = get(srv, path)
    assert resp.status in (403, 404), resp
    assert b"root:" not in resp.body and b"SECRET" not in resp.body


def test_follow_symlinks_option(srv):
    resp = get(srv, "/follow/link_out/secret.txt")
    assert resp.status == 200 and resp.body == b"SECRET=outside", resp


TRAVERSALS = [
    "/../../etc/passwd",
    "/../../../../../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/..\\..\\..\\..\\etc\\passwd",
    "/..%5c..%5c..%5c..%5cetc%5cpasswd",
    "/a%00.html",
    "/index.html%00.txt",
    "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/%c0%af..%c0%af..%c0%afetc/passwd",
    "//etc/passwd",
    "///etc/passwd",
    "/./../etc/passwd",
    "/dir/../../etc/passwd",
    "/.%2e/.%2e/etc/passwd",
    "/%2e./%2e./etc/passwd",
    "/link_etc/../link_etc/passwd",
    "/dir/..%2f..%2f..%2fetc/passwd",
]
PREFIXES = ["", "/assets", "/follow"]


TRAVERSAL_CASES = [
    pytest.param(prefix + path, id=f"{name}:{path}")
    for prefix, name in zip(PREFIXES, ["root", "app_static", "follow_symlinks"])
    for path in TRAVERSALS
    # follow_symlinks = yes legitimately follows the link_etc symlink inside its root.
    if not (prefix == "/follow" and "link_etc" in path)
]


@pytest.mark.parametrize("target", TRAVERSAL_CASES)
def test_traversal_never_escapes_root(srv, target):
    with srv.conn() as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = c.read_until_close(3)
    resps, _ = berth.parse_responses(data)
    assert resps, f"no response for {target!r}: {data[:200]!r}"
    assert resps[0].status in (400, 403, 404), (target, resps[0])
    assert b"root:" not in data, f"/etc/passwd leaked for {target!r}"
    assert b"SECRET" not in data, f"file outside the document root leaked for {target!r}"
    srv.assert_serving()


# ---------------------------------------------------------------------------------------------
# Big file
# ---------------------------------------------------------------------------------------------

def test_big_file_intact_with_requests(srv):
    s = requests.Session()
    s.trust_env = False  # no proxies
    resp = s.get(f"{srv.url}/big.bin", timeout=10)
    assert resp.status_code == 200
    assert int(resp.headers["Content-Length"]) == len(BIG)
    assert hashlib.sha256(resp.content).hexdigest() == hashlib.sha256(BIG).hexdigest()


def test_big_file_intact_with_curl(srv, tmp_path):
    out = tmp_path / "big.out"
    p = subprocess.run(["curl", "--noproxy", "*", "-sS", "--max-time", "10", "-o", str(out),
                        "-w", "%{http_code}", f"{srv.url}/big.bin"], capture_output=True, timeout=15)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"200"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(BIG).hexdigest()


def test_reset_while_streaming_big_file(srv):
    for _ in range(5):
        s = socket.create_connection((berth.HOST, srv.port), timeout=3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(build_request("GET", "/big.bin"))
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST mid-transfer
    assert get(srv, "/text.txt").body == TEXT


def test_big_file_over_raw_socket_keepalive(srv):
    with srv.conn(timeout=10) as c:
        for _ in range(2):
            resp = c.roundtrip(build_request("GET", "/big.bin"), timeout=10)
            assert resp.status == 200 and resp.body == BIG
