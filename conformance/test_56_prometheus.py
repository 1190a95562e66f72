"""Layer 56: berth.stats as Prometheus text exposition (?format=prometheus), single process.

The exposition is read with a strict parser of format 0.0.4: every line is a HELP/TYPE comment
or a `name{labels} value` sample, every sample belongs to a family announced by # TYPE, a
family's lines are contiguous, and histogram buckets are cumulative and end in le="+Inf" equal
to _count.
"""

from __future__ import annotations

import json
import math
import re

import pytest

import berth

CONFIG = """
[routes:line]
/echo = echo
/heartbeat = heartbeat
/stats = stats

[app:echo]
call = berth.echo

[app:heartbeat]
call = berth.heartbeat

[app:stats]
call = berth.stats
"""

CONTENT_TYPE = "text/plain; version=0.0.4"

_COMMENT = re.compile(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class Exposition:
    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.samples: list[tuple[str, dict[str, str], float]] = []

    def value(self, metric: str, /, **labels: str) -> float:
        found = [v for n, l, v in self.samples if n == metric and l == labels]
        assert len(found) == 1, (metric, labels, found)
        return found[0]

    def series(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(l, v) for n, l, v in self.samples if n == name]


def parse_labels(text: str, line: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        assert m, f"bad labels at {pos}: {line!r}"
        key = m.group(1)
        assert key not in labels, f"label twice: {line!r}"
        value = m.group(2)
        labels[key] = (value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\"))
        pos = m.end()
        if m.group(3) == ",":
            assert pos < len(text), f"trailing comma: {line!r}"
    return labels


def parse_value(text: str, line: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text), f"bad value: {line!r}"
    return float(text)


def family_of(name: str, types: dict[str, str]) -> str | None:
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base
    return None


def parse_exposition(body: bytes) -> Exposition:
    text = body.decode("utf-8")
    assert text.endswith("\n"), "exposition must end with a newline"
    exp = Exposition()
    current: str | None = None
    closed: set[str] = set()

    def enter(family: str, line: str) -> None:
        nonlocal current
        if family != current:
            assert family not in closed, f"family {family} split in two: {line!r}"
            if current is not None:
                closed.add(current)
            current = family

    for line in text[:-1].split("\n"):
        assert line == line.strip() and line, f"blank or padded line: {line!r}"
        if line.startswith("#"):
            m = _COMMENT.match(line)
            assert m, f"bad comment line: {line!r}"
            kind, family, rest = m.groups()
            enter(family, line)
            if kind == "TYPE":
                assert rest in _TYPES, f"unknown type: {line!r}"
                assert family not in exp.types, f"second TYPE: {line!r}"
                exp.types[family] = rest
            else:
                exp.helps[family] = rest
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value_text = m.groups()
        family = family_of(name, exp.types)
        assert family is not None, f"sample before its # TYPE: {line!r}"
        assert family == current, f"sample outside its family's block: {line!r}"
        exp.samples.append((name, parse_labels(labels_text or "", line), parse_value(value_text, line)))

    for family, kind in exp.types.items():
        assert family in exp.helps, f"no # HELP for {family}"
        if kind != "histogram":
            continue
        groups: dict[tuple, list[tuple[float, float]]] = {}
        for labels, value in exp.series(family + "_bucket"):
            rest = dict(labels)
            le = rest.pop("le")
            groups.setdefault(tuple(sorted(rest.items())), []).append((parse_value(le, le), value))
        assert groups, f"histogram {family} has no buckets"
        for key, buckets in groups.items():
            bounds = [b for b, _ in buckets]
            counts = [c for _, c in buckets]
            assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), (family, key)
            assert counts == sorted(counts), f"{family}{key} buckets not cumulative: {counts}"
            assert math.isinf(bounds[-1]), f"{family}{key} does not end with le=+Inf"
            assert exp.value(family + "_count", **dict(key)) == counts[-1], (family, key)
            assert exp.value(family + "_sum", **dict(key)) >= 0, (family, key)
    return exp


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG)


def scrape(srv) -> Exposition:
    resp = srv.request("GET", "/stats?format=prometheus")
    assert resp.status == 200, resp
    assert (resp.header("content-type") or "").startswith(CONTENT_TYPE), resp
    return parse_exposition(resp.body)


def test_exposition_parses_and_names_the_builtins(srv):
    exp = scrape(srv)
    for name, kind in [("berth_requests_total", "counter"),
                       ("berth_responses_total", "counter"),
                       ("berth_bytes_received_total", "counter"),
                       ("berth_bytes_sent_total", "counter"),
                       ("berth_active_connections", "gauge"),
                       ("berth_start_time_seconds", "gauge"),
                       ("berth_request_duration_seconds", "histogram")]:
        assert exp.types.get(name) == kind, (name, exp.types.get(name))
    assert {l["class"] for l, _ in exp.series("berth_responses_total")} == {
        "1xx", "2xx", "3xx", "4xx", "5xx"}
    assert exp.value("berth_start_time_seconds") > 1.6e9
    # Single process: one worker, this server's pid.
    info = exp.series("berth_worker_info")
    assert len(info) == 1 and info[0][0]["pid"] == str(srv.proc.pid), info
    assert info[0][0]["state"] == "running"


def test_requests_and_classes_add_up(srv):
    n_ok, n_missing, n_echo = 12, 5, 3
    before = scrape(srv)
    for _ in range(n_ok):
        assert srv.request("GET", "/heartbeat").status == 200
    for _ in range(n_missing):
        assert srv.request("GET", "/not-routed").status == 404
    for _ in range(n_echo):
        assert srv.request("POST", "/echo", body=b"hello").status == 200
    n = n_ok + n_missing + n_echo

    # A request is counted when its response is done, a moment after the client has it.
    def counted() -> bool:
        return scrape(srv).value("berth_requests_total") - before.value("berth_requests_total") >= n

    assert berth.wait_until(counted, timeout=3.0, interval=0.1)
    after = scrape(srv)
    assert after.value("berth_requests_total") >= n
    delta = {c: after.value("berth_responses_total", **{"class": c})
             - before.value("berth_responses_total", **{"class": c})
             for c in ("1xx", "2xx", "3xx", "4xx", "5xx")}
    assert delta["2xx"] >= n_ok + n_echo and delta["4xx"] >= n_missing, delta
    # Every answered request has exactly one status class (one event-loop thread: nothing is
    # counted while the scrape is being written).
    classes = sum(v for _, v in after.series("berth_responses_total"))
    assert classes == after.value("berth_requests_total"), (classes, after.value("berth_requests_total"))
    assert after.value("berth_request_duration_seconds_count") == after.value("berth_requests_total")
    assert after.value("berth_bytes_received_total") > before.value("berth_bytes_received_total")
    assert after.value("berth_bytes_sent_total") > before.value("berth_bytes_sent_total")
    assert after.value("berth_app_stat_total", name="echo.requests") >= n_echo
    # The single worker's series carry the same counts.
    assert after.value("berth_worker_requests_total", worker="0") == after.value("berth_requests_total")


def test_json_has_workers_and_agrees(srv):
    resp = srv.request("GET", "/stats")
    assert resp.status == 200
    stats = json.loads(resp.body)
    assert len(stats["workers"]) == 1, stats["workers"]
    worker = stats["workers"][0]
    assert worker["pid"] == srv.proc.pid and worker["state"] == "running"
    assert worker["values"]["requests"] == stats["requests"]
    assert sum(stats["status"].values()) == stats["requests"]
    assert "sum_us" in stats["latency"]


def test_unknown_format_is_rejected(srv):
    assert srv.request("GET", "/stats?format=xml").status == 400
    assert srv.request("GET", "/stats?format=json").status == 200
