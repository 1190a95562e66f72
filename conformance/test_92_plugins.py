"""Layer 92: C++ app plugins (docs/plugins.md). The plugin SDK is installed from berthd's build
directory to a prefix (`cmake --install BUILD --component plugin-sdk`), and
examples/hello-plugin plus the small plugins of conformance/plugins/ are built OUT OF TREE
against it with find_package(Berth), as a user builds theirs. Then: the example's HTTP app and TCP
app served, its key validated by `berthd check`, the stats it declares in berth.stats; plugins
built for another API version, needing a missing symbol or not being plugins refused by `berthd
check` naming the file, and one that throws while its app is built; an app that throws answered
500 while the worker keeps serving; a plugin's UDP app and daemon hosted."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

import berth

HOST = "127.0.0.1"


def _run(*args: str | Path) -> None:
    p = subprocess.run([str(a) for a in args], capture_output=True, timeout=300)
    if p.returncode != 0:
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        raise AssertionError(f"{' '.join(map(str, args))} failed:\n{out}")


@pytest.fixture(scope="module")
def plugins() -> dict[str, Path]:
    """{"hello": dir of libhello.so, "tests": dir of the test plugins}, built once per build
    directory (a lock serialises parallel pytest workers; ninja rebuilds only what changed)."""
    build = berth.binary_path().parent.parent
    if not (build / "CMakeCache.txt").exists():
        pytest.skip(f"{build} is not berthd's CMake build directory: the plugin SDK comes from it")
    out = build / "plugin-tests"
    out.mkdir(exist_ok=True)
    cmake = shutil.which("cmake") or "cmake"
    ccache = shutil.which("ccache")
    launcher = [f"-DCMAKE_CXX_COMPILER_LAUNCHER={ccache}"] if ccache else []
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sdk = out / "sdk"
        _run(cmake, "--install", build, "--component", "plugin-sdk", "--prefix", sdk)
        dirs = {"hello": berth.REPO_ROOT / "examples" / "hello-plugin",
                "tests": berth.REPO_ROOT / "conformance" / "plugins"}
        for name, source in dirs.items():
            _run(cmake, "-S", source, "-B", out / name, "-G", "Ninja",
                 f"-DBerth_DIR={sdk}/lib/cmake/Berth", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                 *launcher)
            _run(cmake, "--build", out / name)
    return {name: out / name for name in dirs}


def shout(port: int, data: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def stats(srv) -> dict:
    resp = srv.fetch("GET", "/stats")
    assert resp.status == 200, resp
    return json.loads(resp.body)


def test_example_http_and_tcp_apps_served_with_their_stats(berth_server, plugins):
    tcp_port = berth.free_port()
    srv = berth_server(f"""
[berth]
plugin_dirs = {plugins['hello']}

[routes:line]
/hello = hello
/stats = stats

[app:hello]
call = plugin:hello:hello
greeting = Ahoy

[app:stats]
call = berth.stats

[tcp:shout]
call = plugin:hello
port = {tcp_port}
""")
    resp = srv.fetch("GET", "/hello?bob")
    assert resp.status == 200, resp
    assert resp.body == b"Ahoy, bob!\n"
    assert shout(tcp_port, b"hello, plugin\n") == b"HELLO, PLUGIN\n"
    assert berth.wait_until(
        lambda: stats(srv)["apps"].get("tcp:shout.shouted_bytes") == 14, 3), stats(srv)
    assert stats(srv)["apps"]["app:hello.greetings"] == 1


def test_check_runs_the_plugins_own_validation(tmp_path, plugins):
    conf, text = berth.write_conf(tmp_path, f"""
[routes:line]
/hello = hello

[app:hello]
call = plugin:{plugins['hello']}/libhello.so
greeting = {'x' * 65}
""")
    result = berth.run_cli("check", "-c", str(conf))
    assert result.returncode != 0, result
    line = berth.line_of(text, "greeting =")
    assert berth.diagnostic_lines(result, conf, line) == [
        f"{conf}:{line}: [app:hello] greeting: at most 64 characters"], result


def test_check_refuses_bad_plugins_naming_the_file(tmp_path, plugins):
    tests = plugins["tests"]
    conf, text = berth.write_conf(tmp_path, f"""
