"""A clerk's own message to a sender: drafted from a template, edited, queued, and delivered.

The templates (``letter_{name}.{language}.txt.j2`` next to the receipts', in the case's language) ask for a readable
file, ask for the case number, or confirm a withdrawal; the clerk edits the text
before it is queued. A letter is threaded to the submission (In-Reply-To its
Message-ID, References the chain with our receipt), so the answer comes back into
the same thread (``intake.decide.thread.thread_parent`` knows letters' ids). It is
delivered through the receipts' transport, at most once: the row is handed off
(``sending`` committed) before the final dot, and a row found ``sending`` after its
lease is marked sent, unconfirmed, never resent. Every step is in the audit log.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from intake.config import SmtpSettings
from intake.db.audit import record
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, Case, Letter, Submission, utcnow
from intake.errors import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TransportUnavailable,
    UnconfirmedDelivery,
)
from intake.receipts.compose import build_receipt, reference_chain, valid_address
from intake.receipts.outbox_state import UNCONFIRMED, backoff
from intake.receipts.plan import LANGUAGES, new_message_id, receipt_recipient
from intake.receipts.render import Rendered, receipt_context, render
from intake.receipts.transport import Transport
from intake.runtime import Runtime

log = logging.getLogger(__name__)
TEMPLATES = ("readable_file", "case_number", "withdrawal")
MAX_SUBJECT = 200
MAX_BODY = 20_000


class LetterError(Exception):
    """A letter that cannot be queued; the message is for the clerk, in Norwegian."""


def draft(session: Session, sub: Submission, name: str, smtp: SmtpSettings, workflows_path: Path) -> Rendered:
    """The template's text for this submission, for the clerk to edit."""
    if name not in TEMPLATES:
        raise LetterError(f"ukjent mal: {name}")
    kind = f"letter_{name}"
    case = session.get(Case, sub.case_id) if sub.case_id is not None else None
    language = case.language if case is not None and case.language in LANGUAGES else "nb"
    # A row that is never added: the receipt context reads what it needs from it.
    context = receipt_context(session, Acknowledgement(submission_id=sub.id or 0, kind=kind, language=language),
                              sub, smtp)
    return render(context, kind, language)


def queue(session: Session, sub: Submission, name: str, subject: str, body: str, *, actor: str,
          smtp: SmtpSettings) -> Letter:
    """Adds the edited letter to the outbox, threaded to the submission, and audits it."""
    if name not in TEMPLATES:
        raise LetterError(f"ukjent mal: {name}")
    subject, body = " ".join(subject.split())[:MAX_SUBJECT], body.replace("\r\n", "\n").strip()
    if not subject or not body:
        raise LetterError("emne og tekst må fylles ut")
    if len(body) > MAX_BODY:
        raise LetterError(f"teksten er for lang (over {MAX_BODY} tegn)")
    recipient = receipt_recipient(sub)
    if recipient is None or not valid_address(recipient):
        raise LetterError("innsendingen har ingen gyldig avsenderadresse å svare til")
    ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == sub.id)).first()
    chain = [m for m in (ack.message_id if ack and ack.status == "sent" else None,) if m]
    letter = Letter(
        submission_id=sub.id or 0, template=name, recipient=recipient, subject=subject, body_text=body + "\n",
        message_id=new_message_id(smtp.from_address),
        references=reference_chain(chain, sub.message_id or "") if sub.message_id else chain,
        created_by=actor, next_attempt_at=utcnow(),
    )
    session.add(letter)
    session.flush()
    record(session, "letter.queued", "submission", sub.id,
           {"letter": letter.id, "template": name, "to": recipient, "subject": subject}, actor=actor)
    return letter


