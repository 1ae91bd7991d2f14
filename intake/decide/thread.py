"""Match by thread: the case of the message this one replies to."""

from __future__ import annotations

from sqlmodel import Session, col, select

from intake.db.models import Acknowledgement, Case, Letter, Submission
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


# How many of a reply's thread ids are looked up: the nearest ones, where its parent is.
THREAD_IDS = 20


def thread_parent(session: Session, parsed: ParsedMessage) -> int | None:
    """The response this message follows up: the first of the thread it replies to, or None.

    A reply to a response, to one of its follow-ups, to one of our receipts or to a clerk's
    letter belongs to that response; thread headers decide this on their own (no content is read).
    """
    ids = [*parsed.in_reply_to, *reversed(parsed.references)][:THREAD_IDS]
    if not ids:
        return None
    direct = {
        mid: (pk, root) for mid, pk, root in session.exec(
            select(Submission.message_id, Submission.id, Submission.follow_up_of)
            .where(col(Submission.message_id).in_(ids))
        ).all()
    }
    receipts = {
        mid: (pk, root) for mid, pk, root in session.exec(
            select(Acknowledgement.message_id, Submission.id, Submission.follow_up_of)
            .join(Submission, col(Acknowledgement.submission_id) == col(Submission.id))
            .where(col(Acknowledgement.message_id).in_(ids))
        ).all()
    }
    letters = {
        mid: (pk, root) for mid, pk, root in session.exec(
            select(Letter.message_id, Submission.id, Submission.follow_up_of)
            .join(Submission, col(Letter.submission_id) == col(Submission.id))
            .where(col(Letter.message_id).in_(ids))
        ).all()
    }
    # The nearest id first: In-Reply-To, then References from the last.
    for message_id in ids:
        found = direct.get(message_id) or receipts.get(message_id) or letters.get(message_id)
        if found is not None:
            pk, root = found
            return root or pk
    return None
