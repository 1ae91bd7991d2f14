"""Read-only queries behind the review pages: queue, search, failed messages, mailboxes.

Keyword-only functions over one session, so the routes stay thin and the same
questions can be asked from tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from intake.archive.status import unexported
from intake.config import Settings
from intake.db.models import Acknowledgement, Attachment, Case, Flag, MailboxState, Message, Submission
from intake.localtime import start_of_today
from intake.receipts.outbox_state import shown_status
from intake.review import queries
from intake.review.claims import claimed


@dataclass
class Row:
    """A submission with what a list shows beside it."""

    submission: Submission
    flags: list[Flag] = field(default_factory=list)
    receipt: str | None = None
    # Who has the submission open now («tatt av kari»), if anyone.
    claim: str | None = None


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
            receipts[ack.submission_id] = shown_status(ack)
    holders = claimed(session, ids)
    return [Row(s, flags.get(s.id or 0, []), receipts.get(s.id or 0), holders.get(s.id or 0)) for s in submissions]


# Sortable columns of the queue: the name in the URL and the column it orders by.
SORTS = {
    "received": col(Submission.received_at),
    "sender": col(Submission.sender),
    "subject": col(Submission.subject),
    "case": col(Submission.case_number),
}
PER_PAGE = (25, 50, 100)


@dataclass(frozen=True)
class Filters:
    """What a queue shows and in which order; every field is kept in the URL."""

    flag: str = ""
    case: str = ""
    mailbox: str = ""
    archive: str = ""
    # A column of SORTS, "-" in front for descending; "oldest" and "newest" are the older names.
    sort: str = "received"

    @property
    def column(self) -> str:
        name = {"oldest": "received", "newest": "-received"}.get(self.sort, self.sort)
        return name.lstrip("-") if name.lstrip("-") in SORTS else "received"

    @property
    def descending(self) -> bool:
        return self.sort == "newest" or (self.sort.startswith("-") and self.sort[1:] in SORTS)

    def params(self, **changes: str) -> dict[str, str]:
        values = {"flag": self.flag, "case": self.case, "mailbox": self.mailbox, "archive": self.archive,
                  "sort": self.sort, **changes}
        return {k: v for k, v in values.items() if v and not (k == "sort" and v in ("received", "oldest"))}


@dataclass
class QueuePage:
    rows: list[Row]
    total: int
    page: int
    pages: int
    per_page: int


def _filtered(filters: Filters) -> Any:
    open_flags = select(Flag.submission_id).where(col(Flag.resolved_at).is_(None))
    if filters.flag:
        open_flags = open_flags.where(Flag.name == filters.flag)
    query = select(Submission)
    if filters.archive == "not_archived":
        query = query.where(col(Submission.case_id).is_not(None))
        if filters.flag:
            query = query.where(col(Submission.id).in_(open_flags))
    else:
        query = query.where(col(Submission.id).in_(open_flags))
    if filters.case == "-":
        query = query.where(col(Submission.case_id).is_(None))
    elif filters.case:
        query = query.where(Submission.case_number == filters.case)
    if filters.mailbox:
        query = query.where(Submission.mailbox == filters.mailbox)
    return query


def _ordered(query: Any, filters: Filters) -> Any:
    column = SORTS[filters.column]
    key = column.desc() if filters.descending else column.asc()
    tie = col(Submission.id).desc() if filters.descending else col(Submission.id).asc()
    return query.order_by(key.nulls_last() if filters.column != "received" else key, tie)


def queue_page(session: Session, filters: Filters, *, page: int = 1, per_page: int = 50) -> QueuePage:
    """One page of the filtered queue with the total, so nothing is left out unseen."""
    per_page = per_page if per_page in PER_PAGE else 50
    query = _ordered(_filtered(filters), filters)
    if filters.archive == "not_archived":
        # Whether the archive has the newest version is known only from each package's fingerprint.
        every = unexported(session, session.exec(query).all())
        total = len(every)
        pages = max(1, -(-total // per_page))
        page = min(max(page, 1), pages)
        return QueuePage(_rows(session, every[(page - 1) * per_page:page * per_page]), total, page, pages, per_page)
    total = int(session.exec(select(func.count()).select_from(_filtered(filters).subquery())).one())
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = session.exec(query.offset((page - 1) * per_page).limit(per_page)).all()
    return QueuePage(_rows(session, rows), total, page, pages, per_page)


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
    """Submissions with at least one unresolved flag, filtered, in order of arrival (the first ``limit``).

    ``not_archived`` asks instead for every response with a case, flagged or not,
    whose newest version the archive does not have (the clerk's list of what is
    left to register); a flag still narrows it.
    """
    filters = Filters(flag=flag or "", case=case or "", mailbox=mailbox or "",
                      archive="not_archived" if not_archived else "", sort="newest" if newest_first else "oldest")
    query = _ordered(_filtered(filters), filters)
    if not_archived:
        return _rows(session, unexported(session, session.exec(query).all())[:limit], open_only=True)
    return _rows(session, session.exec(query.limit(limit)).all())


def next_in_queue(session: Session, filters: Filters, current: Submission) -> int | None:
    """The item after ``current`` in the same filtered, sorted queue (current itself may have left it)."""
    column = SORTS[filters.column]
    value = getattr(current, filters.column if filters.column != "received" else "received_at")
    after = (column < value) if filters.descending else (column > value)
    tie = (col(Submission.id) < current.id) if filters.descending else (col(Submission.id) > current.id)
    query = _filtered(filters).where(col(Submission.id) != current.id)
    if value is None:
        query = query.where(column.is_(None), tie)
    else:
        query = query.where(or_(after, (column == value) & tie, column.is_(None)) if filters.column != "received"
                            else or_(after, (column == value) & tie))
    ids = session.exec(_ordered(query, filters).with_only_columns(col(Submission.id)).limit(50)).all()
    if filters.archive == "not_archived":
        subs = [session.get(Submission, i) for i in ids]
        left = unexported(session, [s for s in subs if s is not None])
        return left[0].id if left else None
    return int(ids[0]) if ids else None


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
