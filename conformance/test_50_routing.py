"""Layer 50: routing — longest-prefix mounts on segment boundaries, virtual hosts (exact,
`.domain`, `*.domain`), the default host, absolute-form targets, pipelines, 404."""

from __future__ import annotations

import pytest

from berth import build_request

CONFIG = """
[routes:line]
/echo = echo
/static = {tmp}/static
/pipe = echo heartbeat
/heartbeat = heartbeat
/ = {tmp}/default
@ vhost.test www.vhost.test
/ = {tmp}/vhost
/echo = echo3
@ .example.org
/ = {tmp}/org
@ *.wild.test
/ = {tmp}/wild
@ noroot.test
/only = echo

[app:echo]
call = berth.echo

[app:echo3]
call = berth.echo
max_echo = 3

[app:heartbeat]
call = berth.heartbeat
"""

FILES = {
    "default/id.txt": "default",
    "default/echoes": "default-echoes",
    "default/staticx.txt": "default-staticx",
    "default/heartbeats.txt": "default-heartbeats",
    "static/id.txt": "static",
    "vhost/id.txt": "vhost",
    "org/id.txt": "org",
    "wild/id.txt": "wild",
}


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files=FILES)


VHOSTS = [
    ("a", "default"),
    ("127.0.0.1", "default"),
    ("vhost.test", "vhost"),
    ("www.vhost.test", "vhost"),
    ("VHOST.Test", "vhost"),
    ("vhost.test:8080", "vhost"),
    ("www.vhost.test:1", "vhost"),
    ("sub.vhost.test", "default"),
    ("vhost.testx", "default"),
    ("example.org", "org"),
    ("a.example.org", "org"),
    ("a.b.example.org", "org"),
    ("EXAMPLE.ORG:443", "org"),
    ("notexample.org", "default"),
    ("example.org.evil", "default"),
    ("wild.test", "default"),
    ("x.wild.test", "wild"),
    ("X.Wild.Test:80", "wild"),
    ("y.x.wild.test", "wild"),
    ("xwild.test", "default"),
]


@pytest.mark.parametrize("host,expected", VHOSTS, ids=[h for h, _ in VHOSTS])
def test_vhost_selection(srv, host, expected):
    resp = srv.request("GET", "/id.txt", host=host)
    assert resp.status == 200, resp
    assert resp.body == expected.encode(), f"Host {host!r} routed to {resp.body!r}, expected {expected!r}"


def test_vhost_has_its_own_routes(srv):
    # /echo on vhost.test is echo3 (max_echo = 3), on the default host the full echo.
    assert srv.request("POST", "/echo", host="a", body=b"abcdef").body == b"abcdef"
    assert srv.request("POST", "/echo", host="vhost.test", body=b"abcdef").body == b"abc"


def test_matched_vhost_does_not_fall_back_to_default_routes(srv):
    assert srv.request("POST", "/only", host="noroot.test", body=b"hi").body == b"hi"
    resp = srv.request("GET", "/id.txt", host="noroot.test")
    assert resp.status == 404, resp
    assert resp.body.startswith(b"404"), resp


@pytest.mark.parametrize("target,host,expected", [
    ("http://vhost.test/id.txt", "a", "vhost"),
    ("http://VHOST.TEST:99/id.txt", "a", "vhost"),
    ("http://a/id.txt", "vhost.test", "default"),
    ("http://x.example.org/id.txt", "vhost.test", "org"),
], ids=["authority_wins", "authority_case_and_port", "authority_over_vhost_host", "authority_subdomain"])
def test_absolute_form_routes_by_its_authority(srv, target, host, expected):
    resp = srv.request("GET", target, host=host)
    assert resp.status == 200, resp
    assert resp.body == expected.encode(), resp


MOUNTS = [
    # (method, path, body sent, expected status, expected body)
    ("POST", "/echo", b"m1", 200, b"m1"),
    ("POST", "/echo/", b"m2", 200, b"m2"),
    ("POST", "/echo/deeper/path", b"m3", 200, b"m3"),
    ("POST", "/echo?q=1", b"m4", 200, b"m4"),
    ("GET", "/echoes", b"", 200, b"default-echoes"),
    ("GET", "/static/id.txt", b"", 200, b"static"),
    ("GET", "/staticx.txt", b"", 200, b"default-staticx"),
    ("GET", "/heartbeats.txt", b"", 200, b"default-heartbeats"),
    ("GET", "/id.txt", b"", 200, b"default"),
]


@pytest.mark.parametrize("method,path,body,status,expected", MOUNTS, ids=[m[1] for m in MOUNTS])
def test_longest_prefix_on_segment_boundary(srv, method, path, body, status, expected):
    resp = srv.request(method, path, body=body)
    assert resp.status == status, resp
    if status == 200:
        assert resp.body == expected, resp


def test_pipeline_first_app_answers(srv):
    resp = srv.request("POST", "/pipe", body=b"through the pipeline")
    assert resp.status == 200 and resp.body == b"through the pipeline", resp


def test_unrouted_path_is_404(srv):
    resp = srv.request("GET", "/nothing/here")
    assert resp.status == 404, resp
    assert resp.body.startswith(b"404 Not Found"), resp


def test_unrouted_path_without_catch_all_is_404(berth_server):
    srv = berth_server("[routes:line]\n/echo = echo\n[app:echo]\ncall = berth.echo\n")
    for path in ("/", "/other", "/ech", "/echoes"):
        resp = srv.request("GET", path)
        assert resp.status == 404, (path, resp)
        assert resp.body.startswith(b"404 Not Found"), resp
    assert srv.request("POST", "/echo", body=b"ok").body == b"ok"


def test_routing_survives_keepalive_host_changes(srv):
    with srv.conn() as c:
        for host, expected in (("vhost.test", b"vhost"), ("a", b"default"), ("b.example.org", b"org")):
            resp = c.roundtrip(build_request("GET", "/id.txt", host=host))
            assert resp.body == expected, (host, resp)
