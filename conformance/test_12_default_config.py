"""Layer 12: the shipped default configuration (README's first command) validates and serves
the demo site, echo, heartbeat, stats, the sessions demo with SQLite as the embedded store, and
the chat page with its WebSocket."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests

import berth

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def test_default_config_validates():
    result = berth.run_cli("check", "-c", str(RESOURCES / "berth.conf"))
    assert result.returncode == 0, result
    assert "configuration OK" in result.output


def test_default_config_serves_everything(tmp_path):
    port = berth.free_port()
    # A second -c file overrides the port, log_dir and session store (later files win).
    override = tmp_path / "override.conf"
    override.write_text(f"[server]\nport = {port}\nlog_dir = {tmp_path}/logs\n"
                        f"[sessions]\nstore = sqlite:{tmp_path}/sessions.db\n")
    proc = subprocess.Popen([str(berth.binary_path()), "run", "-c", str(RESOURCES / "berth.conf"),
                             "-c", str(override)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        assert berth.wait_until(lambda: _up(base), 10), proc.stderr.read1().decode() if proc.poll() is not None else ""
        assert "Berth is serving" in requests.get(base + "/", timeout=5).text
        assert requests.post(base + "/echo", data=b"ping", timeout=5).content == b"ping"
        assert requests.get(base + "/__heartbeat__", timeout=5).text.strip() == "OK"
        assert "requests" in requests.get(base + "/stats", timeout=5).json()
        s = requests.Session()
        page = s.get(base + "/demo/", timeout=5)
        token = re.search(r'name="csrftoken" value="([^"]+)"', page.text).group(1)
        done = s.post(base + "/demo/setname", data={"name": "Ada", "csrftoken": token}, timeout=5)
        assert done.status_code == 200 and "Ada" in done.text
        assert requests.post(base + "/demo/setname", data={"name": "x"}, timeout=5).status_code == 403
        assert (tmp_path / "sessions.db").exists()
        chat = requests.get(base + "/chat/", timeout=5)
        assert chat.status_code == 200 and "/chat/ws" in chat.text
        assert asyncio.run(_chat_round_trip(f"ws://127.0.0.1:{port}/chat/ws")) == '{"from":"t12","text":"hi"}'
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _chat_round_trip(url: str) -> str:
    import websockets
    async with websockets.connect(url, open_timeout=5, close_timeout=2) as ws:
        await ws.send('{"from":"t12","text":"hi"}')
        # The chat broadcasts to everyone, the sender included.
        return await asyncio.wait_for(ws.recv(), 5)


def _up(base: str) -> bool:
    try:
        return requests.get(base + "/__heartbeat__", timeout=1).status_code == 200
    except requests.RequestException:
        return False
