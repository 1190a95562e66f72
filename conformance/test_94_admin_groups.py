"""Layer 94: the admin API's gateway groups — `GET /api/v1/groups` (each [@NAME] with its
members' state and the proxies' counters for them), `PUT .../members` (the members line
rewritten through the config apply path) and `POST .../members/M/drain` (docs/gateway.md)."""

from __future__ import annotations

import admin
import berth
from proxymember import dead_port


def test_groups_show_members_state_and_counters(berth_server, members):
    live, spare = members(2)
    dead = dead_port()
    extra = f"""
[@g]
members = 127.0.0.1:{dead}, {live.addr} weight=2, {spare.addr} backup
fail_timeout = 30s
"""
    srv = admin.start(berth_server, extra=extra, routes="/x = @g\n")
    for _ in range(4):
        resp = srv.request("GET", "/x")
        assert resp.status == 200 and resp.body.decode().startswith("member=m0"), resp

    def group_members():
        r = admin.call(srv, "GET", "/groups", token=admin.READ_TOKEN)
        assert r.status == 200, r
        [group] = r.json()["groups"]
        assert group["name"] == "g" and group["balance"] == "round_robin", group
        return {m["address"]: m for m in group["members"]}

    # The stats are published by the worker: wait until its counters show.
    assert berth.wait_until(lambda: group_members()[live.addr]["requests"] >= 4, 5), \
        group_members()
    seen = group_members()
    assert seen[f"127.0.0.1:{dead}"]["state"] == "down", seen
    assert seen[f"127.0.0.1:{dead}"]["failures"] >= 1, seen
    m0 = seen[live.addr]
    assert m0["state"] == "up" and m0["weight"] == 2 and m0["in_flight"] == 0, m0
    assert m0["latency_us"] > 0 and m0["failures"] == 0, m0
    assert seen[spare.addr]["state"] == "backup" and seen[spare.addr]["requests"] == 0, seen
    assert all(m["health"] == "unknown" for m in seen.values()), seen


def test_put_members_rewrites_the_line_and_reloads(berth_server, members):
    old, new = members(2)
    srv = admin.start(berth_server, extra=f"\n[@g]\nmembers = {old.addr}\n",
                      routes="/x = @g\n")
    assert srv.request("GET", "/x").body.decode().startswith("member=m0")
    r = admin.call(srv, "PUT", "/groups/g/members", {"members": [f"{new.addr} weight=2"]})
    assert r.status == 200 and r.json()["result"] == "ready", r
    assert f"members = {new.addr} weight=2" in srv.conf_path.read_text()
    assert berth.wait_until(
        lambda: srv.request("GET", "/x").body.decode().startswith("member=m1"), 10)
    # Invalid: 422 with the diagnostics, the file untouched; unknown group: 404.
    before = srv.conf_path.read_text()
    r = admin.call(srv, "PUT", "/groups/g/members", {"members": ["not-an-address"]})
    assert r.status == 422 and r.json()["error"]["details"], r
    assert srv.conf_path.read_text() == before
    assert admin.call(srv, "PUT", "/groups/g/members", {"members": ["a, b"]}).status == 400
    r = admin.call(srv, "PUT", "/groups/nope/members", {"members": [new.addr]})
    assert r.status == 404, r
    audit = srv.log_dir / "admin-audit.log"
    assert berth.wait_until(lambda: "/groups/g/members" in audit.read_text(), 5)


def test_drain_sends_no_new_requests_until_undone(berth_server, members):
    a, b = members(2)
    srv = admin.start(berth_server, extra=f"\n[@g]\nmembers = {a.addr}, {b.addr}\n",
                      routes="/x = @g\n")

    def served(n=4):
        return {srv.request("GET", "/x").body.decode().split()[0] for _ in range(n)}

    assert served() == {"member=m0", "member=m1"}
    r = admin.call(srv, "POST", f"/groups/g/members/{a.addr}/drain")
    assert r.status == 200 and r.json()["drained"] is True, r
    # Each worker looks the flag up at most once a second.
    assert berth.wait_until(lambda: served() == {"member=m1"}, 5)
    assert served(6) == {"member=m1"}
    group = admin.call(srv, "GET", "/groups").json()["groups"][0]
    assert [m["drained"] for m in group["members"]] == [True, False], group
    assert admin.call(srv, "POST", "/groups/g/members/10.9.9.9:1/drain").status == 404
    r = admin.call(srv, "POST", f"/groups/g/members/{a.addr}/drain?undo=1")
    assert r.status == 200 and r.json()["drained"] is False, r
    assert berth.wait_until(lambda: served() == {"member=m0", "member=m1"}, 5)
