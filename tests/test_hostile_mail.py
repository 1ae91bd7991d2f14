"""Thirty hostile mails through the SMTP receiver, receipts through Postfix: no relay, and the caps hold.

The mails come the way an abuser would send them: genuine responses with a
third party in Reply-To, forged From addresses of invited bodies (which our
border marks as failed, whatever the sender wrote below its header), spam that
names no case from one domain under many ``+tags``, and bounces. Every receipt
that reaches the sink behind Postfix must go to an address that really sent a
mail, with the null envelope sender, and no more than the caps allow.
"""

from __future__ import annotations

import base64
import os
import smtplib
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import make_engine, session_scope, upgrade
from intake.db.models import Acknowledgement, Message, Submission, utcnow
from intake.pipeline.run import process_pending
from intake.receipts.caps import WAITING, waiting
from intake.receipts.outbox import deliver_due
from intake.runtime import Runtime
from intake.sources.smtp import SmtpReceiver
from tests.builders import BORDER, make_email
from tests.conftest import REPO, build_settings
from tests.ports import free_port
from tests.postfix import Postfix
from tests.test_extract_forms import big_docx
from tests.test_extract_hostile import slow_pdf, understated_docx
from tests.test_serve import start_serve, stop_serve, toml_value, wait_for

POSTMOTTAK = "postmottak@ehelse.no"
SPAM = "Billige piller! Se https://spam.example/kjop og www.spam.example/tilbud"
CAPS = {"rate_limit_per_hour": 2, "domain_limit_per_hour": 3, "total_limit_per_hour": 10}


@dataclass(frozen=True)
class Hostile:
    """One mail, and the address that really sent it (the envelope sender; the only one who may get a receipt)."""

    sent_by: str
    raw: bytes


def _mails() -> list[Hostile]:
    mails: list[Hostile] = []
    for n in range(8):
        # Genuine responses whose Reply-To names someone else: the receipt goes to From.
        sender = f"post@kommune{n}.no"
        mails.append(Hostile(sender, make_email(
            sender=f"Kommune {n} <{sender}>", subject=f"Høringssvar sak 22/414 fra kommune {n}",
            headers={"Reply-To": f"offer{n}@tredjepart.example"})))
        # Forged From of an invited body: our border says it failed, the sender's own "pass" below is ignored.
        spoofer = f"bot{n}@spoofer.example"
        mails.append(Hostile(spoofer, make_email(
            sender="Statens legemiddelverk <post@legemiddelverket.no>", authenticated=False,
            subject=f"Høringssvar sak 22/414 {SPAM}", headers={
                "Authentication-Results": f"{BORDER}; spf=fail smtp.mailfrom={spoofer}; "
                                          "dmarc=fail header.from=legemiddelverket.no",
                "X-Forged": "yes", "Reply-To": f"offer{n}@tredjepart.example"})))
    for n in range(6):
        # Spam naming no case, from one domain under many +tags, pointing Reply-To elsewhere.
        sender = f"salg+{n}@spam.example"
        mails.append(Hostile(sender, make_email(
            sender=f"Salg <{sender}>", subject=SPAM, body=SPAM,
            headers={"Reply-To": f"kunde{n}@tredjepart.example"},
            attachments=[("tilbud www.spam.example.pdf", "application/pdf", b"%PDF-1.4 spam")])))
    for n in range(4):
        # Bounces, and a sender who adds our border's "pass" below another server's header.
        mails.append(Hostile(f"MAILER-DAEMON@mx{n}.example", make_email(
            sender=f"Mail Delivery System <MAILER-DAEMON@mx{n}.example>", subject="Undelivered Mail Returned",
            headers={"Auto-Submitted": "auto-replied"})))
    for n in range(4):
        # Our border found nothing to confirm (top header); what the forger wrote sits below it:
        # a "pass" under another server's name, and one under ours below that.
        forger = f"forger{n}@forger.example"
        headers = (f"Authentication-Results: {BORDER}; spf=none smtp.mailfrom={forger}; dkim=none; dmarc=none\n"
                   "Authentication-Results: mx.forger.example; dmarc=pass header.from=helsedir.no\n"
                   f"Authentication-Results: {BORDER}; dmarc=pass header.from=helsedir.no\n")
        mails.append(Hostile(forger, headers.encode() + make_email(
            sender="Helsedirektoratet <postmottak@helsedir.no>", authenticated=False,
            subject="Høringssvar sak 22/414")))
    assert len(mails) == 30
    return mails


