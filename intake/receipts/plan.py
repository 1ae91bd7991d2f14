"""Acknowledge: plans the receipt (kvittering) of a submission as an outbox row.

The row is created in the same transaction as the submission, so a receipt is
neither lost nor planned twice, and its Message-ID is fixed here, before any
attempt to send it. This module also decides who must never get a receipt:
machines (auto-replies, bounces, lists, no-reply senders), ourselves, and
anyone past the hourly per-recipient limit. A suppressed receipt keeps its row
with the reason, so staff can see why nothing was sent. Rendering and delivery
are ``intake.receipts.render`` and ``intake.receipts.outbox``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import func
from sqlmodel import Session, col, select

from intake.config import SmtpSettings
from intake.db.audit import record
from intake.db.models import Acknowledgement, Case, Submission, utcnow
from intake.receipts.compose import valid_address

LANGUAGES = ("nb", "nn", "en")
KINDS = ("on_time", "late", "unmatched")
# Receipts that count against the hourly limit: everything that was or will be sent.
_COUNTED = ("pending", "sending", "sent")
# Local parts of addresses that belong to machines, compared with the separators removed so
# that "no-reply", "no_reply" and "do.not.reply" all look alike.
_ROBOT_PREFIXES = ("mailerdaemon", "maildaemon", "postmaster", "autoreply", "autoresponder", "listserv",
                   "majordomo", "bounce")
_ROBOT_WORDS = ("noreply", "donotreply", "dontreply", "noresponse", "+bounce")


def receipt_kind(submission: Submission) -> str:
    if submission.case_id is None:
        return "unmatched"
    return "late" if submission.late else "on_time"


def receipt_recipient(submission: Submission) -> str | None:
    """The one address a receipt may go to: Reply-To when it is a valid address, else From."""
    for candidate in (submission.reply_to, submission.sender):
        if candidate and valid_address(candidate.strip()):
            return candidate.strip().lower()
    return None


def is_robot_address(address: str) -> bool:
    """MAILER-DAEMON, postmaster, noreply, do-not-reply, list bounce addresses and the like."""
    local = re.sub(r"[-_.]", "", address.rsplit("@", 1)[0].lower())
    return (
        local.startswith(_ROBOT_PREFIXES)
        or any(word in local for word in _ROBOT_WORDS)
        or local.endswith(("bounce", "bounces"))
    )


def is_own_address(address: str, own_addresses: Collection[str]) -> bool:
    """True for one of our addresses; an entry written ``@domain`` covers the whole domain."""
    address = address.lower()
    domain = "@" + address.rsplit("@", 1)[-1]
    own = {a.strip().lower() for a in own_addresses}
    return address in own or domain in own


def recent_receipts(session: Session, recipient: str, now: datetime) -> int:
    """How many receipts went, or will go, to this address in the hour before ``now``."""
    query = (
        select(func.count())
        .select_from(Acknowledgement)
        .where(Acknowledgement.recipient == recipient)
        .where(col(Acknowledgement.status).in_(_COUNTED))
        .where(col(Acknowledgement.created_at) >= now - timedelta(hours=1))
    )
    return int(session.exec(query).one())


def suppression_reason(
    session: Session,
    submission: Submission,
    flags: Collection[str],
    own_addresses: Collection[str],
    rate_limit_per_hour: int,
    now: datetime,
) -> str | None:
    """Why this submission must get no receipt (in words staff read), or None."""
    if "auto_reply" in flags:
        return "automatisk svar, returmelding eller listepost: får aldri kvittering"
    if "unreadable" in flags:
        return "meldingen kunne ikke leses"
    if "duplicate_message" in flags:
        return "samme melding er allerede kvittert"
    recipient = receipt_recipient(submission)
    if recipient is None:
        return "ingen gyldig avsenderadresse"
    if is_own_address(recipient, own_addresses):
        return f"mottakeren {recipient} er vår egen adresse"
    if is_robot_address(recipient):
        return f"mottakeren {recipient} er en maskinadresse (noreply, postmaster, MAILER-DAEMON e.l.)"
    # Zero turns the limit off; otherwise a sender who writes many times an hour (or a loop we
    # did not recognise) gets at most this many receipts.
    if rate_limit_per_hour and recent_receipts(session, recipient, now) >= rate_limit_per_hour:
        return f"mer enn {rate_limit_per_hour} kvitteringer til {recipient} den siste timen"
    return None


def new_message_id(from_address: str) -> str:
    """A fresh Message-ID in our own domain, generated once and stored before any sending."""
    domain = from_address.rsplit("@", 1)[-1].strip().strip(">") or "localhost"
    return make_msgid(idstring="kvittering", domain=domain)


def plan_receipt(
    session: Session,
    submission: Submission,
    case: Case | None,
    flags: Collection[str],
    own_addresses: Collection[str] = frozenset(),
    *,
    smtp: SmtpSettings | None = None,
    now: datetime | None = None,
) -> Acknowledgement:
    """Adds the submission's receipt row to the session (the caller's transaction) and returns it."""
    assert submission.id is not None
    smtp = smtp or SmtpSettings()
    now = now or utcnow()
    own = {*own_addresses, smtp.from_address}
    recipient = receipt_recipient(submission)
    reason = suppression_reason(session, submission, flags, own, smtp.rate_limit_per_hour, now)
    language = case.language if case is not None and case.language in LANGUAGES else "nb"
    ack = Acknowledgement(
        submission_id=submission.id,
        kind=receipt_kind(submission),
        status="suppressed" if reason else "pending",
        reason=reason,
        recipients=[recipient] if recipient else [],
        recipient=recipient,
        message_id=None if reason else new_message_id(smtp.from_address),
        language=language,
        next_attempt_at=None if reason else now,
        created_at=now,
        updated_at=now,
    )
    session.add(ack)
    session.flush()
    record(session, "ack.suppressed" if reason else "ack.planned", "acknowledgement", ack.id,
           {"submission": submission.id, "kind": ack.kind, "to": recipient, "reason": reason})
    return ack
