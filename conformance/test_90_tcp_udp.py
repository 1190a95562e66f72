"""Layer 90: TCP and UDP apps — [tcp:NAME] / [udp:NAME] sections served by berth.tcp_echo and
berth.udp_echo: many concurrent clients, a 100 MB stream byte for byte, half-close, idle timeout,
max_connections, datagrams (and oversize ones), TLS, the stats, an app that throws (test marker,
only with BERTH_TEST_APPS=1) and a reload while clients are connected."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import threading
import time
from typing import Callable

import pytest

import berth

ENV = {"BERTH_TEST_APPS": "1"}
HOST = "127.0.0.1"
MARKER = b"BERTH-TEST-THROW"


def config(tcp_port: int, udp_port: int, tcp_extra: str = "", udp_extra: str = "",
           server: str = "") -> str:
    return f"""
[server]
graceful_timeout = 2s
{server}

[routes:line]
/stats = stats

[app:stats]
call = berth.stats

[tcp:echo]
call = berth.tcp_echo
port = {tcp_port}
threads = 2
chunk_read = 4096
{tcp_extra}

[udp:uecho]
call = berth.udp_echo
port = {udp_port}
max_datagram_bytes = 2000
{udp_extra}
"""


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((HOST, port), timeout=timeout)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n > 0:
        data = sock.recv(min(n, 1 << 20))
        if not data:
            break
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def echo_once(port: int, payload: bytes = b"hello") -> bytes:
    with connect(port) as s:
        s.sendall(payload)
        return recv_exactly(s, len(payload))


def up(check: Callable[[], bool]) -> Callable[[], bool]:
    """For wait_until: a check that counts a refused or reset connection as "not yet" (the TCP
    service's child may start listening a moment after the HTTP side answers)."""
    def attempt() -> bool:
        try:
            return check()
        except OSError:
            return False
    return attempt


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """True when the server ends the connection within timeout (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def stats(srv) -> dict:
    resp = srv.request("GET", "/stats")
    assert resp.status == 200, resp
    return json.loads(resp.body)


def app_stat(srv, name: str) -> int:
    return int(stats(srv)["apps"].get(name, 0))


@pytest.fixture(scope="module")
def ports():
    return berth.free_port(), berth.free_port()


@pytest.fixture(scope="module")
def srv(module_berth_server, ports):
    tcp, udp = ports
    s = module_berth_server(config(tcp, udp), env=ENV)
    assert berth.wait_until(up(lambda: echo_once(tcp) == b"hello"), 5), s.describe()
    return s


def test_tcp_echo_200_concurrent_clients(srv, ports):
    tcp, _ = ports
    payloads = [os.urandom(3000) + str(i).encode() for i in range(200)]
    socks = [connect(tcp) for _ in payloads]
    try:
        for s, p in zip(socks, payloads):
            s.sendall(p)
        for s, p in zip(socks, payloads):
            assert recv_exactly(s, len(p)) == p
    finally:
        for s in socks:
            s.close()


def test_tcp_echo_100mb_stream_is_byte_exact(srv, ports):
    tcp, _ = ports
    block = os.urandom(1 << 20)
    total = 100
    sent_hash = hashlib.sha256()
    got_hash = hashlib.sha256()
    with connect(tcp, timeout=20) as s:
        def send():
            for i in range(total):
                piece = block[i:] + block[:i]  # every MiB different
                s.sendall(piece)
            s.shutdown(socket.SHUT_WR)

        for i in range(total):
            sent_hash.update(block[i:] + block[:i])
        sender = threading.Thread(target=send)
        sender.start()
        received = 0
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            got_hash.update(data)
            received += len(data)
        sender.join(10)
    assert received == total << 20
    assert got_hash.hexdigest() == sent_hash.hexdigest()


def test_tcp_half_close_echoes_the_rest_then_closes(srv, ports):
    tcp, _ = ports
    with connect(tcp) as s:
        s.sendall(b"before the end")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(100)
            if not chunk:
                break
            data += chunk
    assert data == b"before the end"


def test_udp_echo_1000_datagrams(srv, ports):
    _, udp = ports
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    replies = set()
    try:
        window = 20  # outstanding datagrams: no loss on a loaded loopback
        for start in range(0, 1000, window):
            batch = {f"d{i}".encode() for i in range(start, start + window)}
            for d in batch:
                sock.sendto(d, (HOST, udp))
            for _ in batch:
                data, _addr = sock.recvfrom(4096)
                replies.add(data)
    finally:
        sock.close()
    assert len(replies) == 1000
    assert app_stat(srv, "udp:uecho.datagram_count") >= 1000


def test_udp_oversize_datagram_is_dropped_and_counted(srv, ports):
    _, udp = ports
    before = app_stat(srv, "udp:uecho.dropped_count")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    try:
        sock.sendto(b"x" * 3000, (HOST, udp))
        with pytest.raises(socket.timeout):
            sock.recvfrom(8192)
        sock.settimeout(2)
        sock.sendto(b"small", (HOST, udp))
        assert sock.recvfrom(8192)[0] == b"small"
    finally:
        sock.close()
    assert berth.wait_until(lambda: app_stat(srv, "udp:uecho.dropped_count") == before + 1)


def test_stats_count_bytes_and_connections(srv, ports):
    tcp, udp = ports
    before = stats(srv)["apps"]
    echo_once(tcp, b"x" * 1000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    try:
        sock.sendto(b"counted", (HOST, udp))
        assert sock.recvfrom(100)[0] == b"counted"
    finally:
        sock.close()
    after = stats(srv)["apps"]
    assert after["tcp:echo.byte_count"] >= before.get("tcp:echo.byte_count", 0) + 1000
    assert after["tcp:echo.connection_count"] >= before.get("tcp:echo.connection_count", 0) + 1
    assert after["udp:uecho.byte_count"] > 0
    worker = [w for w in stats(srv)["workers"] if w["service"] == "tcp"]
    assert worker and worker[0]["values"]["tcp:echo.start_time"] > 0
    prom = srv.request("GET", "/stats?format=prometheus").body.decode()
    assert 'name="tcp:echo.byte_count"' in prom


def test_an_app_that_throws_is_replaced_and_the_worker_keeps_serving(srv, ports):
    tcp, udp = ports
    before = app_stat(srv, "tcp:echo.app_errors")
    with connect(tcp) as s:
        s.sendall(b"abc" + MARKER)
        assert closed_by_server(s, 3)
    assert echo_once(tcp, b"still here") == b"still here"
    assert app_stat(srv, "tcp:echo.app_errors") == before + 1
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    try:
        sock.sendto(MARKER, (HOST, udp))
        sock.sendto(b"after", (HOST, udp))
        assert sock.recvfrom(100)[0] == b"after"
    finally:
        sock.close()
    assert berth.wait_until(lambda: "replaced by a fresh instance" in srv.server_log())


def test_idle_timeout_and_max_connections(berth_server):
    tcp, udp = berth.free_port(), berth.free_port()
    srv = berth_server(config(tcp, udp, "idle_timeout = 1s\nmax_connections = 2"), env=ENV)
    assert berth.wait_until(up(lambda: echo_once(tcp) == b"hello"), 5), srv.describe()
    # The probe's connection is gone on the server side too before the limit is tested.
    assert berth.wait_until(lambda: app_stat(srv, "tcp:echo.active_connections") == 0)
    a, b = connect(tcp), connect(tcp)
    try:
        for s in (a, b):
            s.sendall(b"ping")
            assert recv_exactly(s, 4) == b"ping"
        with connect(tcp) as third:
            assert closed_by_server(third, 3)
        assert app_stat(srv, "tcp:echo.refused_count") >= 1
        assert berth.wait_until(lambda: "max_connections (2) reached" in srv.server_log())
        # Idle: both are closed after about a second without traffic.
        started = time.monotonic()
        assert closed_by_server(a, 4)
        assert time.monotonic() - started < 3.5
        assert closed_by_server(b, 2)
    finally:
        a.close()
        b.close()
    assert berth.wait_until(lambda: app_stat(srv, "tcp:echo.idle_closed_count") >= 2)
    assert echo_once(tcp) == b"hello"  # the units came back


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
def test_tls_tcp_echo(berth_server):
    certs = berth.throwaway_certs()
    tcp, udp = berth.free_port(), berth.free_port()
    extra = f"tls = yes\n\n[tls]\ncert = {certs}/localhost.pem\nkey = {certs}/localhost.key\n"
    srv = berth_server(config(tcp, udp, extra), env=ENV)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    def tls_echo(payload: bytes) -> bytes:
        with ctx.wrap_socket(connect(tcp), server_hostname="localhost") as t:
            t.sendall(payload)
            return recv_exactly(t, len(payload))

    assert berth.wait_until(up(lambda: tls_echo(b"secure") == b"secure"), 5), srv.describe()
    big = os.urandom(1 << 20)
    assert tls_echo(big) == big
    # Single process: SIGHUP re-reads the certificate; new connections keep working.
    srv.proc.send_signal(signal.SIGHUP)
    assert berth.wait_until(
        lambda: "[tcp:echo] SIGHUP: TLS certificates reloaded" in srv.server_log(), 5)
    assert tls_echo(b"after hup") == b"after hup"


def test_reload_keeps_connected_clients_and_accepts_new_ones(berth_server, tmp_path):
    tcp, udp = berth.free_port(), berth.free_port()
    srv = berth_server(config(tcp, udp, server=f"workers = 1\npid_file = {tmp_path}/b.pid"),
                       env=ENV)
    assert berth.wait_until(up(lambda: echo_once(tcp) == b"hello"), 5), srv.describe()
    held = connect(tcp)
    held.sendall(b"one")
    assert recv_exactly(held, 3) == b"one"
    failures: list[str] = []
    successes = 0
    stop = threading.Event()

    def keep_connecting():
        nonlocal successes
        while not stop.is_set():
            try:
                if echo_once(tcp, b"new") != b"new":
                    failures.append("short echo")
                else:
                    successes += 1
            except OSError as e:
                failures.append(repr(e))
            time.sleep(0.01)

    worker = threading.Thread(target=keep_connecting)
    worker.start()
    try:
        result = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
        assert result.returncode == 0, result
        time.sleep(0.3)
    finally:
        stop.set()
        worker.join(5)
    try:
        held.sendall(b"two")
        assert recv_exactly(held, 3) == b"two"
    finally:
        held.close()
    assert not failures, failures[:5]
    assert successes > 0
    assert echo_once(tcp) == b"hello"
    status = berth.run_cli("status", "-c", str(srv.conf_path), env=ENV)
    assert "tcp:echo" in status.output and "tcp:echo.connection_count=" in status.output


def test_a_client_that_does_not_read_is_closed_at_send_timeout(berth_server):
    tcp, udp = berth.free_port(), berth.free_port()
    srv = berth_server(config(tcp, udp, "send_timeout = 1s\noutput_buffer = 64K"), env=ENV)
    assert berth.wait_until(up(lambda: echo_once(tcp) == b"hello"), 5), srv.describe()
    with connect(tcp) as s:
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 5
        # Send until every buffer on the way is full: the echo has nowhere to go.
        while time.monotonic() < deadline:
            try:
                sent += s.send(b"z" * 65536)
            except BlockingIOError:
                time.sleep(0.05)
                try:
                    sent += s.send(b"z" * 65536)
                except BlockingIOError:
                    break
        assert sent > 64 * 1024
        assert berth.wait_until(lambda: app_stat(srv, "tcp:echo.send_timeout_count") == 1, 5)
    assert echo_once(tcp) == b"hello"


def test_a_reload_that_adds_an_app_serves_it(berth_server, tmp_path):
    tcp, udp, added = berth.free_port(), berth.free_port(), berth.free_port()
    srv = berth_server(config(tcp, udp, server=f"workers = 1\npid_file = {tmp_path}/b.pid"),
                       env=ENV)
    assert berth.wait_until(up(lambda: echo_once(tcp) == b"hello"), 5), srv.describe()
    srv.conf_path.write_text(srv.conf_path.read_text() +
                             f"\n[tcp:added]\ncall = berth.tcp_echo\nport = {added}\n")
    result = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert result.returncode == 0, result
    assert echo_once(added, b"new app") == b"new app"
    assert echo_once(tcp) == b"hello"
    assert berth.wait_until(lambda: "listener changes take a restart" in srv.server_log())


def test_check_reports_socket_app_problems_at_file_line(tmp_path):
    conf = tmp_path / "berth.conf"
    conf.write_text("[tcp:e]\ncall = berth.tcp_echo\nport = 7000\nchunk_reed = 5\n"
                    "\n[udp:u]\ncall = berth.udp_eco\nport = 7001\n")
    result = berth.run_cli("check", "-c", str(conf))
    assert result.returncode == 1, result
    assert f"{conf}:4:" in result.output and "did you mean 'chunk_read'" in result.output
    assert f"{conf}:7:" in result.output and "did you mean 'berth.udp_echo'" in result.output
