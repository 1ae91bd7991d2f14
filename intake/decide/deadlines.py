"""Each organisation's deadline in a case: the case's own, or a later one granted it (utsatt frist).

A workflow may grant one (``extensions: [{organisation: "KS", until: 2022-10-15}]``) and an admin
may grant one on the case page; both are rows of ``deadline_extensions``. The late rule, the late
receipt and staff decisions all ask ``deadline_for``, so they agree.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from intake.db.audit import record
from intake.db.models import Case, DeadlineExtension, Flag, Organisation, Submission, utcnow
from intake.decide.organisations import invited_key

if TYPE_CHECKING:
    from intake.workflows import Extension, InvitedBody

log = logging.getLogger(__name__)


def deadline_end(deadline: date, timezone: str) -> datetime:
    """The first instant after the deadline day, as an aware datetime.

    The deadline is inclusive: a response is on time up to 23:59:59.999… local
    time on that day, whatever the summer-time offset is then.
    """
    return datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))


def is_late(received_at: datetime, deadline: date, timezone: str) -> bool:
    return received_at >= deadline_end(deadline, timezone)


_OF_ORGANISATION = (col(DeadlineExtension.case_id) == bindparam("case_id"),
                    col(DeadlineExtension.organisation_id) == bindparam("organisation_id"))
_EXTENSION = select(DeadlineExtension).where(*_OF_ORGANISATION)
# Read for every message with a case: built once.
_UNTIL = select(col(DeadlineExtension.until)).where(*_OF_ORGANISATION)


def extension_for(session: Session, case: Case, organisation_id: int | None) -> DeadlineExtension | None:
    if organisation_id is None or case.id is None:
        return None
    return session.execute(_EXTENSION, {"case_id": case.id, "organisation_id": organisation_id}).scalars().first()


def deadline_for(session: Session, case: Case, organisation_id: int | None) -> date:
    """The last day, inclusive, on which this organisation's response to the case is on time."""
    if organisation_id is None or case.id is None:
        return case.deadline
    until = session.connection().execute(_UNTIL, {"case_id": case.id, "organisation_id": organisation_id}).scalar()
    return max(case.deadline, until) if until is not None else case.deadline


def late_for(session: Session, case: Case, organisation_id: int | None, received_at: datetime) -> bool:
    return is_late(received_at, deadline_for(session, case, organisation_id), case.timezone)


def organisation_named(session: Session, name: str, bodies: Sequence[InvitedBody]) -> Organisation:
    """The organisation a workflow's extension names: an invited body by name or alias, else a domain."""
    folded = " ".join(name.casefold().split())
    domain = folded.lstrip("@")
    for body in bodies:
        # An invited body is named by its name, an alias, or one of its mail domains.
        if folded in {" ".join(n.casefold().split()) for n in (body.name, *body.aliases)} or domain in body.domains:
            key = invited_key(body.name)
            break
    else:
        key = "domain:" + domain
    org = session.exec(select(Organisation).where(Organisation.key == key)).first()
    if org is None:
        # Only a domain can be missing (invited bodies are synced first): the one that will write.
        org = Organisation(key=key, name=domain, kind="domain", domains=[domain])
        session.add(org)
        session.flush()
    return org


def sync_extensions(session: Session, case: Case, extensions: Sequence[Extension],
                    bodies: Sequence[InvitedBody]) -> None:
    """Makes the workflow's extensions the case's rows of source ``workflow``; staff grants stay."""
    assert case.id is not None
    rows = {row.organisation_id: row for row in
            session.exec(select(DeadlineExtension).where(DeadlineExtension.case_id == case.id))}
    wanted: dict[int, date] = {}
    for extension in extensions:
        org = organisation_named(session, extension.organisation, bodies)
        assert org.id is not None
        wanted[org.id] = extension.until
    for org_id, until in wanted.items():
        row = rows.get(org_id)
        if row is not None and row.source == "staff":
            # A grant made by a person is a decision; the file does not overrule it.
            if row.until != until:
                log.info("case %s: the workflow's extension for organisation %s is left to the grant made by %s",
                         case.number, org_id, row.granted_by)
            continue
        if row is None:
            session.add(DeadlineExtension(case_id=case.id, organisation_id=org_id, until=until, source="workflow"))
        elif row.until != until:
            row.until = until
            session.add(row)
        else:
            continue
        record(session, "case.extension", "case", case.id, {"organisation": org_id, "until": until.isoformat(),
                                                            "source": "workflow"})
        session.flush()
        redecide_late(session, case, org_id, actor="system")
    for org_id, row in rows.items():
        if row.source == "workflow" and org_id not in wanted:
            session.delete(row)
            record(session, "case.extension_removed", "case", case.id, {"organisation": org_id})
            session.flush()
            redecide_late(session, case, org_id, actor="system")
    session.flush()


def redecide_late(session: Session, case: Case, organisation_id: int, *, actor: str) -> list[int]:
    """Decides lateness again for the organisation's responses after its deadline changed.

    A response that is now on time has its open ``late`` flag resolved; one that is now late gets
    the flag. A late response a person already accepted or rejected keeps that decision. Returns
    the ids of the responses that changed.
    """
    deadline = deadline_for(session, case, organisation_id)
    changed: list[int] = []
    subs = session.exec(
        select(Submission).where(Submission.case_id == case.id, Submission.organisation_id == organisation_id)
    ).all()
    for sub in subs:
        late = is_late(sub.received_at, deadline, case.timezone)
        if late == sub.late or sub.decision in ("late_accepted", "late_rejected"):
            continue
        assert sub.id is not None
        sub.late = late
        sub.updated_at = utcnow()
        session.add(sub)
        flag = session.exec(select(Flag).where(Flag.submission_id == sub.id, Flag.name == "late")).first()
        if late and flag is None:
            session.add(Flag(submission_id=sub.id, name="late", detail=f"fristen var {deadline:%d.%m.%Y}"))
        elif not late and flag is not None and flag.resolved_at is None:
            flag.resolved_at, flag.resolved_by = utcnow(), actor
            flag.resolution = f"i tide: utsatt frist til {deadline:%d.%m.%Y}"
            session.add(flag)
        record(session, "submission.late_redecided", "submission", sub.id,
               {"late": late, "deadline": deadline.isoformat()}, actor=actor)
        changed.append(sub.id)
    return changed


def extensions_of(session: Session, case: Case) -> list[tuple[DeadlineExtension, str]]:
    """The case's extensions with the organisation's name, by name."""
    rows = session.exec(
        select(DeadlineExtension, Organisation.name)
        .join(Organisation, col(Organisation.id) == col(DeadlineExtension.organisation_id))
        .where(DeadlineExtension.case_id == case.id)
        .order_by(col(Organisation.name))
    ).all()
    return [(row, name) for row, name in rows]
