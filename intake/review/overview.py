"""What a case looks like to staff: counts, who of the invited responded, responses per day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlmodel import Session, col, select

from intake.db.models import Case, Invitation, Organisation
from intake.review.queries import case_counts


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


def case_overview(session: Session, case: Case) -> CaseOverview:
    counts = case_counts(session, case)
    view = CaseOverview(case=case, received=counts.received, on_time=counts.on_time, late=counts.late,
                        flagged=counts.flagged)
    invited = session.exec(
        select(Organisation)
        .join(Invitation, col(Invitation.organisation_id) == col(Organisation.id))
        .where(Invitation.case_id == case.id)
        .order_by(col(Organisation.name))
    ).all()
    view.invited = len(invited)
    for org in invited:
        (view.invited_responded if org.id in counts.responded else view.invited_missing).append(org.name)
    view.per_day = sorted(counts.days.items())
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
