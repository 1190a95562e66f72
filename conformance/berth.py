"""Harness for the Berth black-box conformance suite.

Everything here talks to a real ``berthd`` over 127.0.0.1 only, with bounded timeouts:

* ``BerthServer`` / ``ServerFactory`` start ``berthd run -c <conf>`` on a free port with an inline
  config and always stop it again (SIGTERM, 5 s, SIGKILL).
* ``RawConn`` / ``raw()`` send exact bytes and parse what comes back (status line, headers, body by
  Content-Length, chunked or close; several pipelined responses from one buffer).
* ``run_cli()`` runs ``berthd check`` / ``version`` / ``log`` and returns the combined output.
* ``parse_request_log_line()`` splits a request.log line into named fields.

No PyPI dependencies: the standard library only (``requests`` is used by some tests directly).
"""

from __future__ import annotations

import atexit
import email.utils
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DEFAULT_BINARY = REPO_ROOT / "build" / "server" / "berthd"

HOST = "127.0.0.1"
READY_TIMEOUT = 10.0      # berthd must accept connections this soon after start
STOP_TIMEOUT = 5.0        # SIGTERM grace before SIGKILL
LOG_POLL_TIMEOUT = 3.0    # logs are buffered (~100 ms); poll this long for lines to appear

# The wire layer, as berth.X for the tests (its own module: http1wire.py).
from http1wire import (NoResponse, ProtocolError, RawConn, Response, build_request,  # noqa: E402,F401
                       chunked, parse_response, parse_responses, raw)

# Signals that mean "the server crashed" rather than "we stopped it".
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer")


# --------------------------------------------------------------------------------------------
# Binary and ports
# --------------------------------------------------------------------------------------------

def binary_path() -> Path:
    """$BERTHD if set, else <repo>/build/server/berthd."""
    env = os.environ.get("BERTHD")
    return Path(env).resolve() if env else DEFAULT_BINARY


def binary_problem() -> str | None:
    """None when the binary is usable, else a message saying what to do."""
    path = binary_path()
    if not path.exists():
        return (f"berthd not found at {path}. Build it (cmake -S {REPO_ROOT} -B {REPO_ROOT}/build && "
                f"cmake --build {REPO_ROOT}/build) or set BERTHD=/path/to/berthd.")
    if not os.access(path, os.X_OK):
        return f"berthd at {path} is not executable."
    return None


def free_port() -> int:
    """A TCP port that was free a moment ago (bind 127.0.0.1:0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Config rendering
# --------------------------------------------------------------------------------------------

_SECTION_RE = re.compile(r"^\s*\[([^\]]+)\]\s*(?:[;#].*)?$")


def substitute(text: str, port: int | str, tmp: Path | str) -> str:
    """Replace only the {port} and {tmp} placeholders (so ${ENV} and other braces survive)."""
    return text.replace("{port}", str(port)).replace("{tmp}", str(tmp))


def _dict_to_ini(config: Mapping[str, object]) -> str:
    out: list[str] = []
    for section, body in config.items():
        out.append(f"[{section}]")
        if isinstance(body, str):
            out.extend(body.strip("\n").splitlines())
        elif isinstance(body, Mapping):
            out.extend(f"{k} = {v}" for k, v in body.items())
        else:  # a list of raw lines, e.g. for [routes:line]
            out.extend(str(line) for line in body)
        out.append("")
    return "\n".join(out)


def render_config(config: str | Mapping[str, object] | None, *, port: int, tmp: Path,
                  server: Mapping[str, object] | None = None) -> str:
    """The test's config merged under a base [server] section.

    The base is ``ip = 127.0.0.1, port = <port>, workers = 0, log_dir = <tmp>/logs, name = test``
    (plus ``allow_root = yes`` when the suite runs as root, as CI does);
    keys the test sets in its own [server] section (or via ``server=``) win. The test's other
    sections are kept verbatim, in order. ``{port}`` and ``{tmp}`` are substituted.
    """
    base: dict[str, object] = {"name": "test", "ip": HOST, "port": port, "workers": 0,
                               "log_dir": f"{tmp}/logs"}
    if os.geteuid() == 0:
        base["allow_root"] = "yes"
    if config is None:
        text = ""
    elif isinstance(config, str):
        text = config
    else:
        text = _dict_to_ini(config)
    text = substitute(text, port, tmp)

    # Pull the [server] section(s) out of the text and merge their keys over the base.
    rest: list[str] = []
    in_server = False
    for line in text.splitlines():
        m = _SECTION_RE.match(line)
        if m:
            in_server = m.group(1).strip().lower() == "server"
            if in_server:
                continue
        if in_server:
            stripped = line.strip()
            if not stripped or stripped[0] in ";#":
                continue
            if "=" in stripped:
                key, value = stripped.split("=", 1)
                base[key.strip().lower()] = value.strip()
                continue
        rest.append(line)
    for key, value in (server or {}).items():
        base[key] = substitute(str(value), port, tmp)

    head = ["[server]"] + [f"{k} = {v}" for k, v in base.items()] + [""]
    return "\n".join(head + rest).rstrip("\n") + "\n"


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line that contains ``needle`` (the n-th such line)."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise ValueError(f"{needle!r} not in config text")


# --------------------------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------------------------

_LIVE: "set[BerthServer]" = set()
_LIVE_LOCK = threading.Lock()


def kill_leftovers() -> None:
    """Safety net (atexit / sessionfinish): kill any berthd this harness started and didn't stop."""
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for srv in servers:
        try:
            srv.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(kill_leftovers)