@pytest.fixture
def receiving(database_url: str, tmp_path: Path, postfix: Postfix) -> Iterator[tuple[Runtime, int]]:
    settings = build_settings(database_url, tmp_path, [])
    receiver = settings.receiver.model_copy(update={"enabled": True, "port": free_port(), "recipients": [POSTMOTTAK]})
    smtp = settings.smtp.model_copy(update={**postfix.smtp_settings(), **CAPS, "from_address": POSTMOTTAK})
    rt = Runtime.open(settings.model_copy(update={"receiver": receiver, "smtp": smtp}), extract=False)
    with session_scope(rt.engine) as session:
        workflows.sync(session, rt.settings.workflows.path)
    server = SmtpReceiver(rt)
    server.start()
    try:
        yield rt, server.port
    finally:
        server.stop()
        rt.close()


def test_thirty_hostile_mails_give_receipts_only_to_real_senders_within_the_caps(
    receiving: tuple[Runtime, int], postfix: Postfix
) -> None:
    rt, port = receiving
    mails = _mails()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for mail in mails:
            smtp.sendmail(mail.sent_by, [POSTMOTTAK], mail.raw)
    assert process_pending(rt) == 30
    report = deliver_due(rt)
    delivered = postfix.sink.wait_for(report.sent)
    assert report.failed == 0 and report.sent == len(delivered) > 0, (report, postfix.log()[-2000:])

    senders = {mail.sent_by.lower() for mail in mails}
    recipients = [d.rcpt_tos[0] for d in delivered]
    # Nobody who did not send a mail got a receipt: no Reply-To, no forged From, no bounce.
    assert set(recipients) <= senders, set(recipients) - senders
    assert not [r for r in recipients if "tredjepart" in r or "legemiddelverket" in r or "helsedir" in r]
    # Postfix took the null envelope sender and passed it on unchanged.
    assert {d.mail_from for d in delivered} == {"<>"}
    assert "from=<>" in postfix.log()
    # No receipt carries the spam.
    for d in delivered:
        text = d.data.decode("utf-8", "replace")
        assert "spam.example/" not in text and "www.spam.example" not in text and "Billige" not in text

    # The caps held: per recipient with +tags removed, per domain, and in total.
    keys = Counter(r.split("@")[0].split("+")[0] + "@" + r.split("@")[1] for r in recipients)
    domains = Counter(r.split("@")[1] for r in recipients)
    assert len(recipients) == CAPS["total_limit_per_hour"]
    assert max(keys.values()) <= CAPS["rate_limit_per_hour"]
    assert max(domains.values()) <= CAPS["domain_limit_per_hour"]
    assert domains["spam.example"] == 2  # salg+0..5 are one person to the per-recipient cap

    # Past the caps, receipts wait with the reason; none is dropped, and the next run sends nothing.
    with Session(rt.engine) as session:
        rows = session.exec(select(Acknowledgement)).all()
        statuses = Counter(a.status for a in rows)
        pending = [a for a in rows if a.status == "pending"]
        held = waiting(session, utcnow())
    assert statuses["sent"] == len(recipients)
    assert statuses["suppressed"] == 8 + 4 + 4  # the forged, the bounces and the forgers
    assert statuses["pending"] == 30 - statuses["sent"] - statuses["suppressed"] > 0
    assert all((a.reason or "").startswith(WAITING) for a in pending)
    assert held.count == len(pending) and held.reasons
    assert all(a.recipient in senders for a in pending)
    assert deliver_due(rt).sent == 0


