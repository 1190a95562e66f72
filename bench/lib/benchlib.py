#!/usr/bin/env python3
"""Helpers for bench/run: parse wrk output, sum a process tree's RSS, hold idle keep-alive
connections, and turn the collected results into the markdown table.

    benchlib.py parse-wrk NAME SERVER < wrk-output     -> one JSON line on stdout
    benchlib.py rss PID...                             -> KiB of VmRSS over PIDs and descendants
    benchlib.py cpu PID...                             -> utime+stime ticks over the same tree
    benchlib.py cpustat PID...                         -> "utime stime vcsw ivcsw" over the tree
                                                          (ticks; context switches of every thread)
    benchlib.py idle PORT COUNT HOLD_FILE              -> opens COUNT keep-alive connections,
                                                          writes "ready" to HOLD_FILE, waits for
                                                          the file to be removed, then closes
    benchlib.py report RESULTS.jsonl [PROFILE.json]    -> the markdown table on stdout (medians
                                                          over runs; PROFILE: bench/run-profile's
                                                          JSON_OUT for the allocs/instr columns)
    benchlib.py parse-h2load NAME SERVER TITLE CPU_TICKS HZ < h2load-output -> one JSON line
    benchlib.py report-h2 RESULTS.jsonl                -> the HTTP/2 table (bench/run-h2)
"""

import json
import os
import re
import socket
import sys
import time


# --------------------------------------------------------------------------------------------
# wrk

