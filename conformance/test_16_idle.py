"""Issue 16, idle: a berthd with nothing to do sleeps. The log writers sleep until a line comes,
the event-loop threads tick once a second (the watchdog's heartbeat) when no timeout is near,
and no timer flushes the logs from the main threads: an idle master and its workers wake a few
times a second in all, with a keep-alive connection held open (was about 165 times a second
for one worker: four log writers and three 100 ms timers per process).
"""

from __future__ import annotations

import time
from pathlib import Path

import berth

CONFIG = """
[server]
workers = 2

[routes:line]
/hello = hello

[app:hello]
call = berth.heartbeat
"""


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for p in pids:
        for task in Path(f"/proc/{p}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(c) for c in children if int(c) not in pids)
    return pids


def _sleeps(root: int) -> dict[str, int]:
    """Voluntary context switches (each a wake-up from a sleep) per thread of the tree."""
    counts: dict[str, int] = {}
    for pid in _tree(root):
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                status = (task / "status").read_text()
                name = (task / "comm").read_text().strip()
            except OSError:
                continue  # a thread that just ended
            for line in status.splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    counts[f"{pid}/{task.name} {name}"] = int(line.split()[1])
    return counts


def test_an_idle_server_sleeps(berth_server):
    srv = berth_server(CONFIG)
    srv.assert_serving("/hello")
    with srv.conn() as held:
        assert held.roundtrip(berth.build_request("GET", "/hello")).status == 200
        srv.request_log_lines("/hello")  # written: the writer parks one interval later
        time.sleep(0.5)
        before = _sleeps(srv.proc.pid)
        time.sleep(3.0)
        after = _sleeps(srv.proc.pid)
        woke = {t: after[t] - before[t] for t in after if t in before}
        # Three processes with an event-loop thread or a health check each, once a second:
        # about 10 in 3 s. A 100 ms timer in any one thread alone would make 30.
        assert sum(woke.values()) <= 24, sorted(woke.items(), key=lambda kv: -kv[1])
        # The held connection is still served after the quiet.
        assert held.roundtrip(berth.build_request("GET", "/hello")).status == 200
