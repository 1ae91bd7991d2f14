"""Runs the stages for stored messages: one on its own, a file's worth, or whatever is left over.

One bad message never stops the others: its error is recorded with an attempt
count and, after a few tries, it is parked for a person (``finish.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from intake.db.models import Message
from intake.pipeline.batch import process_many
from intake.pipeline.finish import finish_message
from intake.pipeline.watchdog import prepare_watched
from intake.runtime import Runtime
from intake.store.messages import Source, store_message


@dataclass(frozen=True)
class IngestResult:
    message_pk: int
    submission_id: int | None
    duplicate: bool


def ingest(rt: Runtime, raw: bytes, source: Source, received_at: datetime) -> IngestResult:
    stored = store_message(rt, raw, source, received_at)
    submission_id = process_message(rt, stored.id)
    return IngestResult(message_pk=stored.id, submission_id=submission_id, duplicate=not stored.created)


def process_message(rt: Runtime, message_pk: int, *, force: bool = False) -> int | None:
    """Turns a stored message into a submission; returns its id, or None when it failed.

    Idempotent: a message that already has a submission returns it. A parked
    message is only tried again with ``force`` (a person asked for it).
    """
    return finish_message(rt, prepare_watched(rt, message_pk, force=force))


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
    return sum(1 for result in process_many(rt, ids) if result is not None)
