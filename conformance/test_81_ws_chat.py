"""Layer 81: berth.ws_chat — every message of a client goes to every client of the app on every
worker (through the master's broadcast relay), the sender included; a client that never reads
is closed while the others keep receiving; a killed worker is replaced and its replacement joins
the chat; a reload tells the old workers' clients 1001 and the new workers chat.

Which worker holds a connection is read from /proc (the worker whose fd is the server's end of
the client's TCP connection), so "different workers" is proven, not assumed."""

from __future__ import annotations

import asyncio
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

websockets = pytest.importorskip("websockets")

CHAT = """
[server]
workers = {workers}
threads = {threads}
graceful_timeout = 6s
pid_file = {tmp}/berthd.pid

[routes:line]
/chat = chat
/other = other
/stats = stats

[app:stats]
call = berth.stats

[app:chat]
call = berth.ws_chat
send_buffer_bytes = 1M
close_timeout = 1s

[app:other]
call = berth.ws_chat
"""

READ_TIMEOUT = 5.0


def chat_config(workers: int = 2, threads: int = 1) -> str:
    return CHAT.replace("{workers}", str(workers)).replace("{threads}", str(threads))


# ------------------------------------------------------------------------------------------
# Which worker serves a connection
# ------------------------------------------------------------------------------------------

def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of 127.0.0.1:client_port -> :server_port."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if local_port == server_port and remote_port == client_port and fields[9] != "0":
            return fields[9]
    return None


