"""Layer 94: the gateway's reverse proxy — `/path = @group` routes (docs/gateway.md).

Real members (conformance/proxymember.py) record what reaches them."""

from __future__ import annotations

import collections
import time

import pytest

import berth
from proxymember import dead_port, group_config


def body_of(resp) -> str:
    return resp.body.decode()


def distribution(srv, n: int, path: str = "/x") -> collections.Counter:
    seen = collections.Counter()
    for _ in range(n):
        resp = srv.request("GET", path)
        assert resp.status == 200, resp
        seen[body_of(resp).split()[0]] += 1
    return seen


def test_round_robin_with_weights(berth_server, members):
    a, b, c = members(3)
    srv = berth_server(group_config(f"{a.addr} weight=3, {b.addr}, {c.addr}"))
    seen = distribution(srv, 25)
    assert seen == {"member=m0": 15, "member=m1": 5, "member=m2": 5}


@pytest.mark.parametrize("balance", ["least_conn", "random_two"])
def test_other_algorithms_use_every_member(berth_server, members, balance):
    a, b = members(2)
    srv = berth_server(group_config(f"{a.addr}, {b.addr}", f"balance = {balance}"))
    seen = distribution(srv, 20)
    assert seen["member=m0"] >= 1 and seen["member=m1"] >= 1
    assert sum(seen.values()) == 20


def test_ip_hash_sticks_to_one_member(berth_server, members):
    a, b, c = members(3)
    srv = berth_server(group_config(f"{a.addr}, {b.addr}, {c.addr}", "balance = ip_hash"))
    seen = distribution(srv, 10)
    assert len(seen) == 1


def test_backup_only_when_primaries_down(berth_server, members):
    a, b = members(2)
    dead = dead_port()
    srv = berth_server(group_config(f"127.0.0.1:{dead}, {a.addr}, {b.addr} backup"))
    seen = distribution(srv, 6)
    assert seen == {"member=m0": 6}
    a.close()
    seen = distribution(srv, 4)
    assert seen == {"member=m1": 4}


def test_connect_refused_is_retried_on_another_member(berth_server, members):
    (a,) = members(1)
    dead = dead_port()
    srv = berth_server(group_config(f"127.0.0.1:{dead}, {a.addr}", "fail_timeout = 30s"))
    for _ in range(4):
        resp = srv.request("GET", "/r")
        assert resp.status == 200 and body_of(resp).startswith("member=m0")
    # server.log is written off the event loop: wait for the line.
    assert berth.wait_until(lambda: "member 127.0.0.1:%d down" % dead in srv.server_log(), 5)


def test_all_members_down_answers_503_at_once(berth_server):
    srv = berth_server(group_config(f"127.0.0.1:{dead_port()}, 127.0.0.1:{dead_port()}",
                                    "fail_timeout = 30s\nretries = 1"))
    first = srv.request("GET", "/")
    assert first.status in (502, 503)
    started = time.monotonic()
    resp = srv.request("GET", "/")
    assert resp.status == 503
    assert resp.header("Retry-After") == "30"
    assert time.monotonic() - started < 1.0


def test_slow_member_gives_504(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr, "response_timeout = 300ms\nretries = 0"))
    started = time.monotonic()
    resp = srv.request("GET", "/slow?ms=2000", timeout=5)
    assert resp.status == 504
    assert time.monotonic() - started < 1.8


def test_member_named_by_dns_is_resolved_again_in_the_background(berth_server, members):
    (a,) = members(1)
    # "localhost" goes through getaddrinfo; with a short interval the background lookups run
    # between requests, which keep being served from the address at hand.
    srv = berth_server(group_config(f"localhost:{a.port}", "resolve_interval = 100ms"))
    deadline = time.monotonic() + 0.6
    served = 0
    while time.monotonic() < deadline:
        assert srv.request("GET", "/x").status == 200
        served += 1
    assert served > 3


def test_limits_response_timeout_is_the_groups_default(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr, "retries = 0")
                       + "\n[limits]\nresponse_timeout = 300ms\n")
    started = time.monotonic()
    assert srv.request("GET", "/slow?ms=2000", timeout=5).status == 504
    assert time.monotonic() - started < 1.8


