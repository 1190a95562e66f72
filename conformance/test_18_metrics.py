"""Issue 17, metrics: berth.metrics at /metrics (Prometheus text 0.0.4, or OpenMetrics 1.0.0 when
Accept prefers it), /stats?format=prometheus kept, the latency histogram (Prometheus' default
buckets, configurable latency_buckets), process_*, berth_build_info, per-app request counters.

The expositions are read by a parser written here: every line is a HELP/TYPE comment or a
`name{labels} value` sample of the family announced last; families are contiguous and announced
once; histograms have cumulative buckets ending in le="+Inf" equal to _count. In OpenMetrics
mode a counter family is named without `_total` (its samples with it), `_info` gauges are of
type info, and the text ends with exactly one `# EOF`.
"""

from __future__ import annotations

import math
import re
import time

import pytest

import berth

CONFIG = """
[routes:line]
/echo = echo
/metrics = metrics
/stats = stats
/slow = slow

[app:echo]
call = berth.echo

[app:metrics]
call = berth.metrics

[app:stats]
call = berth.stats

[app:slow]
call = berth.fault
mode = slow
delay = 300ms
"""

PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_COMMENT = re.compile(rf"^# (HELP|TYPE) ({_NAME}) (.+)$")
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)')
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
             "summary": ("", "_sum", "_count"), "info": ("_info",)}


class Exposition:
    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.samples: list[tuple[str, str, dict[str, str], float]] = []  # family, name, labels, v

    def value(self, name: str, /, **labels: str) -> float:
        found = [v for _, n, l, v in self.samples if n == name and l == labels]
        assert len(found) == 1, (name, labels, found)
        return found[0]

    def series(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(l, v) for _, n, l, v in self.samples if n == name]


def _labels(text: str, line: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        assert m, f"bad labels: {line!r}"
        assert m.group(1) not in out, f"label twice: {line!r}"
        out[m.group(1)] = (m.group(2).replace("\\n", "\n").replace('\\"', '"')
                           .replace("\\\\", "\\"))
        pos = m.end()
    return out


def _value(text: str, line: str) -> float:
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf"))
    assert re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text), f"bad value: {line!r}"
    return float(text)


def parse(text: str, openmetrics: bool = False) -> Exposition:
    exp = Exposition()
    assert text.endswith("\n"), "exposition must end with a newline"
    lines = text[:-1].split("\n")
    if openmetrics:
        assert lines[-1] == "# EOF", "OpenMetrics must end with # EOF"
        lines = lines[:-1]
        assert "# EOF" not in lines
    family = None
    finished: set[str] = set()
    for line in lines:
        assert line, "empty line"
        if line.startswith("#"):
            m = _COMMENT.match(line)
            assert m, f"bad comment: {line!r}"
            kind, name, rest = m.groups()
            if name != family:
                assert name not in finished, f"family {name} split"
                if family:
                    finished.add(family)
                family = name
            if kind == "TYPE":
                assert name not in exp.types, f"TYPE twice: {name}"
                types = {"counter", "gauge", "histogram", "summary", "untyped"}
                if openmetrics:
                    types |= {"info", "stateset", "unknown", "gaugehistogram"}
                    if rest == "counter":
                        assert not name.endswith("_total"), f"OpenMetrics counter family {name}"
                assert rest in types, f"bad type: {line!r}"
                exp.types[name] = rest
            continue
        m = _SAMPLE.match(line)
        assert m, f"bad sample line: {line!r}"
        name, labels, value = m.group(1), _labels(m.group(2) or "", line), _value(m.group(3), line)
        assert family and family in exp.types, f"sample before its TYPE: {line!r}"
        kind = exp.types[family]
        allowed = _SUFFIXES.get(kind, ("",))
        if not openmetrics and kind == "counter":
            allowed = ("",)  # 0.0.4: the family is named as its samples
        assert any(name == family + s for s in allowed), f"{name} is not of family {family}"
        exp.samples.append((family, name, labels, value))
    if family:
        finished.add(family)
    check_histograms(exp)
    return exp


def check_histograms(exp: Exposition) -> None:
    for family, kind in exp.types.items():
        if kind != "histogram":
            continue
        groups: dict[tuple, list[tuple[float, float]]] = {}
        for labels, v in exp.series(family + "_bucket"):
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
            groups.setdefault(rest, []).append((_value(labels["le"], family), v))
        assert groups, f"{family} has no buckets"
        for rest, buckets in groups.items():
            bounds = [b for b, _ in buckets]
            counts = [c for _, c in buckets]
            assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), bounds
            assert counts == sorted(counts), f"{family}{rest} not cumulative: {counts}"
            assert math.isinf(bounds[-1]), f"{family}{rest} does not end with +Inf"
            count = [v for l, v in exp.series(family + "_count")
                     if tuple(sorted(l.items())) == rest]
            assert count == [counts[-1]], f"{family}{rest}: +Inf {counts[-1]} != _count {count}"


def buckets_of(exp: Exposition, family: str) -> dict[str, float]:
    return {l["le"]: v for l, v in exp.series(family + "_bucket") if set(l) == {"le"}}


@pytest.fixture(scope="module")
def srv(module_berth_server):
    return module_berth_server(CONFIG, env={"BERTH_TEST_APPS": "1"})


