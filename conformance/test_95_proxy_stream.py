"""Layer 95: the gateway streams large bodies both ways with bounded memory (docs/gateway.md)."""

from __future__ import annotations

import hashlib
import socket
import time

import pytest

from proxymember import group_config


SIZE = 200 * 1024 * 1024
MAX_GROWTH_KIB = 24 * 1024


def rss_kib(srv) -> int:
    for line in open(f"/proc/{srv.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def proxied(berth_server, members):
    (member,) = members("big")
    srv = berth_server(group_config(member.addr, "\n[limits]\nmax_body_bytes = 1G"))
    return srv, member


def test_large_download_is_streamed(proxied):
    srv, member = proxied
    before = rss_kib(srv)
    peak = before
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
        s.sendall(f"GET /big?n={SIZE} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
        received = 0
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(65536)
        head, rest = head.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200")
        assert f"Content-Length: {SIZE}".encode() in head
        received = len(rest)
        slow_until = time.monotonic() + 1.0
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            received += len(data)
            if time.monotonic() < slow_until:
                time.sleep(0.01)  # a slow client: the member must be paused, not buffered
            if received % (16 << 20) < len(data):
                peak = max(peak, rss_kib(srv))
    assert received == SIZE
    peak = max(peak, rss_kib(srv))
    assert peak - before < MAX_GROWTH_KIB, f"RSS grew {peak - before} KiB"


def test_large_upload_is_streamed(proxied):
    srv, member = proxied
    before = rss_kib(srv)
    peak = before
    block = b"z" * (1 << 20)
    digest = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
        s.sendall(f"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {SIZE}\r\n"
                  "Connection: close\r\n\r\n".encode())
        for i in range(SIZE // len(block)):
            s.sendall(block)
            digest.update(block)
            if i % 16 == 0:
                peak = max(peak, rss_kib(srv))
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert data.endswith(f"{SIZE} {digest.hexdigest()}".encode())
    peak = max(peak, rss_kib(srv))
    assert peak - before < MAX_GROWTH_KIB, f"RSS grew {peak - before} KiB"
