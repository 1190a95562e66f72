"""Layer 65: HTTPS — handshakes with real clients (Python ssl, curl), protocol floor, ALPN, SNI,
plain HTTP on the TLS port, stalled handshakes, certificate checks and reload (HOSTILE case 38).

Certificates are made at test time with the openssl command (a throwaway CA)."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import berth

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_cert(d: Path, name: str, sans: str, ca: str = "ca", passphrase: str | None = None) -> None:
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
             cwd=d)
    (d / f"{name}.ext").write_text(f"subjectAltName={sans}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
             cwd=d)
    if passphrase:
        _openssl("pkey", "-in", f"{name}.key", "-aes256", "-passout", f"pass:{passphrase}",
                 "-out", f"{name}.enc.key", cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Berth Test CA",
             cwd=d)
    make_cert(d, "localhost", "DNS:localhost,IP:127.0.0.1", passphrase="s3cret")
    make_cert(d, "other.test", "DNS:other.test")
    make_cert(d, "renewed", "DNS:localhost,IP:127.0.0.1")
    # A key that belongs to no certificate here.
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-out", "stray.key", cwd=d)
    (d / "site").mkdir()
    (d / "site" / "big.bin").write_bytes(bytes(range(256)) * 4096 * 3)  # 3 MiB
    return d


def tls_config(certs: Path, extra: str = "") -> str:
    return f"""
[server]
graceful_timeout = 1s

[limits]
header_timeout = 1s

[tls]
enabled = yes
cert = {certs}/localhost.pem
key = {certs}/localhost.key

[tls:other.test]
cert = {certs}/other.test.pem
key = {certs}/other.test.key

[routes:line]
/ = {certs}/site
/echo = echo
/heartbeat = heartbeat
/stats = stats

[app:echo]
call = berth.echo

[app:stats]
call = berth.stats

[app:heartbeat]
call = berth.heartbeat
{extra}
"""


@pytest.fixture(scope="module")
def srv(module_berth_server, certs):
    return module_berth_server(tls_config(certs))


def client_context(certs: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    ctx.set_alpn_protocols(["http/1.1"])  # these cases speak HTTP/1.1 (h2: test_70_http2_basic)
    return ctx


def tls_request(port: int, certs: Path, raw: bytes, server_name: str = "localhost",
                ctx: ssl.SSLContext | None = None) -> tuple[bytes, ssl.SSLSocket]:
    ctx = ctx or client_context(certs)
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    tls = ctx.wrap_socket(sock, server_hostname=server_name)
    tls.sendall(raw)
    chunks = []
    while True:
        data = tls.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks), tls


def test_python_ssl_client_gets_a_response(srv, certs):
    data, tls = tls_request(srv.port, certs,
                            b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b"OK\n")
    assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert tls.selected_alpn_protocol() == "http/1.1"
    tls.close()


def test_a_closing_tls_connection_ends_after_its_close_notify(berth_server, certs):
    # The client asked for the close and sent nothing more: the server sends its close_notify
    # after the response and closes at once, as over plain TCP (nginx too), instead of lingering
    # for the client's close_notify. A client that keeps its socket open holds nothing on the
    # server; one that resumes finds the session it was given.
    srv = berth_server(tls_config(certs))  # its own: no other test's connections counted
    data, tls = tls_request(srv.port, certs,
                            b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    try:
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"OK\n")  # then close_notify

        def active() -> int:
            stats, _ = tls_request(srv.port, certs,
                                   b"GET /stats HTTP/1.1\r\nHost: localhost\r\n"
                                   b"Connection: close\r\n\r\n")
            return json.loads(stats.partition(b"\r\n\r\n")[2])["active_connections"]

        # Only the stats request's own connection, well within the 2 s linger timeout.
        deadline = time.monotonic() + 1.0
        while active() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert active() == 1
    finally:
        tls.close()


def test_curl_over_https(srv, certs):
    if shutil.which("curl") is None:
        pytest.skip("curl missing")
    out = subprocess.run(["curl", "-sS", "--cacert", str(certs / "ca.pem"), "-d", "hello tls",
                          f"https://localhost:{srv.port}/echo", "--resolve",
                          f"localhost:{srv.port}:127.0.0.1"],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"hello tls"


def test_keep_alive_and_pipelining_over_tls(srv, certs):
    reqs = b"".join(b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\n\r\n" for _ in range(5))
    reqs += b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    data, tls = tls_request(srv.port, certs, reqs)
    tls.close()
    assert data.count(b"HTTP/1.1 200 ") == 6


def test_large_file_intact_over_tls(srv, certs):
    data, tls = tls_request(srv.port, certs,
                            b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    tls.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    expected = (certs / "site" / "big.bin").read_bytes()
    assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest()


def test_sni_selects_the_certificate(srv, certs):
    ctx = client_context(certs)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="other.test") as tls:
            cert = tls.getpeercert()
            names = [v for k, v in cert["subjectAltName"]]
            assert "other.test" in names
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
            names = [v for k, v in tls.getpeercert()["subjectAltName"]]
            assert "localhost" in names


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # offering old TLS is the point
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_protocol_versions_are_refused(srv, certs, version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client at least try
        ctx.minimum_version = getattr(ssl.TLSVersion, version)
        ctx.maximum_version = getattr(ssl.TLSVersion, version)
    except (ValueError, ssl.SSLError):
        pytest.skip(f"this Python/OpenSSL can't even offer {version}")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                tls.recv(10)
    # The server is still fine:
    data, tls = tls_request(srv.port, certs,
                            b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")


def test_plain_http_to_tls_port_gets_400(srv):
    data = berth.raw(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", timeout=3)
    assert data.startswith(b"HTTP/1.1 400 ")
    assert b"HTTPS" in data


def test_garbage_client_hello_is_closed(srv, certs):
    data = berth.raw(srv.port, b"\x16\x03\x01\x00\x05hello" + b"\x00" * 64, timeout=3)
    assert not data.startswith(b"HTTP/1.1 200")
    data, tls = tls_request(srv.port, certs,
                            b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")


def test_stalled_handshake_is_closed_at_header_timeout(srv):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        start = time.monotonic()
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - start
    assert data == b""
    assert 0.5 <= elapsed <= 3.5


def test_second_tls_port_beside_plain_port(berth_server, certs):
    tls_port = berth.free_port()
    srv = berth_server(f"""
