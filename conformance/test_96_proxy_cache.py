"""Layer 96: the gateway's response cache — `cache = ...` in a [@group] (docs/gateway.md).

A real member counts what reaches it; its responses are described by the query string:
cc= (Cache-Control), etag=, vary=, cookie=1, expires=SECONDS (relative, may be negative),
size=N (body bytes), delay=MS, status=N."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import berth
from proxymember import group_config


class CacheMember:
    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.connections: list = []
        self.lock = threading.Lock()
        member = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with member.lock:
                    member.connections.append(self.connection)

            def do_GET(self):
                self.answer(body=True)

            def do_HEAD(self):
                self.answer(body=False)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.answer(body=True)

            def answer(self, body: bool):
                with member.lock:
                    member.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()}))
                    n = len(member.requests)
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                if "delay" in q:
                    time.sleep(int(q["delay"]) / 1000)
                headers = []
                if "cc" in q:
                    headers.append(("Cache-Control", q["cc"]))
                if "vary" in q:
                    headers.append(("Vary", q["vary"]))
                if "cookie" in q:
                    headers.append(("Set-Cookie", "s=1"))
                if "expires" in q:
                    headers.append(("Expires", formatdate(time.time() + int(q["expires"]),
                                                          usegmt=True)))
                status = int(q.get("status", 200))
                if "etag" in q:
                    etag = f'"{q["etag"]}"'
                    headers.append(("ETag", etag))
                    if self.headers.get("If-None-Match") == etag:
                        status = 304
                if status == 304:
                    payload = b""
                elif "size" in q:
                    payload = b"x" * int(q["size"])
                else:
                    payload = f"n={n} lang={self.headers.get('Accept-Language')}".encode()
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body and status != 304:
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, path_prefix: str = "") -> int:
        with self.lock:
            return sum(1 for p, _ in self.requests if p.startswith(path_prefix))

    def last_headers(self) -> dict:
        with self.lock:
            return self.requests[-1][1]

    def close(self):
        """Stops listening and drops its keep-alive connections (a member that died)."""
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for c in self.connections:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def member():
    m = CacheMember()
    yield m
    m.close()


def cache_server(berth_server, member, extra: str = "", server=None):
    return berth_server(group_config(member.addr, f"cache = 60s\n{extra}"), server=server)


def get(srv, target, headers=(), method="GET"):
    return srv.request(method, target, headers=headers)


def q(**params) -> str:
    return "?" + urllib.parse.urlencode(params)


def test_miss_then_hit_with_age(berth_server, member):
    srv = cache_server(berth_server, member)
    path = "/a" + q(cc="max-age=60")
    first = get(srv, path)
    assert first.status == 200 and first.header("X-Cache") == "MISS"
    time.sleep(1.1)
    second = get(srv, path)
    assert second.status == 200 and second.header("X-Cache") == "HIT"
    assert second.body == first.body
    assert int(second.header("Age")) >= 1
    assert second.header("Cache-Control") == "max-age=60"
    assert member.count("/a") == 1
    head = get(srv, path, method="HEAD")
    assert head.header("X-Cache") == "HIT" and head.body == b""
    assert member.count("/a") == 1


def test_default_ttl_s_maxage_and_expires(berth_server, member):
    srv = cache_server(berth_server, member)
    for path in ["/plain", "/s" + q(cc="max-age=0, s-maxage=60"), "/e" + q(expires=60)]:
        get(srv, path)
        assert get(srv, path).header("X-Cache") == "HIT", path
    assert member.count() == 3
    for path in ["/past" + q(expires=-10), "/zero" + q(cc="max-age=0")]:
        get(srv, path)
        assert get(srv, path).header("X-Cache") != "HIT", path


@pytest.mark.parametrize("params", [dict(cc="no-store"), dict(cc="private, max-age=60"),
                                    dict(cookie=1), dict(vary="*"), dict(status=500)])
def test_not_stored(berth_server, member, params):
    srv = cache_server(berth_server, member)
    path = "/n" + q(**params)
    for _ in range(3):
        assert get(srv, path).header("X-Cache") == "MISS"
    assert member.count() == 3


def test_authorization_bypasses(berth_server, member):
    srv = cache_server(berth_server, member)
    auth = [("Authorization", "Bearer t")]
    assert get(srv, "/auth", auth).header("X-Cache") == "BYPASS"
    assert get(srv, "/auth").header("X-Cache") == "MISS"  # not stored from the authorised one
    assert get(srv, "/auth", auth).header("X-Cache") == "BYPASS"
    assert member.count() == 3
    shared = "/pub" + q(cc="public, max-age=60")
    get(srv, shared, auth)
    assert get(srv, shared).header("X-Cache") == "HIT"


def test_max_age_expiry(berth_server, member):
    srv = cache_server(berth_server, member)
    path = "/short" + q(cc="max-age=1")
    get(srv, path)
    assert get(srv, path).header("X-Cache") == "HIT"
    time.sleep(1.2)
    assert get(srv, path).header("X-Cache") == "MISS"
    assert member.count() == 2


def test_vary_variants(berth_server, member):
    srv = cache_server(berth_server, member)
    path = "/v" + q(vary="Accept-Language", cc="max-age=60")
    en, fr = [("Accept-Language", "en")], [("Accept-Language", "fr")]
    assert get(srv, path, en).header("X-Cache") == "MISS"
    assert get(srv, path, fr).header("X-Cache") == "MISS"
    hit = get(srv, path, en)
    assert hit.header("X-Cache") == "HIT" and b"lang=en" in hit.body
    hit = get(srv, path, fr)
    assert hit.header("X-Cache") == "HIT" and b"lang=fr" in hit.body
    assert member.count() == 2


def test_no_cache_revalidates_with_etag(berth_server, member):
    srv = cache_server(berth_server, member)
    path = "/r" + q(cc="no-cache", etag="v1")
    first = get(srv, path)
    assert first.header("X-Cache") == "MISS"
    second = get(srv, path)
    assert member.last_headers().get("if-none-match") == '"v1"'
    assert second.status == 200 and second.header("X-Cache") == "REVALIDATED"
    assert second.body == first.body
    assert member.count() == 2
    # A client's own no-cache revalidates a fresh entry too.
    fresh = "/f" + q(cc="max-age=60", etag="v2")
    get(srv, fresh)
    again = get(srv, fresh, [("Cache-Control", "no-cache")])
    assert again.header("X-Cache") == "REVALIDATED"
    assert member.last_headers().get("if-none-match") == '"v2"'


def test_fresh_hit_answers_conditional_requests_with_304(berth_server, member):
    srv = cache_server(berth_server, member)
    path = "/cond" + q(cc="max-age=60", etag="v7")
    first = get(srv, path)
    assert first.status == 200 and first.header("X-Cache") == "MISS"
    hit = get(srv, path, [("If-None-Match", 'W/"v7"')])
    assert hit.status == 304 and hit.header("X-Cache") == "HIT"
    assert hit.header("ETag") == '"v7"' and hit.header("Cache-Control") == "max-age=60"
    assert hit.header("Age") is not None and hit.body == b""
    other = get(srv, path, [("If-None-Match", '"v8"')])
    assert other.status == 200 and other.header("X-Cache") == "HIT"
    assert other.body == first.body
    assert member.count("/cond") == 1


def test_must_revalidate_and_stale_if_error(berth_server, member):
    srv = cache_server(berth_server, member)
    tolerant = "/t" + q(cc="max-age=1, stale-if-error=60")
    strict = "/m" + q(cc="max-age=1, must-revalidate, stale-if-error=60")
    get(srv, tolerant)
    get(srv, strict)
    member.close()
    time.sleep(1.2)
    stale = get(srv, tolerant)
    assert stale.status == 200 and stale.header("X-Cache") == "STALE"
    assert get(srv, strict).status in (502, 503, 504)


def test_only_if_cached(berth_server, member):
    srv = cache_server(berth_server, member)
    assert get(srv, "/o", [("Cache-Control", "only-if-cached")]).status == 504
    assert member.count() == 0


def test_collapsing(berth_server, member):
    srv = cache_server(berth_server, member, server={"workers": 2})
    path = "/slow" + q(delay=600, cc="max-age=60")
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: get(srv, path), range(20)))
    assert all(r.status == 200 for r in results)
    assert len({r.body for r in results}) == 1
    assert member.count() == 1


def test_shared_across_workers(berth_server, member):
    srv = cache_server(berth_server, member, server={"workers": 2, "threads": 2})
    path = "/w" + q(cc="max-age=60")
    assert get(srv, path).header("X-Cache") == "MISS"
    labels = [get(srv, path).header("X-Cache") for _ in range(30)]
    assert labels == ["HIT"] * 30
    assert member.count() == 1


def test_max_entry_and_lru_eviction(berth_server, member):
    srv = cache_server(berth_server, member, "cache_memory = 64K\ncache_max_entry = 16K")
    big = "/big" + q(size=20000)
    get(srv, big)
    assert get(srv, big).header("X-Cache") == "MISS"
    for i in range(10):  # 100K through a 64K cache: the oldest go
        get(srv, f"/e{i}" + q(size=10000))
    assert get(srv, "/e9" + q(size=10000)).header("X-Cache") == "HIT"
    assert get(srv, "/e0" + q(size=10000)).header("X-Cache") == "MISS"


def test_purge_from_loopback(berth_server, member):
    srv = cache_server(berth_server, member)
    path = "/p" + q(vary="Accept-Language")
    get(srv, path, [("Accept-Language", "en")])
    get(srv, path, [("Accept-Language", "fr")])
    assert get(srv, path, [("Accept-Language", "en")]).header("X-Cache") == "HIT"
    assert get(srv, path, method="PURGE").status == 200
    assert get(srv, path, [("Accept-Language", "en")]).header("X-Cache") == "MISS"
    assert get(srv, "/nothing", method="PURGE").status == 404


def test_unsafe_method_invalidates(berth_server, member):
    srv = cache_server(berth_server, member)
    get(srv, "/u")
    assert get(srv, "/u").header("X-Cache") == "HIT"
    assert srv.request("POST", "/u", body=b"x").status == 200
    assert get(srv, "/u").header("X-Cache") == "MISS"


def test_stale_while_revalidate_refreshes_in_background(berth_server, member):
    srv = cache_server(berth_server, member)
    path = "/swr" + q(cc="max-age=3, stale-while-revalidate=30")
    first = get(srv, path)
    time.sleep(3.1)
    stale = get(srv, path)
    assert stale.header("X-Cache") == "STALE" and stale.body == first.body
    assert berth.wait_until(lambda: member.count() == 2, 5)
    assert berth.wait_until(lambda: get(srv, path).header("X-Cache") == "HIT", 2)
    fresh = get(srv, path)
    assert b"n=2" in fresh.body
    assert member.count() == 2


def test_disk_tier_survives_a_restart(berth_server, member, tmp_path):
    srv = cache_server(berth_server, member, f"cache_dir = {tmp_path}/cache\ncache_disk = 1M",
                       server={"workers": 2})
    plain = "/d" + q(cc="max-age=60")
    varied = "/dv" + q(cc="max-age=60", vary="Accept-Language")
    assert get(srv, plain).header("X-Cache") == "MISS"
    assert get(srv, varied, [("Accept-Language", "en")]).header("X-Cache") == "MISS"
    srv.stop()
    srv.start()
    assert get(srv, plain).header("X-Cache") == "HIT"
    hit = get(srv, varied, [("Accept-Language", "en")])
    assert hit.header("X-Cache") == "HIT" and b"lang=en" in hit.body
    assert get(srv, varied, [("Accept-Language", "fr")]).header("X-Cache") == "MISS"
    assert member.count() == 3
    assert get(srv, plain, method="PURGE").status == 200
    srv.stop()
    srv.start()
    assert get(srv, plain).header("X-Cache") == "MISS"


def test_disk_tier_is_bounded(berth_server, member, tmp_path):
    srv = cache_server(berth_server, member, f"cache_dir = {tmp_path}/c\ncache_disk = 100K")
    for i in range(20):  # 200K through a 100K disk tier
        get(srv, f"/b{i}" + q(size=10000))
    total = sum(f.stat().st_size for f in (tmp_path / "c").rglob("*") if f.is_file())
    assert 0 < total <= 100 * 1024


def test_stats_and_metrics(berth_server, member):
    srv = berth_server(group_config(member.addr, "cache = 60s", stats=True))
    get(srv, "/s")
    get(srv, "/s")
    get(srv, "/s")
    get(srv, "/s", [("Authorization", "x")])
    text = srv.request("GET", "/stats").body.decode()
    for name in ["hits", "misses", "stored", "bypass"]:
        assert f'"cache:@g:{name}"' in text, name
    assert '"cache:@g:hits": 2' in text.replace('":2', '": 2')
    metrics = srv.request("GET", "/metrics").body.decode()
    assert "cache:@g:hits" in metrics


def test_admin_api_purge(berth_server, member):
    import admin

    srv = admin.start(berth_server, extra=f"\n[@g]\nmembers = {member.addr}\ncache = 60s\n",
                      routes="/x = @g\n")
    srv.request("GET", "/x/1")
    assert srv.request("GET", "/x/1").header("X-Cache") == "HIT"
    r = admin.call(srv, "POST", "/groups/g/purge?path=" + urllib.parse.quote("/x/1"))
    assert r.status == 200 and r.json()["purged"] == 1, r
    assert srv.request("GET", "/x/1").header("X-Cache") == "MISS"
    assert admin.call(srv, "POST", "/groups/nope/purge?path=/x").status == 404
