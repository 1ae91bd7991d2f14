"""Match by thread: the case of the message this one replies to."""

from __future__ import annotations

from sqlmodel import Session, col, select

from intake.db.models import Acknowledgement, Case, Submission
from intake.mail.mime import ParsedMessage


def thread_case(session: Session, parsed: ParsedMessage) -> str | None:
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
