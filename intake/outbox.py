"""Deliver: sends due receipts from the outbox table, each at most once.

A receipt row moves ``pending`` -> ``sending`` -> ``sent`` (or back to
``pending`` with a later ``next_attempt_at`` on a temporary failure, or to
``failed`` with the server's reply). Three rules keep one receipt from going
out twice while any number of processes run this, and any of them may die:

1. A process first *claims* a batch of due rows: a random token and a lease
   (``claimed_until``), written only where no live lease exists. Another
   process skips them until the lease runs out.
2. It sends everything up to the last step (for SMTP: all of DATA but the
   final dot), then commits the *hand-off*: ``status='sending'`` only where the
   row is still ``pending`` and still carries its token. Only after that commit
   does it take the last step. A row is handed off at most once, so it is
   delivered at most once; a process that lost its claim gets no hand-off and
   drops the connection, which makes the server discard the message.
3. A row found in ``sending`` with its lease run out was handed off by a process
   that died before it recorded the answer. It is never sent again: it is marked
   ``sent`` with ``last_error`` saying the delivery is unconfirmed.

``docs/receipts.md`` describes the one window left (a crash between the
hand-off commit and writing the final dot) and what it costs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.errors import MessageError

from sqlalchemy import insert, or_, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from intake.audit import record
from intake.compose import Envelope, build_receipt
from intake.config import SmtpSettings
from intake.db import session_scope
from intake.errors import (
    PermanentDeliveryError,
    TemplateError,
    TemporaryDeliveryError,
    TransportUnavailable,
    UnconfirmedDelivery,
)
from intake.models import Acknowledgement, AuditLog, Submission, utcnow
from intake.receipts import new_message_id
from intake.render import render_receipt
from intake.runtime import Runtime
from intake.transport import Transport, make_transport

log = logging.getLogger(__name__)
UNCONFIRMED = "unconfirmed: handed to the mail server, but its answer was never recorded"


class _ClaimLost(Exception):
    """Another process took the receipt over; this one must not deliver it."""


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` call did; ``error`` says why nothing could be tried at all."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unconfirmed: int = 0
    skipped: int = 0
    error: str | None = None
    ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"receipts: {self.sent} sent, {self.retrying} to retry, {self.failed} failed, "
                f"{self.unconfirmed} unconfirmed")
        return f"{text}; {self.error}" if self.error else text


def deliver_due(rt: Runtime, *, transport: Transport | None = None, limit: int | None = None) -> DeliveryReport:
    """Sends every receipt that is due now (up to ``limit``) and reports what happened."""
    smtp = rt.settings.smtp
    report = DeliveryReport()
    report.unconfirmed += settle_abandoned(rt.engine)
    transport = transport or make_transport(smtp)
    seen: set[int] = set()
    try:
        while limit is None or len(seen) < limit:
            batch = min(smtp.batch_size, limit - len(seen)) if limit is not None else smtp.batch_size
            due = _due_ids(rt.engine, seen, batch)
            if not due:
                break
            # Connect before claiming anything: when the server is down, no row is touched.
            try:
                transport.connect()
            except TransportUnavailable as err:
                report.error = str(err)
                break
            token = uuid.uuid4().hex
            claimed = _claim(rt.engine, due, token, smtp)
            seen.update(due)
            for position, ack_id in enumerate(claimed):
                try:
                    _deliver_one(rt, transport, ack_id, token, report)
                except TransportUnavailable as err:
                    report.error = str(err)
                    _release(rt.engine, claimed[position:], token)
                    return report
    finally:
        transport.close()
    return report


def settle_abandoned(engine: Engine) -> int:
    """Marks rows handed off by a process that has since died as sent (unconfirmed); never resends them."""
    now = utcnow()
    with session_scope(engine) as session:
        ids = session.exec(
            select(Acknowledgement.id)
            .where(Acknowledgement.status == "sending")
            .where(col(Acknowledgement.claimed_until) < now)
        ).all()
        for ack_id in ids:
            done = session.execute(
                update(Acknowledgement)
                .where(col(Acknowledgement.id) == ack_id, col(Acknowledgement.status) == "sending")
                .values(status="sent", sent_at=col(Acknowledgement.handoff_at), last_error=UNCONFIRMED,
                        claimed_until=None, updated_at=now)
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                record(session, "ack.unconfirmed", "acknowledgement", ack_id, {"reason": UNCONFIRMED})
                log.warning("receipt %s: %s", ack_id, UNCONFIRMED)
    return len(ids)


def backoff(attempts: int, smtp: SmtpSettings) -> timedelta:
    """Capped exponential backoff after the given number of failed attempts."""
    seconds = smtp.retry_base_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, smtp.retry_max_seconds))


def _due_ids(engine: Engine, exclude: set[int], batch: int) -> list[int]:
    now = utcnow()
    with Session(engine) as session:
        query = (
            select(Acknowledgement.id)
            .where(Acknowledgement.status == "pending")
            .where(or_(col(Acknowledgement.next_attempt_at).is_(None), col(Acknowledgement.next_attempt_at) <= now))
            .where(or_(col(Acknowledgement.claimed_until).is_(None), col(Acknowledgement.claimed_until) < now))
            .order_by(col(Acknowledgement.next_attempt_at), col(Acknowledgement.id))
        )
        if exclude:
            query = query.where(col(Acknowledgement.id).not_in(exclude))
        return [i for i in session.exec(query.limit(batch)).all() if i is not None]


def _claim(engine: Engine, ids: list[int], token: str, smtp: SmtpSettings) -> list[int]:
    """Takes a lease on those of ``ids`` nobody else holds; returns the ones this token now holds."""
    now = utcnow()
    with session_scope(engine) as session:
        session.execute(
            update(Acknowledgement)
            .where(col(Acknowledgement.id).in_(ids), col(Acknowledgement.status) == "pending")
            .where(or_(col(Acknowledgement.claimed_until).is_(None), col(Acknowledgement.claimed_until) < now))
            .values(claim_token=token, claimed_until=now + timedelta(seconds=smtp.claim_seconds))
        )
        held = session.exec(
            select(Acknowledgement.id).where(Acknowledgement.claim_token == token).order_by(col(Acknowledgement.id))
        ).all()
    return [i for i in held if i is not None]


def _release(engine: Engine, ids: list[int], token: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Acknowledgement)
            .where(col(Acknowledgement.id).in_(ids), col(Acknowledgement.claim_token) == token)
            .where(col(Acknowledgement.status) == "pending")
            .values(claim_token=None, claimed_until=None)
        )


def _deliver_one(rt: Runtime, transport: Transport, ack_id: int, token: str, report: DeliveryReport) -> None:
    smtp = rt.settings.smtp
    with Session(rt.engine) as session:
        ack = session.get(Acknowledgement, ack_id)
        if ack is None or ack.claim_token != token or ack.status != "pending":
            report.skipped += 1
            return
        submission = session.get(Submission, ack.submission_id)
        assert submission is not None
        try:
            rendered = render_receipt(session, ack, submission, smtp, rt.settings.workflows.path)
            envelope = build_receipt(
                from_address=smtp.from_address, from_name=smtp.from_name, recipient=ack.recipient or "",
                # A row planned elsewhere without one gets its Message-ID now; the hand-off stores it
                # before the message can be delivered.
                message_id=ack.message_id or new_message_id(smtp.from_address),
                in_reply_to=submission.message_id, subject=rendered.subject,
                text=rendered.text, html=rendered.html, date=utcnow(),
            )
        except (TemplateError, ValueError, MessageError) as err:
            _finish(rt.engine, ack_id, token, "failed", error=str(err), count=True)
            report.failed += 1
            return
    handed_off = False

    def handoff() -> None:
        nonlocal handed_off
        _handoff(rt.engine, ack_id, token, envelope, rendered.subject, rendered.text, rendered.html, smtp)
        handed_off = True

    try:
        reply = transport.send(envelope, handoff)
    except _ClaimLost:
        report.skipped += 1
    except TemporaryDeliveryError as err:
        if _retry(rt.engine, ack_id, token, str(err), smtp):
            report.retrying += 1
        else:
            report.failed += 1
    except PermanentDeliveryError as err:
        _finish(rt.engine, ack_id, token, "failed", error=err.reply or str(err), count=not handed_off)
        report.failed += 1
    except UnconfirmedDelivery as err:
        _finish(rt.engine, ack_id, token, "sent", error=f"{UNCONFIRMED} ({err})")
        report.unconfirmed += 1
    else:
        _finish(rt.engine, ack_id, token, "sent", reply=reply)
        report.sent += 1
        report.ids.append(ack_id)


def _handoff(
    engine: Engine, ack_id: int, token: str, envelope: Envelope, subject: str, text: str, html: str,
    smtp: SmtpSettings,
) -> None:
    """Commits ``sending`` for a row this token still holds, or raises _ClaimLost; the point of no return.

    This commit is made without waiting for the disk (see docs/receipts.md): what it must
    survive is this process dying, and for that the database having the commit is enough.
    Waiting for the flush would widen the window in which a killed sender leaves a receipt
    marked as handed off that never reached the server from microseconds to milliseconds.
    """
    now = utcnow()
    with engine.connect() as conn, _fast_commit(conn), conn.begin():
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        done = conn.execute(
            update(Acknowledgement)
            .where(col(Acknowledgement.id) == ack_id, col(Acknowledgement.claim_token) == token)
            .where(col(Acknowledgement.status) == "pending", col(Acknowledgement.handoff_at).is_(None))
            .values(status="sending", handoff_at=now, attempts=col(Acknowledgement.attempts) + 1,
                    claimed_until=now + timedelta(seconds=smtp.claim_seconds), subject=subject,
                    body_text=text, body_html=html, message_id=envelope.message_id, updated_at=now)
        )
        if done.rowcount != 1:
            raise _ClaimLost(ack_id)
        conn.execute(insert(AuditLog).values(at=now, actor="system", action="ack.sending",
                                             entity="acknowledgement", entity_id=ack_id,
                                             detail={"to": envelope.recipient}))


@contextmanager
def _fast_commit(conn: Connection) -> Iterator[None]:
    """On SQLite, lets the next transaction commit without fsync; the connection is restored after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    # SQLite refuses to change this inside a transaction, so it is set on the raw connection first.
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        raw.execute("PRAGMA synchronous=FULL")