def live_servers() -> "list[BerthServer]":
    with _LIVE_LOCK:
        return list(_LIVE)


class ServerStartError(AssertionError):
    pass


class BerthServer:
    """One ``berthd run`` process on a free port, with its own directory."""

    def __init__(self, tmp: Path, config_text: str, *, port: int,
                 extra_confs: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 args: Sequence[str] = ()):
        self.tmp = Path(tmp)
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.log_dir = self.tmp / "logs"
        self.conf_path = self.tmp / "berth.conf"
        self.conf_text = config_text
        self.extra_conf_paths: list[Path] = []
        self.stdout_path = self.tmp / "berthd.stdout"
        self.stderr_path = self.tmp / "berthd.stderr"
        self.proc: subprocess.Popen | None = None
        self.stopped = False
        self.crash_reported = False
        self.exit_problem: str | None = None

        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(config_text)
        for i, text in enumerate(extra_confs):
            p = self.tmp / f"berth-extra{i}.conf"
            p.write_text(substitute(text, port, self.tmp))
            self.extra_conf_paths.append(p)
        self.env = dict(os.environ)
        # An ASan/UBSan berthd: what CPython leaves at exit is not berthd's (lsan.supp).
        self.env.setdefault("LSAN_OPTIONS", f"suppressions={HERE / 'lsan.supp'}")
        self.env.update(env or {})
        self.args = list(args)

    # -- lifecycle -------------------------------------------------------------------------
    def command(self) -> list[str]:
        cmd = [str(binary_path()), "run", "-c", str(self.conf_path)]
        for p in self.extra_conf_paths:
            cmd += ["-c", str(p)]
        return cmd + self.args

    def start(self, wait: bool = True) -> "BerthServer":
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=self.tmp, env=self.env,
                                         start_new_session=True)
        finally:
            out.close()
            err.close()
        with _LIVE_LOCK:
            _LIVE.add(self)
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()
                raise
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"berthd exited with {self.proc.returncode} before accepting connections\n"
                    f"command: {' '.join(self.command())}\n{self.describe()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"berthd did not accept connections on {HOST}:{self.port} within {timeout}s\n"
                    f"{self.describe()}")
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def died_unexpectedly(self) -> bool:
        return self.proc is not None and not self.stopped and self.proc.poll() is not None

    def stop(self) -> int | None:
        """SIGTERM, wait 5 s, SIGKILL. Idempotent. Returns the exit status."""
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None:
                was_running = True
                try:
                    self.proc.send_signal(signal.SIGTERM)
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.exit_problem = f"berthd ignored SIGTERM for {STOP_TIMEOUT}s; killed"
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_TIMEOUT)
            else:
                was_running = False
        finally:
            self.stopped = True
            with _LIVE_LOCK:
                _LIVE.discard(self)
        rc = self.proc.returncode
        if rc is not None and rc < 0 and -rc in {int(s) for s in CRASH_SIGNALS}:
            where = "during shutdown" if was_running else "while running"
            self.exit_problem = f"berthd died from signal {-rc} {where}"
        return rc

    def signal_and_wait(self, sig: int, timeout: float = STOP_TIMEOUT) -> int | None:
        """Send ``sig`` and wait for the exit (the test expects it to exit). Returns the exit
        status, or None when it did not exit in time (it is then killed by stop())."""
        self.stopped = True  # an exit from here on is intended, not a crash
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if self.proc.poll() is not None:
                with _LIVE_LOCK:
                    _LIVE.discard(self)

    # -- diagnostics ---------------------------------------------------------------------------
    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def sanitizer_report(self) -> str | None:
        text = self.stderr() + self.stdout()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                i = text.index(marker)
                return text[max(0, i - 200): i + 3000]
        return None

    def describe(self, tail: int = 4000) -> str:
        return (f"--- config {self.conf_path} ---\n{self.conf_text}\n"
                f"--- stdout (tail) ---\n{self.stdout()[-tail:]}\n"
                f"--- stderr (tail) ---\n{self.stderr()[-tail:]}\n"
                f"--- server.log (tail) ---\n{self.server_log()[-tail:]}")

    # -- logs ------------------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.log_dir / name

    def server_log(self) -> str:
        try:
            return self.log_path("server.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def request_log_lines(self, contains: str | None = None, count: int = 1,
                          timeout: float = LOG_POLL_TIMEOUT) -> list[str]:
        """request.log lines (those containing ``contains`` if given), polling up to ``timeout``
        seconds until at least ``count`` of them are there. Returns what there is at the end."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                text = self.log_path("request.log").read_text(errors="replace")
            except FileNotFoundError:
                text = ""
            lines = [l for l in text.splitlines() if l.strip()]
            if contains is not None:
                lines = [l for l in lines if contains in l]
            if len(lines) >= count or time.monotonic() >= deadline:
                return lines
            time.sleep(0.05)

    # -- convenience -----------------------------------------------------------------------------
    def conn(self, timeout: float = 3.0) -> "RawConn":
        return RawConn(self.port, timeout=timeout)

    def request(self, method: str = "GET", target: str = "/", *, host: str | None = "a",
                headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
                body: bytes = b"", version: str = "HTTP/1.1", timeout: float = 3.0,
                close: bool = True) -> "Response":
        """One request on a fresh connection; returns the parsed response."""
        hdrs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        if close and version == "HTTP/1.1" and not any(k.lower() == "connection" for k, _ in hdrs):
            hdrs.append(("Connection", "close"))
        with RawConn(self.port, timeout=timeout) as c:
            c.send(build_request(method, target, host=host, headers=hdrs, body=body,
                                 version=version))
            return c.recv_response(method=method)

    tls_port: int | None = None

    def fetch(self, method: str = "GET", target: str = "/", *, transport: str = "h1",
              host: str = "a", headers: Sequence[tuple[str, str]] | Mapping[str, str] = (),
              body: bytes = b"", timeout: float = 5.0) -> "Response":
        """One request on a fresh connection over ``transport`` (one of TRANSPORTS): h1 and
        h1-tls through RawConn, h2c and h2-tls through conformance/h2client.py. The Response is the
        same shape for all (``version`` says which protocol answered: HTTP/1.1 or HTTP/2.0).
        Connection-specific headers (Connection, Host, Transfer-Encoding) are HTTP/1 only: over
        h2 the host becomes :authority and the others are dropped."""
        hdrs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}")
        tls = transport.endswith("tls")
        port = self.tls_port if tls else self.port
        if tls and port is None:
            raise AssertionError("this server has no TLS listener: start it with tls=True")
        if transport.startswith("h1"):
            if not any(k.lower() == "connection" for k, _ in hdrs):
                hdrs.append(("Connection", "close"))
            with RawConn(port, timeout=timeout, tls=tls) as c:
                c.send(build_request(method, target, host=host, headers=hdrs, body=body))
                return c.recv_final(method=method)
        import h2client  # conformance/h2client.py (python3-h2 underneath)
        h2hdrs = [(k, v) for k, v in hdrs
                  if k.lower() not in ("connection", "host", "transfer-encoding", "keep-alive",
                                       "upgrade", "proxy-connection")]
        return h2client.fetch(port, method, target, tls=tls, headers=h2hdrs, body=body,
                              authority=host, timeout=timeout)

    def assert_serving(self, target: str = "/__berth_probe__") -> "Response":
        """A fresh connection still gets a well-formed response (any status)."""
        assert self.alive(), f"berthd is not running any more\n{self.describe()}"
        try:
            resp = self.request("GET", target, timeout=3.0)
        except NoResponse as e:
            raise AssertionError(f"server stopped serving fresh connections: {e}") from None
        assert 100 <= resp.status <= 599
        return resp

    def __repr__(self) -> str:
        return f"<BerthServer port={self.port} tmp={self.tmp}>"


def write_files(root: Path, files: Mapping[str, object] | None) -> None:
    """Create files under root. Values: bytes/str content, or ('symlink', target),
    or ('dir',) for an empty directory."""
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):
            kind = content[0]
            if kind == "symlink":
                if path.is_symlink() or path.exists():
                    path.unlink()
                os.symlink(substitute(str(content[1]), "", root), path)
            elif kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
            else:
                raise ValueError(kind)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(str(content))


class ServerFactory:
    """Starts servers in subdirectories of ``base`` and stops all of them on ``close()``."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.servers: list[BerthServer] = []

    def __call__(self, config: str | Mapping[str, object] | None = None, *,
                 files: Mapping[str, object] | None = None,
                 server: Mapping[str, object] | None = None,
                 extra_confs: Sequence[str] = (), env: Mapping[str, str] | None = None,
                 port: int | None = None, wait: bool = True,
                 args: Sequence[str] = (), tls: bool = False) -> BerthServer:
        """``tls=True`` adds a second listener speaking TLS (``srv.tls_port``, throwaway
        certificates from throwaway_certs()) beside the cleartext port, so one server serves every
        transport of the per-transport tests (h1, h1-tls, h2-tls, h2c)."""
        tmp = self.base / f"srv{len(self.servers)}"
        tmp.mkdir(parents=True, exist_ok=True)
        write_files(tmp, files)
        port = port or free_port()
        text = render_config(config, port=port, tmp=tmp, server=server)
        tls_port = None
        if tls:
            certs = throwaway_certs()
            tls_port = free_port()
            text += (f"\n[tls]\nport = {tls_port}\ncert = {certs}/localhost.pem\n"
                     f"key = {certs}/localhost.key\n")
        srv = BerthServer(tmp, text, port=port, extra_confs=extra_confs, env=env, args=args)
        srv.tls_port = tls_port
        self.servers.append(srv)
        srv.start(wait=wait)
        if wait and tls_port and not wait_until(lambda: _can_connect(tls_port), READY_TIMEOUT):
            raise ServerStartError(f"TLS port {tls_port} not accepting\n{srv.describe()}")
        return srv

    def close(self) -> list[str]:
        """Stop everything; return problems (crash signals, sanitizer reports) to report."""
        problems = []
        for srv in self.servers:
            try:
                srv.stop()
            finally:
                if srv.exit_problem and not srv.crash_reported:
                    problems.append(f"{srv!r}: {srv.exit_problem}\n{srv.describe(2000)}")
                report = srv.sanitizer_report()
                if report and not srv.crash_reported:
                    problems.append(f"{srv!r}: sanitizer report\n{report}")
                srv.crash_reported = True
        return problems


