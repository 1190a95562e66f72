"""berth.wsgi (issue #14): Python WSGI apps hosted in the worker's embedded CPython.

Each test writes its app into the server's temp dir. One server serves most cases (plain app,
form POST, streaming and chunked uploads, errors, exc_info, write(), file_wrapper, the mount
split); the Flask app, the venv, the import failure and the thread pool get servers of their
own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import berth
from berth import HOST, run_cli

APP = r'''
import os, sys, time, logging

log = logging.getLogger('demo.app')
CLOSED = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'closed.txt')

def hello(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello ', environ['SCRIPT_NAME'].encode(), b'|', environ['PATH_INFO'].encode()]

def env(environ, start_response):
    import json
    keys = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int))}
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(keys).encode()]

def form(environ, start_response):
    from urllib.parse import parse_qs
    length = int(environ.get('CONTENT_LENGTH') or 0)
    fields = parse_qs(environ['wsgi.input'].read(length).decode())
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('name=%s' % fields['name'][0]).encode()]

def upload(environ, start_response):
    import hashlib
    digest, total = hashlib.sha256(), 0
    body = environ['wsgi.input']
    while True:
        chunk = body.read(65536)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%d %s %s' % (total, digest.hexdigest(), 'CONTENT_LENGTH' in environ)).encode()]

def lines(environ, start_response):
    body = environ['wsgi.input']
    first = body.readline()
    rest = list(body)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'%d:%s:%d' % (len(first), first.strip(), len(rest))]

def download(environ, start_response):
    size = int(environ['QUERY_STRING'])
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    block = b'x' * 65536
    def gen():
        left = size
        while left > 0:
            yield block[:min(left, len(block))]
            left -= len(block)
    return gen()

def raise_before(environ, start_response):
    raise ValueError('boom before')

def raise_after(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield b'partial'
        raise ValueError('boom after')
    return gen()

def exc_info_app(environ, start_response):
    try:
        raise KeyError('first')
    except KeyError:
        start_response('500 Oops', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'handled']

def reraise(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'started'
    try:
        raise KeyError('late')
    except KeyError:
        start_response('500 Oops', [], sys.exc_info())

def writer(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'one ')
    write(b'two ')
    return [b'three']

def filewrap(environ, start_response):
    path = os.path.abspath(__file__)
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(os.path.getsize(path)))])
    return environ['wsgi.file_wrapper'](open(path, 'rb'), 8192)

def hop(environ, start_response):
    start_response('200 OK', [('Connection', 'close')])
    return [b'no']

def logs(environ, start_response):
    print('printed line')
    log.warning('logged warning')
    environ['wsgi.errors'].write('errors line\n')
    start_response('204 No Content', [])
    return []

class Slow:
    def __init__(self):
        self.n = 0
    def __iter__(self):
        return self
    def __next__(self):
        self.n += 1
        time.sleep(0.05)
        return b'y' * 65536
    def close(self):
        with open(CLOSED, 'a') as f:
            f.write('closed %d\n' % self.n)

def forever(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Slow()

def sleepy(environ, start_response):
    time.sleep(1.0)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'slept']
'''

ROUTES = ["hello", "env", "form", "upload", "lines", "download", "raise_before", "raise_after",
          "exc_info_app", "reraise", "writer", "filewrap", "hop", "logs", "forever", "sleepy"]


def wsgi_config(tmp_routes: str = "", threads: int = 8) -> str:
    lines = "\n".join(f"/{name} = wsgi:{{tmp}}/demoapp.py:{name}" for name in ROUTES)
    return f"""
[routes:line]
{lines}
/mount/point = mounted
{tmp_routes}

[app:mounted]
call = berth.wsgi
module = {{tmp}}/demoapp.py
callable = hello
wsgi_threads = {threads}
max_body_bytes = 300M
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory, berthd_bin):
    factory = berth.ServerFactory(tmp_path_factory.mktemp("wsgi"))
    # Uploads go through "/upload"; [limits] raises the body cap for the inline routes.
    server = factory(wsgi_config() + "\n[limits]\nmax_body_bytes = 300M\n",
                     files={"demoapp.py": APP})
    yield server
    factory.close()


def app_log(srv) -> str:
    path = srv.log_path("app.log")
    return path.read_text() if path.exists() else ""


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_hello_and_mount_split(srv):
    r = requests.get(f"{srv.url}/hello/x/y?q=1", timeout=10)
    assert r.status_code == 200 and r.text == "hello /hello|/x/y"
    r = requests.get(f"{srv.url}/mount/point/deeper/path", timeout=10)
    assert r.text == "hello /mount/point|/deeper/path"


