"""The outbox rows' state changes that make delivery at-most-once: claim, hand-off, finish.

Each function is one short transaction, fenced by the claim token, and writes
its audit entry in the same transaction. ``intake/receipts/outbox.py`` explains the
protocol and drives it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, Integer, String, Update, bindparam, insert, literal, or_, update
from sqlalchemy import case as when
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from intake.config import SmtpSettings
from intake.db.audit import record
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, AuditLog, UTCDateTime, utcnow
from intake.receipts.caps import WAITING
from intake.receipts.compose import Envelope

log = logging.getLogger(__name__)
UNCONFIRMED = "unconfirmed: handed to the mail server, but its answer was never recorded"


def shown_status(ack: Acknowledgement) -> str:
    """The status staff see: ``unconfirmed`` for a receipt settled after its sender died, else the row's."""
    if ack.status == "sent" and (ack.last_error or "").startswith(UNCONFIRMED):
        return "unconfirmed"
    return ack.status


class ClaimLost(Exception):
    """Another process took the receipt over; this one must not deliver it."""


def settle_abandoned(engine: Engine) -> int:
    """Marks rows handed off by a process that has since died as sent (unconfirmed); never resends them."""
    now = utcnow()
    with session_scope(engine) as session:
        ids = session.exec(
            select(Acknowledgement.id)
            .where(Acknowledgement.status == "sending")
            .where(col(Acknowledgement.claimed_until) < now)
        ).all()
        settled = 0
        for ack_id in ids:
            done = session.execute(
                update(Acknowledgement)
                .where(col(Acknowledgement.id) == ack_id, col(Acknowledgement.status) == "sending")
                .values(status="sent", sent_at=col(Acknowledgement.handoff_at), last_error=UNCONFIRMED,
                        claimed_until=None, updated_at=now)
            )
            if done.rowcount == 1:  # type: ignore[attr-defined]
                settled += 1
                record(session, "ack.unconfirmed", "acknowledgement", ack_id, {"reason": UNCONFIRMED})
                log.warning("receipt %s: %s", ack_id, UNCONFIRMED)
    return settled


def backoff(attempts: int, smtp: SmtpSettings) -> timedelta:
    """Capped exponential backoff after the given number of failed attempts."""
    seconds = smtp.retry_base_seconds * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, smtp.retry_max_seconds))


def due_ids(engine: Engine, exclude: set[int], batch: int) -> list[int]:
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


def claim(engine: Engine, ids: list[int], token: str, smtp: SmtpSettings) -> list[int]:
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


def release(engine: Engine, ids: list[int], token: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Acknowledgement)
            .where(col(Acknowledgement.id).in_(ids), col(Acknowledgement.claim_token) == token)
            .where(col(Acknowledgement.status) == "pending")
            .values(claim_token=None, claimed_until=None)
        )


@dataclass(frozen=True)
class Steps:
    """The connections one batch's hand-offs and finishes are written on (``steps``)."""

    handoffs: Connection
    finishes: Connection
    # Each step one statement, the row's change and its audit entry together (PostgreSQL).
    combined: bool


@contextmanager
def steps(engine: Engine) -> Iterator[Steps]:
    """Connections for a batch of deliveries, held for the batch.

    On PostgreSQL each step is one statement in autocommit: a data-modifying WITH
    changes the row and writes its audit entry, both or neither. A step cost four or
    five round trips before (begin, the change, the entry, commit), each a turn the
    deliverer gives up to the other threads. Hand-offs go on a connection of their
    own that commits without waiting for the disk (``handoff``), reset before it goes
    back to the pool. On SQLite one connection, and each step a short transaction.
    """
    with engine.connect() as finishes:
        if engine.dialect.name != "postgresql":
            yield Steps(finishes, finishes, combined=False)
            return
        finishes.execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as handoffs:
            handoffs.execution_options(isolation_level="AUTOCOMMIT")
            handoffs.exec_driver_sql("SET synchronous_commit TO OFF")
            try:
                yield Steps(handoffs, finishes, combined=True)
            finally:
                try:
                    handoffs.exec_driver_sql("RESET synchronous_commit")
                except DBAPIError:
                    # Never handed back still committing lazily: another user would inherit that.
                    handoffs.invalidate()


def handoff(
    steps: Steps, ack_id: int, token: str, envelope: Envelope, subject: str, text: str, html: str,
    smtp: SmtpSettings,
) -> Callable[[], None]:
    """Commits ``sending`` for a row this token still holds, or raises ClaimLost; the point of no return.

    Returns the clean-up (restoring the connection's settings), which the
    caller runs only after the final step of the send: nothing but the return from
    the commit stands between the commit and that step. The commit is made without
    waiting for the disk (see docs/receipts.md): what it must survive is this process
    dying, and for that the database having the commit is enough. Waiting for the
    flush would widen the window in which a killed sender leaves a receipt marked as
    handed off that never reached the server from microseconds to milliseconds.
    """
    now = utcnow()
    values = {"ack_id": ack_id, "token": token, "now": now, "until": now + timedelta(seconds=smtp.claim_seconds),
              "title": subject, "text": text, "html": html, "mid": envelope.message_id}
    detail: dict[str, str | None] = {"to": envelope.recipient}
    if steps.combined:
        if steps.handoffs.execute(_HANDOFF_LOGGED, {**values, "action": "ack.sending", "detail": detail}).rowcount != 1:
            raise ClaimLost(ack_id)
        return _nothing
    conn = steps.handoffs
    stack = ExitStack()
    try:
        stack.enter_context(_fast_commit(conn))
        with conn.begin():
            if conn.execute(_HANDOFF, values).rowcount != 1:
                raise ClaimLost(ack_id)
            _audit(conn, now, "ack.sending", ack_id, detail)
    except BaseException:
        stack.close()
        raise
    return stack.close


