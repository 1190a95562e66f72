"""The mail delivery agent (issue #12): berth.mail queues, the `mailer` service delivers to a
real SMTP server (aiosmtpd) the tests start on loopback, `berthd mail` shows the spool.

retry_interval is shrunk below its 1s minimum with BERTH_TEST_APPS=1 so retries take
milliseconds, not minutes."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

import berth

aiosmtpd = pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult  # noqa: E402

ENV = {"BERTH_TEST_APPS": "1"}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


class Handler:
    """Records what it receives. data_replies / rcpt_replies script the answers (popped in
    order, then 250); refuse is a set of recipients answered 550."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.data_replies: list[str] = []
        self.refuse: set[str] = set()
        self.busy: dict[str, int] = {}  # recipient -> how many times to answer 450 first
        self.hold = threading.Event()  # set: DATA waits until release is set
        self.release = threading.Event()
        self.in_data = threading.Event()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such user"
        if self.busy.get(address, 0) > 0:
            self.busy[address] -= 1
            return "450 4.2.1 mailbox busy"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.in_data.set()
        if self.hold.is_set():
            deadline = time.monotonic() + 20
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        with self.lock:
            if self.data_replies:
                reply = self.data_replies.pop(0)
                if not reply.startswith("250"):
                    return reply
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.original_content))
        return "250 Message accepted"


def start_smtp(handler: Handler, port: int | None = None, **kwargs) -> Controller:
    port = port or berth.free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


def config(smtp_port: int, extra: str = "") -> str:
    return f"""
[routes:line]
/mail = mail

[app:mail]
call = berth.mail

[mailer]
smtpserver = 127.0.0.1:{smtp_port}
spool_dir = {{tmp}}/spool
retry_interval = 200ms
max_retry = 3
{extra}
"""


def post(srv, message, content_type="application/json"):
    body = json.dumps(message).encode() if isinstance(message, dict) else message
    return srv.fetch("POST", "/mail", headers={"Content-Type": content_type}, body=body)


