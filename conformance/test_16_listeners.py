"""Layer 16: listeners and real client addresses (issue #17) — several `[server] listen`
entries, IPv4 beside IPv6 on one port, unix-socket listeners, `trusted_proxies` (X-Forwarded-For
honoured only from trusted peers), and the PROXY protocol v1/v2 on listeners marked
`proxy_protocol` (raw headers, and a real HAProxy with send-proxy-v2 in front)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

import berth
from berth import raw

ROUTES = """
[routes:line]
/hb = hb
/__debug__ = debug

[app:hb]
call = berth.heartbeat

[app:debug]
call = berth.debug
allow = 127.0.0.1, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32
"""

GET_HB = b"GET /hb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _get(port: int, host: str = "127.0.0.1", request: bytes = GET_HB) -> bytes:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        s.connect((host, port))
        s.sendall(request)
        return _read_all(s)


def _read_all(s: socket.socket, timeout: float = 3.0) -> bytes:
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def _debug(port: int, headers: str = "", prefix: bytes = b"") -> dict:
    req = (f"GET /__debug__?format=json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
           f"{headers}\r\n").encode()
    resp = _response(raw(port, prefix + req))
    assert resp.status == 200, resp
    return json.loads(resp.body)["request"]


def _response(buf: bytes) -> "berth.Response":
    resp, _ = berth.parse_response(buf, eof=True)
    assert resp is not None, buf
    return resp


def _cef(srv, signature: str, count: int = 1) -> list[str]:
    deadline = time.monotonic() + berth.LOG_POLL_TIMEOUT
    while True:
        try:
            lines = [l for l in srv.log_path("cef.log").read_text(errors="replace").splitlines()
                     if f"|{signature}|" in l]
        except FileNotFoundError:
            lines = []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def _v2(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    addresses = (socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport))
    body = addresses + tlvs
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body)


# --------------------------------------------------------------------------------------------
# Listeners
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [0, 1])
def test_several_listeners_ipv4_and_ipv6_on_one_port(berth_server, workers):
    second = berth.free_port()
    entries = ["127.0.0.1:{port}", f"0.0.0.0:{second}"]
    if _ipv6():
        entries.append(f"[::]:{second}")
    srv = berth_server(ROUTES, server={"workers": workers, "listen": ", ".join(entries)})
    assert _get(srv.port).startswith(b"HTTP/1.1 200")
    assert _get(second).startswith(b"HTTP/1.1 200")
    if _ipv6():
        # [::] beside 0.0.0.0 on the same port: both bound (IPV6_V6ONLY on the IPv6 one).
        assert _get(second, "::1").startswith(b"HTTP/1.1 200")
        assert f"[::]:{second}" in srv.server_log()
    lines = srv.request_log_lines(contains="GET /hb", count=3 if _ipv6() else 2)
    assert any(f"test:{second} " in l for l in lines), lines


def test_http2_only_on_listen_entries_that_say_so(berth_server):
    second = berth.free_port()
    srv = berth_server(ROUTES, server={"listen": f"127.0.0.1:{{port}}, 127.0.0.1:{second} http2"})
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    with socket.create_connection(("127.0.0.1", second), timeout=3) as s:
        s.sendall(preface)
        first = s.recv(9)
    assert len(first) == 9 and first[3] == 0x04, first  # the server's SETTINGS frame
    # Without `http2` the entry serves HTTP/1.1 only: the preface is no HTTP/1 request.
    assert _get(srv.port, request=preface).startswith(b"HTTP/1.1 4")


@pytest.mark.skipif(not _ipv6(), reason="no IPv6 in this environment")
def test_ipv6_wildcard_alone_takes_ipv4_clients(berth_server):
    second = berth.free_port()
    srv = berth_server(ROUTES, server={"listen": f"127.0.0.1:{{port}}, [::]:{second}"})
    assert _get(second, "127.0.0.1").startswith(b"HTTP/1.1 200")
    # Logged as the IPv4 address, not ::ffff:127.0.0.1.
    line = srv.request_log_lines(contains="GET /hb")[0]
    assert line.split()[2].startswith("127.0.0.1:"), line


def test_bad_listen_entries_are_config_errors(tmp_path):
    conf, text = berth.write_conf(tmp_path, "[server]\nlisten = 127.0.0.1:80, localhost:81, "
                                            "[::1]:82 gzip\n")
    result = berth.run_cli("check", "-c", str(conf))
    assert result.returncode != 0
    assert "listen: 'localhost:81': 'localhost' is not an IP address" in result.output
    assert "unknown listener option 'gzip'" in result.output
    line = berth.line_of(text, "listen =")
    assert f"{conf}:{line}:" in result.output


@pytest.mark.skipif(not shutil.which("curl"), reason="curl missing")
@pytest.mark.parametrize("workers", [0, 1])
def test_unix_socket_listener(berth_server, tmp_path, workers):
    sock = tmp_path / f"b{workers}.sock"
    srv = berth_server(ROUTES, server={"workers": workers, "unix_mode": "660",
                                       "trusted_proxies": "unix",
                                       "listen": f"127.0.0.1:{{port}}, unix:{sock}"})
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o660
    out = subprocess.run(["curl", "-sS", "--unix-socket", str(sock), "http://a/hb"],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert b"OK" in out.stdout or out.stdout, out
    line = srv.request_log_lines(contains=" unix: ")[0]
    assert "GET /hb" in line and " test:unix " in line, line
    # A trusted unix peer names its client (nginx in front through the socket) ...
    out = subprocess.run(["curl", "-sS", "--unix-socket", str(sock), "-H",
                          "X-Forwarded-For: 203.0.113.50", "http://a/hb"],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert srv.request_log_lines(contains=" 203.0.113.50:0 test:unix ")
    # ... and a TCP peer outside trusted_proxies does not.
    _get(srv.port, request=b"GET /hb HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.51\r\n"
                           b"Connection: close\r\n\r\n")
    assert srv.request_log_lines(contains="GET /hb", count=3)
    assert not srv.request_log_lines(contains="203.0.113.51", timeout=0.3)


def test_stale_unix_socket_file_is_replaced(berth_server, tmp_path):
    sock = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(sock))
    s.close()  # the file stays, nobody accepts on it: what a killed server leaves
    srv = berth_server(ROUTES, server={"listen": f"127.0.0.1:{{port}}, unix:{sock}"})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(3)
        c.connect(str(sock))
        c.sendall(GET_HB)
        assert _read_all(c).startswith(b"HTTP/1.1 200")
    assert srv.alive()


# --------------------------------------------------------------------------------------------
# trusted_proxies
# --------------------------------------------------------------------------------------------

def test_forwarded_for_honoured_only_from_trusted_peers(berth_server):
    trusting = berth_server(ROUTES, server={"trusted_proxies": "10.0.0.0/8, 127.0.0.1"})
    xff = "X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.1.1.1\r\nX-Forwarded-Proto: https\r\n"
    seen = _debug(trusting.port, xff)
    assert seen["client"] == "203.0.113.7:0"
    assert seen["secure"] is True
    line = trusting.request_log_lines(contains="__debug__")[0]
    assert line.split()[2] == "203.0.113.7:0", line
    # IP rules see the forwarded client: 6.6.6.6 is outside the debug app's allow list.
    resp = _response(raw(trusting.port, b"GET /__debug__ HTTP/1.1\r\nHost: a\r\n"
                                    b"X-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n"))
    assert resp.status == 403
    # Forwarded (RFC 7239) when there is no X-Forwarded-For.
    seen = _debug(trusting.port, 'Forwarded: for="[2001:db8::5]:4711";proto=https\r\n')
    assert seen["client"] == "2001:db8::5:4711" and seen["secure"] is True

    untrusting = berth_server(ROUTES, server={"trusted_proxies": "10.0.0.0/8"})
    seen = _debug(untrusting.port, xff)
    assert seen["client"].startswith("127.0.0.1:")
    assert seen["secure"] is False
    line = untrusting.request_log_lines(contains="__debug__")[0]
    assert line.split()[2].startswith("127.0.0.1:"), line


def test_forwarded_proto_makes_basic_auth_work_behind_a_tls_proxy(berth_server):
    import ctypes
    import ctypes.util
    libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = ctypes.c_char_p
    libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                       ctypes.c_int]
    libcrypt.crypt.restype = ctypes.c_char_p
    libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    hashed = libcrypt.crypt(b"secret", libcrypt.crypt_gensalt(b"$2b$", 5, None, 0)).decode()
    # No [tls] and no allow_insecure: TLS ends at the trusted proxy, which says so.
    config = """
