"""Layer 95: configuration through the admin API — read with its hash as ETag, validate with
file:line diagnostics, apply with If-Match under a running request loop, refusals that change
nothing (422, 412), history and rollback."""

from __future__ import annotations

import threading
import time

import admin
import berth


def files_of(srv):
    r = admin.call(srv, "GET", "/config")
    assert r.status == 200, r
    return r.json(), r.headers["etag"]


def main_file(config):
    return config["files"][0]


def test_config_read_masks_secrets_for_read_tokens(berth_server):
    srv = admin.start(berth_server)
    config, etag = files_of(srv)
    assert etag == f'"{config["hash"]}"' and len(config["hash"]) == 64
    assert main_file(config)["path"] == str(srv.conf_path)
    assert "[admin]" in main_file(config)["text"]
    assert config["secrets_masked"] is False
    read = admin.call(srv, "GET", "/config", token=admin.READ_TOKEN).json()
    assert read["secrets_masked"] is True and read["hash"] == config["hash"]


def test_validate_returns_file_line_diagnostics(berth_server):
    srv = admin.start(berth_server)
    config, _ = files_of(srv)
    text = main_file(config)["text"] + "\n[limits]\nheader_timeout = 3x\n"
    r = admin.call(srv, "POST", "/config/validate",
                   {"files": [{"path": str(srv.conf_path), "text": text}]}, token=admin.READ_TOKEN)
    assert r.status == 200, r
    body = r.json()
    assert body["valid"] is False
    errors = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert errors and errors[0]["file"] == str(srv.conf_path)
    assert errors[0]["line"] == berth.line_of(text, "header_timeout = 3x")
    assert "header_timeout" in errors[0]["message"]
    same = {"files": [{"path": str(srv.conf_path), "text": main_file(config)["text"]}]}
    assert admin.call(srv, "POST", "/config/validate", same).json()["valid"] is True
    other = {"files": [{"path": "/etc/x", "text": ""}]}
    assert admin.call(srv, "POST", "/config/validate", other).status == 400


def test_apply_valid_config_under_a_request_loop_then_rollback(berth_server):
    srv = admin.start(berth_server, workers=2)
    config, etag = files_of(srv)
    failures: list[str] = []
    done = threading.Event()
    count = [0]

    def loop():
        while not done.is_set():
            try:
                r = srv.request("GET", "/hb")
                if r.status != 200:
                    failures.append(str(r.status))
            except Exception as e:  # noqa: BLE001 - any failure counts
                failures.append(repr(e))
            count[0] += 1

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        time.sleep(0.3)
        text = (main_file(config)["text"].replace("/hb = hb", "/hb = hb\n/echo = echo")
                + "\n[app:echo]\ncall = berth.echo\n")
        r = admin.call(srv, "PUT", "/config",
                       {"files": [{"path": str(srv.conf_path), "text": text}]},
                       headers={"If-Match": etag})
        assert r.status == 200, r
        body = r.json()
        assert body["result"] == "ready" and body["generation"] == config["generation"] + 1
        time.sleep(0.3)
    finally:
        done.set()
        worker.join()
    assert not failures, failures[:5]
    assert count[0] > 5
    assert srv.conf_path.read_text() == text
    assert srv.request("POST", "/echo", body=b"hi").status == 200
    history = admin.call(srv, "GET", "/config/history").json()["history"]
    assert [h["generation"] for h in history][:2] == [body["generation"], config["generation"]]
    assert history[0]["who"] == "ops"
    backups = list((srv.tmp / "admin-history").glob("*-berth.conf"))
    assert len(backups) == 1 and backups[0].read_text() == main_file(config)["text"]
    audit = srv.log_path("admin-audit.log")
    assert berth.wait_until(lambda: "PUT /api/v1/config" in audit.read_text(), 5)

    # Rollback to the first generation: /echo is gone again.
    r = admin.call(srv, "POST", f"/config/rollback/{config['generation']}")
    assert r.status == 200, r
    assert r.json()["rolled_back_to"] == config["generation"]
    assert srv.conf_path.read_text() == main_file(config)["text"]
    assert srv.request("POST", "/echo", body=b"hi").status == 404
    assert admin.call(srv, "POST", "/config/rollback/999").status == 404


def test_apply_invalid_is_422_and_changes_nothing(berth_server):
    srv = admin.start(berth_server)
    config, etag = files_of(srv)
    before = srv.conf_path.read_text()
    text = before + "\n[limits]\nheader_timeout = 3x\n"
    r = admin.call(srv, "PUT", "/config", {"files": [{"path": str(srv.conf_path), "text": text}]},
                   headers={"If-Match": etag})
    assert r.status == 422, r
    details = r.json()["error"]["details"]
    assert any(d["line"] == berth.line_of(text, "header_timeout = 3x") for d in details)
    assert srv.conf_path.read_text() == before
    assert admin.call(srv, "GET", "/info").json()["generation"] == config["generation"]
    assert srv.request("GET", "/hb").status == 200