[tls]
port = {tls_port}
cert = {certs}/localhost.pem
key = {certs}/localhost.enc.key
passphrase = s3cret

[routes:line]
/heartbeat = heartbeat

[app:heartbeat]
call = berth.heartbeat
""")
    assert srv.request("GET", "/heartbeat").status == 200  # plain on the main port
    berth.wait_until(lambda: _can_connect(tls_port))
    data, tls = tls_request(tls_port, certs,
                            b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")


def test_passphrase_file_from_credentials_directory(berth_server, certs, tmp_path):
    # systemd LoadCredential=: a relative passphrase_file is looked up in $CREDENTIALS_DIRECTORY.
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "tls-passphrase").write_text("s3cret\n")
    tls_port = berth.free_port()
    srv = berth_server(f"""
[tls]
port = {tls_port}
cert = {certs}/localhost.pem
key = {certs}/localhost.enc.key
passphrase_file = tls-passphrase

[routes:line]
/heartbeat = heartbeat

[app:heartbeat]
call = berth.heartbeat
""", env={"CREDENTIALS_DIRECTORY": str(creds)})
    berth.wait_until(lambda: _can_connect(tls_port))
    data, _ = tls_request(tls_port, certs,
                          b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ")


def _can_connect(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_sighup_reloads_certificates(berth_server, certs, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(certs / "localhost.pem", live / "cert.pem")
    shutil.copy(certs / "localhost.key", live / "key.pem")
    srv = berth_server(f"""
[tls]
enabled = yes
cert = {live}/cert.pem
key = {live}/key.pem

[routes:line]
/heartbeat = heartbeat