def _to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(text):
    out = {"rps": None, "p50_ms": None, "p99_ms": None, "requests": None, "errors": 0,
           "non2xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, text, re.M)
        if m:
            out[key] = _to_ms(m.group(1), m.group(2))
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["errors"] = sum(int(g) for g in m.groups())
        out["socket_errors"] = m.group(0)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    return out


# --------------------------------------------------------------------------------------------
# h2load

def _h2load_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return _to_ms(m.group(1), m.group(2)) if m else None


def parse_h2load(text):
    out = {"rps": None, "requests": None, "succeeded": None, "failed": None, "errored": None,
           "mean_ms": None, "non2xx": 0}
    m = re.search(r"^finished in [\d.]+s, ([\d.]+) req/s", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if m:
        out["requests"] = int(m.group(3))
        out["succeeded"] = int(m.group(4))
        out["failed"] = int(m.group(5))
        out["errored"] = int(m.group(6))
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if m:
        out["non2xx"] = sum(int(g) for g in m.groups()[1:])
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if m:
        out["mean_ms"] = _h2load_ms(m.group(3))
    return out


# --------------------------------------------------------------------------------------------
# RSS

def _children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def tree_rss_kib(pids):
    seen, todo, total = set(), list(pids), 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
        todo += _children(pid)
    return total


# --------------------------------------------------------------------------------------------
# idle connections

def hold_idle(port, count, hold_file, path="/hello"):
    """Open `count` connections, one request each (so the server has parsed a request and the
    connection is a real keep-alive connection, not a fresh accept), and keep them open."""
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    socks = []
    failed = 0
    batch = 200  # connect a batch, then send on all, then read all: stays under the backlog
    started = time.monotonic()
    for first in range(0, count, batch):
        group = []
        for _ in range(min(batch, count - first)):
            s = socket.socket()
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(request)
                group.append(s)
            except OSError:
                failed += 1
                s.close()
        for s in group:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise OSError("closed")
                    data += chunk
                socks.append(s)
            except OSError:
                failed += 1
                s.close()
    with open(hold_file + ".tmp", "w") as f:
        json.dump({"open": len(socks), "failed": failed,
                   "seconds": round(time.monotonic() - started, 2)}, f)
    os.rename(hold_file + ".tmp", hold_file)
    deadline = time.monotonic() + 120  # never hold forever if the runner died
    while os.path.exists(hold_file) and time.monotonic() < deadline:
        time.sleep(0.1)
    for s in socks:
        s.close()


# --------------------------------------------------------------------------------------------
# Connection: close

def close_requests(port, path, count, conns=16):
    """`count` requests, each on a connection of its own with `Connection: close` (read until
    the server closes), `conns` at a time. Exits non-zero when any request did not get a
    complete 200: the figures per request would be wrong."""
    import threading
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
               % path).encode()
    left = [count]
    failed = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                    s.sendall(request)
                    data = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                if not data.startswith(b"HTTP/1.1 200"):
                    raise OSError("bad response")
            except OSError:
                with lock:
                    failed[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed[0]:
        sys.exit("%d of %d Connection: close requests failed" % (failed[0], count))


# --------------------------------------------------------------------------------------------
# report

def _fmt_rps(v):
    return "—" if v is None else "{:,.0f}".format(v)


def _fmt_ms(v):
    if v is None:
        return "—"
    return "%.2f ms" % v if v < 10 else "%.1f ms" % v


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def _fmt_ratio(r):
    return "—" if r is None else "%.2f×" % r


# The profile scenario (bench/run-profile) whose allocation and instruction figures stand for a
# bench/run row (busy: hello with the idle connections open; close: run-profile's own client,
# h2load does not reconnect); rows without one show "—".
PROFILE_FOR_ROW = {"hello64": "hello", "hello256": "hello", "busy10k": "busy",
                   "close": "close", "static1k": "static1k", "static1m": "static1m"}
# Rows with the issue #16 targets CPU/req ≤ 0.9× and req/s ≥ 1.0× (p99 ≤ 1.0× is every row's).
CPU_TARGET_ROWS = {"hello64", "hello256", "close", "static1k", "static1m", "busy10k"}


def _median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def _summarise(runs):
    """The median of each figure over a row's runs (RUNS), and the runs' errors."""
    def cpu_us(r):
        if not r.get("requests") or r.get("cpu_ticks") is None:
            return None
        return r["cpu_ticks"] * 1e6 / r["hz"] / r["requests"]
    def per_req(r, key, scale):
        if not r.get("requests") or r.get(key) is None:
            return None
        return r[key] * scale / r["requests"]
    out = {"usr_us": _median([per_req(r, "usr_ticks", 1e6 / r["hz"]) for r in runs]),
           "sys_us": _median([per_req(r, "sys_ticks", 1e6 / r["hz"]) for r in runs]),
           "vcsw": _median([per_req(r, "vcsw", 1.0) for r in runs]),
           "rps": _median([r.get("rps") for r in runs]),
           "p99_ms": _median([r.get("p99_ms") for r in runs]),
           "cpu_us": _median([cpu_us(r) for r in runs]),
           "runs": len(runs),
           "errors": sum(r.get("errors") or 0 for r in runs),
           "non2xx": sum(r.get("non2xx") or 0 for r in runs)}
    sockets = [r["socket_errors"] for r in runs if r.get("socket_errors") and r.get("errors")]
    if sockets:
        out["socket_errors"] = sockets[0]
    return out


def _fmt_us(v):
    return "—" if v is None else "%.1f µs" % v


def _fmt_count(v, form="{:,.0f}"):
    return "—" if v is None else form.format(v)


def report(path, profile_path=None):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    profile = json.load(open(profile_path)) if profile_path else {}
    wrk = {}
    order = []
    rss = {}
    for r in rows:
        if r.get("kind") == "wrk":
            if r["name"] not in wrk:
                order.append(r["name"])
                wrk[r["name"]] = {"title": r["title"], "target": r.get("target")}
            wrk[r["name"]].setdefault(r["server"], []).append(r)
        elif r.get("kind") == "rss":
            rss[r["server"]] = r
    lines = []
    lines.append("| scenario | nginx req/s | berthd req/s | ratio | nginx p99 | berthd p99 | ratio "
                 "| nginx CPU/req | berthd CPU/req | ratio | allocs/req nginx / berthd "
                 "| instr/req nginx / berthd | ratio | targets met? |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in order:
        row = wrk[name]
        n, b = _summarise(row.get("nginx", [])), _summarise(row.get("berthd", []))
        rr = _ratio(b.get("rps"), n.get("rps"))
        pr = _ratio(b.get("p99_ms"), n.get("p99_ms"))
        cr = _ratio(b.get("cpu_us"), n.get("cpu_us"))
        scenario = PROFILE_FOR_ROW.get(name)
        alloc_n = profile.get("nginx/%s/allocs" % scenario) if scenario else None
        alloc_b = profile.get("berthd/%s/allocs" % scenario) if scenario else None
        instr_n = profile.get("nginx/%s/instr" % scenario) if scenario else None
        instr_b = profile.get("berthd/%s/instr" % scenario) if scenario else None
        ir = _ratio(instr_b, instr_n)
        verdict = []

        def mark(ok, text):
            verdict.append(("yes" if ok else "**no**") + " " + text)
        if name in CPU_TARGET_ROWS:
            mark(cr is not None and cr <= 0.9, "CPU ≤0.9×")
            mark(rr is not None and rr >= 1.0, "req/s ≥1.0×")
        mark(pr is not None and pr <= 1.0, "p99 ≤1.0×")
        if alloc_b is not None and scenario != "static1m":
            mark(alloc_b <= 3.0, "allocs ≤3")
        if ir is not None:
            mark(ir <= 1.2, "instr ≤1.2×")
        title = row["title"]
        errs = []
        for server, r in (("nginx", n), ("berthd", b)):
            if r.get("errors") or r.get("non2xx"):
                errs.append("%s: %s%s" % (server, r.get("socket_errors", ""),
                                          (", non-2xx %d" % r["non2xx"]) if r.get("non2xx")
                                          else ""))
        if errs:
            title += " ⚠ " + "; ".join(errs)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s "
                     "| %s | %s |" % (
                         title, _fmt_rps(n.get("rps")), _fmt_rps(b.get("rps")), _fmt_ratio(rr),
                         _fmt_ms(n.get("p99_ms")), _fmt_ms(b.get("p99_ms")), _fmt_ratio(pr),
                         _fmt_us(n.get("cpu_us")), _fmt_us(b.get("cpu_us")), _fmt_ratio(cr),
                         _fmt_count(alloc_n, "{:.1f}"), _fmt_count(alloc_b, "{:.1f}"),
                         _fmt_count(instr_n), _fmt_count(instr_b), _fmt_ratio(ir),
                         "; ".join(verdict)))
    split = []
    for name in order:
        n, b = _summarise(wrk[name].get("nginx", [])), _summarise(wrk[name].get("berthd", []))
        if n.get("usr_us") is None and b.get("usr_us") is None:
            continue

        def sleeps(r):
            return "—" if r.get("vcsw") is None else "%.0f" % (r["vcsw"] * 1000.0)
        split.append("| %s | %s / %s | %s / %s | %s | %s |" % (
            wrk[name]["title"], _fmt_us(n.get("usr_us")), _fmt_us(n.get("sys_us")),
            _fmt_us(b.get("usr_us")), _fmt_us(b.get("sys_us")), sleeps(n), sleeps(b)))
    if split:
        lines.append("")
        lines.append("Where the CPU per request goes (medians; user / kernel time from /proc; "
                     "sleeps: voluntary context switches per 1,000 requests, summed over the "
                     "server's threads — a server that runs out of work sleeps in epoll_wait "
                     "and pays a wake-up):")
        lines.append("")
        lines.append("| scenario | nginx user / kernel | berthd user / kernel "
                     "| nginx sleeps | berthd sleeps |")
        lines.append("|---|---:|---:|---:|---:|")
        lines += split
    if rss:
        n, b = rss.get("nginx", {}), rss.get("berthd", {})
        lines.append("")
        lines.append("| memory (VmRSS summed over every process of the server) | nginx | berthd "
                     "| ratio | target met? |")
        lines.append("|---|---:|---:|---:|---|")

        def mib(kib):
            return "—" if kib is None else "%.1f MiB" % (kib / 1024.0)

        lines.append("| RSS before (after the load runs, no client connected) | %s | %s | %s | |"
                     % (mib(n.get("before_kib")), mib(b.get("before_kib")),
                        _fmt_ratio(_ratio(b.get("before_kib"), n.get("before_kib")))))
        lines.append("| RSS holding %s idle keep-alive connections | %s | %s | %s | |" % (
            "{:,}".format(b.get("connections") or n.get("connections") or 0),
            mib(n.get("after_kib")), mib(b.get("after_kib")),
            _fmt_ratio(_ratio(b.get("after_kib"), n.get("after_kib")))))
        per_n, per_b = n.get("per_conn_bytes"), b.get("per_conn_bytes")
        pr = _ratio(per_b, per_n)
        lines.append("| **RSS per idle connection** | %s | %s | %s | %s |" % (
            "—" if per_n is None else "%.0f B" % per_n,
            "—" if per_b is None else "%.0f B" % per_b, _fmt_ratio(pr),
            ("yes" if pr is not None and pr <= 2.0 else "**no**") + " ≤2×"))
        for server, r in (("nginx", n), ("berthd", b)):
            if r.get("failed"):
                lines.append("")
                lines.append("⚠ %s: %d of the idle connections failed to open or answer"
                             % (server, r["failed"]))
    return "\n".join(lines)


def report_h2(path):
    """bench/run-h2's table: one row per scenario, req/s and CPU per request for nginx, h2o and
    berthd, ratios berthd/nginx and berthd/h2o."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by, order = {}, []
    for r in rows:
        if r["name"] not in by:
            order.append(r["name"])
            by[r["name"]] = {"title": r["title"]}
        by[r["name"]][r["server"]] = r

    def cpu_us(r):
        if not r.get("succeeded") or r.get("cpu_ticks") is None:
            return None
        return r["cpu_ticks"] * 1e6 / r["hz"] / r["succeeded"]

    def fmt_us(v):
        return "—" if v is None else "%.1f µs" % v

    lines = ["| scenario | nginx req/s | h2o req/s | berthd req/s | ÷ nginx | ÷ h2o "
             "| nginx CPU/req | h2o CPU/req | berthd CPU/req | ÷ nginx | ÷ h2o | target met? |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name in order:
        row = by[name]
        n, o, b = row.get("nginx", {}), row.get("h2o", {}), row.get("berthd", {})
        rr, cr = _ratio(b.get("rps"), n.get("rps")), _ratio(cpu_us(b), cpu_us(n))
        verdict = "%s req/s ≥1.0×; %s CPU ≤1.0×" % (
            "yes" if rr is not None and rr >= 1.0 else "**no**",
            "yes" if cr is not None and cr <= 1.0 else "**no**")
        title = row["title"]
        errs = ["%s: %s failed, %s errored, %s non-2xx" % (s, r.get("failed"), r.get("errored"),
                                                          r.get("non2xx"))
                for s, r in (("nginx", n), ("h2o", o), ("berthd", b))
                if r.get("failed") or r.get("errored") or r.get("non2xx")]
        if errs:
            title += " ⚠ " + "; ".join(errs)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            title, _fmt_rps(n.get("rps")), _fmt_rps(o.get("rps")), _fmt_rps(b.get("rps")),
            _fmt_ratio(rr), _fmt_ratio(_ratio(b.get("rps"), o.get("rps"))),
            fmt_us(cpu_us(n)), fmt_us(cpu_us(o)), fmt_us(cpu_us(b)), _fmt_ratio(cr),
            _fmt_ratio(_ratio(cpu_us(b), cpu_us(o))), verdict))
    return "\n".join(lines)


def tree_cpu_ticks(pids):
    """utime+stime clock ticks over PIDs and their descendants."""
    utime, stime, _, _ = tree_cpu_detail(pids)
    return utime + stime


def tree_cpu_detail(pids):
    """utime and stime clock ticks and voluntary / involuntary context switches, summed over
    PIDs, their descendants and every thread of each (a thread that sleeps in epoll_wait and is
    woken again counts one voluntary switch: how often a server runs out of work)."""
    seen, todo = set(), list(pids)
    utime = stime = vcsw = ivcsw = 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            utime += int(fields[11])
            stime += int(fields[12])
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            vcsw += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            ivcsw += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
        todo += _children(pid)
    return utime, stime, vcsw, ivcsw


def main(argv):
    cmd = argv[1]
    if cmd == "parse-wrk":
        r = parse_wrk(sys.stdin.read())
        r.update({"kind": "wrk", "name": argv[2], "server": argv[3]})
        print(json.dumps(r))
    elif cmd == "rss":
        print(tree_rss_kib([int(p) for p in argv[2:]]))
    elif cmd == "cpu":
        print(tree_cpu_ticks([int(p) for p in argv[2:]]))
    elif cmd == "cpustat":
        print(" ".join(str(v) for v in tree_cpu_detail([int(p) for p in argv[2:]])))
    elif cmd == "idle":
        hold_idle(int(argv[2]), int(argv[3]), argv[4])
    elif cmd == "close":
        close_requests(int(argv[2]), argv[3], int(argv[4]))
    elif cmd == "report":
        print(report(argv[2], argv[3] if len(argv) > 3 else None))
    elif cmd == "parse-h2load":
        r = parse_h2load(sys.stdin.read())
        r.update({"kind": "h2load", "name": argv[2], "server": argv[3], "title": argv[4],
                  "cpu_ticks": int(argv[5]), "hz": int(argv[6])})
        print(json.dumps(r))
    elif cmd == "report-h2":
        print(report_h2(argv[2]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