[routes:line]
/private = auth hb

[app:auth]
call = berth.basic_auth
auth_path = {tmp}/users

[app:hb]
call = berth.heartbeat
"""
    srv = berth_server(config, files={"users": f"alice {hashed}\n"},
                       server={"trusted_proxies": "127.0.0.1"})
    auth = "Authorization: Basic YWxpY2U6c2VjcmV0\r\n"
    plain = _response(raw(srv.port, (
        f"GET /private HTTP/1.1\r\nHost: a\r\n{auth}Connection: close\r\n\r\n").encode()))
    assert plain.status == 403
    proxied = _response(raw(srv.port, (
        f"GET /private HTTP/1.1\r\nHost: a\r\n{auth}X-Forwarded-Proto: https\r\n"
        f"Connection: close\r\n\r\n").encode()))
    assert proxied.status == 200, proxied


# --------------------------------------------------------------------------------------------
# PROXY protocol
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxied(module_berth_server):
    second = berth.free_port()
    srv = module_berth_server(ROUTES + "\n[limits]\nheader_timeout = 1s\n",
                              server={"listen": f"127.0.0.1:{{port}}, "
                                                f"127.0.0.1:{second} proxy_protocol"})
    srv.proxy_port = second
    return srv


def test_proxy_v1_names_the_client(proxied):
    header = b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\n"
    resp = _get(proxied.proxy_port, request=header + GET_HB)
    assert resp.startswith(b"HTTP/1.1 200"), resp
    line = proxied.request_log_lines(contains="198.51.100.9:5555")
    assert line and "GET /hb" in line[0], line
    seen = _debug(proxied.proxy_port, prefix=b"PROXY TCP6 2001:db8::9 ::1 6000 80\r\n")
    assert seen["client"] == "2001:db8::9:6000"


def test_proxy_v2_names_the_client_and_ssl_tlv_makes_it_secure(proxied):
    seen = _debug(proxied.proxy_port, prefix=_v2("203.0.113.20", "127.0.0.1", 40000, 443))
    assert seen["client"] == "203.0.113.20:40000" and seen["secure"] is False
    ssl_tlv = b"\x20" + struct.pack("!H", 5) + b"\x01\x00\x00\x00\x00"
    alpn_tlv = b"\x01" + struct.pack("!H", 2) + b"h2"
    seen = _debug(proxied.proxy_port,
                  prefix=_v2("203.0.113.21", "127.0.0.1", 40001, 443, alpn_tlv + ssl_tlv))
    assert seen["client"] == "203.0.113.21:40001" and seen["secure"] is True
    # LOCAL (the proxy's own health check): the socket's own address.
    local = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    seen = _debug(proxied.proxy_port, prefix=local)
    assert seen["client"].startswith("127.0.0.1:")


@pytest.mark.parametrize("data,why", [
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n" + GET_HB, "port"),
    (b"PROXY TCP4 ::1 ::1 1 2\r\n" + GET_HB, "family"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04abcd" + GET_HB, "shorter than its addresses"),
    (GET_HB, "no PROXY protocol header"),
])
def test_proxy_header_malformed_or_missing_closes_with_a_cef_event(proxied, data, why):
    before = len(_cef(proxied, "ProxyProtocol", count=0))
    assert _get(proxied.proxy_port, request=data) == b""
    lines = _cef(proxied, "ProxyProtocol", count=before + 1)
    assert len(lines) == before + 1 and why in lines[-1], lines
    assert "src=127.0.0.1" in lines[-1]
    # The plain listener beside it is not affected.
    assert _get(proxied.port).startswith(b"HTTP/1.1 200")


def test_proxy_header_must_arrive_within_header_timeout(proxied):
    before = len(_cef(proxied, "ProxyProtocol", count=0))
    with socket.create_connection(("127.0.0.1", proxied.proxy_port), timeout=5) as s:
        s.sendall(b"PROXY TCP4 1.2.")
        started = time.monotonic()
        assert _read_all(s, timeout=5) == b""
        assert time.monotonic() - started < 4
    lines = _cef(proxied, "ProxyProtocol", count=before + 1)
    assert "header_timeout" in lines[-1], lines


def test_proxy_header_before_tls(berth_server):
    second = berth.free_port()
    certs = berth.throwaway_certs()
    srv = berth_server(ROUTES + f"\n[tls]\ncert = {certs}/localhost.pem\n"
                                f"key = {certs}/localhost.key\n",
                       server={"listen": f"127.0.0.1:{{port}}, "
                                         f"127.0.0.1:{second} tls proxy_protocol"})
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", second), timeout=5) as s:
        s.sendall(b"PROXY TCP4 198.51.100.77 127.0.0.1 7777 443\r\n")
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            t.sendall(b"GET /__debug__?format=json HTTP/1.1\r\nHost: a\r\n"
                      b"Connection: close\r\n\r\n")
            resp = _response(_read_all(t))
    assert resp.status == 200
    seen = json.loads(resp.body)["request"]
    assert seen["client"] == "198.51.100.77:7777" and seen["secure"] is True
    assert srv.alive()


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy missing (Debian package haproxy)")
def test_behind_a_real_haproxy_with_send_proxy_v2(berth_server, tmp_path):
    second = berth.free_port()
    srv = berth_server(ROUTES, server={"listen": f"127.0.0.1:{{port}}, "
                                                 f"127.0.0.1:{second} proxy_protocol"})
    front = berth.free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(f"""global
    log stdout format raw local0 err
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend f
    bind 127.0.0.1:{front}
    default_backend b
backend b
    server berth 127.0.0.1:{second} send-proxy-v2
""")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "haproxy.err", "w"))
    try:
        assert berth.wait_until(lambda: berth._can_connect(front), 5), \
            (tmp_path / "haproxy.err").read_text()
        with socket.create_connection(("127.0.0.1", front), timeout=5) as s:
            client_port = s.getsockname()[1]
            s.sendall(GET_HB)
            resp = _read_all(s)
        assert resp.startswith(b"HTTP/1.1 200"), resp
        # The client's own port: HAProxy's connection to berthd has another one.
        lines = srv.request_log_lines(contains=f"127.0.0.1:{client_port} ")
        assert lines and "GET /hb" in lines[0], srv.request_log_lines(count=5)
        assert not _cef(srv, "ProxyProtocol", count=0)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