[berth]
plugin_dirs = {tests}

[routes:line]
/a = a
/b = b
/c = c
/d = d
/e = e
/f = f

[app:a]
call = plugin:badversion

[app:b]
call = plugin:{tests}/libmissingsymbol.so

[app:c]
call = plugin:notaplugin

[app:d]
call = plugin:nonesuch

[tcp:t]
call = plugin:thrower
port = {berth.free_port()}

[app:e]
call = plugin:thrower:explode

[app:f]
call = plugin:thrower
""")
    result = berth.run_cli("check", "-c", str(conf))
    assert result.returncode != 0, result
    expected = {
        "plugin:badversion": f"[app:a] call: {tests}/libbadversion.so: built for Berth plugin API",
        f"plugin:{tests}/libmissingsymbol.so":
            f"[app:b] call: {tests}/libmissingsymbol.so: undefined symbol: "
            "_Z19berthNoSuchFunctionv (berthNoSuchFunction())",
        "plugin:notaplugin":
            f"[app:c] call: {tests}/libnotaplugin.so: not a Berth plugin (it exports no "
            "berth_plugin_info)",
        "plugin:nonesuch": f"[app:d] call: plugin 'nonesuch' not found (looked for "
                           f"libnonesuch.so, nonesuch.so in {tests}",
        "plugin:thrower:explode": f"[app:e] call: {tests}/libthrower.so threw while building "
                                  "the app: explode: refusing to be built",
    }
    # The plugin is found, but has no TCP app, and more than one HTTP app.
    tcp_line, app_line = (number for number, line in enumerate(text.splitlines(), start=1)
                          if line == "call = plugin:thrower")
    assert berth.diagnostic_lines(result, conf, tcp_line) == [
        f"{conf}:{tcp_line}: [tcp:t] call: {tests}/libthrower.so provides no TCP app"], result
    assert berth.diagnostic_lines(result, conf, app_line) == [
        f"{conf}:{app_line}: [app:f] call: {tests}/libthrower.so provides several HTTP apps "
        "(explode, thrower): name one, plugin:LIBRARY:NAME"], result
    for needle, message in expected.items():
        line = berth.line_of(text, needle)
        found = berth.diagnostic_lines(result, conf, line)
        assert any(message in l for l in found), (needle, message, result)


def test_throwing_app_is_a_500_and_the_worker_keeps_serving(berth_server, plugins):
    udp_port = berth.free_port()
    srv = berth_server(f"""
[server]
workers = 1
pid_file = {{tmp}}/berthd.pid

[routes:line]
/t = thrower
/stats = stats

[app:thrower]
call = plugin:{plugins['tests']}/libthrower.so:thrower

[udp:size]
call = plugin:{plugins['tests']}/libthrower.so
port = {udp_port}

[app:stats]
call = berth.stats

[daemon:steady]
call = plugin:{plugins['tests']}/libthrower.so:steady
""")
    worker = [w for w in stats(srv)["workers"] if w["service"] == "http"][0]
    for _ in range(3):
        assert srv.fetch("GET", "/t/boom").status == 500
    resp = srv.fetch("GET", "/t/fine")
    assert resp.status == 200 and resp.body == b"still here\n", resp
    after = [w for w in stats(srv)["workers"] if w["service"] == "http"][0]
    assert (after["pid"], after["restarts"]) == (worker["pid"], worker["restarts"]), after
    assert stats(srv)["status"]["5xx"] == 3
    # The plugin's UDP app and daemon are hosted like built-in ones.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"12345", (HOST, udp_port))
        assert s.recvfrom(100)[0] == b"5"
    assert berth.wait_until(lambda: "steady plugin daemon steady" in berth.run_cli(
        "status", "-c", str(srv.conf_path)).output, 5), berth.run_cli(
        "status", "-c", str(srv.conf_path))