def _can_connect(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Transports and test certificates
# --------------------------------------------------------------------------------------------

# The per-transport parameter (conftest.py's ``transport`` fixture): HTTP/1.1, HTTPS/1.1,
# h2 over TLS (ALPN), h2c by prior knowledge.
TRANSPORTS = ("h1", "h1-tls", "h2-tls", "h2c")

_CERTS: Path | None = None
_CERTS_LOCK = threading.Lock()


def throwaway_certs() -> Path:
    """A directory with a throwaway CA (ca.pem) and localhost.pem/.key signed by it (SAN
    localhost and 127.0.0.1), made once per process with the openssl command."""
    global _CERTS
    with _CERTS_LOCK:
        if _CERTS is None:
            d = Path(tempfile.mkdtemp(prefix="berth-certs-"))

            def run(*args: str) -> None:
                subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True,
                               timeout=60)

            run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
                "/CN=Berth Test CA")
            run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "localhost.key", "-out", "localhost.csr", "-subj",
                "/CN=localhost")
            (d / "localhost.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            run("x509", "-req", "-in", "localhost.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", "localhost.pem", "-extfile",
                "localhost.ext")
            _CERTS = d
            atexit.register(lambda: subprocess.run(["rm", "-rf", str(d)], check=False))
        return _CERTS