[app:heartbeat]
call = berth.heartbeat
""")

    def serial() -> int:
        ctx = client_context(certs)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                return int(tls.getpeercert()["serialNumber"], 16)

    before = serial()
    shutil.copy(certs / "renewed.pem", live / "cert.pem")
    shutil.copy(certs / "renewed.key", live / "key.pem")
    srv.proc.send_signal(signal.SIGHUP)
    assert berth.wait_until(lambda: serial() != before, timeout=3)
    # A broken certificate on the next reload keeps the current one in service.
    (live / "cert.pem").write_text("not a certificate\n")
    srv.proc.send_signal(signal.SIGHUP)
    assert berth.wait_until(lambda: "keeping the old certificates" in srv.server_log())
    assert serial() != before


@pytest.mark.parametrize("case", ["mismatched_key", "missing_cert", "wrong_passphrase"])
def test_check_reports_certificate_problems(tmp_path, certs, case):
    cert, key, extra = f"{certs}/localhost.pem", f"{certs}/localhost.key", ""
    if case == "mismatched_key":
        key = f"{certs}/stray.key"
    elif case == "missing_cert":
        cert = f"{tmp_path}/nope.pem"
    else:
        key, extra = f"{certs}/localhost.enc.key", "passphrase = wrong\n"
    conf, text = berth.write_conf(tmp_path, f"[tls]\nenabled = yes\ncert = {cert}\nkey = {key}\n{extra}")
    result = berth.run_cli("check", "-c", str(conf))
    assert result.returncode == 1, result
    line = berth.line_of(text, "[tls]")
    problem = [l for l in result.lines if l.startswith(f"{conf}:{line}: [tls]")]
    assert problem, result
    named = {"mismatched_key": "stray.key", "missing_cert": "nope.pem",
             "wrong_passphrase": "localhost.enc.key"}[case]
    assert named in problem[0]


@pytest.mark.parametrize("mode", ["require", "optional"])
def test_client_certificate_verification(berth_server, certs, mode):
    # A client certificate signed by the test CA.
    if not (certs / "client.pem").exists():
        make_cert(certs, "client", "DNS:client.test")
    srv = berth_server(f"""
[tls]
enabled = yes
cert = {certs}/localhost.pem
key = {certs}/localhost.key
client_ca = {certs}/ca.pem
verify_client = {mode}

[routes:line]
/heartbeat = heartbeat

[app:heartbeat]
call = berth.heartbeat
""")
    request = b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    with_cert = client_context(certs)
    with_cert.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    data, tls = tls_request(srv.port, certs, request, ctx=with_cert)
    assert data.startswith(b"HTTP/1.1 200 ")
    if mode == "require":
        # TLS 1.3 reports a refused client certificate on the first read, not in the handshake.
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            data, tls = tls_request(srv.port, certs, request)
            if not data:
                raise ConnectionResetError("closed without a response")
    else:
        data, tls = tls_request(srv.port, certs, request)
        assert data.startswith(b"HTTP/1.1 200 ")


def test_over_max_connections_a_tls_client_gets_no_plaintext(berth_server, certs):
    """Over max_connections a TLS listener closes the connection without a byte: a plaintext
    503 inside the TLS stream would be garbage. The refusal is still logged and counted."""
    srv = berth_server(tls_config(certs, "\n[limits]\nmax_connections = 2\n"))
    ctx = client_context(certs)
    holders = []

    def one_more_holder() -> bool:
        # The readiness probe closes asynchronously and may hold a place for a moment.
        try:
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            tls = ctx.wrap_socket(sock, server_hostname="localhost")
            tls.sendall(b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\n\r\n")
            if tls.recv(65536).startswith(b"HTTP/1.1 200 "):
                holders.append(tls)
                return True
            tls.close()
        except (OSError, ssl.SSLError):
            pass
        return False

    try:
        for _ in range(2):
            assert berth.wait_until(one_more_holder, timeout=3)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            raw.sendall(b"\x16\x03\x01\x00\x05hello")  # the start of a ClientHello
            received = b""
            try:
                while True:
                    data = raw.recv(4096)
                    if not data:
                        break
                    received += data
            except ConnectionResetError:
                pass
        assert b"HTTP/" not in received and b"503" not in received, received
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                tls.sendall(b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\n\r\n")
                if not tls.recv(65536):
                    raise ConnectionError("closed")
        lines = srv.request_log_lines(contains=" 503 ", count=2)
        assert len(lines) >= 2 and all(l.split(" ")[4:8] == ["-", "-", "-", "503"]
                                       for l in lines), lines
    finally:
        for tls in holders:
            tls.close()
    # Once they leave there is room again.
    assert berth.wait_until(lambda: _tls_ok(srv.port, certs), timeout=3)


def _tls_ok(port: int, certs: Path) -> bool:
    try:
        data, tls = tls_request(port, certs, b"GET /heartbeat HTTP/1.1\r\nHost: localhost\r\n"
                                              b"Connection: close\r\n\r\n")
        tls.close()
        return data.startswith(b"HTTP/1.1 200 ")
    except (OSError, ssl.SSLError):
        return False
