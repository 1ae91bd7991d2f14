"""The part of processing outside any transaction: read, parse, store and extract attachments.

Safe to run for several messages at once in threads (``pipeline/batch.py``),
which keeps every extraction worker busy while one message is decided.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from intake import metrics
from intake.db.engine import reading
from intake.db.models import Message, Submission
from intake.decide.authres import SenderAuthentication
from intake.decide.organisations import domain_of
from intake.decide.sender_check import Envelope, check_sender
from intake.errors import ExtractionInterrupted
from intake.extract.attachments import Unpacked, unpack
from intake.mail.mime import ParsedMessage, parse
from intake.runtime import Runtime


@dataclass
class Prepared:
    """A message read, parsed and extracted, not yet decided: ``prepare_message``'s result.

    ``answer`` set means there is nothing to decide (already done, or parked);
    ``error`` set means preparing failed and ``finish_batch`` records it.
    """

    message_pk: int
    sha256: str | None = None
    answer: int | None = None
    final: bool = False
    parsed: ParsedMessage | None = None
    unpacked: list[Unpacked] | None = None
    received_at: datetime | None = None
    mailbox: str | None = None
    clock: list[float] | None = None
    error: Exception | None = None
    # Our own DKIM, SPF and DMARC verdict, for mail our SMTP receiver took (receiver.verify_senders).
    own_check: SenderAuthentication | None = None
    source: str | None = None


def prepare_message(rt: Runtime, message_pk: int, *, force: bool = False) -> Prepared:
    """Reads, parses and extracts one stored message; a parked one only with ``force``."""
    with reading(rt.engine) as session:
        row = session.execute(_STORED, {"pk": message_pk}).first()
    if row is None:
        raise LookupError(f"no stored message {message_pk}")
    sha256, status, blob, received_at, mailbox, source, peer_ip, helo, mail_from, done = row
    if done is not None:
        return Prepared(message_pk, answer=done, final=True)
    if status == "parked" and not force:
        return Prepared(message_pk, answer=None, final=True)
    envelope = Envelope(peer_ip, helo, mail_from)
    clock = [time.monotonic()]
    try:
        with metrics.cpu_stage("parse"):
            # A large message comes as a memory map, given back as its bodies are decoded.
            raw = rt.store.read_for_parsing(blob)
            parsed = parse(raw)
        # DNS lookups happen here, outside the transaction that decides the message.
        own_check = None
        if source == "smtp" and rt.settings.receiver.verify_senders:
            # Behind a trusted relay the peer is the relay, whose address says nothing of the sender.
            relayed = bool(rt.settings.receiver.trusted_relays)
            own_check = check_sender(raw, domain_of(parsed.sender), resolver=rt.dns,
                                     envelope=None if relayed else envelope,
                                     timeout=rt.settings.receiver.dns_timeout_seconds)
        del raw  # the parsed message holds what the rest needs
        clock.append(time.monotonic())
        with metrics.cpu_stage("extract_wait"):
            unpacked = unpack(rt, parsed.attachments)
        clock.append(time.monotonic())
    except ExtractionInterrupted:
        # The service is stopping: nothing is decided or recorded; the next start processes it.
        return Prepared(message_pk, answer=None, final=True)
    except Exception as err:  # recorded by finish_batch, in the order messages are decided
        return Prepared(message_pk, error=err)
    return Prepared(message_pk, sha256=sha256, parsed=parsed, unpacked=unpacked, received_at=received_at,
                    mailbox=mailbox, clock=clock, own_check=own_check, source=source)


# The message and the submission it already became, if any; built once.
_STORED = (
    sa_select(col(Message.sha256), col(Message.status), col(Message.blob), col(Message.received_at),
              col(Message.mailbox), col(Message.source), col(Message.peer_ip), col(Message.helo),
              col(Message.mail_from), col(Submission.id))
    .outerjoin(Submission, col(Submission.message_ref) == col(Message.id))
    .where(col(Message.id) == bindparam("pk"))
)


def submission_of(session: Session, message_pk: int) -> int | None:
    """The submission a stored message already became, if any."""
    return session.exec(select(Submission.id).where(Submission.message_ref == message_pk)).first()
