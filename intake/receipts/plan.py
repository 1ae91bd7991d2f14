"""Acknowledge: plans the receipt (kvittering) of a submission as an outbox row.

The row is created in the same transaction as the submission, so a receipt is
neither lost nor planned twice, and its Message-ID is fixed here, before any
attempt to send it. This module also decides who must never get a receipt:
machines (auto-replies, bounces, lists, no-reply senders), ourselves, and
senders whose message failed authentication. A suppressed receipt keeps its row
with the reason, so staff can see why nothing was sent. A receipt goes to the
From address, or to Reply-To only within the From address's own organisation, so
nobody can point our receipts at a third party. How many go out per hour is the
outbox's concern (``intake.receipts.caps``). Rendering and delivery are
``intake.receipts.render`` and ``intake.receipts.outbox``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from email.utils import make_msgid
from pathlib import Path

from sqlmodel import Session, select

from intake.config import SmtpSettings
from intake.db.audit import record
from intake.db.models import Acknowledgement, Attachment, Case, Submission, utcnow
from intake.db.rows import insert_rows
from intake.decide.domains import same_organisation
from intake.decide.rules.suspicious import blocks_receipt
from intake.receipts.compose import valid_address
from intake.receipts.render import Known, write_text

LANGUAGES = ("nb", "nn", "en")
KINDS = ("on_time", "late", "unmatched", "ambiguous", "unknown_case", "unreadable", "follow_up")
THANKS_ONLY = "bare «takk» til en tidligere innsending: får ingen kvittering"
# A reply that only says thank you needs no receipt (a receipt for it would invite another).
_THANKS = ("takk", "tusen takk", "takk for det", "takk for kvitteringen", "takk for svaret", "mange takk",
           "takk skal du ha", "thanks", "thank you", "thank you very much", "ok takk", "ok, takk", "flott, takk")
# Local parts of addresses that belong to machines, compared with the separators removed so
# that "no-reply", "no_reply" and "do.not.reply" all look alike.
_ROBOT_PREFIXES = ("mailerdaemon", "maildaemon", "postmaster", "autoreply", "autoresponder", "listserv",
                   "majordomo", "bounce")
_ROBOT_WORDS = ("noreply", "donotreply", "dontreply", "noresponse", "+bounce")


def receipt_kind(submission: Submission, flags: Collection[str] = ()) -> str:
    """Which receipt fits: what the reader must know, or do, first.

    Without a case: several case numbers found (staff sort it out), a number that is no
    consultation of ours, or none at all. With one: an attachment we could not read (a
    readable copy, please, as a reply), else late or on time.
    """
    if submission.follow_up_of is not None:
        return "follow_up"
    if submission.case_id is None:
        if "ambiguous_case" in flags:
            return "ambiguous"
        if "unknown_case" in flags:
            return "unknown_case"
        return "unmatched"
    if "extraction_failed" in flags:
        return "unreadable"
    return "late" if submission.late else "on_time"


def is_bare_thanks(text: str | None) -> bool:
    """A short reply that says only «takk» (quoted earlier mail and a signature aside)."""
    lines = []
    for line in (text or "")[:2000].splitlines():
        stripped = line.strip()
        # Where the quoted receipt or the signature begins, the reply itself has ended.
        if stripped.startswith(">") or stripped in ("--", "-- ") or stripped.lower().startswith(
            ("fra:", "from:", "den ", "on ", "-----")
        ):
            break
        if stripped:
            lines.append(stripped)
    if not lines or len(lines) > 3:
        return False
    first = lines[0].casefold().rstrip("!.:) ").strip()
    return first in _THANKS


def receipt_recipient(submission: Submission) -> str | None:
    """The one address a receipt may go to: From, or Reply-To when it is in From's organisational domain.

    A Reply-To elsewhere is ignored: it is how a sender would make us mail a third party.
    """
    sender = _plain(submission.sender)
    if sender is None:
        return None
    reply_to = _plain(submission.reply_to)
    if reply_to is not None and same_organisation(reply_to.rsplit("@", 1)[1], sender.rsplit("@", 1)[1]):
        return reply_to
    return sender


def _plain(address: str | None) -> str | None:
    value = (address or "").strip().lower()
    return value if value and valid_address(value) else None


def recipient_key(address: str) -> tuple[str, str]:
    """What the hourly caps count by: the address without its ``+tag``, and its domain."""
    local, _, domain = address.lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}", domain


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


def suppression_reason(
    submission: Submission, flags: Collection[str] | Mapping[str, str | None], own_addresses: Collection[str]
) -> str | None:
    """Why this submission must get no receipt (in words staff read), or None.

    ``flags`` names the submission's flags; a mapping gives each flag's detail, which
    tells a failed sender check (no receipt) from a merely unconfirmed one.
    """
    if "auto_reply" in flags:
        return "automatisk svar, returmelding eller listepost: får aldri kvittering"
    if "unreadable" in flags:
        return "meldingen kunne ikke leses"
    if "duplicate_message" in flags:
        return "samme melding er allerede kvittert"
    if "suspicious_sender" in flags:
        detail = (flags.get("suspicious_sender") if isinstance(flags, Mapping) else None) or "mistenkelig avsender"
        if blocks_receipt(detail):
            return f"{detail}: ingen automatisk kvittering"
    recipient = receipt_recipient(submission)
    if recipient is None:
        return "ingen gyldig avsenderadresse"
    if is_own_address(recipient, own_addresses):
        return f"mottakeren {recipient} er vår egen adresse"
    if is_robot_address(recipient):
        return f"mottakeren {recipient} er en maskinadresse (noreply, postmaster, MAILER-DAEMON e.l.)"
    return None


def new_message_id(from_address: str) -> str:
    """A fresh Message-ID in our own domain, generated once and stored before any sending."""
    domain = from_address.rsplit("@", 1)[-1].strip().strip(">") or "localhost"
    return make_msgid(idstring="kvittering", domain=domain)


def plan_receipt(
    session: Session,
    submission: Submission,
    case: Case | None,
    flags: Collection[str] | Mapping[str, str | None],
    own_addresses: Collection[str] = frozenset(),
    *,
    smtp: SmtpSettings | None = None,
    now: datetime | None = None,
    text: tuple[Path, Known] | None = None,
    has_files: bool | None = None,
) -> Acknowledgement:
    """The submission's receipt row, not yet written: ``write_planned`` writes a batch's rows at once.

    With ``text`` (the workflows folder and what the caller has at hand of the receipt's
    context) a receipt to be sent gets its text now, in the same insert (``render.write_text``).
    ``has_files``: whether the submission has any file, when the caller knows (else it is read).
    """
    assert submission.id is not None
    smtp = smtp or SmtpSettings()
    now = now or utcnow()
    own = {*own_addresses, smtp.from_address}
    recipient = receipt_recipient(submission)
    reason = suppression_reason(submission, flags, own)
    if reason is None and submission.follow_up_of is not None and is_bare_thanks(submission.body_text):
        if has_files is None:
            has_files = session.exec(
                select(Attachment.id).where(Attachment.submission_id == submission.id)).first() is not None
        if not has_files:
            reason = THANKS_ONLY
    language = case.language if case is not None and case.language in LANGUAGES else "nb"
    ack = Acknowledgement(
        submission_id=submission.id,
        kind=receipt_kind(submission, flags),
        status="suppressed" if reason else "pending",
        reason=reason,
        recipients=[recipient] if recipient else [],
        recipient=recipient,
        recipient_key=recipient_key(recipient)[0] if recipient else None,
        recipient_domain=recipient_key(recipient)[1] if recipient else None,
        message_id=None if reason else new_message_id(smtp.from_address),
        language=language,
        next_attempt_at=None if reason else now,
        created_at=now,
        updated_at=now,
    )
    if text is not None and ack.status == "pending":
        write_text(session, ack, submission, smtp, *text)
    return ack


def write_planned(session: Session, acks: Sequence[Acknowledgement]) -> None:
    """Writes planned receipt rows in the caller's transaction, one statement for them all, each with its audit entry.

    Nothing reads a receipt row between its planning and the end of the decisions it
    belongs to (a reply to it cannot have come yet), so a batch's rows go together.
    """
    insert_rows(session, acks)
    for ack in acks:
        record(session, "ack.suppressed" if ack.reason else "ack.planned", "acknowledgement", ack.id,
               {"submission": ack.submission_id, "kind": ack.kind, "to": ack.recipient, "reason": ack.reason})
