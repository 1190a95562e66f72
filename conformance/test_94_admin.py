"""Layer 94: the admin API's listener and security (tokens, scopes, Host/Origin refusals, the
token file), its read endpoints (info, children, stats, the stats stream, logs and their
follow stream) and the audit trail."""

from __future__ import annotations

import json
import os
import signal
import stat
import time

import pytest

import admin
import berth


def test_token_file_is_created_0600_and_its_path_logged(berth_server):
    srv = admin.start(berth_server, tokens=False)
    path = srv.tmp / "admin.tokens"
    assert berth.wait_until(lambda: path.exists(), 5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [l for l in path.read_text().splitlines() if not l.startswith("#")]
    token, scope = lines[0].split()[:2]
    assert scope == "admin" and len(token) >= 32
    assert berth.wait_until(lambda: str(path) in srv.server_log(), 5), srv.server_log()
    assert token not in srv.server_log()
    assert admin.call(srv, "GET", "/info", token=token).status == 200


def test_tokens_and_scopes(berth_server):
    srv = admin.start(berth_server)
    r = admin.call(srv, "GET", "/info", token=None)
    assert r.status == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    r = admin.call(srv, "GET", "/info", token="wrong-token-0123456789")
    assert r.status == 403 and set(r.json()["error"]) == {"code", "message", "details"}
    assert admin.call(srv, "GET", "/info", token=admin.READ_TOKEN).status == 200
    r = admin.call(srv, "POST", "/reload", token=admin.READ_TOKEN)
    assert r.status == 403 and "admin token" in r.json()["error"]["message"]
    assert admin.call(srv, "GET", "/nope").status == 404
    assert admin.call(srv, "DELETE", "/info").status == 405
    r = admin.call(srv, "GET", "/groups", token=admin.READ_TOKEN)
    assert r.status == 200 and r.json() == {"groups": []}, r
    # Failures are CEF events.
    cef = srv.log_path("cef.log")
    assert berth.wait_until(lambda: cef.exists() and "AdminAuthFail" in cef.read_text(), 5)


def test_failures_are_rate_limited(berth_server):
    srv = admin.start(berth_server, extra="max_failures = 3")
    for _ in range(3):
        assert admin.call(srv, "GET", "/info", token="bad-token-0123456789").status == 403
    assert admin.call(srv, "GET", "/info", token="bad-token-0123456789").status == 429
    assert admin.call(srv, "GET", "/info").status == 429  # the address, not the token


def test_host_and_origin_refusals(berth_server):
    srv = admin.start(berth_server, extra="allowed_hosts = admin.example")
    assert admin.call(srv, "GET", "/info", headers={"Host": "evil.example"}).status == 403
    assert admin.call(srv, "GET", "/info", headers={"Host": "admin.example:1"}).status == 200
    assert admin.call(srv, "GET", "/info", headers={"Host": "localhost"}).status == 200
    # Another address is not the listener's (127.0.0.1).
    assert admin.call(srv, "GET", "/info", headers={"Host": "10.1.2.3"}).status == 403
    r = admin.call(srv, "GET", "/info", headers={"Origin": "http://evil.example"})
    assert r.status == 403 and r.json()["error"]["code"] == "origin_refused"
    assert "access-control-allow-origin" not in r.headers
    assert admin.call(srv, "GET", "/info", headers={"Sec-Fetch-Site": "cross-site"}).status == 403
    own = {"Origin": f"http://{berth.HOST}:{srv.admin_port}"}
    assert admin.call(srv, "GET", "/info", headers=own).status == 200


def test_info_children_stats_openapi(berth_server):
    srv = admin.start(berth_server, workers=2)
    for _ in range(5):
        assert srv.request("GET", "/hb").status == 200
    info = admin.call(srv, "GET", "/info").json()
    assert info["name"] == "test" and info["pid"] == srv.proc.pid
    assert info["generation"] >= 1 and len(info["config_sha256"]) == 64
    assert {s["kind"] for s in info["services"]} >= {"http", "admin"}
    # A worker reports "running" once it is ready; on a loaded machine the second one may still
    # be starting when the server as a whole answers.
    deadline = time.monotonic() + 15
    while True:
        children = admin.call(srv, "GET", "/children").json()["children"]
        running = [c for c in children if c["state"] == "running"]
        if len(running) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(c["kind"] for c in running) == ["admin", "http", "http"], children
    for c in running:
        assert c["pid"] > 0 and c["generation"] >= 1 and "threads" in c and c["restarts"] == 0
    assert sum(c["requests"] for c in running if c["kind"] == "http") >= 5
    stats = admin.call(srv, "GET", "/stats").json()
    assert stats["requests"] >= 5 and stats["status"]["2xx"] >= 5
    assert stats["latency_p50_ms"] > 0 and len(stats["children"]) == 2
    spec = admin.call(srv, "GET", "/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert spec["paths"]["/api/v1/config"]["put"]["x-berth-scope"] == "admin"
    assert spec["paths"]["/api/v1/config"]["put"]["x-berth-mutates"] is True


def test_stats_stream_ticks_and_rates(berth_server):
    srv = admin.start(berth_server)
    stream = admin.EventStream(srv, "/stats/stream?interval=500ms")
    try:
        events = stream.events(1.2)
        stop = time.monotonic() + 2.0
        sent = 0
        while time.monotonic() < stop:
            assert srv.request("GET", "/hb").status == 200
            sent += 1
        events += stream.events(1.0)
    finally:
        stream.close()
    assert len(events) >= 6, events  # >= 3 a second at 500 ms, over ~4 s
    snapshots = [json.loads(e["data"]) for e in events if e["event"] == "stats"]
    assert max(s["rates"]["requests_per_s"] for s in snapshots) > 0
    total = sum(s["rates"]["requests_per_s"] * s["interval_ms"] / 1000 for s in snapshots[1:])
    assert 0.5 * sent <= total <= 1.5 * sent + 5, (sent, total)


def test_stats_stream_default_interval_ticks_three_times_in_3_5_s(berth_server):
    srv = admin.start(berth_server)
    stream = admin.EventStream(srv, "/stats/stream")
    try:
        events = stream.events(3.5, until=lambda ev: len(ev) >= 3)
    finally:
        stream.close()
    assert len(events) >= 3


def test_log_tail_and_follow_across_usr1_after_rename(berth_server):
    srv = admin.start(berth_server)
    assert srv.request("GET", "/hb?tail-marker").status == 200
    names = [l["name"] for l in admin.call(srv, "GET", "/logs").json()["logs"]]
    assert {"server", "request", "app", "cef", "admin-audit"} <= set(names)
    assert berth.wait_until(lambda: any(
        "tail-marker" in l
        for l in admin.call(srv, "GET", "/logs/request?lines=5").json()["lines"]), 3)
    r = admin.call(srv, "GET", "/logs/request?lines=50&filter=tail-marker").json()
    assert r["lines"] and all("tail-marker" in l for l in r["lines"])

    stream = admin.EventStream(srv, "/logs/request?follow=1")
    try:
        stream.events(0.3)
        assert srv.request("GET", "/hb?follow-one").status == 200
        got = stream.events(2.0, until=lambda ev: any("follow-one" in e["data"] for e in ev))
        assert any("follow-one" in e["data"] for e in got), got
        offset = [e for e in got if "follow-one" in e["data"]][-1]["id"]
        assert int(offset) > 0
        os.rename(srv.log_path("request.log"), srv.log_path("request.log.1"))
        os.kill(srv.proc.pid, signal.SIGUSR1)
        assert berth.wait_until(lambda: srv.log_path("request.log").exists(), 5)
        assert srv.request("GET", "/hb?follow-two").status == 200
        got = stream.events(3.0, until=lambda ev: any("follow-two" in e["data"] for e in ev))
        assert any("follow-two" in e["data"] for e in got), got
    finally:
        stream.close()


def test_follow_resumes_from_last_event_id(berth_server):
    srv = admin.start(berth_server)
    assert srv.request("GET", "/hb?resume-one").status == 200
    assert berth.wait_until(lambda: "resume-one" in srv.log_path("request.log").read_text(), 3)
    text = srv.log_path("request.log").read_bytes()
    start = text.index(b"resume-one")
    start = text.rfind(b"\n", 0, start) + 1  # the byte offset where that line begins
    stream = admin.EventStream(srv, "/logs/request?follow=1", last_event_id=str(start))
    try:
        got = stream.events(2.0, until=lambda ev: any("resume-one" in e["data"] for e in ev))
    finally:
        stream.close()
    assert got and "resume-one" in got[0]["data"], got


def test_unknown_log_is_404(berth_server):
    srv = admin.start(berth_server)
    r = admin.call(srv, "GET", "/logs/nope")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"


def test_mutating_calls_are_audited(berth_server):
    srv = admin.start(berth_server)
    r = admin.call(srv, "POST", "/daemons/none/start")
    assert r.status == 404
    audit = srv.log_path("admin-audit.log")
    assert berth.wait_until(lambda: audit.exists() and "/daemons/none/start" in audit.read_text(), 5)
    line = [l for l in audit.read_text().splitlines() if "/daemons/none/start" in l][-1]
    assert 'who="ops"' in line and "from=127.0.0.1:" in line and "status=404" in line
    assert berth.wait_until(lambda: "admin-audit" in srv.server_log() and
                            "/daemons/none/start" in srv.server_log(), 5)
    result = berth.run_cli("log", "-c", str(srv.conf_path), "-s", "admin-audit")
    assert result.returncode == 0 and "/daemons/none/start" in result.output, result


def _raw_get(sock, path: str, token: str = admin.ADMIN_TOKEN, host: str = "localhost") -> bytes:
    sock.sendall((f"GET /api/v1{path} HTTP/1.0\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_unix_socket_listener_is_0660(berth_server):
    import socket as sockets
    port = berth.free_port()
    text = admin.config(port).replace(f"port = {port}\n", "unix = {tmp}/admin.sock\n", 1)
    srv = berth_server(text, files={"admin.tokens": f"{admin.ADMIN_TOKEN} admin ops\n"})
    path = srv.tmp / "admin.sock"
    assert berth.wait_until(path.exists, 10), srv.describe()
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
    with sockets.socket(sockets.AF_UNIX, sockets.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(path))
        answer = _raw_get(s, "/info")
    assert answer.startswith(b"HTTP/1.1 200") and b'"name":"test"' in answer, answer[:300]


def test_info_says_uptime_and_listeners(berth_server):
    srv = admin.start(berth_server)
    info = admin.call(srv, "GET", "/info").json()
    assert info["uptime_seconds"] >= 0 and info["started"].endswith("Z"), info
    assert any(f":{srv.port}" in l for l in info["listeners"]), info
    assert any(f":{srv.admin_port}" in l for l in info["admin_listeners"]), info


def test_a_vanished_follower_costs_no_cpu(berth_server):
    """A log follower that disappears (the console crashed: reset, no goodbye) is closed at
    once, not polled forever: the admin child stays idle."""
    import socket as sockets
    import struct
    srv = admin.start(berth_server)
    pid = [c["pid"] for c in admin.call(srv, "GET", "/children").json()["children"]
           if c["kind"] == "admin" and c["state"] == "running"][0]
    for _ in range(3):
        s = sockets.create_connection((berth.HOST, srv.admin_port), timeout=5)
        s.sendall((f"GET /api/v1/logs/server?follow=1 HTTP/1.1\r\nHost: localhost\r\n"
                   f"Authorization: Bearer {admin.ADMIN_TOKEN}\r\n\r\n").encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.shutdown(sockets.SHUT_WR)  # the peer's FIN first, then a reset
        time.sleep(0.1)
        s.setsockopt(sockets.SOL_SOCKET, sockets.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()

    def cpu_ticks() -> int:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    time.sleep(0.3)
    before = cpu_ticks()
    time.sleep(1.5)
    spent = cpu_ticks() - before
    # A connection spinning on EPOLLHUP burns the whole 1.5 s (~150 ticks).
    assert spent < 25, f"admin child used {spent} ticks in 1.5 s"
    assert admin.call(srv, "GET", "/info").status == 200


def test_tls_listener_with_the_tls_certificate(berth_server):
    import socket as sockets
    import ssl
    certs = berth.throwaway_certs()
    srv = admin.start(berth_server, extra=f"tls = yes\ncert = {certs}/localhost.pem\n"
                                          f"key = {certs}/localhost.key")
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with sockets.create_connection((berth.HOST, srv.admin_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            answer = _raw_get(s, "/info")
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


@pytest.mark.parametrize("mode", ["require", "optional"])
def test_tls_listener_with_client_certificates(berth_server, mode):
    """[admin] verify_client: mutual TLS on the control plane alone; the token is still needed."""
    import socket as sockets
    import ssl
    import subprocess
    certs = berth.throwaway_certs()
    client = certs / f"admin-client-{mode}"
    for args in (["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", f"{client}.key", "-out", f"{client}.csr", "-subj",
                  "/CN=ops"],
                 ["x509", "-req", "-in", f"{client}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                  "-CAcreateserial", "-days", "2", "-out", f"{client}.pem"]):
        subprocess.run(["openssl", *args], cwd=certs, check=True, capture_output=True,
                       timeout=60)
    srv = admin.start(berth_server, extra=f"tls = yes\ncert = {certs}/localhost.pem\n"
                                          f"key = {certs}/localhost.key\n"
                                          f"client_ca = {certs}/ca.pem\nverify_client = {mode}")

    def get(with_cert: bool, token: bool = True) -> bytes:
        context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        if with_cert:
            context.load_cert_chain(f"{client}.pem", f"{client}.key")
        with sockets.create_connection((berth.HOST, srv.admin_port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as s:
                auth = f"Authorization: Bearer {admin.ADMIN_TOKEN}\r\n" if token else ""
                s.sendall(f"GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1:{srv.admin_port}\r\n"
                          f"{auth}Connection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
                return data

    assert get(True).startswith(b"HTTP/1.1 200"), srv.describe()
    assert get(True, token=False).startswith(b"HTTP/1.1 401")
    if mode == "require":
        # TLS 1.3 reports a refused client certificate on the first read, not in the handshake.
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            if not get(False):
                raise ConnectionResetError("closed without a response")
    else:
        assert get(False).startswith(b"HTTP/1.1 200")
    # The public listener does not ask for a certificate.
    assert srv.request("GET", "/hb").status == 200


def test_check_names_a_bad_verify_client(tmp_path):
    text = admin.config(berth.free_port()) + "verify_client = sometimes\n"
    (tmp_path / "admin.tokens").write_text(f"{admin.ADMIN_TOKEN} admin ops\n")
    path = tmp_path / "berth.conf"
    path.write_text(text.replace("{tmp}", str(tmp_path)))
    r = berth.run_cli("check", "-c", str(path))
    assert r.returncode != 0
    line = berth.line_of(path.read_text(), "verify_client = sometimes")
    assert any("[admin] verify_client: 'sometimes'" in l
               for l in berth.diagnostic_lines(r, path, line)), r.stdout + r.stderr


def test_single_process_serves_reads_and_refuses_reload(berth_server):
    srv = admin.start(berth_server, workers=0)
    assert admin.call(srv, "GET", "/info").json()["pid"] == srv.proc.pid
    r = admin.call(srv, "POST", "/reload")
    assert r.status == 409 and r.json()["error"]["code"] == "no_master"


def test_daemon_actions_and_child_restart(berth_server):
    srv = admin.start(berth_server, extra="\n[daemon:sleeper]\ncommand = /bin/sleep 1000\n"
                                          "start_seconds = 200ms\nstop_timeout = 2s\n")

    def running(kind):
        return [c for c in admin.call(srv, "GET", "/children").json()["children"]
                if c["kind"] == kind and c["state"] == "running"]

    assert berth.wait_until(lambda: running("daemon"), 5)
    r = admin.call(srv, "POST", "/daemons/sleeper/stop")
    assert r.status == 200 and any("STOPPED" in l for l in r.json()["lines"]), r
    r = admin.call(srv, "POST", "/daemons/sleeper/start")
    assert r.status == 200 and any("RUNNING" in l for l in r.json()["lines"]), r
    assert admin.call(srv, "POST", "/daemons/sleeper/frobnicate").status == 404

    old = running("http")[0]["pid"]
    r = admin.call(srv, "POST", f"/children/{old}/restart")
    assert r.status == 202 and r.json()["service"] == "http:http", r
    assert berth.wait_until(lambda: [c["pid"] for c in running("http")] not in ([], [old]), 10)
    assert srv.request("GET", "/hb").status == 200
    assert admin.call(srv, "POST", "/children/1/restart").status == 404
