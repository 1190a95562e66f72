"""Layer 63: berth.log_collector — the receiving end of Python's logging.handlers.HTTPHandler.
Driven by the real handler from the standard library (POST and GET, records with and without an
exception), then both files are read: `file` (one JSON object per line) and `file`.txt (the
readable form). Also the size cap, other methods, and basic auth in front of it."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import logging.handlers
import time
import uuid

import pytest

import berth

# Reuse the bcrypt helper of the basic-auth layer.
from test_62_basic_auth import bcrypt_hash, basic  # noqa: E402

CONFIG = """
[routes:line]
/log = collector
/small = small
/secure-log = auth secured

[app:collector]
call = berth.log_collector
file = {tmp}/collected.jsonl

[app:small]
call = berth.log_collector
file = {tmp}/small.jsonl
max_bytes = 1K

[app:secured]
call = berth.log_collector
file = {tmp}/secured.jsonl

[app:auth]
call = berth.basic_auth
auth_path = {tmp}/users
allow_insecure = yes
"""


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, files={"users": f"logger {bcrypt_hash('s3cret')}\n"})


def make_logger(srv, method: str, path: str = "/log", credentials=None,
                formatter_first: bool = False) -> tuple[logging.Logger, list[logging.Handler]]:
    logger = logging.getLogger(f"berthtest.{uuid.uuid4().hex[:8]}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handlers: list[logging.Handler] = []
    if formatter_first:
        # A handler that formats first fills record.exc_text (and record.message), as in an
        # application that logs to a file and to the collector.
        handlers.append(logging.StreamHandler(io.StringIO()))
    handlers.append(logging.handlers.HTTPHandler(f"127.0.0.1:{srv.port}", path, method=method,
                                                 credentials=credentials))
    for h in handlers:
        logger.addHandler(h)
    return logger, handlers


def read_records(path, contains: str, count: int = 1, timeout: float = 3.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            lines = [l for l in path.read_text().splitlines() if contains in l]
        except FileNotFoundError:
            lines = []
        if len(lines) >= count or time.monotonic() > deadline:
            return [json.loads(l) for l in lines]
        time.sleep(0.05)


def text_lines(path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_http_handler_records(srv, method):
    logger, _ = make_logger(srv, method)
    mark = uuid.uuid4().hex
    before = time.time()
    logger.warning("disk %s at %d%% " + mark, "sda", 93)
    records = read_records(srv.tmp / "collected.jsonl", mark)
    assert len(records) == 1, records
    r = records[0]
    assert r["name"] == logger.name
    assert r["levelname"] == "WARNING" and r["levelno"] == 30
    assert r["msg"] == "disk %s at %d%% " + mark
    assert r["args"] == "('sda', 93)"
    assert r["pathname"] == __file__
    assert isinstance(r["lineno"], int) and r["lineno"] > 0
    assert isinstance(r["created"], float) and abs(r["created"] - before) < 60
    assert isinstance(r["process"], int) and r["process"] > 0
    assert isinstance(r["thread"], int)
    assert r["exc_info"] is None and r["exc_text"] is None
    assert r["funcName"] == "test_http_handler_records"
    # Keys in the order the handler sent them (the LogRecord's __dict__ order).
    assert list(r)[:3] == ["name", "msg", "args"]

    text = [l for l in text_lines(srv.tmp / "collected.jsonl.txt") if mark in l]
    assert len(text) == 1, text
    stamp = dt.datetime.fromtimestamp(r["created"]).strftime("%Y-%m-%d %H:%M:%S")
    assert text[0].startswith(stamp + ","), text[0]
    assert f" WARNING {logger.name} [{__file__}:{r['lineno']}] disk %s at %d%% {mark}" \
        in text[0], text[0]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_exception_record(srv, method):
    logger, _ = make_logger(srv, method, formatter_first=True)
    mark = uuid.uuid4().hex
    try:
        raise ValueError(f"broken {mark}")
    except ValueError:
        logger.exception("failed with\nsecond line %s", mark)
    records = read_records(srv.tmp / "collected.jsonl", mark)
    assert len(records) == 1, records
    r = records[0]
    assert r["levelname"] == "ERROR"
    assert r["exc_text"].startswith("Traceback (most recent call last):")
    assert r["exc_text"].rstrip().endswith(f"ValueError: broken {mark}")
    assert r["message"] == f"failed with\nsecond line {mark}"
    assert "ValueError" in r["exc_info"]

    lines = text_lines(srv.tmp / "collected.jsonl.txt")
    first = next(i for i, l in enumerate(lines) if " ERROR " in l and "failed with" in l
                 and i + 1 < len(lines) and mark in lines[i + 1])
    assert lines[first + 1] == f"    second line {mark}"
    assert lines[first + 2] == "    Traceback (most recent call last):"
    block = []
    for l in lines[first + 2:]:
        if not l.startswith("    "):
            break
        block.append(l)
    assert block[-1] == f"    ValueError: broken {mark}", block


def test_exception_without_formatter_keeps_exc_info(srv):
    logger, _ = make_logger(srv, "POST")
    mark = uuid.uuid4().hex
    try:
        raise KeyError(mark)
    except KeyError:
        logger.exception("lookup failed %s", mark)
    r = read_records(srv.tmp / "collected.jsonl", mark)[0]
    assert r["exc_text"] is None
    assert "KeyError" in r["exc_info"]
    lines = text_lines(srv.tmp / "collected.jsonl.txt")
    i = next(i for i, l in enumerate(lines) if "lookup failed" in l and mark in l)
    assert lines[i + 1].startswith("    exc_info: (<class 'KeyError'>"), lines[i + 1]


def test_many_records_one_line_each(srv):
    logger, _ = make_logger(srv, "POST")
    mark = uuid.uuid4().hex
    for n in range(20):
        logger.info("record %d %s", n, mark)
    records = read_records(srv.tmp / "collected.jsonl", mark, count=20)
    assert sorted(r["args"] for r in records) == sorted(f"({n}, '{mark}')" for n in range(20))


def test_over_max_bytes_is_413(srv):
    mark = uuid.uuid4().hex
    body = f"msg={mark}&pad=".encode() + b"x" * 2000
    resp = srv.request("POST", "/small", body=body,
                       headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert resp.status == 413, resp
    resp = srv.request("GET", f"/small?msg={mark}&pad=" + "y" * 2000)
    assert resp.status == 413, resp
    assert read_records(srv.tmp / "small.jsonl", mark, timeout=0.3) == []
    # Within the cap it is collected.
    resp = srv.request("POST", "/small", body=f"msg={mark}".encode(),
                       headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert resp.status == 200, resp
    assert len(read_records(srv.tmp / "small.jsonl", mark)) == 1


@pytest.mark.parametrize("method,status", [("PUT", 405), ("DELETE", 405)])
def test_other_methods(srv, method, status):
    resp = srv.request(method, "/log", body=b"msg=x")
    assert resp.status == status, resp
    assert resp.header("allow") == "GET, POST"


def test_wrong_body_type_is_415(srv):
    resp = srv.request("POST", "/log", body=b'{"msg": "x"}',
                       headers=[("Content-Type", "application/json")])
    assert resp.status == 415, resp


def test_basic_auth_in_front(srv):
    mark = uuid.uuid4().hex
    anonymous, _ = make_logger(srv, "POST", path="/secure-log")
    anonymous.error("anonymous %s", mark)
    authed, _ = make_logger(srv, "POST", path="/secure-log", credentials=("logger", "s3cret"))
    authed.error("authenticated %s", mark)
    records = read_records(srv.tmp / "secured.jsonl", mark)
    assert [r["msg"] for r in records] == ["authenticated %s"], records
    lines = srv.request_log_lines(contains="/secure-log", count=2)
    users = {berth.parse_request_log_line(l)["user"] for l in lines}
    assert users == {"-", "logger"}, lines
    resp = srv.request("POST", "/secure-log", body=b"msg=x", headers=[basic("logger", "bad")])
    assert resp.status == 401
