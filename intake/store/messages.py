"""The store step for a whole message: its bytes made durable and its row committed, once.

Nothing before ``store_message`` can lose mail and everything after it can be
repeated. ``Source`` is where a message came from; for IMAP it carries the
idempotency key (mailbox, folder, UIDVALIDITY, UID), for our SMTP receiver the
envelope SPF needs (peer address, HELO name, MAIL FROM).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from intake.db.models import Message
from intake.mail.mime import peek_message_id
from intake.runtime import Runtime


@dataclass(frozen=True)
class Source:
    """Where a message came from; IMAP messages carry their idempotency key."""

    kind: str  # imap | smtp | file
    mailbox: str | None = None
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None
    # The SMTP envelope, for mail handed to our receiver (see intake/sources/smtp.py).
    peer_ip: str | None = None
    helo: str | None = None
    mail_from: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    id: int
    created: bool
    status: str


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
            peer_ip=source.peer_ip,
            helo=source.helo,
            mail_from=source.mail_from,
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