def _retry(engine: Engine, ack_id: int, token: str, error: str, smtp: SmtpSettings) -> bool:
    """Puts a row back as pending with a later attempt time; False when it ran out of attempts."""
    now = utcnow()
    with session_scope(engine) as session:
        ack = session.get(Acknowledgement, ack_id)
        if ack is None or ack.claim_token != token:
            return True
        attempts = ack.attempts if ack.handoff_at is not None else ack.attempts + 1
        if attempts >= smtp.max_attempts:
            status, next_at = "failed", None
        else:
            status, next_at = "pending", now + backoff(attempts, smtp)
        ack.status, ack.attempts, ack.last_error, ack.next_attempt_at = status, attempts, error, next_at
        ack.handoff_at, ack.claim_token, ack.claimed_until, ack.updated_at = None, None, None, now
        session.add(ack)
        record(session, "ack.retry" if status == "pending" else "ack.failed", "acknowledgement", ack_id,
               {"error": error, "attempts": attempts, "next_attempt_at": next_at.isoformat() if next_at else None})
    log.warning("receipt %s: attempt %s failed: %s", ack_id, attempts, error)
    return status == "pending"


def _finish(
    engine: Engine, ack_id: int, token: str, status: str, *, error: str | None = None, reply: str | None = None,
    count: bool = False,
) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        ack = session.get(Acknowledgement, ack_id)
        if ack is None or ack.claim_token != token:
            return
        ack.status, ack.last_error, ack.claimed_until, ack.updated_at = status, error, None, now
        ack.attempts += 1 if count else 0
        if status == "sent":
            ack.sent_at = now
        session.add(ack)
        record(session, f"ack.{status}", "acknowledgement", ack_id, {"error": error, "reply": reply})
    if status == "failed":
        log.error("receipt %s failed: %s", ack_id, error)