# The hostile-mail suite: every generator mail through the running daemon while a probe asks
# /healthz every second. Each of these once stalled or crashed the service (see the notes).
def _generator_mails() -> list[tuple[str, bytes]]:
    token = base64.b64encode(os.urandom(75_000)).decode().replace("+", "x").replace("/", "y")
    # Folded, as SMTP allows no line over 1,000 characters.
    refs = "\r\n ".join(" ".join(f"<r{n}@spam.example>" for n in range(k, k + 40)) for k in range(0, 20_000, 40))
    deep = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n) for n in range(20_000))
    return [
        # One 100 KB word, sent base64: the link pattern froze the daemon for minutes.
        ("long-token", make_email(subject="Hei", body=token)),
        # 20,000 References: 40,000 queries inside the write transaction (14 s).
        ("many-ids", f"References: {refs}\r\n".encode() + make_email(subject="Re: Hei", body="Et svar.")),
        # 20,000 nested multiparts: 25 s in the parser, then a RecursionError.
        ("deep-nesting", b"From: a@spam.example\r\nTo: postmottak@ehelse.no\r\nSubject: Dyp\r\nMIME-Version: 1.0\r\n"
         + deep + b"Content-Type: text/plain\r\n\r\nHei\r\n"),
        # 300 attachments: only the first ones are read.
        ("many-parts", make_email(subject="Mange", attachments=[(f"del{n}.txt", "text/plain", b"x")
                                                                 for n in range(300)])),
        # 20 MB of text in a small DOCX: a gigabyte in the daemon.
        ("large-docx", make_email(subject="Stor", attachments=[("svar.docx", "application/octet-stream",
                                                                 big_docx(100_000))])),
        # Four PDFs that each run to the timeout: every worker held.
        ("slow-pdfs", make_email(subject="Tunge", attachments=[(f"tung{n}.pdf", "application/pdf", slow_pdf())
                                                                for n in range(4)])),
        # Unclosed tags: Python's html.parser took 227 s.
        ("html-bomb", _html_mail("<a " * 40_000)),
        # A zip that understates its member's size.
        ("understated-zip", make_email(subject="Zip", attachments=[("svar.docx", "application/octet-stream",
                                                                     understated_docx(60))])),
    ]


