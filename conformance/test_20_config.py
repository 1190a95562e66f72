"""Layer 20: configuration — value types, exact diagnostics, includes, ${ENV}, several -c files,
and the route/app cross-checks `berthd check` must do. Checks run `berthd check`; where a value
must also take effect, a server is started and probed."""

from __future__ import annotations

import os
import socket

import pytest

import berth
from berth import diagnostic_lines, line_of, run_cli, write_conf

APPS = """
[routes:line]
/echo = echo
/files = files

[app:echo]
call = berth.echo

[app:files]
call = berth.static
root = {tmp}/site
"""


def conf(tmp_path, extra: str = "", body: str = APPS, server=None):
    (tmp_path / "site").mkdir(parents=True, exist_ok=True)
    return write_conf(tmp_path, body + extra, server=server)


def check(*paths, cwd=None, env=None):
    args = []
    for p in paths:
        args += ["-c", str(p)]
    return run_cli("check", *args, cwd=cwd, env=env)


def assert_ok(r):
    assert r.returncode == 0, r
    assert "configuration OK" in r.output, r


def assert_failed(r):
    assert r.returncode == 1, r
    assert "configuration OK" not in r.output, r


# ---------------------------------------------------------------------------------------------
# Comments and value types
# ---------------------------------------------------------------------------------------------

def test_comments_full_line_and_inline(tmp_path):
    extra = """
; a semicolon comment
# a hash comment
[limits]   ; comment after a section header
header_timeout = 5s ; inline comment after whitespace
body_timeout = 7s   # inline hash comment
   ; indented comment
max_body_bytes = 1M
"""
    path, _ = conf(tmp_path, extra)
    r = check(path)
    assert_ok(r)
    assert not [l for l in r.lines if f"{path}:" in l], r  # not even a warning


SIZES = ["64K", "10M", "1G", "512", "8K"]
DURATIONS = ["30s", "250ms", "5m", "1h", "2s"]
BOOLS = ["yes", "no", "true", "false", "on", "off", "1", "0", "Yes", "TRUE"]


@pytest.mark.parametrize("value", SIZES)
def test_valid_size(tmp_path, value):
    path, _ = conf(tmp_path, f"\n[limits]\nmax_body_bytes = {value}\n")
    assert_ok(check(path))


@pytest.mark.parametrize("value", DURATIONS)
def test_valid_duration(tmp_path, value):
    path, _ = conf(tmp_path, f"\n[limits]\nidle_timeout = {value}\n")
    assert_ok(check(path))


@pytest.mark.parametrize("value", BOOLS)
def test_valid_boolean(tmp_path, value):
    path, _ = conf(tmp_path, f"allow_dotfiles = {value}\n")  # appended to [app:files]
    assert_ok(check(path))


BAD_VALUES = [
    # (section, key, written value, value in the message, kind)
    ("limits", "header_timeout", "3x", "3x", "is not a duration"),
    ("limits", "body_timeout", "ten", "ten", "is not a duration"),
    ("limits", "idle_timeout", "5 parsecs", "5 parsecs", "is not a duration"),
    ("limits", "send_timeout", "3x ; inline comment", "3x", "is not a duration"),
    ("limits", "max_headers", "1.5", "1.5", "is not an integer"),
    ("limits", "max_connections", "lots", "lots", "is not an integer"),
    ("server", "threads", "two", "two", "is not an integer"),
    ("limits", "max_body_bytes", "10Q", "10Q", "is not a size"),
    ("limits", "max_uri_bytes", "big", "big", "is not a size"),
    ("limits", "max_header_bytes", "-5K", "-5K", "is not a size"),
    ("app:echo", "max_echo", "lots", "lots", "is not a size"),
    ("app:files", "allow_dotfiles", "maybe", "maybe", "is not a boolean"),
    ("app:files", "follow_symlinks", "2", "2", "is not a boolean"),
]


@pytest.mark.parametrize("section,key,written,shown,kind", BAD_VALUES,
                         ids=[f"{s}.{k}={w.split()[0]}" for s, k, w, _, _ in BAD_VALUES])
def test_bad_value_exact_diagnostic(tmp_path, section, key, written, shown, kind):
    if section in ("app:echo", "app:files"):
        body = APPS.replace(f"[{section}]\n", f"[{section}]\n{key} = {written}\n")
        path, text = conf(tmp_path, body=body)
    else:
        path, text = conf(tmp_path, f"\n[{section}]\n{key} = {written}\n")
    r = check(path)
    assert_failed(r)
    n = line_of(text, f"{key} = {written}")
    expected = f"{path}:{n}: [{section}] {key}: '{shown}' {kind}"
    assert expected in r.lines, f"expected exactly {expected!r}\n{r!r}"


def test_bad_value_in_server_section_is_exact(tmp_path):
    path, text = conf(tmp_path, server={"workers": "several"})
    r = check(path)
    assert_failed(r)
    n = line_of(text, "workers = several")
    assert f"{path}:{n}: [server] workers: 'several' is not an integer" in r.lines, r


