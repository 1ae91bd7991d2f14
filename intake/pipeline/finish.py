"""Runs the stages for one message: store, parse, extract, match, flag, acknowledge.

``store_message`` makes the original bytes durable and commits their row; nothing
before it can lose mail, and everything after it can be repeated. ``process_message``
turns a stored message into a submission in one transaction, so a crash at any
point leaves either no submission (and the message is processed again later) or
a whole one. One bad message never stops the others: its error is recorded with
an attempt count and, after a few tries, it is parked for a person.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from intake import metrics, organisations
from intake.attachments import Unpacked, add_rows, db_text, flatten, read_form_answers, unpack
from intake.audit import record
from intake.db import session_scope
from intake.matching import MatchResult, match
from intake.mime import ParsedMessage, parse, peek_message_id
from intake.models import Acknowledgement, Case, Flag, Message, Submission, utcnow
from intake.receipts import plan_receipt
from intake.rules import RuleContext, run_chain
from intake.runtime import Runtime

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """Where a message came from; IMAP messages carry their idempotency key."""

    kind: str  # imap | smtp | file
    mailbox: str | None = None
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    created: bool
    status: str


@dataclass(frozen=True)
class IngestResult:
    message_pk: int
    submission_id: int | None
    duplicate: bool


@dataclass(frozen=True)
class _Outcome:
    submission_id: int
    case: str | None
    match_source: str | None
    flags: list[str]
    attachments: int


def ingest(rt: Runtime, raw: bytes, source: Source, received_at: datetime) -> IngestResult:
    stored = store_message(rt, raw, source, received_at)
    submission_id = process_message(rt, stored.id)
    return IngestResult(message_pk=stored.id, submission_id=submission_id, duplicate=not stored.created)


def store_message(rt: Runtime, raw: bytes, source: Source, received_at: datetime) -> StoredMessage:
    """Writes the bytes durably and commits their row; the same bytes again give the same row."""
    sha256, blob = rt.store.put(raw)
    with Session(rt.engine, expire_on_commit=False) as session:
        existing = session.exec(select(Message).where(Message.sha256 == sha256)).first()
        if existing is not None:
            assert existing.id is not None
            return StoredMessage(existing.id, False, existing.status)
        message = Message(
            sha256=sha256,
            size=len(raw),
            blob=blob,
            message_id=peek_message_id(raw),
            source=source.kind,
            mailbox=source.mailbox,
            folder=source.folder,
            uidvalidity=source.uidvalidity,
            uid=source.uid,
            received_at=received_at,
        )
        session.add(message)
        try:
            session.flush()
            session.commit()
        except IntegrityError:
            # Another process stored the same bytes a moment ago: theirs is the row.
            session.rollback()
            existing = session.exec(select(Message).where(Message.sha256 == sha256)).one()
            assert existing.id is not None
            return StoredMessage(existing.id, False, existing.status)
        assert message.id is not None
        return StoredMessage(message.id, True, message.status)


def process_message(rt: Runtime, message_pk: int, *, force: bool = False) -> int | None:
    """Turns a stored message into a submission; returns its id, or None when it failed.

    Idempotent: a message that already has a submission returns it. A parked
    message is only tried again with ``force`` (a person asked for it).
    """
    return finish_message(rt, prepare_message(rt, message_pk, force=force))


@dataclass
class Prepared:
    """A message read, parsed and extracted, not yet decided: ``prepare_message``'s result.

    ``answer`` set means there is nothing to decide (already done, or parked);
    ``error`` set means preparing failed and ``finish_message`` records it.
    """

    message_pk: int
    answer: int | None = None
    final: bool = False
    parsed: ParsedMessage | None = None
    unpacked: list[Unpacked] | None = None
    received_at: datetime | None = None
    mailbox: str | None = None
    clock: list[float] | None = None
    error: Exception | None = None


def prepare_message(rt: Runtime, message_pk: int, *, force: bool = False) -> Prepared:
    """The part of processing outside the transaction: read, parse, store and extract attachments.

    Safe to run for several messages at once in threads (``intake/overlap.py``),
    which keeps every extraction worker busy while one message is decided.
    """
    with Session(rt.engine, expire_on_commit=False) as session:
        message = session.get(Message, message_pk)
        if message is None:
            raise LookupError(f"no stored message {message_pk}")
        done = _submission_of(session, message_pk)
        if done is not None:
            return Prepared(message_pk, answer=done, final=True)
        if message.status == "parked" and not force:
            return Prepared(message_pk, answer=None, final=True)
        blob, received_at, mailbox = message.blob, message.received_at, message.mailbox
    clock = [time.monotonic()]
    try:
        parsed = parse(rt.store.read(blob))
        clock.append(time.monotonic())
        unpacked = unpack(rt, parsed.attachments)
        clock.append(time.monotonic())
    except Exception as err:  # recorded by finish_message, in the order messages are decided
        return Prepared(message_pk, error=err)
    return Prepared(message_pk, parsed=parsed, unpacked=unpacked, received_at=received_at, mailbox=mailbox,
                    clock=clock)


def finish_message(rt: Runtime, prepared: Prepared) -> int | None:
    """Decides a prepared message in one transaction: match, flag, submission, receipt row."""
    message_pk = prepared.message_pk
    if prepared.final:
        return prepared.answer
    try:
        if prepared.error is not None:
            raise prepared.error
        assert prepared.parsed is not None and prepared.unpacked is not None and prepared.clock is not None
        assert prepared.received_at is not None
        # Time spent waiting for its turn after preparing is left out of the timings.
        clock, decide_started = list(prepared.clock), time.monotonic()
        with session_scope(rt.engine) as session:
            outcome = _decide(rt, session, message_pk, prepared.parsed, prepared.unpacked, prepared.received_at,
                              prepared.mailbox)
        clock.append(clock[-1] + time.monotonic() - decide_started)
    except IntegrityError:
        # Two processes decided the same message at once; the first commit won.
        with Session(rt.engine) as session:
            winner = _submission_of(session, message_pk)
        if winner is None:
            raise
        return winner
    except Exception as err:  # the per-message boundary: record, park after a few tries, go on
        _record_failure(rt, message_pk, err)
        return None
    # One line per message, key=value, so that log tools can filter by case or flag.
    log.info(
        "processed message=%s submission=%s case=%s match=%s flags=%s attachments=%s "
        "parse_ms=%.0f extract_ms=%.0f decide_ms=%.0f total_ms=%.0f",
        message_pk, outcome.submission_id, outcome.case or "-", outcome.match_source or "-",
        ",".join(outcome.flags) or "-", outcome.attachments,
        *((b - a) * 1000 for a, b in itertools.pairwise(clock)), (clock[-1] - clock[0]) * 1000,
    )
    metrics.observe("intake_process_seconds", clock[-1] - clock[0])
    return outcome.submission_id


def process_pending(rt: Runtime, *, limit: int | None = None, stored_before: datetime | None = None) -> int:
    """Processes stored messages that have no submission yet (after a crash or a failure).

    ``stored_before`` leaves younger messages alone: the daemon's poller and
    receiver process what they store themselves, a moment later, and a second
    preparation of the same message would only double the work and the memory.
    """
    with Session(rt.engine) as session:
        query = (
            select(Message.id)
            .where(col(Message.status).in_(["stored", "failed"]))
            .where(Message.attempts < rt.settings.processing.max_attempts)
            .order_by(col(Message.id))
        )
        if stored_before is not None:
            query = query.where(col(Message.stored_at) < stored_before)
        ids = [i for i in session.exec(query.limit(limit) if limit else query).all() if i is not None]
    from intake.overlap import process_many

    return sum(1 for result in process_many(rt, ids) if result is not None)


def _submission_of(session: Session, message_pk: int) -> int | None:
    return session.exec(select(Submission.id).where(Submission.message_ref == message_pk)).first()


def _record_failure(rt: Runtime, message_pk: int, err: Exception) -> None:
    reason = f"{type(err).__name__}: {err}"[:2000]
    with session_scope(rt.engine) as session:
        message = session.get(Message, message_pk)
        assert message is not None
        message.attempts += 1
        message.last_error = reason
        message.status = "parked" if message.attempts >= rt.settings.processing.max_attempts else "failed"
        session.add(message)
        record(session, f"message.{message.status}", "message", message_pk, {"error": reason,
                                                                            "attempts": message.attempts})
    log.error("message %s failed (attempt %s): %s", message_pk, message.attempts, reason, exc_info=err)


def _thread_case(session: Session, parsed: ParsedMessage) -> str | None:
    """The case of the message this one replies to: an earlier submission or one of our receipts."""
    ids = [*parsed.in_reply_to, *reversed(parsed.references)]
    for message_id in ids:
        number = session.exec(
            select(Case.number).join(Submission, col(Submission.case_id) == col(Case.id))
            .where(Submission.message_id == message_id)
        ).first()
        if number is None:
            number = session.exec(
                select(Case.number)
                .join(Submission, col(Submission.case_id) == col(Case.id))
                .join(Acknowledgement, col(Acknowledgement.submission_id) == col(Submission.id))
                .where(Acknowledgement.message_id == message_id)
            ).first()
        if number is not None:
            return number
    return None


def _decide(
    rt: Runtime,
    session: Session,
    message_pk: int,
    parsed: ParsedMessage,
    unpacked: list[Unpacked],
    received_at: datetime,
    mailbox: str | None,
) -> _Outcome:
    cases = {c.number: c for c in session.exec(select(Case).where(Case.active == True)).all()}  # noqa: E712
    attachments = flatten(unpacked)
    texts = [db_text(a.extraction.text) or "" for a in attachments if a.extraction is not None and a.extraction.text]
    result: MatchResult = match(
        [("subject", [parsed.subject or ""]), ("body", [parsed.body_text]), ("attachment", texts)],
        known=lambda number: number in cases,
        thread_case=_thread_case(session, parsed),
    )
    case = cases.get(result.case) if result.case else None
    invited = organisations.invited_bodies(session)
    organisation = organisations.resolve(
        session, sender=parsed.sender, sender_name=parsed.sender_name, case_id=case.id if case else None,
        invited=invited,
    )
    message = session.get(Message, message_pk)
    assert message is not None
    submission = Submission(
        message_ref=message_pk,
        message_id=parsed.message_id,
        mailbox=mailbox,
        sender=parsed.sender,
        sender_name=parsed.sender_name,
        reply_to=parsed.reply_to,
        subject=parsed.subject,
        body_text=db_text(parsed.body_text),
        sent_date=parsed.date,
        received_at=received_at,
        case_id=case.id if case else None,
        case_number=result.case or (result.found[0] if len(result.found) == 1 else None),
        match_source=result.source if case else None,
        organisation_id=organisation.id if organisation else None,
        organisation=organisation.name if organisation else None,
        receipt_ref="K-" + message.sha256[:10].upper(),
    )
    session.add(submission)
    session.flush()
    assert submission.id is not None
    errors = add_rows(session, submission.id, unpacked, None)
    if case is not None and case.form and texts:
        submission.form = read_form_answers(case.form.get("questions", []), texts)
    ctx = RuleContext(
        session=session, parsed=parsed, match=result, case=case, organisation=organisation,
        received_at=received_at, message_pk=message_pk, invited=invited, own_addresses=rt.own_addresses,
        extraction_errors=errors,
    )
    hits, rule_log = run_chain(ctx)
    for hit in hits:
        session.add(Flag(submission_id=submission.id, name=hit.flag, detail=hit.detail))
    flags = {hit.flag for hit in hits}
    submission.late = "late" in flags
    submission.rule_log = rule_log
    session.add(submission)
    plan_receipt(session, submission, case, flags, rt.own_addresses, smtp=rt.settings.smtp)
    message.status = "processed"
    message.processed_at = utcnow()
    message.last_error = None
    session.add(message)
    record(session, "submission.created", "submission", submission.id,
           {"case": case.number if case else None, "flags": sorted(flags), "match": result.source})
    session.flush()
    return _Outcome(submission.id, case.number if case else None, submission.match_source, sorted(flags),
                    len(attachments))
