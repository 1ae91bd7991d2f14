"""Keyword-only query functions shared by the CLI, the web pages and the API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from intake.db.models import Acknowledgement, Attachment, Case, Flag, Invitation, Submission


def list_submissions(
    session: Session,
    *,
    case: str | None = None,
    flag: str | None = None,
    mailbox: str | None = None,
    search: str | None = None,
    open_only: bool = False,
    newest_first: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[Submission]:
    query = select(Submission)
    if case is not None:
        query = query.join(Case, col(Submission.case_id) == col(Case.id)).where(Case.number == case)
    if flag is not None:
        flagged = select(Flag.submission_id).where(Flag.name == flag)
        if open_only:
            flagged = flagged.where(col(Flag.resolved_at).is_(None))
        query = query.where(col(Submission.id).in_(flagged))
    if mailbox is not None:
        query = query.where(Submission.mailbox == mailbox)
    if search:
        # % and _ typed by a person are literal characters, not wildcards.
        text = search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{text}%"
        query = query.where(
            or_(
                func.lower(col(Submission.sender)).like(like, escape="\\"),
                func.lower(col(Submission.sender_name)).like(like, escape="\\"),
                func.lower(col(Submission.organisation)).like(like, escape="\\"),
                func.lower(col(Submission.subject)).like(like, escape="\\"),
                func.lower(col(Submission.receipt_ref)).like(like, escape="\\"),
            )
        )
    order = col(Submission.received_at).desc() if newest_first else col(Submission.received_at)
    query = query.order_by(order, col(Submission.id)).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query).all())


def flags_by_submission(session: Session, ids: Sequence[int]) -> dict[int, list[Flag]]:
    out: dict[int, list[Flag]] = defaultdict(list)
    if ids:
        for flag in session.exec(select(Flag).where(col(Flag.submission_id).in_(ids)).order_by(col(Flag.id))):
            out[flag.submission_id].append(flag)
    return out


def attachments_by_submission(session: Session, ids: Sequence[int]) -> dict[int, list[Attachment]]:
    out: dict[int, list[Attachment]] = defaultdict(list)
    if ids:
        query = select(Attachment).where(col(Attachment.submission_id).in_(ids)).order_by(col(Attachment.id))
        for attachment in session.exec(query):
            out[attachment.submission_id].append(attachment)
    return out


def acknowledgements_by_submission(session: Session, ids: Sequence[int]) -> dict[int, Acknowledgement]:
    if not ids:
        return {}
    query = select(Acknowledgement).where(col(Acknowledgement.submission_id).in_(ids))
    return {ack.submission_id: ack for ack in session.exec(query)}


def case_numbers(session: Session) -> dict[int, str]:
    return {c.id: c.number for c in session.exec(select(Case)) if c.id is not None}


@dataclass
class CaseSummary:
    case: Case
    received: int
    on_time: int
    late: int
    flagged: int
    invited: int
    invited_responded: int


def list_cases(session: Session, *, active_only: bool = False) -> list[CaseSummary]:
    query = select(Case).order_by(col(Case.number))
    if active_only:
        query = query.where(Case.active == True)  # noqa: E712
    summaries = []
    for case in session.exec(query).all():
        subs = session.exec(select(Submission).where(Submission.case_id == case.id)).all()
        ids = [s.id for s in subs if s.id is not None]
        flagged = set()
        if ids:
            flagged = set(
                session.exec(
                    select(Flag.submission_id).where(col(Flag.submission_id).in_(ids), col(Flag.resolved_at).is_(None))
                ).all()
            )
        invited = set(session.exec(select(Invitation.organisation_id).where(Invitation.case_id == case.id)).all())
        responded = {s.organisation_id for s in subs if s.organisation_id in invited}
        summaries.append(
            CaseSummary(
                case=case,
                received=len(subs),
                on_time=sum(1 for s in subs if not s.late),
                late=sum(1 for s in subs if s.late),
                flagged=len(flagged),
                invited=len(invited),
                invited_responded=len(responded),
            )
        )
    return summaries
