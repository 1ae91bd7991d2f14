"""Acknowledge: plans the receipt (kvittering) of a submission as an outbox row.

The row is created in the same transaction as the submission, so a receipt is
neither lost nor planned twice. Delivery is the outbox's job.
"""

from __future__ import annotations

from sqlmodel import Session

from intake.models import Acknowledgement, Case, Submission, utcnow


def receipt_kind(submission: Submission) -> str:
    if submission.case_id is None:
        return "unmatched"
    return "late" if submission.late else "on_time"


def suppression_reason(submission: Submission, flags: set[str], own_addresses: frozenset[str]) -> str | None:
    """Why this submission must get no receipt, or None."""
    recipient = submission.reply_to or submission.sender
    if "auto_reply" in flags:
        return "automatisk svar, returmelding eller listepost: får aldri kvittering"
    if "unreadable" in flags:
        return "meldingen kunne ikke leses"
    if "duplicate_message" in flags:
        return "samme Message-ID er allerede kvittert"
    if not recipient or "@" not in recipient:
        return "ingen gyldig avsenderadresse"
    if recipient.lower() in own_addresses:
        return f"mottakeren {recipient} er vår egen adresse"
    return None


def plan_receipt(
    session: Session,
    submission: Submission,
    case: Case | None,
    flags: set[str],
    own_addresses: frozenset[str] = frozenset(),
) -> Acknowledgement:
    assert submission.id is not None
    recipient = submission.reply_to or submission.sender
    reason = suppression_reason(submission, flags, own_addresses)
    ack = Acknowledgement(
        submission_id=submission.id,
        kind=receipt_kind(submission),
        status="suppressed" if reason else "pending",
        reason=reason,
        recipients=[recipient] if recipient else [],
        language=case.language if case else "nb",
        next_attempt_at=None if reason else utcnow(),
    )
    session.add(ack)
    return ack
