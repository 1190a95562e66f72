"""pytest wiring for the Berth conformance suite (see README.md).

Fixtures:
  berth_server         function-scoped factory: berth_server(config, files=..., ...) -> BerthServer
  module_berth_server  the same factory, module-scoped (share one server across a module)
  berthd_bin           path of the binary under test (the session exits if it is missing)

Every test also gets a watchdog: a hard per-test time limit (BERTH_TEST_TIMEOUT, default 30 s)
and a check that no berthd started by this suite died while the test ran.
"""

from __future__ import annotations

import os
import signal

import pytest

import berth
import proxymember

TEST_TIMEOUT = float(os.environ.get("BERTH_TEST_TIMEOUT", "30"))


class TestTimeout(AssertionError):
    pass


@pytest.fixture(scope="session", autouse=True)
def berthd_bin():
    problem = berth.binary_problem()
    if problem:
        pytest.exit(problem, returncode=4)
    return berth.binary_path()


def _close_factory(factory: berth.ServerFactory) -> None:
    problems = factory.close()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def berth_server(tmp_path, berthd_bin):
    factory = berth.ServerFactory(tmp_path)
    try:
        yield factory
    finally:
        _close_factory(factory)


@pytest.fixture
def members():
    """Recording upstream members (conformance/proxymember.py) for one test: members(2),
    members("name", tls_context=...); closed when the test ends."""
    with proxymember.MemberSet() as made:
        yield made


@pytest.fixture(scope="module")
def module_berth_server(tmp_path_factory, berthd_bin, request):
    factory = berth.ServerFactory(tmp_path_factory.mktemp(request.module.__name__))
    try:
        yield factory
    finally:
        _close_factory(factory)


@pytest.fixture(autouse=True)
def _berth_watchdog(request):
    """Per-test time limit, and fail the test during which a berthd died. A test that must wait
    longer (a real cron minute) says so with @pytest.mark.berth_timeout(SECONDS)."""
    marker = request.node.get_closest_marker("berth_timeout")
    limit = max(TEST_TIMEOUT, float(marker.args[0])) if marker else TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise TestTimeout(f"test exceeded {limit:.0f}s (BERTH_TEST_TIMEOUT)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    dead = [s for s in berth.live_servers() if s.died_unexpectedly() and not s.crash_reported]
    for srv in dead:
        srv.crash_reported = True
    if dead:
        details = "\n\n".join(f"{s!r} exited with {s.proc.returncode}\n{s.describe()}" for s in dead)
        pytest.fail(f"berthd died during this test:\n{details}", pytrace=False)


def pytest_sessionfinish(session, exitstatus):
    berth.kill_leftovers()


def pytest_report_header(config):
    problem = berth.binary_problem()
    return f"berthd: {berth.binary_path()}" + (f" (MISSING: {problem})" if problem else "")


@pytest.fixture(params=berth.TRANSPORTS)
def transport(request):
    """The per-transport parameter: h1, h1-tls, h2-tls, h2c. Use with a server started with
    ``tls=True`` and ``srv.fetch(..., transport=transport)``."""
    return request.param
