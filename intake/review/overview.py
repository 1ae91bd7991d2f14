"""What a case looks like to staff: counts, who of the invited responded, responses per day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, col, select

from intake.db.models import Case, Flag, Invitation, Organisation, Submission
from intake.localtime import oslo_day

# Auto-replies, bounces and list mail are not responses, whatever case number they quote.
NOT_RESPONSES = {"auto_reply"}


@dataclass
class CaseOverview:
    """The counts of one consultation."""

    case: Case
    received: int = 0
    on_time: int = 0
    late: int = 0
    flagged: int = 0
    invited: int = 0
    invited_responded: list[str] = field(default_factory=list)
    invited_missing: list[str] = field(default_factory=list)
    per_day: list[tuple[date, int]] = field(default_factory=list)


def _responses(session: Session, case: Case) -> tuple[list[Submission], dict[int, set[str]]]:
    subs = list(session.exec(select(Submission).where(Submission.case_id == case.id)).all())
    ids = [s.id for s in subs if s.id is not None]
    open_flags: dict[int, set[str]] = {}
    all_flags: dict[int, set[str]] = {}
    if ids:
        for flag in session.exec(select(Flag).where(col(Flag.submission_id).in_(ids))):
            all_flags.setdefault(flag.submission_id, set()).add(flag.name)
            if flag.resolved_at is None:
                open_flags.setdefault(flag.submission_id, set()).add(flag.name)
    responses = [s for s in subs if not (all_flags.get(s.id or 0, set()) & NOT_RESPONSES)]
    return responses, open_flags


def case_overview(session: Session, case: Case) -> CaseOverview:
    responses, open_flags = _responses(session, case)
    view = CaseOverview(case=case, received=len(responses))
    view.late = sum(1 for s in responses if s.late)
    view.on_time = view.received - view.late
    view.flagged = sum(1 for s in responses if open_flags.get(s.id or 0))
    # A response whose sender is still in doubt (an open suspicious_sender flag) does not yet count
    # as the invited body's: a forged From must not tick the body off as having answered.
    responded_orgs = {s.organisation_id for s in responses if s.organisation_id is not None
                      and "suspicious_sender" not in open_flags.get(s.id or 0, set())}
    invited = session.exec(
        select(Organisation)
        .join(Invitation, col(Invitation.organisation_id) == col(Organisation.id))
        .where(Invitation.case_id == case.id)
        .order_by(col(Organisation.name))
    ).all()
    view.invited = len(invited)
    for org in invited:
        (view.invited_responded if org.id in responded_orgs else view.invited_missing).append(org.name)
    days = Counter(oslo_day(s.received_at) for s in responses)
    view.per_day = sorted(days.items())
    return view


def case_overviews(session: Session) -> list[CaseOverview]:
    cases = session.exec(select(Case).order_by(col(Case.deadline).desc(), col(Case.number))).all()
    return [case_overview(session, c) for c in cases]


def day_series(per_day: list[tuple[date, int]], deadline: date) -> list[tuple[date, int]]:
    """Every day from the first response (or two weeks before the deadline) to the last, zeros included."""
    counts = dict(per_day)
    first = min([*counts, deadline - timedelta(days=14)])
    last = max([*counts, deadline + timedelta(days=1)])
    # A stray response years away would make the chart unreadable; the bars stay within about 4 months.
    if (last - first).days > 120:
        first = max(first, deadline - timedelta(days=90))
        last = min(last, deadline + timedelta(days=30))
    days = (last - first).days + 1
    return [(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)]