def test_text_format_by_default(srv):
    for _ in range(3):
        assert srv.request("GET", "/echo").status == 200
    resp = srv.request("GET", "/metrics")
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/plain; version=0.0.4")
    assert resp.header("Vary") == "Accept"
    exp = parse(resp.body.decode())
    assert exp.types["berth_requests_total"] == "counter"
    assert exp.value("berth_requests_total") >= 3
    assert exp.value("berth_build_info", version=exp.series("berth_build_info")[0][0]["version"]) == 1
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", exp.series("berth_build_info")[0][0]["version"])
    # Prometheus' default buckets answer p99 questions between 5 ms and 10 s.
    le = buckets_of(exp, "berth_request_duration_seconds")
    assert [float(b) for b in le if b != "+Inf"] == DEFAULT_BUCKETS
    assert exp.value("berth_request_duration_seconds_count") >= 3


def test_openmetrics_negotiated(srv):
    srv.request("GET", "/echo")
    resp = srv.request("GET", "/metrics", headers=[("Accept", PROMETHEUS_ACCEPT)])
    assert resp.status == 200
    assert resp.header("Content-Type") == \
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    exp = parse(resp.body.decode(), openmetrics=True)
    assert exp.types["berth_requests"] == "counter"
    assert exp.value("berth_requests_total") >= 1
    assert exp.types["berth_build"] == "info"
    check_histograms(exp)
    # Text preferred, or OpenMetrics refused: the text format.
    for accept in ("text/plain;q=1, application/openmetrics-text;q=0.5",
                   "application/openmetrics-text;q=0, */*"):
        r = srv.request("GET", "/metrics", headers=[("Accept", accept)])
        assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
        parse(r.body.decode())


def test_stats_prometheus_kept_and_shared(srv):
    a = parse(srv.request("GET", "/stats?format=prometheus").body.decode())
    b = parse(srv.request("GET", "/metrics").body.decode())
    assert set(a.types) == set(b.types)
    assert "process_cpu_seconds_total" in a.types


def test_process_metrics(srv):
    exp = parse(srv.request("GET", "/metrics").body.decode())
    assert exp.value("process_resident_memory_bytes") > 1_000_000
    assert exp.value("process_open_fds") >= 3
    assert exp.value("process_max_fds") >= exp.value("process_open_fds")
    assert exp.value("process_cpu_seconds_total") >= 0
    start = exp.value("process_start_time_seconds")
    assert time.time() - 600 < start <= time.time() + 1
    assert exp.value("berth_processes") == 1  # workers = 0: one process


def test_app_request_counters_are_bounded(srv):
    before = parse(srv.request("GET", "/metrics").body.decode())
    echo = before.value("berth_app_requests_total", app="echo")
    for i in range(5):
        srv.request("GET", "/echo")
        srv.request("GET", f"/nowhere/{i}")  # no app: no new series
    after = parse(srv.request("GET", "/metrics").body.decode())
    assert after.value("berth_app_requests_total", app="echo") == echo + 5
    apps = {l["app"] for l, _ in after.series("berth_app_requests_total")}
    assert apps == {"echo", "metrics", "stats", "slow"}


def test_latency_lands_in_its_bucket(srv):
    before = buckets_of(parse(srv.request("GET", "/metrics").body.decode()),
                        "berth_request_duration_seconds")
    assert srv.request("GET", "/slow", timeout=5).status == 200  # 300 ms
    after = buckets_of(parse(srv.request("GET", "/metrics").body.decode()),
                       "berth_request_duration_seconds")
    # The metrics requests themselves are fast; the slow one is above 0.25 s and at most 0.5 s
    # (plenty of slack on a loaded machine is in the buckets above).
    assert after["0.25"] - before["0.25"] <= after["+Inf"] - before["+Inf"] - 1
    assert after["10"] - before["10"] == after["+Inf"] - before["+Inf"]


def test_latency_buckets_configurable(berth_server):
    srv = berth_server(CONFIG, server={"latency_buckets": "0.1, 0.2, 30"},
                       env={"BERTH_TEST_APPS": "1"})
    srv.request("GET", "/echo")
    assert srv.request("GET", "/slow", timeout=5).status == 200
    exp = parse(srv.request("GET", "/metrics").body.decode())
    le = buckets_of(exp, "berth_request_duration_seconds")
    assert list(le) == ["0.1", "0.2", "30", "+Inf"]
    assert le["0.2"] < le["30"]  # the 300 ms request
    assert le["30"] == le["+Inf"]


def test_bad_latency_buckets(tmp_path):
    path, text = berth.write_conf(tmp_path, CONFIG, server={"latency_buckets": "1, 0.5"})
    r = berth.run_cli("check", "-c", str(path))
    assert r.returncode != 0
    assert f"{path.name}:{berth.line_of(text, 'latency_buckets = 1')}:" in r.output, r.output


def test_workers_are_summed(berth_server):
    srv = berth_server(CONFIG, server={"workers": 2}, env={"BERTH_TEST_APPS": "1"})
    assert berth.wait_until(lambda: srv.request("GET", "/echo").status == 200, 5)
    # The master and both workers (the second worker may still be starting on a loaded machine).
    assert berth.wait_until(
        lambda: parse(srv.request("GET", "/metrics").body.decode()).value("berth_processes") >= 3,
        10)
    exp = parse(srv.request("GET", "/metrics").body.decode())
    assert exp.value("process_resident_memory_bytes") > 3_000_000
