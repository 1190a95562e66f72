"""Layer 74: HTTP/2 end to end with curl (libcurl + nghttp2): `--http2-prior-knowledge` on the
cleartext port, `--http2` over TLS (ALPN) and over cleartext (Upgrade: h2c), a body in both
directions, a large file, and HTTP/1.1 still offered to clients that ask for it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl missing")

CONFIG = """
[routes:line]
/ = {tmp}/site
/echo = echo
/heartbeat = heartbeat

[app:echo]
call = berth.echo
max_echo = 2M

[app:heartbeat]
call = berth.heartbeat
"""

BIG = os.urandom(3 * 1024 * 1024 + 7)
TEXT = b"0123456789" * 10


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"site/text.txt": TEXT, "site/big.bin": BIG}, tls=True)


def curl(tmp_path, *args: str) -> tuple[str, bytes]:
    """(http_code + ' ' + http_version, body) of one curl run."""
    out = tmp_path / "body.out"
    p = subprocess.run(["curl", "--noproxy", "*", "-sS", "-k", "--max-time", "15", "-o", str(out),
                        "-w", "%{http_code} %{http_version}", *args],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, (p.returncode, p.stderr.decode(errors="replace"))
    return p.stdout.decode(), out.read_bytes()


def test_prior_knowledge_h2c(srv, tmp_path):
    got, body = curl(tmp_path, "--http2-prior-knowledge", f"http://127.0.0.1:{srv.port}/text.txt")
    assert got == "200 2" and body == TEXT


def test_h2_over_tls_by_alpn(srv, tmp_path):
    got, body = curl(tmp_path, "--http2", f"https://127.0.0.1:{srv.tls_port}/heartbeat")
    assert got == "200 2" and body.strip() == b"OK"


def test_upgrade_h2c(srv, tmp_path):
    got, body = curl(tmp_path, "--http2", f"http://127.0.0.1:{srv.port}/text.txt")
    assert got == "200 2", "curl's Upgrade: h2c was not taken"
    assert body == TEXT


def test_http11_still_offered_over_tls(srv, tmp_path):
    got, body = curl(tmp_path, "--http1.1", f"https://127.0.0.1:{srv.tls_port}/text.txt")
    assert got == "200 1.1" and body == TEXT


@pytest.mark.parametrize("scheme", ["h2c", "h2-tls"])
def test_echo_1mb_both_ways(srv, tmp_path, scheme):
    payload = os.urandom(1024 * 1024 + 11)
    src = tmp_path / "payload.bin"
    src.write_bytes(payload)
    url = (f"http://127.0.0.1:{srv.port}/echo" if scheme == "h2c"
           else f"https://127.0.0.1:{srv.tls_port}/echo")
    flag = "--http2-prior-knowledge" if scheme == "h2c" else "--http2"
    got, body = curl(tmp_path, flag, "--data-binary", f"@{src}",
                     "-H", "Content-Type: application/octet-stream", url)
    assert got == "200 2"
    assert hashlib.sha256(body).digest() == hashlib.sha256(payload).digest()


@pytest.mark.parametrize("scheme", ["h2c", "h2-tls"])
def test_big_file(srv, tmp_path, scheme):
    url = (f"http://127.0.0.1:{srv.port}/big.bin" if scheme == "h2c"
           else f"https://127.0.0.1:{srv.tls_port}/big.bin")
    flag = "--http2-prior-knowledge" if scheme == "h2c" else "--http2"
    got, body = curl(tmp_path, flag, url)
    assert got == "200 2"
    assert hashlib.sha256(body).digest() == hashlib.sha256(BIG).digest()


def test_many_requests_on_one_connection(srv, tmp_path):
    # Over TLS: curl 7.88's --http2-prior-knowledge fails to reuse its connection (error 16
    # against h2o as well), so the h2c variant would test curl.
    urls = [f"https://127.0.0.1:{srv.tls_port}/text.txt"] * 20
    p = subprocess.run(["curl", "--noproxy", "*", "-sS", "-k", "--max-time", "15",
                        "--http2", "-w", "%{http_code} %{http_version} %{num_connects}\\n",
                        *[a for u in urls for a in ("-o", "/dev/null", u)]],
                       capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().split()
    assert lines.count("200") == 20 and lines[1::3] == ["2"] * 20, p.stdout
    # curl reuses the connection: only the first transfer connects.
    assert sum(int(x) for x in lines[2::3]) == 1, p.stdout