def deliver_letters(rt: Runtime, transport: Transport) -> tuple[int, int]:
    """Sends the due letters through an open transport; returns (sent, not sent this time)."""
    _settle(rt)
    smtp = rt.settings.smtp
    now = utcnow()
    token = uuid.uuid4().hex
    with session_scope(rt.engine) as session:
        session.execute(
            update(Letter)
            .where(col(Letter.status) == "pending", col(Letter.next_attempt_at) <= now)
            .where(or_(col(Letter.claimed_until).is_(None), col(Letter.claimed_until) < now))
            .values(claim_token=token, claimed_until=now + timedelta(seconds=smtp.claim_seconds))
        )
    with Session(rt.engine) as session:
        ids = [i for i in session.exec(select(Letter.id).where(Letter.claim_token == token)).all() if i]
    sent = missed = 0
    for letter_id in ids:
        if _deliver_one(rt, transport, letter_id, token):
            sent += 1
        else:
            missed += 1
    return sent, missed


def _deliver_one(rt: Runtime, transport: Transport, letter_id: int, token: str) -> bool:
    smtp = rt.settings.smtp
    with Session(rt.engine) as session:
        letter = session.get(Letter, letter_id)
        if letter is None or letter.claim_token != token or letter.status != "pending":
            return False
        sub = session.get(Submission, letter.submission_id)
        references = list(letter.references or [])
        envelope = build_receipt(
            from_address=smtp.from_address, from_name=smtp.from_name, recipient=letter.recipient,
            message_id=letter.message_id, in_reply_to=sub.message_id if sub else None, subject=letter.subject,
            text=letter.body_text, html=_html(letter.body_text), date=utcnow(), references=references[:-1],
        )

    def handoff() -> None:
        with session_scope(rt.engine) as session:
            done = session.execute(
                update(Letter).where(col(Letter.id) == letter_id, col(Letter.claim_token) == token,
                                     col(Letter.status) == "pending")
                .values(status="sending", attempts=col(Letter.attempts) + 1,
                        claimed_until=utcnow() + timedelta(seconds=smtp.claim_seconds))
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise TemporaryDeliveryError("another process took the letter over")

    try:
        reply = transport.send(envelope, handoff)
    except TransportUnavailable:
        _finish(rt, letter_id, "pending", "the mail server could not be reached", retry=True)
        raise
    except TemporaryDeliveryError as err:
        _finish(rt, letter_id, "pending", str(err), retry=True)
        return False
    except PermanentDeliveryError as err:
        _finish(rt, letter_id, "failed", err.reply or str(err))
        return False
    except UnconfirmedDelivery as err:
        _finish(rt, letter_id, "sent", f"{UNCONFIRMED} ({err})")
        return True
    _finish(rt, letter_id, "sent", None, reply=reply)
    return True


def _finish(rt: Runtime, letter_id: int, status: str, error: str | None, *, retry: bool = False,
            reply: str | None = None) -> None:
    now = utcnow()
    with session_scope(rt.engine) as session:
        letter = session.get(Letter, letter_id)
        if letter is None:
            return
        if retry and letter.attempts >= rt.settings.smtp.max_attempts:
            status = "failed"
        letter.status, letter.last_error, letter.claim_token, letter.claimed_until = status, error, None, None
        if status == "pending":
            letter.next_attempt_at = now + backoff(max(letter.attempts, 1), rt.settings.smtp)
        if status == "sent":
            letter.sent_at = now
        session.add(letter)
        record(session, f"letter.{status}", "submission", letter.submission_id,
               {"letter": letter_id, "error": error, "reply": reply})


def _settle(rt: Runtime) -> None:
    """A letter handed off by a process that died is marked sent, unconfirmed: never sent twice."""
    now = utcnow()
    with session_scope(rt.engine) as session:
        for letter in session.exec(select(Letter).where(Letter.status == "sending")
                                   .where(col(Letter.claimed_until) < now)):
            letter.status, letter.last_error, letter.sent_at, letter.claimed_until = "sent", UNCONFIRMED, now, None
            session.add(letter)
            record(session, "letter.unconfirmed", "submission", letter.submission_id, {"letter": letter.id})


def _html(text: str) -> str:
    from html import escape

    paragraphs = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in text.strip().split("\n\n"))
    return f"<!DOCTYPE html>\n<html lang=\"nb\"><head><meta charset=\"utf-8\"></head><body>{paragraphs}</body></html>\n"
