"""Thirty hostile mails through the SMTP receiver, receipts through Postfix: no relay, and the caps hold.

The mails come the way an abuser would send them: genuine responses with a
third party in Reply-To, forged From addresses of invited bodies (which our
border marks as failed, whatever the sender wrote below its header), spam that
names no case from one domain under many ``+tags``, and bounces. Every receipt
that reaches the sink behind Postfix must go to an address that really sent a
mail, with the null envelope sender, and no more than the caps allow.
"""

from __future__ import annotations

import smtplib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, utcnow
from intake.pipeline.run import process_pending
from intake.receipts.caps import WAITING, waiting
from intake.receipts.outbox import deliver_due
from intake.runtime import Runtime
from intake.sources.smtp import SmtpReceiver
from tests.builders import BORDER, make_email
from tests.conftest import build_settings
from tests.ports import free_port
from tests.postfix import Postfix

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
