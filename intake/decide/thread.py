"""Match by thread: the case of the message this one replies to.

A sender decides how many ids References holds (20,000 were seen, which took 40,000
queries and held the write transaction 14 s), so only the nearest ones are read, in one
query, and the pipeline looks them up before its write transaction opens.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal, select, union_all
from sqlmodel import Session, col

from intake.db.models import Acknowledgement, Case, Letter, Submission
from intake.mail.mime import ParsedMessage

# How many ids of In-Reply-To and References together are looked up: the nearest ones.
MAX_REPLY_IDS = 20


def reply_ids(parsed: ParsedMessage) -> list[str]:
    """The ids this message replies to, nearest first (In-Reply-To, then References from its end), at most 20."""
    ids: list[str] = []
    for message_id in [*parsed.in_reply_to, *reversed(parsed.references[-MAX_REPLY_IDS:])]:
        if message_id not in ids:
            ids.append(message_id)
        if len(ids) == MAX_REPLY_IDS:
            break
    return ids


def thread_case(session: Session, parsed: ParsedMessage) -> str | None:
    """The case of the message this one replies to: an earlier submission or one of our receipts."""
    return case_of_ids(session, reply_ids(parsed))


def case_of_ids(session: Session, ids: list[str]) -> str | None:
    """The case of the first id (in the order given) that names a submission or a receipt; one query."""
    if not ids:
        return None
    submissions: Any = (
        select(literal(0).label("kind"), col(Submission.message_id).label("ref"), col(Case.number).label("number"))
        .join(Case, col(Submission.case_id) == col(Case.id))
        .where(col(Submission.message_id).in_(ids))
    )
    receipts: Any = (
        select(literal(1).label("kind"), col(Acknowledgement.message_id).label("ref"), col(Case.number).label("number"))
        .join(Submission, col(Acknowledgement.submission_id) == col(Submission.id))
        .join(Case, col(Submission.case_id) == col(Case.id))
        .where(col(Acknowledgement.message_id).in_(ids))
    )
    found: dict[tuple[str, int], str] = {}
    for kind, ref, number in session.execute(union_all(submissions, receipts)).all():
        found.setdefault((ref, kind), number)
    for message_id in ids:
        for kind in (0, 1):
            if (message_id, kind) in found:
                return found[(message_id, kind)]
    return None


def thread_parent(session: Session, parsed: ParsedMessage) -> int | None:
    """The response this message follows up: the first of the thread it replies to, or None.

    A reply to a response, to one of its follow-ups, to one of our receipts or to a clerk's
    letter belongs to that response; thread headers decide this on their own (no content is read).
    Only the nearest ids are read (``reply_ids``), as for the case.
    """
    ids = reply_ids(parsed)
    if not ids:
        return None
    sent = [(Acknowledgement, Acknowledgement.message_id, Acknowledgement.submission_id),
            (Letter, Letter.message_id, Letter.submission_id)]
    queries: list[Any] = [
        select(col(Submission.message_id), col(Submission.id), col(Submission.follow_up_of))
        .where(col(Submission.message_id).in_(ids))
    ]
    for table, message_id, submission_id in sent:
        queries.append(
            select(col(message_id), col(Submission.id), col(Submission.follow_up_of))
            .select_from(table)
            .join(Submission, col(submission_id) == col(Submission.id))
            .where(col(message_id).in_(ids))
        )
    found: dict[str, int] = {}
    for mid, pk, root in session.execute(union_all(*queries)).all():
        found.setdefault(mid, int(root or pk))
    # The nearest id first: In-Reply-To, then References from the last.
    return next((found[mid] for mid in ids if mid in found), None)