def owner_pid(srv, client_port: int, timeout: float = 3.0) -> int:
    """The worker process whose fd table holds the server's end of the client's connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inode = _socket_inode(srv.port, client_port)
        if inode:
            target = f"socket:[{inode}]"
            for pid in berth.child_pids(srv.proc.pid):
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        try:
                            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                                return pid
                        except OSError:
                            continue
                except OSError:
                    continue
        time.sleep(0.05)
    raise AssertionError(f"no worker holds the connection from port {client_port}")


async def connect(srv, path: str = "/chat", compression: str | None = "deflate", ssl_context=None):
    scheme = "wss" if ssl_context else "ws"
    return await websockets.connect(f"{scheme}://127.0.0.1:{srv.port}{path}", open_timeout=5,
                                    close_timeout=2, max_size=4 << 20, compression=compression,
                                    ssl=ssl_context)


async def clients_on_distinct_workers(srv, count: int = 2, path: str = "/chat",
                                      avoid: set[int] = frozenset(), attempts: int = 40,
                                      ssl_context=None):
    """Opens clients until `count` of them sit on different workers (none in `avoid`); closes
    the others. Returns [(ws, pid)]."""
    chosen: dict[int, object] = {}
    spare = []
    for _ in range(attempts):
        ws = await connect(srv, path, ssl_context=ssl_context)
        pid = owner_pid(srv, ws.local_address[1])
        if pid in chosen or pid in avoid:
            spare.append(ws)
        else:
            chosen[pid] = ws
        if len(chosen) == count:
            break
    for ws in spare:
        await ws.close()
    assert len(chosen) == count, f"{attempts} connections landed on workers {set(chosen)} only"
    return [(ws, pid) for pid, ws in chosen.items()]


async def recv(ws, timeout: float = READ_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def expect_quiet(ws, timeout: float = 0.3) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.recv(), timeout)


def workers_of(srv, count: int, timeout: float = 8.0, exclude: set[int] = frozenset()) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = berth.child_pids(srv.proc.pid) - set(exclude)
        if len(pids) == count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"expected {count} workers, have {berth.child_pids(srv.proc.pid)}")


# ------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------

def test_broadcast_reaches_clients_on_other_workers(berth_server):
    srv = berth_server(chat_config())
    workers_of(srv, 2)

    async def scenario():
        (a, pa), (b, pb) = await clients_on_distinct_workers(srv)
        assert pa != pb
        await a.send("hello from a")
        assert await recv(a) == "hello from a"  # the sender too (Skitai's demo)
        assert await recv(b) == "hello from a"
        await b.send(b"\x00\x01binary\xff")
        assert await recv(a) == b"\x00\x01binary\xff"  # binary stays binary
        assert await recv(b) == b"\x00\x01binary\xff"
        # Another app is another room: nothing crosses.
        other = await connect(srv, "/other")
        await other.send("elsewhere")
        assert await recv(other) == "elsewhere"
        await expect_quiet(a)
        await expect_quiet(b)
        # A burst keeps its order within one sender.
        for i in range(50):
            await a.send(f"m{i}")
        assert [await recv(b) for _ in range(50)] == [f"m{i}" for i in range(50)]
        assert [await recv(a) for _ in range(50)] == [f"m{i}" for i in range(50)]
        # The stats add up over the workers.
        apps = json.loads(srv.request("GET", "/stats").body)["apps"]
        assert apps["chat.open"] == 2, apps
        assert apps["chat.messages_in"] == 52, apps
        assert apps["chat.messages_out"] == 104, apps
        assert apps["other.open"] == 1, apps
        # The master relayed each of the 53 messages to the one other worker.
        status = berth.run_cli("status", "-c", str(srv.conf_path)).output
        assert "broadcast relay: 2 channel(s), 53 message(s) relayed, 0 dropped" in status, status
        for ws in (a, b, other):
            await ws.close()

    asyncio.run(scenario())


def test_several_threads_per_worker_all_receive(berth_server):
    srv = berth_server(chat_config(workers=2, threads=2))
    workers_of(srv, 2)

    async def scenario():
        clients = [await connect(srv) for _ in range(8)]
        await clients[0].send("to everyone")
        for ws in clients:
            assert await recv(ws) == "to everyone"
        for ws in clients:
            await ws.close()

    asyncio.run(scenario())


def test_single_process_chat(berth_server):
    srv = berth_server(chat_config(workers=0))

    async def scenario():
        a = await connect(srv)
        b = await connect(srv)
        await a.send("one process")
        assert await recv(a) == "one process"
        assert await recv(b) == "one process"
        await a.close()
        await b.close()

    asyncio.run(scenario())


def _raw_upgrade(port: int, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _closed_within(sock: socket.socket, timeout: float) -> bool:
    """Reads (and discards) until EOF or reset; False if the server still holds it open."""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 16):
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False


def test_client_that_never_reads_is_closed_and_others_keep_receiving(berth_server):
    srv = berth_server(chat_config())
    workers_of(srv, 2)
    slow = _raw_upgrade(srv.port)

    async def scenario():
        (a, _), (b, _) = await clients_on_distinct_workers(srv)
        payload = os.urandom(32 * 1024)  # incompressible: deflate can't hide the volume
        count = 400  # 12.8 MB: far past the kernel's buffers (~4 MB) and send_buffer_bytes

        # In step: the talkers read as fast as the room talks, so only the silent client
        # falls behind.
        for i in range(count):
            await a.send(payload)
            assert await recv(a, 15) == payload, f"message {i}"
            assert await recv(b, 15) == payload, f"message {i}"
        await a.send("still chatting")
        assert await recv(b) == "still chatting"
        assert await recv(a) == "still chatting"
        await a.close()
        await b.close()

    asyncio.run(scenario())
    # The slow client was closed (1008 after its send buffer overflowed, then dropped at the
    # close timeout since it never answers): what it finally reads ends in EOF.
    assert _closed_within(slow, 15), "the client that never reads is still connected"
    slow.close()


def test_killed_worker_is_replaced_and_joins_the_chat(berth_server):
    srv = berth_server(chat_config())
    first = workers_of(srv, 2)

    async def scenario():
        (a, pa), (b, pb) = await clients_on_distinct_workers(srv)
        os.kill(pa, signal.SIGKILL)
        # a's connection died with its worker.
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(a.recv(), READ_TIMEOUT)
        replacement = workers_of(srv, 2, exclude={pa}) - {pb}
        assert len(replacement) == 1 and not (replacement & first - {pb})
        (pnew,) = replacement
        # b, on the surviving worker, still chats; a client on the new worker joins.
        (c, pc), = await clients_on_distinct_workers(srv, 1, avoid={pb})
        assert pc == pnew
        await c.send("from the new worker")
        assert await recv(b) == "from the new worker"
        assert await recv(c) == "from the new worker"
        await b.send("from the old one")
        assert await recv(c) == "from the old one"
        assert await recv(b) == "from the old one"
        await b.close()
        await c.close()

    asyncio.run(scenario())


def test_reload_says_going_away_and_the_new_workers_chat(berth_server):
    srv = berth_server(chat_config())
    old = workers_of(srv, 2)

    async def scenario():
        a = await connect(srv)
        os.kill(srv.proc.pid, signal.SIGHUP)
        # The old generation drains: its WebSockets are told 1001 at once, so clients reconnect
        # to the new workers instead of being cut at graceful_timeout (6 s here).
        started = time.monotonic()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(a.recv(), 5)
        assert closed.value.code == 1001, closed.value
        assert time.monotonic() - started < 4
        new = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(new) < 2:
            new = berth.child_pids(srv.proc.pid) - old
            await asyncio.sleep(0.05)
        assert len(new) == 2, berth.child_pids(srv.proc.pid)
        (n, pn), (m, pm) = await clients_on_distinct_workers(srv, 2, avoid=old)
        assert {pn, pm} == new
        await n.send("new generation")
        assert await recv(m) == "new generation"
        assert await recv(n) == "new generation"
        await n.close()
        await m.close()

    asyncio.run(scenario())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
def test_chat_over_tls_across_workers(berth_server, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "k.pem", "-out",
                    "c.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    srv = berth_server(chat_config() + f"""
[tls]
enabled = yes
cert = {tmp_path}/c.pem
key = {tmp_path}/k.pem
""")
    workers_of(srv, 2)
    ctx = ssl.create_default_context(cafile=str(tmp_path / "c.pem"))

    async def scenario():
        (a, _), (b, _) = await clients_on_distinct_workers(srv, ssl_context=ctx)
        await b.send("over tls")
        assert await recv(a) == "over tls"
        assert await recv(b) == "over tls"
        await a.close()
        await b.close()

    asyncio.run(scenario())