def smtpda_log(srv) -> str:
    try:
        return srv.log_path("smtpda.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def mail_cli(srv, *args):
    return berth.run_cli("mail", "-c", str(srv.conf_path), *args, env=ENV)


def queue_json(srv) -> list[dict]:
    r = mail_cli(srv, "queue", "--json")
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def wait_for(predicate, timeout=10.0, what="condition", srv=None):
    if not berth.wait_until(predicate, timeout=timeout):
        detail = f"\n--- smtpda.log ---\n{smtpda_log(srv)}\n{srv.describe()}" if srv else ""
        raise AssertionError(f"timed out waiting for {what}{detail}")


@pytest.fixture
def smtp():
    handler = Handler()
    controller = start_smtp(handler)
    handler.port = controller.port
    yield handler
    controller.stop()


def simple(to="bob@example.org", **extra):
    message = {"from": "alice@example.org", "to": to, "subject": "hello", "text": "hi there"}
    message.update(extra)
    return message


def test_full_message_text_html_attachment_inline(berth_server, smtp):
    srv = berth_server(config(smtp.port), env=ENV)
    message = {
        "from": "Ann Lee <ann@example.org>",
        "to": ["bob@example.org", "Jürgen Groß <j@example.de>"],
        "cc": ["carol@example.org"],
        "bcc": ["dave@example.org"],
        "reply_to": "replies@example.org",
        "subject": "Grüße – report",
        "text": "Plain body, ünïcode.\nSecond line = two.\n" + "long " * 40,
        "html": '<p>Hello <img src="cid:logo@x"></p>',
        "headers": {"X-Tag": "v1"},
        "attachments": [
            {"filename": "logo.png", "content_type": "image/png",
             "content_base64": base64.b64encode(PNG).decode(), "inline_id": "logo@x"},
            {"filename": "r.pdf", "content_type": "application/pdf",
             "content_base64": base64.b64encode(PDF).decode()},
        ],
    }
    r = post(srv, message)
    assert r.status == 202, r
    mail_id = json.loads(r.body)["id"]
    wait_for(lambda: smtp.messages, what="delivery", srv=srv)
    sender, rcpts, raw = smtp.messages[0]
    assert sender == "ann@example.org"
    assert sorted(rcpts) == ["bob@example.org", "carol@example.org", "dave@example.org",
                             "j@example.de"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Grüße – report"
    assert msg["Message-ID"].startswith(f"<{mail_id}@")
    assert msg["Date"]
    assert "dave@example.org" not in raw.decode("ascii")  # Bcc stays out of the headers
    assert msg["To"].addresses[1].display_name == "Jürgen Groß"
    assert msg["Cc"] == "carol@example.org"
    assert msg["Reply-To"] == "replies@example.org"
    assert msg["X-Tag"] == "v1"
    assert msg.get_content_type() == "multipart/mixed"
    related, attachment = msg.get_payload()
    assert related.get_content_type() == "multipart/related"
    alternative, inline = related.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    text, html = alternative.get_payload()
    assert text.get_content().replace("\r\n", "\n") == message["text"]
    assert html.get_content() == message["html"]
    assert inline["Content-ID"] == "<logo@x>"
    assert inline.get_content() == PNG
    assert attachment.get_filename() == "r.pdf"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_content() == PDF
    wait_for(lambda: " status=sent" in smtpda_log(srv), what="smtpda.log line", srv=srv)
    assert mail_id in smtpda_log(srv)
    wait_for(lambda: queue_json(srv) == [], what="empty spool", srv=srv)


def test_form_post_and_to_as_string(berth_server, smtp):
    srv = berth_server(config(smtp.port), env=ENV)
    body = b"from=a%40example.org&to=b%40example.org%2C+c%40example.org&subject=form&text=x"
    r = post(srv, body, "application/x-www-form-urlencoded")
    assert r.status == 202, r
    wait_for(lambda: smtp.messages, what="delivery", srv=srv)
    assert sorted(smtp.messages[0][1]) == ["b@example.org", "c@example.org"]


def test_invalid_input_is_400_and_nothing_spooled(berth_server, smtp):
    srv = berth_server(config(smtp.port), env=ENV)
    cases = [
        (simple(to=[]), "no recipient"),
        (simple(to="not-an-address"), "not a valid address"),
        (simple(subject="hi\r\nBcc: victim@example.org"), "header injection"),
        (simple(to=["bob@example.org\r\nBcc: victim@example.org"]), "header injection"),
        (simple(headers={"X-A": "1\nBcc: victim@example.org"}), "header injection"),
    ]
    for message, reason in cases:
        r = post(srv, message)
        assert r.status == 400, (message, r)
        assert reason in json.loads(r.body)["error"], r.body
    assert post(srv, b"{not json").status == 400
    assert srv.fetch("GET", "/mail").status == 405
    assert queue_json(srv) == []
    assert list((srv.tmp / "spool" / "queue").iterdir()) == []


def test_smtpda_log_follows_logrotate(berth_server, smtp):
    srv = berth_server(config(smtp.port), env=ENV)
    assert post(srv, simple(subject="one")).status == 202
    wait_for(lambda: " status=sent" in smtpda_log(srv), what="first line", srv=srv)
    srv.log_path("smtpda.log").rename(srv.log_path("smtpda.log.1"))  # as logrotate does
    os.kill(srv.proc.pid, signal.SIGUSR1)
    assert post(srv, simple(subject="two")).status == 202
    wait_for(lambda: " status=sent" in smtpda_log(srv), what="a line in the new file", srv=srv)
    assert smtpda_log(srv).count("\n") == 1
    assert srv.log_path("smtpda.log.1").read_text().count("\n") == 1


def test_unusable_spool_is_503_and_the_server_serves(berth_server, smtp):
    # A spool under a regular file can't be made, not even by root.
    srv = berth_server(config(smtp.port).replace("{tmp}/spool", "{tmp}/afile/spool"),
                       files={"afile": "not a directory"}, env=ENV)
    r = post(srv, simple())
    assert r.status == 503, r
    assert "mail spool unavailable" in json.loads(r.body)["error"]
    wait_for(lambda: "[mailer] spool_dir:" in srv.server_log(), what="the agent's complaint",
             srv=srv)
    srv.assert_serving()


def test_size_limit(berth_server, smtp):
    srv = berth_server(config(smtp.port, "max_message_bytes = 10K"), env=ENV)
    r = post(srv, simple(text="x" * 20000))
    assert r.status == 400 and "max_message_bytes" in json.loads(r.body)["error"], r


def test_451_then_250_is_retried(berth_server, smtp):
    smtp.data_replies = ["451 4.3.0 try again later"]
    srv = berth_server(config(smtp.port), env=ENV)
    assert post(srv, simple()).status == 202
    wait_for(lambda: smtp.messages, what="delivery after a retry", srv=srv)
    log = smtpda_log(srv)
    assert " status=deferred " in log and "451" in log, log
    wait_for(lambda: " status=sent" in smtpda_log(srv), srv=srv)
    assert len(smtp.messages) == 1


def test_550_goes_to_undelivered_with_reason(berth_server, smtp):
    smtp.refuse = {"nobody@example.org"}
    srv = berth_server(config(smtp.port), env=ENV)
    r = post(srv, simple(to="nobody@example.org"))
    mail_id = json.loads(r.body)["id"]
    wait_for(lambda: any(e["status"] == "undelivered" for e in queue_json(srv)),
             what="undelivered", srv=srv)
    [entry] = queue_json(srv)
    assert entry["id"] == mail_id
    assert "550" in entry["last_error"], entry
    assert entry["attempts"] == 1  # permanent: not retried
    assert smtp.messages == []
    text = mail_cli(srv, "queue")
    assert mail_id in text.stdout and "undelivered" in text.stdout and "550" in text.stdout
    # purge removes it
    assert mail_cli(srv, "purge", mail_id).returncode == 0
    assert queue_json(srv) == []


def test_some_recipients_refused(berth_server, smtp):
    smtp.refuse = {"nobody@example.org"}
    srv = berth_server(config(smtp.port), env=ENV)
    assert post(srv, simple(to="bob@example.org, nobody@example.org")).status == 202
    wait_for(lambda: smtp.messages and queue_json(srv), what="delivery", srv=srv)
    assert smtp.messages[0][1] == ["bob@example.org"]
    wait_for(lambda: queue_json(srv) and queue_json(srv)[0]["status"] == "undelivered", srv=srv)
    [entry] = queue_json(srv)
    assert entry["delivered"] == ["bob@example.org"]
    assert entry["failed"][0].startswith("nobody@example.org: 550"), entry


def test_recipient_busy_is_retried_alone(berth_server, smtp):
    smtp.busy = {"busy@example.org": 1}
    srv = berth_server(config(smtp.port), env=ENV)
    assert post(srv, simple(to="bob@example.org, busy@example.org")).status == 202
    wait_for(lambda: len(smtp.messages) == 2, what="two deliveries", srv=srv)
    assert [m[1] for m in smtp.messages] == [["bob@example.org"], ["busy@example.org"]]
    wait_for(lambda: queue_json(srv) == [], what="empty spool", srv=srv)
    log = smtpda_log(srv)
    assert "status=deferred" in log and "accepted=bob@example.org" in log and "450" in log, log


def test_exhausted_retries(berth_server, smtp):
    smtp.data_replies = ["451 busy"] * 10
    srv = berth_server(config(smtp.port), env=ENV)
    assert post(srv, simple()).status == 202
    wait_for(lambda: queue_json(srv) and queue_json(srv)[0]["status"] == "undelivered",
             what="undelivered after max_retry", srv=srv)
    [entry] = queue_json(srv)
    assert entry["attempts"] == 3
    assert "gave up after 3 attempts" in entry["last_error"] and "451" in entry["last_error"]
    assert smtpda_log(srv).count(" status=deferred ") == 2


def test_server_down_then_up_across_restart(berth_server, tmp_path):
    port = berth.free_port()  # nothing listens yet
    srv = berth_server(config(port, "retry_interval = 300ms\nmax_retry = 50"), env=ENV)
    r = post(srv, simple())
    assert r.status == 202
    mail_id = json.loads(r.body)["id"]
    wait_for(lambda: " status=deferred " in smtpda_log(srv), what="a deferral", srv=srv)
    assert srv.stop() == 0
    [entry] = queue_json(srv)
    assert entry["id"] == mail_id and entry["status"] == "deferred"
    assert mail_cli(srv, "retry", mail_id).returncode == 0
    handler = Handler()
    controller = start_smtp(handler, port=port)
    try:
        srv.start()
        wait_for(lambda: handler.messages, what="delivery after restart", srv=srv)
        msg = email.message_from_bytes(handler.messages[0][2], policy=email.policy.default)
        assert msg["Message-ID"].startswith(f"<{mail_id}@")
    finally:
        controller.stop()


def make_ca(d: Path) -> None:
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Mail Test CA")
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "smtp.key", "-out", "smtp.csr", "-subj", "/CN=localhost")
    (d / "smtp.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "smtp.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "smtp.pem", "-extfile", "smtp.ext")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing")
    d = tmp_path_factory.mktemp("mailcerts")
    make_ca(d)
    return d


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"mailer" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


def test_starttls_with_auth(berth_server, certs):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "smtp.pem", certs / "smtp.key")
    handler = Handler()
    controller = start_smtp(handler, tls_context=ctx, require_starttls=True,
                            authenticator=authenticator, auth_required=True)
    try:
        (certs / "pw").write_text("s3cret\n")
        srv = berth_server(config(controller.port, f"ssl = starttls\nssl_ca = {certs}/ca.pem\n"
                                  f"user = mailer\npassword_file = {certs}/pw"), env=ENV)
        assert post(srv, simple()).status == 202
        wait_for(lambda: handler.messages, what="delivery over STARTTLS", srv=srv)
    finally:
        controller.stop()