def _html_mail(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@spam.example", POSTMOTTAK, "Html"
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


class Probe(threading.Thread):
    """Asks /healthz every second and keeps the slowest answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.slowest, self.answers, self.stopped = url, 0.0, 0, threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:
                    response.read()
            except urllib.error.HTTPError:  # 503 is an answer too: a mailbox or the outbox is unhealthy
                pass
            except OSError:
                self.slowest = max(self.slowest, 10.0)
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.answers += 1
            self.stopped.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def _wait_for_answer(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _wait_for_submission(engine: Engine, message_id: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with Session(engine) as session:
            if session.exec(select(Submission.id).where(Submission.message_id == message_id)).first() is not None:
                return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{message_id} not processed within {timeout} s")


def _daemon_config(tmp_path: Path, smtp_port: int, web_port: int, **extract: object) -> tuple[Path, Engine]:
    """A config for ``intake serve`` on its own migrated SQLite database, receiver and web UI on loopback."""
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sections = {
        "database": {"url": url}, "storage": {"path": str(tmp_path / "store")},
        "workflows": {"path": str(REPO / "workflows")},
        "extract": {"workers": 2, "timeout_seconds": 2, "memory_mb": 512, "message_budget_seconds": 4, **extract},
        "processing": {"message_budget_seconds": 8},
        "receiver": {"enabled": True, "port": smtp_port, "recipients": [POSTMOTTAK]},
        "smtp": {"outbox_path": str(tmp_path / "outbox"), "from_address": POSTMOTTAK},
        "web": {"port": web_port},
    }
    config = tmp_path / "intake.toml"
    config.write_text("\n\n".join(f"[{name}]\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
                                  for name, values in sections.items()) + "\n", encoding="utf-8")
    return config, engine


def test_hostile_generator_mails_through_the_daemon_never_stall_it(tmp_path: Path) -> None:
    smtp_port, web_port = free_port(), free_port()
    config, engine = _daemon_config(tmp_path, smtp_port, web_port)
    log = tmp_path / "serve.log"
    mails = _generator_mails()
    daemon = start_serve(config, log)
    probe = Probe(f"http://127.0.0.1:{web_port}/healthz")
    try:
        wait_for(log, "receiver: listening", timeout=30)
        # The log line comes before the web server has bound its port: wait for a first answer.
        _wait_for_answer(probe.url, timeout=30)
        probe.start()
        rss_before = _rss_mb(daemon.pid)
        started = time.monotonic()
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            for _name, raw in mails:
                # As a mail server sends it: every line ended by CRLF (smtplib leaves bytes as they are).
                smtp.sendmail("a@spam.example", [POSTMOTTAK], raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            ordinary = make_email(message_id="<vanlig@legemiddelverket.no>")
            smtp.sendmail("post@legemiddelverket.no", [POSTMOTTAK], ordinary)
        # An ordinary mail sent after the hostile ones is processed within 10 s.
        waited = _wait_for_submission(engine, "<vanlig@legemiddelverket.no>", 10)
        # Every hostile mail ends processed or parked, none waits for a retry.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with Session(engine) as session:
                statuses = [m.status for m in session.exec(select(Message)).all()]
            if len(statuses) == len(mails) + 1 and all(s in {"processed", "parked"} for s in statuses):
                break
            time.sleep(0.2)
        rss_after = _rss_mb(daemon.pid)
        spent = time.monotonic() - started
    finally:
        probe.stopped.set()
        probe.join(timeout=15)
        code = stop_serve(daemon)
        engine.dispose()
    print(f"ordinary after {waited:.1f} s, slowest /healthz {probe.slowest:.2f} s of {probe.answers}, "
          f"rss {rss_before:.0f} -> {rss_after:.0f} MB, all in {spent:.1f} s, load {os.getloadavg()}")
    assert code == 0, log.read_text()[-3000:]
    assert len(statuses) == len(mails) + 1 and set(statuses) <= {"processed", "parked"}, statuses
    assert probe.answers >= 3 and probe.slowest < 1.0, probe.slowest
    assert rss_after - rss_before < 300, (rss_before, rss_after)


def test_sigterm_stops_the_daemon_within_seconds_while_a_slow_file_is_read(tmp_path: Path) -> None:
    smtp_port, web_port = free_port(), free_port()
    config, engine = _daemon_config(tmp_path, smtp_port, web_port, timeout_seconds=120, message_budget_seconds=300)
    log = tmp_path / "serve.log"
    daemon = start_serve(config, log)
    try:
        wait_for(log, "receiver: listening", timeout=30)
        raw = make_email(subject="Tung", attachments=[("tung.pdf", "application/pdf", slow_pdf(400))])
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            smtp.sendmail("a@spam.example", [POSTMOTTAK], raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        time.sleep(1.5)  # the PDF is in a worker now, for a long while
        started = time.monotonic()
        code = stop_serve(daemon)
        # Before: shutdown waited for the file in hand, up to the whole 120 s timeout.
        assert time.monotonic() - started < 6.0, log.read_text()[-2000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert code == 0
    with Session(engine) as session:
        (message,) = session.exec(select(Message)).all()
        assert message.status == "stored" and message.attempts == 0
        assert session.exec(select(Submission)).first() is None
    engine.dispose()
