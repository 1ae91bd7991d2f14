"""Keyword-only query functions shared by the CLI, the web pages and the API."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from intake.db.models import Acknowledgement, Attachment, Case, Flag, Invitation, Submission
from intake.localtime import oslo_day


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
        text = search.replace("\x00", "").strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
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


# Auto-replies, bounces and list mail are not responses, whatever case number they quote.
NOT_RESPONSES = ("auto_reply",)
# What each count means, said the same way on every page that shows it.
COUNT_MEANINGS = {
    "received": "svar i saken; autosvar, returmeldinger og listepost er ikke med",
    "flagged": "svar med minst én merknad som ikke er avgjort",
    "invited_responded": "inviterte høringsinstanser med minst ett svar fra en bekreftet avsender",
}


@dataclass
class CaseCounts:
    """The counts of one case: the one definition the CLI, the API and the pages share."""

    received: int = 0
    on_time: int = 0
    late: int = 0
    flagged: int = 0
    responded: set[int] = field(default_factory=set)
    days: Counter[date] = field(default_factory=Counter)


def case_counts(session: Session, case: Case) -> CaseCounts:
    """Responses of the case (no auto-replies), how many late and flagged, who responded, per day."""
    rows = session.exec(
        select(Submission.id, Submission.late, Submission.organisation_id, Submission.received_at)
        .where(Submission.case_id == case.id)
    ).all()
    flags: dict[int, set[str]] = defaultdict(set)
    open_flags: dict[int, set[str]] = defaultdict(set)
    if rows:
        in_case = select(col(Submission.id)).where(Submission.case_id == case.id)
        for submission_id, name, resolved_at in session.exec(
            select(Flag.submission_id, Flag.name, Flag.resolved_at).where(col(Flag.submission_id).in_(in_case))
        ):
            flags[submission_id].add(name)
            if resolved_at is None:
                open_flags[submission_id].add(name)
    counts = CaseCounts()
    for row_id, late, organisation_id, received_at in rows:
        submission_id = row_id or 0
        if flags[submission_id] & set(NOT_RESPONSES):
            continue
        counts.received += 1
        counts.late += int(late)
        counts.flagged += int(bool(open_flags[submission_id]))
        # A response whose sender is still in doubt (an open suspicious_sender flag) does not yet count
        # as the invited body's: a forged From must not tick the body off as having answered.
        if organisation_id is not None and "suspicious_sender" not in open_flags[submission_id]:
            counts.responded.add(organisation_id)
        counts.days[oslo_day(received_at)] += 1
    counts.on_time = counts.received - counts.late
    return counts


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
        counts = case_counts(session, case)
        invited = set(session.exec(select(Invitation.organisation_id).where(Invitation.case_id == case.id)).all())
        summaries.append(
            CaseSummary(
                case=case,
                received=counts.received,
                on_time=counts.on_time,
                late=counts.late,
                flagged=counts.flagged,
                invited=len(invited),
                invited_responded=len(invited & counts.responded),
            )
        )
    return summaries
