"""Layer 68: TLS session resumption and kernel TLS ([tls] ssl_session_*, ssl_ticket_key_rotation,
ssl_ktls; docs/tls.md).

With two workers a session made on one resumes on both (the ticket keys are shared through the
master, which rotates them), for TLS 1.2 and 1.3, on h2 and the admin listener too, and still
after a HUP reload; `ssl_session_tickets = no` leaves only the per-worker cache; a session older
than ssl_session_timeout is a full handshake; a tampered ticket is a full handshake, not an
error; a 1 MiB file is byte-identical over TLS with ssl_ktls on, whole and in ranges (whether or
not this kernel offers kTLS)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import berth

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")

VERSIONS = ["TLSv1_2", "TLSv1_3"]


def config(tls: str = "", workers: int = 2, site: Path | None = None) -> str:
    certs = berth.throwaway_certs()
    return f"""
[server]
workers = {workers}
graceful_timeout = 2s

[tls]
enabled = yes
cert = {certs}/localhost.pem
key = {certs}/localhost.key
{tls}

[routes:line]
/stats = stats
{f"/files = {site}" if site else ""}

[app:stats]
call = berth.stats
"""


def context(version: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(berth.throwaway_certs() / "ca.pem"))
    ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def fetch(port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None,
          target: str = "/stats", headers: str = "") -> tuple[bytes, bool, ssl.SSLSession]:
    """One connection, one request: (response bytes, whether the session was reused, the
    session to resume next time; TLS 1.3 tickets arrive after the handshake, so it is read
    once the response is in)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    with ctx.wrap_socket(sock, server_hostname="localhost", session=session) as tls:
        tls.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}"
                    "Connection: close\r\n\r\n".encode())
        chunks = []
        while data := tls.recv(1 << 16):
            chunks.append(data)
        reused, session = tls.session_reused, tls.session
        try:
            # Our close_notify: OpenSSL drops a client session whose connection ended without
            # one, and the session-id case below would then have nothing to offer.
            tls.unwrap()
        except (OSError, ValueError):
            pass
        return b"".join(chunks), reused, session


def worker_pid(response: bytes) -> int:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return json.loads(body)["pid"]


def workers_of(srv, count: int = 2, exclude: set[int] = frozenset()) -> set[int]:
    found: set[int] = set()

    def ready() -> bool:
        nonlocal found
        found = berth.child_pids(srv.proc.pid) - set(exclude)
        return len(found) == count

    assert berth.wait_until(ready, timeout=15), (found, exclude)
    return found


def resume_on_every_worker(port: int, ctx: ssl.SSLContext, session: ssl.SSLSession,
                           pids: set[int], attempts: int = 300) -> set[int]:
    """Resumes `session` on new connections until both workers have served one; every one of
    them must say reused."""
    seen: set[int] = set()
    for _ in range(attempts):
        response, reused, _ = fetch(port, ctx, session)
        pid = worker_pid(response)
        assert reused, f"connection served by pid {pid} was a full handshake"
        seen.add(pid)
        if seen == pids:
            break
    return seen


@pytest.mark.parametrize("version", VERSIONS)
def test_session_resumes_on_every_worker_and_after_reload(berth_server, version):
    srv = berth_server(config())
    pids = workers_of(srv)
    ctx = context(version)
    response, reused, session = fetch(srv.port, ctx)
    assert not reused
    worker_pid(response)
    assert resume_on_every_worker(srv.port, ctx, session, pids) == pids

    # A reload replaces both workers; the ticket keys live on in the master's shared region.
    os.kill(srv.proc.pid, signal.SIGHUP)
    new_pids = workers_of(srv, exclude=pids)
    # Until the old generation has exited it may still take a connection.
    assert berth.wait_until(lambda: berth.child_pids(srv.proc.pid) == new_pids, timeout=15)
    response, reused, _ = fetch(srv.port, ctx, session)
    assert reused, "the session made before the reload was not resumed after it"
    assert worker_pid(response) in new_pids


def test_master_rotates_ticket_keys(berth_server):
    # With a 1 s rotation a ticket's key is rotated out after two rotations: the master (not a
    # worker) rotates, every worker follows, and the ticket then costs a full handshake.
    srv = berth_server(config("ssl_ticket_key_rotation = 1s"))
    ctx = context("TLSv1_3")
    _, _, session = fetch(srv.port, ctx)
    start = time.monotonic()
    assert berth.wait_until(lambda: not fetch(srv.port, ctx, session)[1], timeout=10)
    assert time.monotonic() - start >= 1.0  # not before one rotation interval
    # A session made under the new keys resumes.
    _, _, fresh = fetch(srv.port, ctx)
    assert fetch(srv.port, ctx, fresh)[1]


def test_tickets_off_leaves_only_the_per_worker_cache(berth_server):
    # One worker, so the cache that holds the session is the one asked.
    srv = berth_server(config("ssl_session_tickets = no", workers=1))
    for version in VERSIONS:
        ctx = context(version)
        _, reused, session = fetch(srv.port, ctx)
        assert not reused
        assert fetch(srv.port, ctx, session)[1], f"{version}: the session cache did not resume"
    # Without the cache as well nothing resumes: TLS 1.3 gets no ticket of any kind.
    srv2 = berth_server(config("ssl_session_tickets = no\nssl_session_cache = 0", workers=1))
    for version in VERSIONS:
        ctx = context(version)
        _, _, session = fetch(srv2.port, ctx)
        assert not fetch(srv2.port, ctx, session)[1], version