def test_hop_by_hop_and_forwarded_headers(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr, "via = yes"))
    resp = srv.request("GET", "/hop?q=1", host="site.example", headers=[
        ("Connection", "X-Secret, keep-alive"), ("X-Secret", "1"), ("Keep-Alive", "300"),
        ("TE", "trailers"), ("Proxy-Authorization", "Basic eA=="), ("X-Forwarded-For", "6.6.6.6"),
        ("Forwarded", "for=6.6.6.6"), ("X-Other", "kept")])
    assert resp.status == 200 and resp.body == b"hop"
    # Response side: hop-by-hop and Connection-named fields dropped, the rest kept.
    assert resp.header("X-Kept") == "yes"
    for name in ("X-Private", "Keep-Alive", "Proxy-Authenticate", "Upgrade"):
        assert resp.header(name) is None, name
    got = a.requests[-1]
    names = {k.lower() for k, _ in got["headers"]}
    for name in ("x-secret", "keep-alive", "te", "proxy-authorization", "connection"):
        assert name not in names, name
    hdr = dict((k.lower(), v) for k, v in got["headers"])
    assert got["target"] == "/hop?q=1"
    assert hdr["host"] == "site.example"
    assert hdr["x-other"] == "kept"
    # Not from a trusted proxy: replaced, never appended to.
    assert hdr["x-forwarded-for"] == "127.0.0.1"
    assert hdr["x-forwarded-proto"] == "http"
    assert hdr["x-forwarded-host"] == "site.example"
    assert hdr["forwarded"] == "for=127.0.0.1;proto=http;host=site.example"
    assert hdr["via"] == "1.1 berth"
    assert hdr["x-berth-txn"] == resp.header("X-Berth-Txn")


def test_trusted_proxy_chain_is_kept(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr), server={"trusted_proxies": "127.0.0.1"})
    resp = srv.request("GET", "/", headers=[("X-Forwarded-For", "203.0.113.7"),
                                             ("X-Forwarded-Proto", "https")])
    assert resp.status == 200
    hdr = dict((k.lower(), v) for k, v in a.requests[-1]["headers"])
    assert hdr["x-forwarded-for"] == "203.0.113.7"
    assert hdr["x-forwarded-proto"] == "https"


def test_host_member_and_strip_prefix(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr, "host = member\nstrip_prefix = yes",
                                    route="/api = @g"))
    resp = srv.request("GET", "/api/users/1?x=2")
    assert resp.status == 200
    got = a.requests[-1]
    assert got["target"] == "/users/1?x=2"
    assert dict((k.lower(), v) for k, v in got["headers"])["host"] == a.addr


def test_keepalive_reuses_upstream_connections(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr))
    for _ in range(10):
        assert srv.request("GET", "/k").status == 200
    assert a.count() == 10
    assert a.connections <= 2


def test_chunked_request_and_response_reframed(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr))
    resp = srv.request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")],
                       body=berth.chunked(b"hello ", b"world"))
    assert resp.status == 200
    assert body_of(resp).startswith("11 ")
    resp = srv.request("GET", "/chunked?n=25000")
    assert resp.status == 200 and resp.body == b"y" * 25000
    head = srv.request("HEAD", "/big?n=1234")
    assert head.status == 200 and head.header("Content-Length") == "1234" and head.body == b""


def test_expect_continue_passes_through(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr))
    with srv.conn() as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        interim = c.recv_response("POST")
        assert interim.status == 100
        c.send(b"hello")
        resp = c.recv_final("POST")
    assert resp.status == 200 and body_of(resp).startswith("5 ")
    assert not any(k.lower() == "expect" for k, _ in a.requests[-1]["headers"])


def test_member_killed_mid_stream_truncates(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr))
    with srv.conn(timeout=5) as c:
        c.send(berth.build_request("GET", "/die?n=100000"))
        with pytest.raises(berth.NoResponse):
            c.recv_response()
    srv.assert_serving()


@pytest.mark.parametrize("raw", [
    # CL.TE: refused or re-framed; the G never reaches the member as a request.
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nG" + b"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    # TE.CL
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
    b"8\r\nSMUGGLED\r\n0\r\n\r\n",
    # Duplicate Content-Length
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    # obs-fold
    b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n",
    # bare LF inside a field
    b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\nTransfer-Encoding: chunked\r\n\r\n",
])
def test_smuggling_reaches_member_as_at_most_one_normalised_request(berth_server, members, raw):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr))
    with srv.conn() as c:
        c.send(raw)
        c.read_until_close(timeout=1.0)
    assert a.count() <= 1
    for got in a.requests:
        assert "smuggled" not in got["target"].lower()
        raw_head = got["raw"]
        assert b"\n" not in raw_head.replace(b"\r\n", b"")
        te = [v for k, v in got["headers"] if k.lower() == "transfer-encoding"]
        cl = [v for k, v in got["headers"] if k.lower() == "content-length"]
        assert len(te) + len(cl) <= 1


