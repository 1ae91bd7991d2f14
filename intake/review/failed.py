"""Failed and parked messages as staff see them: who sent it, what about, and why it failed."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

from sqlmodel import Session, col, select

from intake.db.models import Message
from intake.errors import IntakeError
from intake.review.wording import failure_reason
from intake.store.raw import RawStore

# A header is read from the first bytes of the message only, and each value is cut to a line.
HEAD_BYTES = 64 * 1024
MAX_VALUE = 200


@dataclass
class FailedRow:
    message: Message
    sender: str | None
    subject: str | None
    reason: str


def _header(head: bytes) -> tuple[str | None, str | None]:
    end = head.find(b"\r\n\r\n")
    end = end if end >= 0 else head.find(b"\n\n")
    try:
        parsed = BytesHeaderParser(policy=policy.default).parsebytes(head[: end if end >= 0 else len(head)])
        sender, subject = parsed.get("from"), parsed.get("subject")
    except (ValueError, TypeError, LookupError, IndexError, AttributeError):
        # A header our parser cannot read is shown as unknown; the message stays listed.
        return None, None
    return (str(sender)[:MAX_VALUE] if sender else None, str(subject)[:MAX_VALUE] if subject else None)


def failed_messages(session: Session, store: RawStore) -> list[FailedRow]:
    """Messages that could not be processed, parked ones first, each with what can be read of it."""
    query = (
        select(Message)
        .where(col(Message.status).in_(("failed", "parked")))
        .order_by(col(Message.status).desc(), col(Message.received_at).desc())
    )
    rows = []
    for message in session.exec(query).all():
        try:
            sender, subject = _header(store.read_head(message.blob, HEAD_BYTES))
        except IntakeError:
            sender = subject = None
        rows.append(FailedRow(message, sender, subject, failure_reason(message.last_error)))
    return rows