def test_implicit_tls_and_verification(berth_server, certs):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "smtp.pem", certs / "smtp.key")
    handler = Handler()
    controller = start_smtp(handler, ssl_context=ctx)
    try:
        # Without the private CA the certificate is refused: a transient failure, retried.
        bad = berth_server(config(controller.port, "ssl = tls\nmax_retry = 2"), env=ENV)
        assert post(bad, simple(subject="unverified")).status == 202
        wait_for(lambda: " status=deferred " in smtpda_log(bad), what="TLS failure", srv=bad)
        bad.stop()
        srv = berth_server(config(controller.port, f"ssl = tls\nssl_ca = {certs}/ca.pem"),
                           env=ENV)
        assert post(srv, simple(subject="verified")).status == 202
        wait_for(lambda: handler.messages, what="delivery over implicit TLS", srv=srv)
        assert all(b"unverified" not in m[2] for m in handler.messages)
        srv.stop()
        # ssl_verify = no: the same untrusted certificate is accepted.
        lax = berth_server(config(controller.port, "ssl = tls\nssl_verify = no"), env=ENV)
        assert post(lax, simple(subject="lax")).status == 202
        wait_for(lambda: any(b"Subject: lax" in m[2] for m in handler.messages),
                 what="delivery without verification", srv=lax)
    finally:
        controller.stop()