def test_max_conns_queues_then_503(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(f"{a.addr} max_conns=1", "queue_timeout = 300ms"))
    import threading
    results = {}

    def slow():
        results["slow"] = srv.request("GET", "/slow?ms=1500", timeout=5).status

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    queued = srv.request("GET", "/q", timeout=5)
    waited = time.monotonic() - started
    t.join()
    assert results["slow"] == 200
    assert queued.status == 503 and queued.header("Retry-After") == "1"
    assert 0.25 <= waited < 1.2
    # Once the slot is free again, requests go through.
    assert srv.request("GET", "/q").status == 200


def test_every_client_protocol_reaches_the_group(berth_server, members, transport):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr), tls=True)
    resp = srv.fetch("POST", "/upload", transport=transport, body=b"x" * 70000)
    assert resp.status == 200
    assert resp.body.decode().startswith("70000 ")
    resp = srv.fetch("GET", "/big?n=300000", transport=transport)
    assert resp.status == 200 and len(resp.body) == 300000


def test_tls_members_verified(berth_server, members):
    import ssl
    certs = berth.throwaway_certs()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{certs}/localhost.pem", f"{certs}/localhost.key")
    sni_seen = []
    ctx.sni_callback = lambda sock, name, _ctx: sni_seen.append(name)
    (member,) = members("tls", tls_context=ctx)
    good = berth_server(group_config(member.addr.replace("127.0.0.1", "localhost"),
                                     f"ssl = yes\nssl_ca = {certs}/ca.pem"))
    resp = good.request("GET", "/secure")
    assert resp.status == 200 and body_of(resp).startswith("member=tls")
    assert "localhost" in sni_seen
    # The system store does not know the throwaway CA: refused, 502.
    bad = berth_server(group_config(member.addr, "ssl = yes\nretries = 0"))
    assert bad.request("GET", "/secure").status == 502
    # ssl_verify = no opts out.
    lax = berth_server(group_config(member.addr, "ssl = yes\nssl_verify = no"))
    assert lax.request("GET", "/secure").status == 200


def test_member_state_in_stats_and_metrics(berth_server, members):
    (a,) = members(1)
    dead = dead_port()
    srv = berth_server(group_config(f"{a.addr}, 127.0.0.1:{dead}", "fail_timeout = 30s",
                                    stats=True))
    for _ in range(4):
        assert srv.request("GET", "/x").status == 200
    text = srv.request("GET", "/stats").body.decode()
    assert f'"gw:@g:{a.addr}:requests"' in text
    assert f'"gw:@g:127.0.0.1:{dead}:down"' in text
    stats = __import__("json").loads(text)

    def find(name):
        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == name and isinstance(v, (int, float)):
                        yield v
                    yield from walk(v)
            elif isinstance(node, list):
                for v in node:
                    yield from walk(v)
        return list(walk(stats))

    assert 4 in find(f"gw:@g:{a.addr}:requests")
    assert 1 in find(f"gw:@g:127.0.0.1:{dead}:down")
    assert 1 in find(f"gw:@g:127.0.0.1:{dead}:failures")
    metrics = srv.request("GET", "/metrics").body.decode()
    assert f"gw:@g:{a.addr}:requests" in metrics


def test_workers_and_threads(berth_server, members):
    a, b = members(2)
    srv = berth_server(group_config(f"{a.addr}, {b.addr}"), server={"workers": 2, "threads": 2})
    seen = distribution(srv, 20)
    assert sum(seen.values()) == 20 and len(seen) == 2