# ---------------------------------------------------------------------------------------------
# Unknown keys: a warning with a suggestion, not an error
# ---------------------------------------------------------------------------------------------

UNKNOWN_KEYS = [
    ("limits", "header_timout", "3s", "header_timeout"),
    ("limits", "max_body_byte", "1M", "max_body_bytes"),
    ("server", "treads", "1", "threads"),
    ("app:echo", "max_ech0", "1K", "max_echo"),
]


@pytest.mark.parametrize("section,key,value,suggestion", UNKNOWN_KEYS,
                         ids=[f"{s}.{k}" for s, k, _, _ in UNKNOWN_KEYS])
def test_unknown_key_warns_with_suggestion(tmp_path, section, key, value, suggestion):
    if section == "app:echo":
        path, text = conf(tmp_path, body=APPS.replace("[app:echo]\n", f"[app:echo]\n{key} = {value}\n"))
    elif section == "server":
        path, text = conf(tmp_path, server={key: value})
    else:
        path, text = conf(tmp_path, f"\n[{section}]\n{key} = {value}\n")
    r = check(path)
    assert_ok(r)
    n = line_of(text, f"{key} = {value}")
    lines = diagnostic_lines(r, path, n)
    assert lines, f"no diagnostic for {path}:{n}\n{r!r}"
    assert lines[0].startswith(f"{path}:{n}: warning: "), r
    assert key in lines[0], r
    assert f"did you mean '{suggestion}'?" in lines[0], r


# ---------------------------------------------------------------------------------------------
# Includes
# ---------------------------------------------------------------------------------------------

def test_include_error_is_reported_against_the_included_file(tmp_path):
    (tmp_path / "other.conf").write_text("[limits]\nheader_timeout = 5s\n")
    inc = tmp_path / "name with space.conf"
    inc.write_text("; included\n[limits]\nbody_timeout = zz\n")
    path, _ = conf(tmp_path, '\n[berth]\nadditional_confs = other.conf "name with space.conf"\n')
    r = check(path)
    assert_failed(r)
    assert f"{inc}:3: [limits] body_timeout: 'zz' is not a duration" in r.lines, r


def test_include_is_relative_to_the_including_file(tmp_path):
    top = tmp_path / "etc"
    (top / "conf.d").mkdir(parents=True)
    (top / "conf.d" / "a.conf").write_text("[berth]\nadditional_confs = b.conf\n")
    nested = top / "conf.d" / "b.conf"
    nested.write_text("[limits]\nidle_timeout = soon\n")
    # A decoy next to the main file: resolving b.conf against the wrong directory finds this.
    (top / "b.conf").write_text("[limits]\nidle_timeout = 5s\n")
    path, _ = conf(top, "\n[berth]\nadditional_confs = conf.d/a.conf\n")
    r = check(path, cwd="/")
    assert_failed(r)
    assert f"{nested}:2: [limits] idle_timeout: 'soon' is not a duration" in r.lines, r


def test_missing_include_is_an_error_naming_it(tmp_path):
    path, text = conf(tmp_path, "\n[berth]\nadditional_confs = not-there.conf\n")
    r = check(path)
    assert_failed(r)
    assert "not-there.conf" in r.output, r


def test_include_cycle_is_an_error(tmp_path):
    (tmp_path / "a.conf").write_text("[berth]\nadditional_confs = b.conf\n")
    (tmp_path / "b.conf").write_text("[berth]\nadditional_confs = a.conf\n")
    path, _ = conf(tmp_path, "\n[berth]\nadditional_confs = a.conf\n")
    r = run_cli("check", "-c", str(path), timeout=10)
    assert_failed(r)
    assert "cycle" in r.output.lower(), r


def test_self_include_is_a_cycle(tmp_path):
    path, _ = conf(tmp_path, "\n[berth]\nadditional_confs = berth.conf\n")
    r = run_cli("check", "-c", str(path), timeout=10)
    assert_failed(r)
    assert "cycle" in r.output.lower(), r


def test_included_files_take_effect(berth_server):
    srv = berth_server("[berth]\nadditional_confs = routes.conf \"more limits.conf\"\n",
                       files={"routes.conf": "[routes:line]\n/echo = echo\n\n[app:echo]\ncall = berth.echo\n",
                              "more limits.conf": "[limits]\nmax_body_bytes = 16\n"})
    assert srv.request("POST", "/echo", body=b"0123456789").body == b"0123456789"
    assert srv.request("POST", "/echo", body=b"x" * 100).status == 413


# ---------------------------------------------------------------------------------------------
# ${ENV} expansion
# ---------------------------------------------------------------------------------------------

def test_env_expansion_applies(berth_server):
    port = berth.free_port()
    srv = berth_server("[routes:line]\n/echo = echo\n[app:echo]\ncall = berth.echo\n"
                       "max_echo = ${BERTH_TEST_MAX_ECHO}\n",
                       server={"port": "${BERTH_TEST_PORT}"}, port=port,
                       env={"BERTH_TEST_MAX_ECHO": "3", "BERTH_TEST_PORT": str(port)})
    assert srv.request("POST", "/echo", body=b"abcdef").body == b"abc"


