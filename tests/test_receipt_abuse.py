"""Receipts that cannot be used as a relay: whom they go to, what they repeat, how many go out an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, Flag, Submission, utcnow
from intake.receipts.caps import WAITING
from intake.receipts.outbox import deliver_due
from intake.review.overview import case_overview
from tests.builders import BORDER, make_email
from tests.receipt_helpers import RuntimeFactory, ack_of, acks, ingest_one, make_rt, sink  # noqa: F401
from tests.smtpsink import Sink

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)
SPAM = "Vinn en iPhone! Klikk https://spam.example/offer eller www.spam.example eller kjop@spam.example nå"


def _eml(tmp_path: Path) -> list[EmailMessage]:
    out = []
    for path in sorted((tmp_path / "outbox").glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        out.append(message)
    return out


def _text(message: EmailMessage) -> str:
    parts = [message.get_body(("plain",)), message.get_body(("html",))]
    return "\n".join(part.get_content() for part in parts if part is not None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sender", "reply_to", "recipient"),
    [
        ("post@legemiddelverket.no", "saksbehandler@legemiddelverket.no", "saksbehandler@legemiddelverket.no"),
        ("post@legemiddelverket.no", "kari@avdeling.legemiddelverket.no", "kari@avdeling.legemiddelverket.no"),
        ("kari@avdeling.legemiddelverket.no", "post@legemiddelverket.no", "post@legemiddelverket.no"),
        # A third party, a look-alike domain, and a neighbour under a public suffix: From gets it.
        ("post@legemiddelverket.no", "victim@example.org", "post@legemiddelverket.no"),
        ("post@legemiddelverket.no", "post@legemiddelverket.no.spam.example", "post@legemiddelverket.no"),
        ("post@fin.dep.no", "post@kmd.dep.no", "post@fin.dep.no"),
    ],
)
def test_reply_to_counts_only_within_the_from_organisation(
    make_rt: RuntimeFactory, sender: str, reply_to: str, recipient: str  # noqa: F811
) -> None:
    rt = make_rt(host="")
    ack = ingest_one(rt, make_email(sender=sender, headers={"Reply-To": reply_to}), ON_TIME)
    assert (ack.status, ack.recipients) == ("pending", [recipient])


def test_a_sender_that_failed_authentication_gets_no_receipt(make_rt: RuntimeFactory) -> None:  # noqa: F811
    rt = make_rt(host="")
    failed = make_email(authenticated=False, headers={
        "Authentication-Results": f"{BORDER}; spf=fail smtp.mailfrom=legemiddelverket.no; dmarc=fail"})
    ack = ingest_one(rt, failed, ON_TIME)
    assert ack.status == "suppressed" and "avsenderkontroll feilet" in (ack.reason or "")
    assert deliver_due(rt).sent == 0


def test_a_forged_invited_body_is_flagged_unconfirmed_and_not_counted_as_answered(
    make_rt: RuntimeFactory,  # noqa: F811
) -> None:
    rt = make_rt(host="")
    # No word from our border; a "pass" the sender wrote itself, below a header not ours.
    forged = make_email(authenticated=False, headers={
        "Authentication-Results": "mx.spam.example; dmarc=pass header.from=legemiddelverket.no"})
    ack = ingest_one(rt, forged, ON_TIME)
    with Session(rt.engine) as session:
        sub = session.get(Submission, ack.submission_id)
        assert sub is not None and sub.organisation == "Statens legemiddelverk"
        flag = session.exec(select(Flag).where(Flag.submission_id == sub.id, Flag.name == "suspicious_sender")).one()
        assert flag.detail is not None and flag.detail.startswith("avsender ikke bekreftet")
        assert "Statens legemiddelverk" not in case_overview(session, _case(session)).invited_responded
    # The From may be forged, so no receipt goes to it.
    assert ack.status == "suppressed" and "avsender ikke bekreftet" in (ack.reason or "")
    genuine = ingest_one(rt, make_email(subject="Høringssvar igjen sak 22/414"), ON_TIME)
    assert genuine.status == "pending"
    with Session(rt.engine) as session:
        names = session.exec(select(Flag.name).where(Flag.submission_id == genuine.submission_id)).all()
        assert "suspicious_sender" not in names
        assert "Statens legemiddelverk" in case_overview(session, _case(session)).invited_responded


def test_without_a_sender_check_an_invited_body_is_flagged_but_still_gets_its_receipt(
    settings_factory: Any,
) -> None:
    from intake import workflows
    from intake.runtime import Runtime

    rt = Runtime.open(settings_factory(processing={"authserv_id": ""}, smtp={"host": ""}), extract=False)
    try:
        with session_scope(rt.engine) as session:
            workflows.sync(session, rt.settings.workflows.path)
        ack = ingest_one(rt, make_email(), ON_TIME)
        with Session(rt.engine) as session:
            detail = session.exec(select(Flag.detail).where(Flag.name == "suspicious_sender")).one()
        assert detail is not None and "avsender ikke bekreftet" in detail and "authserv_id" in detail
        assert ack.status == "pending" and ack.recipients == ["post@legemiddelverket.no"]
    finally:
        rt.close()


def _case(session: Session):  # type: ignore[no-untyped-def]
    from intake.db.models import Case

    return session.exec(select(Case).where(Case.number == "22/414")).one()


def test_an_unmatched_receipt_repeats_no_subject_and_no_file_name(
    make_rt: RuntimeFactory, tmp_path: Path  # noqa: F811
) -> None:
    rt = make_rt(host="")
    spam = make_email(subject=SPAM, body="Ingen sak her.", sender="spam@spam.example",
                      attachments=[("Gratis-iPhone-www.spam.example.pdf", "application/pdf", b"%PDF-1.4 x")])
    assert ingest_one(rt, spam, ON_TIME).kind == "unmatched"
    assert deliver_due(rt).sent == 1
    (receipt,) = _eml(tmp_path)
    whole = str(receipt["Subject"]) + _text(receipt)
    for word in ("iPhone", "spam.example", "Gratis", "Klikk"):
        assert word not in whole, word
    assert "1 fil(er)" in whole


def test_other_receipts_repeat_at_most_100_characters_and_10_file_names_and_no_link(
    make_rt: RuntimeFactory, tmp_path: Path  # noqa: F811
) -> None:
    rt = make_rt(host="")
    files = [(f"vedlegg-{n:02d}.pdf", "application/pdf", b"%PDF-1.4 x") for n in range(14)]
    files.append(("se https://spam.example/x.pdf", "application/pdf", b"%PDF-1.4 x"))
    subject = "Høringssvar sak 22/414 " + SPAM + " " + "x" * 200
    ingest_one(rt, make_email(subject=subject, attachments=files), ON_TIME)
    assert deliver_due(rt).sent == 1
    (receipt,) = _eml(tmp_path)
    title = str(receipt["Subject"])
    assert title.startswith("Kvittering: Høringssvar sak 22/414 Vinn en iPhone!")
    assert len(title) <= len("Kvittering: ") + 100
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    whole = title + _text(receipt)
    for link in ("https://", "www.", "@spam.example", "spam.example"):
        assert link not in whole, link
    assert "[lenke fjernet]" in title
    assert [n for n in range(14) if f"vedlegg-{n:02d}.pdf" in text] == list(range(10))
    assert "og 5 til" in text


def test_a_right_to_left_override_cannot_disguise_a_file_name(make_rt: RuntimeFactory) -> None:  # noqa: F811
    rt = make_rt(host="")
    hidden = "report\u202efdp.exe"
    ack = ingest_one(rt, make_email(attachments=[(hidden, "application/octet-stream", b"MZ"),
                                                 ("svar\u200b\u2066.pdf\u2069", "application/pdf", b"%PDF")]), ON_TIME)
    with Session(rt.engine) as session:
        from intake.db.models import Attachment

        names = session.exec(select(Attachment.filename).where(Attachment.submission_id == ack.submission_id)).all()
    assert sorted(names) == ["reportfdp.exe", "svar.pdf"]


def _handed_off(rt: object, count: int, recipient: str, *, at: datetime) -> None:
    """Receipts already handed to the mail server at ``at``: what the caps count."""
    from tests.receipt_helpers import due_receipts

    ids = due_receipts(rt, count, start=1000 + hash(recipient) % 10_000)  # type: ignore[arg-type]
    with session_scope(rt.engine) as session:  # type: ignore[attr-defined]
        for ack_id in ids:
            ack = session.get(Acknowledgement, ack_id)
            assert ack is not None
            local, _, domain = recipient.partition("@")
            ack.status, ack.handoff_at, ack.recipient = "sent", at, recipient
            ack.recipient_key, ack.recipient_domain = f"{local.split('+')[0]}@{domain}", domain
            session.add(ack)


def test_past_a_cap_receipts_wait_and_go_later_never_dropped(make_rt: RuntimeFactory) -> None:  # noqa: F811
    rt = make_rt(host="", rate_limit_per_hour=2, domain_limit_per_hour=3, total_limit_per_hour=5)
    # Four to one person through +tags, two more to the same domain, two elsewhere.
    for n, sender in enumerate(["kari@firma.no", "kari+1@firma.no", "KARI+x@firma.no", "kari+y@firma.no",
                                "ola@firma.no", "per@firma.no", "post@a.example", "post@b.example"]):
        ingest_one(rt, make_email(sender=sender, subject=f"Høringssvar {n} sak 22/414"), ON_TIME)
    first = deliver_due(rt)
    assert first.sent == 5 and first.waiting == 3, first
    by_sender = {a.recipient: a for a in acks(rt)}
    assert [by_sender[r].status for r in ("kari@firma.no", "kari+1@firma.no", "ola@firma.no")] == ["sent"] * 3
    waiting = [a for a in acks(rt) if a.status == "pending"]
    assert {a.recipient for a in waiting} == {"karI+x@firma.no".lower(), "kari+y@firma.no", "per@firma.no"}
    for ack in waiting:
        assert ack.reason is not None and ack.reason.startswith(WAITING)
        assert ack.next_attempt_at is not None and ack.next_attempt_at > utcnow() + timedelta(minutes=59)
    reasons = {a.reason for a in waiting}
    assert any("mottakeren kari@firma.no" in r for r in reasons if r)
    assert any("domenet firma.no" in r for r in reasons if r)
    # Nothing goes while the hour lasts; once it has passed, every waiting receipt goes.
    assert deliver_due(rt).sent == 0
    with session_scope(rt.engine) as session:
        for ack in session.exec(select(Acknowledgement)):
            if ack.handoff_at is not None:
                ack.handoff_at -= timedelta(minutes=61)
            if ack.status == "pending":
                ack.next_attempt_at = utcnow()
            session.add(ack)
    assert deliver_due(rt).sent == 3
    assert {a.status for a in acks(rt)} == {"sent"} and all(a.reason is None for a in acks(rt))


def test_receipts_go_with_the_null_envelope_sender(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    rt = make_rt(**sink.smtp_settings())
    ingest_one(rt, make_email(), ON_TIME)
    assert deliver_due(rt).sent == 1
    (delivered,) = sink.messages
    assert delivered.mail_from == "<>"
    assert delivered.rcpt_tos == ["post@legemiddelverket.no"]
