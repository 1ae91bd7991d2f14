"""Read-only queries behind the review pages: queue, search, failed messages, mailboxes.

Keyword-only functions over one session, so the routes stay thin and the same
questions can be asked from tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, func, select

from intake.archive.status import unexported
from intake.config import Settings
from intake.db.models import Acknowledgement, Attachment, Case, Flag, MailboxState, Message, Submission
from intake.localtime import start_of_today
from intake.review import queries


@dataclass
class Row:
    """A submission with what a list shows beside it."""

    submission: Submission
    flags: list[Flag] = field(default_factory=list)
    receipt: str | None = None


def _rows(session: Session, submissions: Sequence[Submission], *, open_only: bool = True) -> list[Row]:
    ids = [s.id for s in submissions if s.id is not None]
    flags: dict[int, list[Flag]] = {}
    receipts: dict[int, str] = {}
    if ids:
        query = select(Flag).where(col(Flag.submission_id).in_(ids)).order_by(col(Flag.name))
        if open_only:
            query = query.where(col(Flag.resolved_at).is_(None))
        for flag in session.exec(query):
            flags.setdefault(flag.submission_id, []).append(flag)
        for ack in session.exec(select(Acknowledgement).where(col(Acknowledgement.submission_id).in_(ids))):
            receipts[ack.submission_id] = ack.status
    return [Row(s, flags.get(s.id or 0, []), receipts.get(s.id or 0)) for s in submissions]


def queue(
    session: Session,
    *,
    flag: str | None = None,
    case: str | None = None,
    mailbox: str | None = None,
    newest_first: bool = False,
    not_archived: bool = False,
    limit: int = 500,
) -> list[Row]:
    """Submissions with at least one unresolved flag, filtered, in order of arrival.

    ``not_archived`` asks instead for every response with a case, flagged or not,
    whose newest version the archive does not have (the clerk's list of what is
    left to register); a flag still narrows it.
    """
    open_flags = select(Flag.submission_id).where(col(Flag.resolved_at).is_(None))
    if flag:
        open_flags = open_flags.where(Flag.name == flag)
    query = select(Submission)
    if not_archived:
        query = query.where(col(Submission.case_id).is_not(None))
        if flag:
            query = query.where(col(Submission.id).in_(open_flags))
    else:
        query = query.where(col(Submission.id).in_(open_flags))
    if case == "-":
        query = query.where(col(Submission.case_id).is_(None))
    elif case:
        query = query.where(Submission.case_number == case)
    if mailbox:
        query = query.where(Submission.mailbox == mailbox)
    order = col(Submission.received_at).desc() if newest_first else col(Submission.received_at).asc()
    query = query.order_by(order, col(Submission.id))
    if not_archived:
        # Whether the archive has the newest version is known only from each package's fingerprint.
        return _rows(session, unexported(session, session.exec(query).all())[:limit], open_only=True)
    return _rows(session, session.exec(query.limit(limit)).all())


def flag_counts(session: Session) -> dict[str, int]:
    """How many submissions carry each unresolved flag."""
    query = (
        select(Flag.name, func.count(col(Flag.id)))
        .where(col(Flag.resolved_at).is_(None))
        .group_by(col(Flag.name))
        .order_by(col(Flag.name))
    )
    return {name: count for name, count in session.exec(query)}


def open_total(session: Session) -> int:
    """How many submissions have at least one unresolved flag."""
    query = select(func.count(func.distinct(col(Flag.submission_id)))).where(col(Flag.resolved_at).is_(None))
    return int(session.exec(query).one())


def mailbox_names(session: Session, settings: Settings) -> list[str]:
    names = {m.name for m in settings.mailboxes}
    names.update(n for n in session.exec(select(Submission.mailbox).distinct()) if n)
    return sorted(names)


def search(session: Session, *, q: str, limit: int = 200) -> list[Row]:
    """Submissions whose sender, organisation, subject or receipt reference contains ``q``, newest first."""
    q = q.strip()
    if not q:
        return []
    return _rows(session, queries.list_submissions(session, search=q, newest_first=True, limit=limit))


def case_submissions(session: Session, *, case: Case) -> list[Row]:
    query = select(Submission).where(Submission.case_id == case.id).order_by(col(Submission.received_at))
    return _rows(session, session.exec(query).all())


@dataclass
class MailboxRow:
    """One mailbox folder as the mailboxes page shows it."""

    name: str
    folder: str
    host: str | None
    configured: bool
    state: MailboxState | None
    today: int


def mailboxes(session: Session, *, settings: Settings) -> list[MailboxRow]:
    """Every configured mailbox and every folder ever polled, with today's message count."""
    since = start_of_today()
    today = Counter(
        dict(
            session.exec(
                select(Message.mailbox, func.count(col(Message.id)))
                .where(col(Message.received_at) >= since)
                .group_by(col(Message.mailbox))
            ).all()
        )
    )
    states = {(s.mailbox, s.folder): s for s in session.exec(select(MailboxState))}
    rows: list[MailboxRow] = []
    for box in settings.mailboxes:
        state = states.pop((box.name, box.folder), None)
        rows.append(MailboxRow(box.name, box.folder, box.host, True, state, today.get(box.name, 0)))
    for (name, folder), state in sorted(states.items()):
        rows.append(MailboxRow(name, folder, None, False, state, today.get(name, 0)))
    return rows


def attachments_of(session: Session, submission_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {}
    if not submission_ids:
        return found
    query = (
        select(Attachment)
        .where(col(Attachment.submission_id).in_(list(submission_ids)))
        .order_by(col(Attachment.submission_id), col(Attachment.position), col(Attachment.id))
    )
    for att in session.exec(query):
        found.setdefault(att.submission_id, []).append(att)
    return found