def test_if_match_conflict_is_412(berth_server):
    srv = admin.start(berth_server)
    config, etag = files_of(srv)
    body = {"files": [{"path": str(srv.conf_path), "text": main_file(config)["text"]}]}
    assert admin.call(srv, "PUT", "/config", body).status == 428
    # Changed by hand on disk after the read.
    srv.conf_path.write_text(srv.conf_path.read_text() + "\n# edited by hand\n")
    r = admin.call(srv, "PUT", "/config", body, headers={"If-Match": etag})
    assert r.status == 412 and r.json()["error"]["code"] == "conflict"
    assert "# edited by hand" in srv.conf_path.read_text()
    assert admin.call(srv, "PUT", "/config", body, token=admin.READ_TOKEN,
                      headers={"If-Match": etag}).status == 403


def test_reload_and_stop(berth_server):
    srv = admin.start(berth_server)
    generation = admin.call(srv, "GET", "/info").json()["generation"]
    r = admin.call(srv, "POST", "/reload")
    assert r.status == 200 and r.json()["generation"] == generation + 1, r
    assert admin.call(srv, "POST", "/stop").status == 202
    srv.stopped = True  # the exit is intended
    assert berth.wait_until(lambda: srv.proc.poll() is not None, 10)
    assert srv.proc.returncode == 0


def _canary(srv, text: str, window: str = "2s"):
    config, etag = files_of(srv)
    r = admin.call(srv, "PUT", f"/config?canary={window}",
                   {"files": [{"path": str(srv.conf_path), "text": text}]},
                   headers={"If-Match": etag})
    assert r.status == 202, r
    assert r.json()["result"] == "canary" and r.json()["canary"]["state"] == "watching"
    return config, r.json()


def _verdict(srv, timeout: float = 15):
    state = {}

    def finished():
        state.update(admin.call(srv, "GET", "/config/canary").json())
        return state.get("state") != "watching"

    assert berth.wait_until(finished, timeout, 0.2), state
    return state


def test_healthy_canary_rolls_forward(berth_server):
    srv = admin.start(berth_server, workers=2)
    config, _ = files_of(srv)
    text = (main_file(config)["text"].replace("/hb = hb", "/hb = hb\n/echo = echo")
            + "\n[app:echo]\ncall = berth.echo\n")
    _, answer = _canary(srv, text)
    # One worker of the new generation serves beside the two old ones.
    http = [c for c in admin.call(srv, "GET", "/children").json()["children"]
            if c["kind"] == "http" and c["state"] in ("running", "starting")]
    assert len(http) == 3, http
    assert [c["pid"] for c in http].count(answer["canary_pid"]) == 1, (http, answer)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert srv.request("GET", "/hb").status == 200
    verdict = _verdict(srv)
    assert verdict["state"] == "rolled_forward", verdict
    assert verdict["crashes"] == 0 and verdict["new_requests"] > 0
    assert srv.conf_path.read_text() == text
    assert srv.request("POST", "/echo", body=b"x").status == 200
    audit = srv.log_path("admin-audit.log")
    assert berth.wait_until(lambda: "canary rolled_forward" in audit.read_text(), 5)


def test_crashing_canary_rolls_back_by_itself(berth_server):
    srv = admin.start(berth_server, workers=2, env={"BERTH_TEST_APPS": "1"})
    config, _ = files_of(srv)
    text = (main_file(config)["text"].replace("/hb = hb", "/hb = hb\n/boom = boom")
            + "\n[app:boom]\ncall = berth.fault\nmode = crash\n")
    _canary(srv, text, "10s")
    # Only the canary has /boom (the old workers answer 404): ask until it gets one.
    statuses = set()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and \
            admin.call(srv, "GET", "/config/canary").json()["state"] == "watching":
        try:
            statuses.add(srv.request("GET", "/boom").status)
        except Exception:  # noqa: BLE001 - the canary dies under the request
            statuses.add("died")
    verdict = _verdict(srv)
    assert 404 in statuses, statuses  # the old generation kept serving beside the canary
    assert verdict["state"] == "rolled_back", verdict
    assert verdict["crashes"] >= 1 and "crashed" in verdict["reason"]
    assert srv.conf_path.read_text() == main_file(config)["text"]
    assert berth.wait_until(lambda: srv.request("GET", "/boom").status == 404, 5)
    assert srv.request("GET", "/hb").status == 200