# --------------------------------------------------------------------------------------------
# Common assertions
# --------------------------------------------------------------------------------------------

def assert_common_headers(resp: Response) -> None:
    """Every response carries X-Berth-Txn (non-empty), a valid Date and Server."""
    txn = resp.header("x-berth-txn")
    assert txn and txn.strip(), f"missing/empty X-Berth-Txn: {resp!r}"
    date = resp.header("date")
    assert date, f"missing Date: {resp!r}"
    assert email.utils.parsedate_to_datetime(date) is not None, f"bad Date {date!r}"
    assert date.endswith("GMT"), f"Date not in IMF-fixdate form: {date!r}"
    assert resp.header("server"), f"missing Server: {resp!r}"


def assert_error_body(resp: Response) -> None:
    """Error responses are short text bodies starting with "<code> <reason>"."""
    text = resp.body.decode("latin-1")
    assert text.startswith(str(resp.status)), f"error body does not start with the status: {resp!r}"
    if resp.reason:
        assert text.startswith(f"{resp.status} {resp.reason}"), \
            f"error body does not start with '{resp.status} {resp.reason}': {resp!r}"
    assert len(resp.body) < 4096, f"error body is not short: {len(resp.body)} bytes"


def child_pids(pid: int) -> set[int]:
    """Live (not zombie) child processes of pid: the children of a berthd master."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + ("\n" if self.stdout and not self.stdout.endswith("\n") else "") \
            + self.stderr

    @property
    def lines(self) -> list[str]:
        return [l.rstrip("\r") for l in self.output.splitlines()]

    def __repr__(self) -> str:
        return f"<CliResult rc={self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}>"


def run_cli(*args: str, timeout: float = 10.0, cwd: Path | str | None = None,
            env: Mapping[str, str] | None = None) -> CliResult:
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run([str(binary_path()), *args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, cwd=cwd, env=full_env)
    return CliResult(p.returncode, p.stdout.decode(errors="replace"),
                     p.stderr.decode(errors="replace"))


# --------------------------------------------------------------------------------------------
# request.log
# --------------------------------------------------------------------------------------------

REQUEST_LOG_RE = re.compile(
    r"^(?P<date>\d{4}\.\d{2}\.\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) "
    r"(?P<client_ip>\S+):(?P<client_port>\d+) "
    r"(?P<server_name>\S+):(?P<server_port>\d+) "
    r"(?P<method>\S+) (?P<url>\S+) (?P<version>HTTP/\d\.\d) "
    r"(?P<status>\d{3}) (?P<bytes_received>\d+) (?P<bytes_sent>\d+) "
    r"(?P<global_txn>\S+) (?P<local_txn>\S+) (?P<user>\S+) (?P<token>\S+) "
    r"\"(?P<user_agent>(?:[^\"\\]|\\.)*)\" "
    r"(?P<handling>\d+(?:\.\d+)?)ms (?P<sending>\d+(?:\.\d+)?)ms$")


def parse_request_log_line(line: str) -> dict[str, str] | None:
    m = REQUEST_LOG_RE.match(line.rstrip("\r\n"))
    return m.groupdict() if m else None


def write_conf(directory: Path, body: str | Mapping[str, object] | None = None, *,
               port: int = 8080, name: str = "berth.conf",
               server: Mapping[str, object] | None = None) -> tuple[Path, str]:
    """A complete config file (base [server] section + body) for `berthd check` / failing runs.
    Returns (path, text) so tests can compute line numbers with line_of()."""
    directory = Path(directory)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    text = render_config(body, port=port, tmp=directory, server=server)
    path = directory / name
    path.write_text(text)
    return path, text


def diagnostic_lines(result: "CliResult", path: Path | str, line: int) -> list[str]:
    """Output lines that are diagnostics for path:line."""
    prefix = f"{path}:{line}: "
    return [l for l in result.lines if l.startswith(prefix)]