def _nothing() -> None:
    """The clean-up of a hand-off that changed no setting of its connection."""


@contextmanager
def _fast_commit(conn: Connection) -> Iterator[None]:
    """On SQLite, lets the next transaction commit without fsync; the connection is restored after."""
    # SQLite refuses to change this inside a transaction, so it is set on the raw connection first.
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        raw.execute("PRAGMA synchronous=FULL")


def postpone(engine: Engine, ack_id: int, token: str, until: datetime, reason: str) -> None:
    """Lets a receipt past an hourly cap wait until ``until``, with the reason; it costs no attempt."""
    with session_scope(engine) as session:
        ack = session.get(Acknowledgement, ack_id)
        if ack is None or ack.claim_token != token or ack.status != "pending":
            return
        first = ack.reason != reason
        ack.next_attempt_at, ack.reason, ack.claim_token, ack.claimed_until = until, reason, None, None
        ack.updated_at = utcnow()
        session.add(ack)
        # One audit entry per reason, not one per delivery run the receipt spends waiting.
        if first:
            record(session, "ack.waiting", "acknowledgement", ack_id, {"reason": reason})
    log.info("receipt %s: %s", ack_id, reason)


def retry(engine: Engine, ack_id: int, token: str, error: str, smtp: SmtpSettings) -> bool:
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


def finish(
    steps: Steps, ack_id: int, token: str, status: str, *, error: str | None = None, reply: str | None = None,
    count: bool = False,
) -> None:
    """Records how a delivery ended, where this token still holds the row, with its audit entry."""
    now = utcnow()
    values = {"ack_id": ack_id, "token": token, "outcome": status, "error": error, "now": now,
              "count": 1 if count else 0}
    detail = {"error": error, "reply": reply}
    if steps.combined:
        steps.finishes.execute(_FINISH_LOGGED, {**values, "action": f"ack.{status}", "detail": detail})
    else:
        conn = steps.finishes
        with conn.begin():
            if conn.execute(_FINISH, values).rowcount == 1:
                _audit(conn, now, f"ack.{status}", ack_id, detail)
    if status == "failed":
        log.error("receipt %s failed: %s", ack_id, error)


# The statements every receipt runs, built once: building one costs several times what running it does.
_NOW = bindparam("now", type_=UTCDateTime)
_HANDOFF = (
    update(Acknowledgement)
    .where(col(Acknowledgement.id) == bindparam("ack_id"), col(Acknowledgement.claim_token) == bindparam("token"))
    .where(col(Acknowledgement.status) == "pending", col(Acknowledgement.handoff_at).is_(None))
    .values(status="sending", handoff_at=_NOW, attempts=col(Acknowledgement.attempts) + 1,
            claimed_until=bindparam("until", type_=UTCDateTime), subject=bindparam("title"),
            body_text=bindparam("text"), body_html=bindparam("html"), message_id=bindparam("mid"), updated_at=_NOW)
)
_SENT = bindparam("outcome", type_=String) == "sent"
_FINISH = (
    update(Acknowledgement)
    .where(col(Acknowledgement.id) == bindparam("ack_id"), col(Acknowledgement.claim_token) == bindparam("token"))
    .values(status=bindparam("outcome", type_=String), last_error=bindparam("error"), claimed_until=None,
            updated_at=_NOW, attempts=col(Acknowledgement.attempts) + bindparam("count", type_=Integer),
            sent_at=when((_SENT, _NOW), else_=col(Acknowledgement.sent_at)),
            # The reason it waited for a cap is over once it went.
            reason=when((_SENT & col(Acknowledgement.reason).startswith(WAITING), None),
                        else_=col(Acknowledgement.reason)))
)
_AUDIT = insert(AuditLog)


def _logged(change: Update) -> Insert:
    """``change`` and the audit entry of each row it changed, as one statement (PostgreSQL)."""
    audit: Any = AuditLog.__table__  # type: ignore[attr-defined]
    done = change.returning(col(Acknowledgement.id)).cte("done")
    entry = sa_select(_NOW, literal("system"), bindparam("action", type_=String), literal("acknowledgement"),
                   done.c.id, bindparam("detail", type_=audit.c.detail.type))
    # An INSERT from a SELECT keeps no row count unless asked to; the hand-off needs it.
    return (insert(audit).from_select(["at", "actor", "action", "entity", "entity_id", "detail"], entry)
            .execution_options(preserve_rowcount=True))


_HANDOFF_LOGGED = _logged(_HANDOFF)
_FINISH_LOGGED = _logged(_FINISH)


def _audit(conn: Connection, at: datetime, action: str, ack_id: int, detail: dict[str, str | None]) -> None:
    """The audit entry of a receipt's step, on the connection of the step's own transaction."""
    conn.execute(_AUDIT, {"at": at, "actor": "system", "action": action, "entity": "acknowledgement",
                          "entity_id": ack_id, "detail": detail})