def test_undefined_env_variable_is_an_error(tmp_path):
    var = "BERTH_SURELY_UNDEFINED_VAR"
    assert var not in os.environ
    path, _ = conf(tmp_path, "\n[limits]\nheader_timeout = ${%s}\n" % var)
    r = check(path)
    assert_failed(r)
    assert var in r.output, r


# ---------------------------------------------------------------------------------------------
# Several -c files: merged in order, later wins
# ---------------------------------------------------------------------------------------------

def test_later_config_file_wins(berth_server):
    port2 = berth.free_port()
    srv = berth_server("[routes:line]\n/echo = echo\n[app:echo]\ncall = berth.echo\nmax_echo = 64K\n",
                       extra_confs=[f"[server]\nport = {port2}\n\n[app:echo]\nmax_echo = 2\n"],
                       wait=False)
    first_port = srv.port
    srv.port = port2
    srv.wait_ready()
    assert srv.request("POST", "/echo", body=b"abcdef").body == b"ab"
    with pytest.raises(OSError):
        socket.create_connection((berth.HOST, first_port), timeout=1).close()


def test_check_merges_several_files(tmp_path):
    # The route in the first file names an app that only the second file defines.
    path, _ = conf(tmp_path, body="[routes:line]\n/e = later\n")
    second = tmp_path / "apps.conf"
    second.write_text("[app:later]\ncall = berth.echo\n")
    assert_failed(check(path))
    assert_ok(check(path, second))


def test_threads_setting(berth_server):
    srv = berth_server("[routes:line]\n/echo = echo\n[app:echo]\ncall = berth.echo\n",
                       server={"threads": 2})
    conns = [srv.conn() for _ in range(4)]
    try:
        for i, c in enumerate(conns):
            c.send(berth.build_request("POST", "/echo", body=b"t%d" % i))
        assert [c.recv_response().body for c in conns] == [b"t%d" % i for i in range(4)]
    finally:
        for c in conns:
            c.close()


def test_error_in_second_file_names_it(tmp_path):
    path, _ = conf(tmp_path)
    second = tmp_path / "override.conf"
    second.write_text("[limits]\n\nheader_timeout = 3x\n")
    r = check(path, second)
    assert_failed(r)
    assert f"{second}:3: [limits] header_timeout: '3x' is not a duration" in r.lines, r


# ---------------------------------------------------------------------------------------------
# Cross-checks: apps, routes, syntax
# ---------------------------------------------------------------------------------------------

def test_unknown_app_call_is_an_error(tmp_path):
    path, text = conf(tmp_path, body=APPS.replace("call = berth.echo", "call = berth.ech0"))
    r = check(path)
    assert_failed(r)
    n = line_of(text, "call = berth.ech0")
    lines = diagnostic_lines(r, path, n)
    assert lines and "berth.ech0" in lines[0], r


def test_route_to_missing_app_names_the_route_line(tmp_path):
    path, text = conf(tmp_path, body=APPS.replace("/echo = echo\n", "/echo = echo\n/x = nosuchapp\n"))
    r = check(path)
    assert_failed(r)
    n = line_of(text, "/x = nosuchapp")
    lines = diagnostic_lines(r, path, n)
    assert lines and "nosuchapp" in lines[0], r


def test_pipeline_with_missing_app_is_an_error(tmp_path):
    path, text = conf(tmp_path, body=APPS.replace("/echo = echo\n", "/echo = echo\n/p = echo ghost\n"))
    r = check(path)
    assert_failed(r)
    n = line_of(text, "/p = echo ghost")
    lines = diagnostic_lines(r, path, n)
    assert lines and "ghost" in lines[0], r


def test_route_to_missing_directory_is_an_error(tmp_path):
    missing = tmp_path / "no-such-dir"
    path, text = conf(tmp_path, body=APPS.replace("/echo = echo\n", f"/echo = echo\n/d = {missing}\n"))
    r = check(path)
    assert_failed(r)
    n = line_of(text, f"/d = {missing}")
    assert diagnostic_lines(r, path, n), r


def test_app_without_call_is_an_error(tmp_path):
    path, text = conf(tmp_path, "\n[app:nocall]\nmax_echo = 1K\n",
                      body=APPS.replace("/echo = echo\n", "/echo = echo\n/n = nocall\n"))
    r = check(path)
    assert_failed(r)


def test_line_without_equals_is_a_syntax_error(tmp_path):
    path, text = conf(tmp_path, "\n[limits]\nthis line has no equals sign\n")
    r = check(path)
    assert_failed(r)
    assert diagnostic_lines(r, path, line_of(text, "this line has no equals sign")), r


def test_inline_comment_value_takes_effect(berth_server):
    srv = berth_server("[routes:line]\n; a comment among routes\n/echo = echo\n"
                       "# another\n[app:echo]\ncall = berth.echo   ; the echo app\n"
                       "max_echo = 4 ; bytes\n")
    assert srv.request("POST", "/echo", body=b"abcdefgh").body == b"abcd"