def test_full_spool_is_507_and_earlier_mail_intact(berth_server, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    spool = tmp_path / "small"
    spool.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(spool)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        port = berth.free_port()  # no SMTP server: mail stays queued
        srv = berth_server(config(port, "retry_interval = 10s").replace(
            "{tmp}/spool", str(spool)), env=ENV)
        first = post(srv, simple(subject="first"))
        assert first.status == 202, first
        big = simple(attachments=[{"filename": "big.bin", "content_type":
                                   "application/octet-stream",
                                   "content_base64": base64.b64encode(os.urandom(100_000)).decode()}])
        r = post(srv, big)
        assert r.status == 507, r
        assert "full" in json.loads(r.body)["error"]
        entries = queue_json(srv)
        assert [e["id"] for e in entries] == [json.loads(first.body)["id"]]
        assert list((spool / "tmp").iterdir()) == []  # nothing half-written
        srv.stop()
    finally:
        subprocess.run(["umount", "-l", str(spool)], capture_output=True)


def child_pids(parent: int) -> list[tuple[int, str]]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent:
            out.append((int(d.name), cmd))
    return out


def test_kill_agent_mid_delivery(berth_server, smtp):
    smtp.hold.set()
    srv = berth_server(config(smtp.port), env=ENV, server={"workers": 1})
    r = post(srv, simple())
    mail_id = json.loads(r.body)["id"]
    assert smtp.in_data.wait(10), smtpda_log(srv)
    agents = [pid for pid, cmd in child_pids(srv.proc.pid) if "--service mailer" in cmd]
    assert len(agents) == 1, child_pids(srv.proc.pid)
    os.kill(agents[0], signal.SIGKILL)
    [entry] = queue_json(srv)
    assert entry["id"] == mail_id and entry["status"] == "delivering"
    smtp.hold.clear()
    smtp.release.set()
    # The restarted agent sends it again: at least once, with the same Message-ID.
    wait_for(lambda: queue_json(srv) == [], timeout=15, what="redelivery", srv=srv)
    assert smtp.messages
    ids = {email.message_from_bytes(m[2], policy=email.policy.default)["Message-ID"]
           for m in smtp.messages}
    assert len(ids) == 1 and ids.pop().startswith(f"<{mail_id}@")


def test_kill_whole_berthd_mid_delivery(berth_server, smtp):
    smtp.hold.set()
    srv = berth_server(config(smtp.port), env=ENV)  # workers = 0: one process does it all
    r = post(srv, simple())
    mail_id = json.loads(r.body)["id"]
    assert smtp.in_data.wait(10), smtpda_log(srv)
    srv.proc.kill()
    srv.proc.wait(5)
    [entry] = queue_json(srv)
    assert entry["id"] == mail_id and entry["status"] == "delivering"
    smtp.hold.clear()
    smtp.release.set()
    srv.start()
    wait_for(lambda: queue_json(srv) == [], timeout=15, what="redelivery", srv=srv)
    wait_for(lambda: "in flight" in srv.server_log(), what="the recovery in server.log", srv=srv)
    ids = {email.message_from_bytes(m[2], policy=email.policy.default)["Message-ID"]
           for m in smtp.messages}
    assert len(ids) == 1 and ids.pop().startswith(f"<{mail_id}@")


def test_check_reports_mailer_errors_at_file_line(tmp_path):
    conf = tmp_path / "b.conf"
    conf.write_text("[server]\nport = 8089\n\n[mailer]\nsmtpserver = host:99999\nssl = maybe\n"
                    "retry_interval = 100ms\n")
    r = berth.run_cli("check", "-c", str(conf))
    assert r.returncode == 1, r
    assert f"{conf}:4: [mailer] spool_dir: must be set when smtpserver is" in r.output, r
    assert f"{conf}:5: [mailer] smtpserver: 'host:99999' is not host:port" in r.output, r
    assert f"{conf}:6: [mailer] ssl: 'maybe' is not no, starttls or tls" in r.output, r
    assert f"{conf}:7: [mailer] retry_interval: must be at least 1s" in r.output, r


def test_stats(berth_server, smtp):
    smtp.data_replies = ["451 later"]
    srv = berth_server(config(smtp.port, "").replace(
        "[app:mail]", "[app:stats]\ncall = berth.stats\n\n[app:mail]").replace(
        "/mail = mail", "/mail = mail\n/stats = stats"), env=ENV, server={"workers": 1})
    assert post(srv, simple()).status == 202
    wait_for(lambda: smtp.messages, what="delivery", srv=srv)

    def stats():
        return json.loads(srv.request("GET", "/stats").body)["apps"]

    wait_for(lambda: stats().get("mailer.sent") == 1, what="mailer.sent", srv=srv)
    s = stats()
    assert s["mailer.queued"] == 1 and s["mailer.deferred"] == 1 and s["mailer.failed"] == 0, s
    assert s["mailer.queue_length"] == 0 and "mailer.oldest_age" in s, s


def test_reload_hands_the_spool_to_a_new_agent(berth_server, smtp):
    srv = berth_server(config(smtp.port), env=ENV,
                       server={"workers": 1, "pid_file": "{tmp}/berthd.pid"})

    def agents():
        return sorted(pid for pid, cmd in child_pids(srv.proc.pid) if "--service mailer" in cmd)

    wait_for(lambda: len(agents()) == 1, what="the agent", srv=srv)
    first = agents()
    ok = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert ok.returncode == 0, ok
    assert agents() == first  # [mailer] unchanged: the agent is kept
    srv.conf_path.write_text(srv.conf_path.read_text().replace("max_retry = 3", "max_retry = 4"))
    ok = berth.run_cli("reload", "-c", str(srv.conf_path), env=ENV, timeout=20)
    assert ok.returncode == 0, ok
    wait_for(lambda: len(agents()) == 1 and agents() != first, what="a new agent", srv=srv)
    assert post(srv, simple()).status == 202
    wait_for(lambda: smtp.messages, what="delivery by the new agent", srv=srv)