def test_environ_keys(srv):
    r = requests.get(f"{srv.url}/env/p?a=b", headers={"X-Custom": "v", "X_Spoof": "bad"},
                     timeout=10)
    env = r.json()
    for key in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
                "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "wsgi.url_scheme"):
        assert key in env, key
    assert env["QUERY_STRING"] == "a=b" and env["HTTP_X_CUSTOM"] == "v"
    assert "HTTP_X_SPOOF" not in env  # underscore names dropped
    assert env["wsgi.url_scheme"] == "http" and env["wsgi.input_terminated"] is True
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["SERVER_PORT"] == str(srv.port)
    assert "CONTENT_LENGTH" not in env


def test_form_post(srv):
    r = requests.post(f"{srv.url}/form", data={"name": "ada"}, timeout=10)
    assert r.text == "name=ada"


def test_chunked_upload_and_readline(srv):
    def body():
        yield b"first line\n"
        for i in range(5):
            yield b"line %d\n" % i
    r = requests.post(f"{srv.url}/lines", data=body(), timeout=10)
    assert r.text == "11:first line:5"
    r = requests.post(f"{srv.url}/upload", data=iter([b"a" * 1000, b"b" * 5000]), timeout=10)
    total, _, has_length = r.text.split()
    assert total == "6000" and has_length == "False"