def test_tickets_off_does_not_resume_across_workers_by_ticket(berth_server):
    srv = berth_server(config("ssl_session_tickets = no\nssl_session_cache = 0"))
    ctx = context("TLSv1_3")
    _, _, session = fetch(srv.port, ctx)
    assert not session.has_ticket
    for _ in range(10):
        assert not fetch(srv.port, ctx, session)[1]


def test_expired_session_is_a_full_handshake(berth_server):
    srv = berth_server(config("ssl_session_timeout = 1s", workers=1))
    sessions = {}
    for version in VERSIONS:
        ctx = context(version)
        _, _, session = fetch(srv.port, ctx)
        assert fetch(srv.port, ctx, session)[1], version  # fresh: resumed
        sessions[version] = (ctx, session)
    time.sleep(2.2)  # OpenSSL counts a session's age in whole seconds of the server's clock
    for version, (ctx, session) in sessions.items():
        response, reused, _ = fetch(srv.port, ctx, session)
        assert not reused, version
        worker_pid(response)  # and the request is served


def test_h2_and_admin_listeners_resume_too(berth_server):
    import admin

    certs = berth.throwaway_certs()
    keys = f"cert = {certs}/localhost.pem\nkey = {certs}/localhost.key\n"
    # [admin] ends the configuration, so [tls] (the main port speaks TLS) can follow it.
    srv = admin.start(berth_server, extra=f"tls = yes\n{keys}\n[tls]\nenabled = yes\n{keys}",
                      workers=2)
    for version in VERSIONS:
        # The admin API (a service process of its own) under the same shared keys.
        ctx = context(version)
        _, _, session = fetch(srv.admin_port, ctx, target="/info")
        assert fetch(srv.admin_port, ctx, session, target="/info")[1], version
        # h2 through ALPN on the main listener: resumed, and h2 agreed again.
        h2 = context(version)
        h2.set_alpn_protocols(["h2"])
        sessions = []
        for resume in (None, "again"):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            with h2.wrap_socket(sock, server_hostname="localhost",
                                session=sessions[0] if resume else None) as tls:
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                assert tls.recv(9)  # the server's SETTINGS (and with it, TLS 1.3 tickets)
                assert tls.selected_alpn_protocol() == "h2"
                if resume:
                    assert tls.session_reused, version
                sessions.append(tls.session)


def _der_element(data: bytes, at: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `at`."""
    tag = data[at]
    length = data[at + 1]
    at += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[at:at + n], "big")
        at += n
    return tag, at, at + length


def _ticket_span(der: bytes) -> tuple[int, int]:
    """Where the ticket bytes are in an SSL_SESSION (DER: SEQUENCE { ..., [10] OCTET STRING
    ticket, ... })."""
    tag, at, end = _der_element(der, 0)
    assert tag == 0x30
    while at < end:
        tag, start, stop = _der_element(der, at)
        if tag == 0xAA:
            inner, ticket_start, ticket_stop = _der_element(der, start)
            assert inner == 0x04
            return ticket_start, ticket_stop
        at = stop
    raise AssertionError("no ticket in the session")


def _s_client(port: int, *args: str) -> str:
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-tls1_2", "-CAfile", str(berth.throwaway_certs() / "ca.pem"), "-ign_eof", *args],
        input=b"GET /stats HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        capture_output=True, timeout=20)
    return out.stdout.decode(errors="replace")


@pytest.mark.parametrize("where", ["key_name", "body"])
def test_tampered_ticket_is_a_full_handshake(berth_server, tmp_path, where):
    import base64

    srv = berth_server(config(workers=1))
    session_file = tmp_path / "session.pem"
    first = _s_client(srv.port, "-sess_out", str(session_file))
    assert "New, TLSv1.2" in first and "HTTP/1.1 200" in first, first
    again = _s_client(srv.port, "-sess_in", str(session_file))
    assert "Reused, TLSv1.2" in again, again

    pem = session_file.read_text()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    der = bytearray(base64.b64decode(body))
    start, stop = _ticket_span(bytes(der))
    # The first 16 bytes name the key (an unknown name: the key callback declines); past the
    # name and IV is the encrypted state, which the HMAC no longer matches.
    der[start + 3 if where == "key_name" else stop - 40] ^= 0x5A
    tampered = tmp_path / "tampered.pem"
    tampered.write_text("-----BEGIN SSL SESSION PARAMETERS-----\n"
                        + base64.encodebytes(bytes(der)).decode()
                        + "-----END SSL SESSION PARAMETERS-----\n")
    out = _s_client(srv.port, "-sess_in", str(tampered))
    assert "New, TLSv1.2" in out, out
    assert "HTTP/1.1 200" in out, out


def test_big_file_over_tls_with_ktls_is_byte_identical(berth_server, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    payload = os.urandom(1 << 20)
    (site / "big.bin").write_bytes(payload)
    srv = berth_server(config("ssl_ktls = yes", workers=1, site=site))
    ctx = context("TLSv1_3")
    response, _, _ = fetch(srv.port, ctx, target="/files/big.bin")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert hashlib.sha256(body).digest() == hashlib.sha256(payload).digest()
    for first, last in [(0, 0), (1000, 300_000), ((1 << 20) - 7, (1 << 20) - 1)]:
        response, _, _ = fetch(srv.port, context("TLSv1_2"), target="/files/big.bin",
                               headers=f"Range: bytes={first}-{last}\r\n")
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 206 "), head
        assert body == payload[first:last + 1]
    # Said once per process at info, whether or not the kernel offers it.
    assert berth.wait_until(lambda: "ssl_ktls:" in srv.server_log(), timeout=5)