def test_websocket_upgrade_is_tunnelled(berth_server, members):
    import base64
    import hashlib
    (a,) = members(1)
    srv = berth_server(group_config(a.addr))
    key = base64.b64encode(b"0123456789abcdef").decode()
    with srv.conn(timeout=5) as c:
        c.send(("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        resp = c.recv_response()
        assert resp.status == 101
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert resp.header("Sec-WebSocket-Accept") == accept
        payload = b"\x81\x85\x01\x02\x03\x04" + bytes(b ^ m for b, m in zip(b"hello", b"\x01\x02\x03\x04\x01"))
        c.send(payload)
        deadline = time.monotonic() + 3
        while len(c.buf) < len(payload) and c._fill(deadline):
            pass
        assert c.buf == payload
    got = a.requests[-1]
    hdr = dict((k.lower(), v) for k, v in got["headers"])
    assert hdr["upgrade"] == "websocket" and hdr["sec-websocket-key"] == key


@pytest.mark.parametrize("group, key, message", [
    ("members = 127.0.0.1", "members", "expected host:port"),
    ("members = weight=2 127.0.0.1:5000", "members", "before any member"),
    ("members = 127.0.0.1:5000\nbalance = fastest", "balance", "expected round_robin"),
    ("members =", "members", "no member given"),
])
def test_bad_group_is_reported_at_its_line(tmp_path, group, key, message):
    path, text = berth.write_conf(tmp_path, f"[routes:line]\n/ = @g\n\n[@g]\n{group}\n")
    r = berth.run_cli("check", "-c", str(path), timeout=10)
    assert r.returncode == 1, r
    line = berth.line_of(text, f"{key} =")
    assert f"berth.conf:{line}:" in r.output and message in r.output, r


def test_route_to_missing_group_is_reported(tmp_path):
    path, text = berth.write_conf(tmp_path, "[routes:line]\n/ = @nowhere\n")
    r = berth.run_cli("check", "-c", str(path), timeout=10)
    assert r.returncode == 1 and "[@nowhere]" in r.output, r


@pytest.mark.parametrize("workers", [0, 2])
def test_active_health_checks_evict_and_restore(berth_server, members, workers):
    a, b = members(2)
    srv = berth_server(group_config(f"{a.addr}, {b.addr}",
                                    "health_check = /health\nhealth_interval = 100ms\n"
                                    "rise = 2\nfall = 2\nmax_fails = 0"),
                       server={"workers": workers})
    assert berth.wait_until(lambda: sum(1 for r in a.requests if r["target"] == "/health") >= 2, 5)
    assert len(distribution(srv, 10)) == 2
    a.health_status = 503
    assert berth.wait_until(lambda: "member %s down (health check" % a.addr in srv.server_log(), 5)
    assert distribution(srv, 10) == {"member=m1": 10}
    a.health_status = 200
    up_line = "member %s up (health check" % a.addr
    assert berth.wait_until(lambda: srv.server_log().count(up_line) == 2, 5)  # at start, now
    assert len(distribution(srv, 10)) == 2
    # One place polls, not every worker: about one check per interval.
    before = sum(1 for r in b.requests if r["target"] == "/health")
    time.sleep(1.0)
    checks = sum(1 for r in b.requests if r["target"] == "/health") - before
    assert 5 <= checks <= 13, checks


def test_websocket_over_http2_is_tunnelled(berth_server, members):
    pytest.importorskip("h2")
    from test_82_ws_over_h2 import H2
    (a,) = members(1)
    srv = berth_server(group_config(a.addr))
    srv.h2_tls = False
    c = H2(srv)
    try:
        sid = c.connect("/ws")
        assert c.status(sid) == 200
        c.send(sid, b"raw tunnel bytes")
        c.pump(lambda: bytes(c.data.get(sid, b"")) == b"raw tunnel bytes")
    finally:
        c.close()
    got = a.requests[-1]
    assert got["method"] == "GET" and got["target"] == "/ws"
    hdr = dict((k.lower(), v) for k, v in got["headers"])
    assert hdr["upgrade"] == "websocket" and hdr["sec-websocket-version"] == "13"
    assert "sec-websocket-key" in hdr and "transfer-encoding" not in hdr


def test_timeout_on_a_reused_connection(berth_server, members):
    (a,) = members(1)
    srv = berth_server(group_config(a.addr, "response_timeout = 300ms\nretries = 0\n"
                                            "keepalive_timeout = 30s"))
    assert srv.request("GET", "/warm").status == 200  # leaves an idle pooled connection
    started = time.monotonic()
    assert srv.request("GET", "/slow?ms=2000", timeout=5).status == 504
    assert time.monotonic() - started < 1.8