def test_big_streaming_upload_and_download_rss_bounded(srv):
    import hashlib
    size = 200 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    for _ in range(size // len(block)):
        digest.update(block)

    def body():
        for _ in range(size // len(block)):
            yield block
    import http.client
    conn = http.client.HTTPConnection(HOST, srv.port, timeout=120)
    conn.request("POST", "/upload", body=body(), headers={"Content-Length": str(size)})
    answer = conn.getresponse().read().decode()
    conn.close()
    assert answer == f"{size} {digest.hexdigest()} True"
    got = 0
    with requests.get(f"{srv.url}/download?{size}", stream=True, timeout=120) as r:
        for chunk in r.iter_content(1 << 20):
            got += len(chunk)
    assert got == size
    rss_kb = int([l for l in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines()
                  if l.startswith("VmHWM")][0].split()[1])
    assert rss_kb < 150 * 1024, f"peak RSS {rss_kb} kB: a body was buffered whole"


def test_exception_before_start_response_is_500_with_txn(srv):
    r = requests.get(f"{srv.url}/raise_before", timeout=10)
    assert r.status_code == 500
    txn = r.headers["X-Berth-Txn"]
    assert txn in r.text
    assert wait_for(lambda: "boom before" in app_log(srv) and txn in app_log(srv))
    assert "Traceback" in app_log(srv)


def test_exception_after_start_response_cuts_the_response(srv):
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(f"{srv.url}/raise_after", timeout=10).content
    assert wait_for(lambda: "boom after" in app_log(srv))


def test_exc_info(srv):
    r = requests.get(f"{srv.url}/exc_info_app", timeout=10)
    assert r.status_code == 500 and r.text == "handled"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(f"{srv.url}/reraise", timeout=10).content
    assert wait_for(lambda: "KeyError: 'late'" in app_log(srv))


def test_write_callable(srv):
    assert requests.get(f"{srv.url}/writer", timeout=10).text == "one two three"


def test_file_wrapper(srv):
    r = requests.get(f"{srv.url}/filewrap", timeout=10)
    assert r.status_code == 200 and r.text == APP


def test_hop_by_hop_header_refused(srv):
    r = requests.get(f"{srv.url}/hop", timeout=10)
    assert r.status_code == 500
    assert wait_for(lambda: "hop-by-hop" in app_log(srv))


def test_print_logging_and_errors_go_to_app_log(srv):
    assert requests.get(f"{srv.url}/logs", timeout=10).status_code == 204
    assert wait_for(lambda: "printed line" in app_log(srv))
    log = app_log(srv)
    assert "demo.app: logged warning" in log and "errors line" in log


def test_close_called_on_client_disconnect(srv):
    closed = srv.tmp / "closed.txt"
    with socket.create_connection((HOST, srv.port), timeout=5) as s:
        s.sendall(b"GET /forever HTTP/1.1\r\nHost: a\r\n\r\n")
        s.recv(65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert wait_for(lambda: closed.exists() and "closed" in closed.read_text(), 15)


def test_eight_slow_requests_run_in_parallel(srv):
    results = []

    def one():
        results.append(requests.get(f"{srv.url}/sleepy", timeout=20).text)
    threads = [threading.Thread(target=one) for _ in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert results == ["slept"] * 8
    assert elapsed < 4.0, f"8 x 1 s on 8 threads took {elapsed:.1f} s"


def test_flask_app_with_session_cookie(berth_server):
    pytest.importorskip("flask")
    flask_app = '''
from flask import Flask, session
app = Flask(__name__)
app.secret_key = 'test-secret'

@app.route('/count')
def count():
    session['n'] = session.get('n', 0) + 1
    return 'n=%d' % session['n']
'''
    srv = berth_server("[routes:line]\n/site = wsgi:{tmp}/flaskapp.py:app\n",
                       files={"flaskapp.py": flask_app})
    with requests.Session() as s:
        assert s.get(f"{srv.url}/site/count", timeout=10).text == "n=1"
        assert s.get(f"{srv.url}/site/count", timeout=10).text == "n=2"
    assert requests.get(f"{srv.url}/site/missing", timeout=10).status_code == 404


def test_venv_with_extra_package(berth_server, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    if not site.exists():
        site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "berthextra").mkdir()
    (site / "berthextra" / "__init__.py").write_text("GREETING = b'from the venv'\n")
    app = '''
import berthextra
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [berthextra.GREETING]
'''
    srv = berth_server(f"[routes:line]\n/ = v\n[app:v]\ncall = berth.wsgi\n"
                       f"module = venvapp\npython_path = {{tmp}}\nvenv = {venv}\n",
                       files={"venvapp.py": app})
    assert requests.get(f"{srv.url}/", timeout=10).text == "from the venv"


def test_import_failure_is_a_check_error(tmp_path):
    (tmp_path / "broken.py").write_text("import nonexistent_module_xyz\n")
    conf = tmp_path / "berth.conf"
    conf.write_text(f"[server]\nport = {berth.free_port()}\n[routes:line]\n/ = b\n"
                    f"[app:b]\ncall = berth.wsgi\nmodule = {tmp_path}/broken.py\n")
    result = run_cli("check", "-c", str(conf))
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "nonexistent_module_xyz" in out and "Traceback" in out


BLOCKING_APP = r'''
import os, time
GATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'gate')

def app(environ, start_response):
    while not os.path.exists(GATE):
        time.sleep(0.02)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'through']
'''


def test_full_queue_is_503_and_counted(berth_server):
    srv = berth_server("[routes:line]\n/ = b\n/stats = stats\n[app:stats]\ncall = berth.stats\n"
                       "[app:b]\ncall = berth.wsgi\nmodule = {tmp}/blocker.py\n"
                       "wsgi_threads = 1\nwsgi_queue = 1\n",
                       files={"blocker.py": BLOCKING_APP})
    held = []
    results = []

    def one():
        results.append(requests.get(f"{srv.url}/", timeout=20).status_code)
    # One request on the thread, one in the queue: the third finds the queue full.
    for _ in range(2):
        t = threading.Thread(target=one)
        t.start()
        held.append(t)
        time.sleep(0.3)
    assert requests.get(f"{srv.url}/", timeout=10).status_code == 503
    (srv.tmp / "gate").write_text("open")
    for t in held:
        t.join()
    assert results == [200, 200]
    stats = requests.get(f"{srv.url}/stats", timeout=5).json()
    assert stats["apps"]["b.wsgi_rejected"] == 1


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_url_scheme_https_behind_tls(berth_server):
    app = '''
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [environ['wsgi.url_scheme'].encode()]
'''
    srv = berth_server("[routes:line]\n/ = wsgi:{tmp}/scheme.py:app\n",
                       files={"scheme.py": app}, tls=True)
    assert requests.get(f"{srv.url}/", timeout=10).text == "http"
    r = requests.get(f"https://127.0.0.1:{srv.tls_port}/", timeout=10, verify=False)
    assert r.text == "https"


def test_reload_imports_the_new_code(berth_server):
    import signal
    version = '''
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'VERSION']
'''
    srv = berth_server("[server]\nworkers = 2\n[routes:line]\n/ = wsgi:{tmp}/versioned.py:app\n",
                       files={"versioned.py": version.replace("VERSION", "one")})
    assert requests.get(f"{srv.url}/", timeout=10).text == "one"
    (srv.tmp / "versioned.py").write_text(version.replace("VERSION", "two"))
    srv.proc.send_signal(signal.SIGHUP)
    assert berth.wait_until(lambda: srv.server_log().count("reload complete") >= 1, 15)
    assert berth.wait_until(
        lambda: all(requests.get(f"{srv.url}/", timeout=5).text == "two" for _ in range(6)), 15)


def test_hung_app_is_caught_by_the_watchdog(berth_server):
    app = '''
import time
def app(environ, start_response):
    if environ['PATH_INFO'] == '/hang':
        while True:
            time.sleep(0.05)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'alive']
'''
    srv = berth_server("[server]\nworkers = 1\nworker_timeout = 2s\n"
                       "[routes:line]\n/ = wsgi:{tmp}/hang.py:app\n", files={"hang.py": app})
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(f"{srv.url}/hang", timeout=15)
    assert wait_for(lambda: "worker_timeout" in app_log(srv), 10)
    log = app_log(srv)
    assert "Python stacks" in log and "hang.py" in log
    # The master replaced the worker: the app serves again.
    def serving():
        try:
            return requests.get(f"{srv.url}/ok", timeout=5).text == "alive"
        except requests.exceptions.RequestException:
            return False
    assert wait_for(serving, 15)
