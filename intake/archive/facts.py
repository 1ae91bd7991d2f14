"""What an archive package is made of, read from the database, and the fingerprint of it.

A package is made of facts that do not depend on when it is written: the case, the
response (its sender, dates, decisions, flags, form answers) and its files. The
fingerprint is a digest of all of them, so a package is written again exactly when
something in it would differ. A package holds ``members``: the response first, and
any submission that belongs with it (a follow-up) after it; a member added later
changes the fingerprint like any other fact. Export-time values (meldingId, dates
of the export) and the agency's configuration are not facts: changing them does
not make a new version of every package.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from intake.db.models import Attachment, Case, Flag, Message, Organisation, Submission

# Bumped when the package layout changes in a way that should reach the archive again.
PACKAGE_FORMAT = 1


@dataclass(frozen=True)
class FileFacts:
    """One stored attachment, by the columns a package needs (its text is read only when building)."""

    attachment_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    parent_id: int | None
    inline: bool


@dataclass(frozen=True)
class FlagFacts:
    name: str
    open: bool
    detail: str | None
    resolution: str | None


@dataclass(frozen=True)
class MemberFacts:
    """One submission in a package."""

    submission_id: int
    receipt_ref: str
    message_id: str | None
    message_sha256: str
    mailbox: str | None
    sender: str | None
    sender_name: str | None
    subject: str | None
    sent_date: datetime | None
    received_at: datetime
    registered_at: datetime
    organisation: str | None
    private_person: bool
    match_source: str | None
    late: bool
    decision: str | None
    review_status: str
    withheld: bool
    form: dict[str, Any] | None
    flags: tuple[FlagFacts, ...]
    files: tuple[FileFacts, ...]


@dataclass(frozen=True)
class PackageFacts:
    case_number: str
    case_title: str
    form_questions: tuple[tuple[str, str], ...]
    members: tuple[MemberFacts, ...] = field(default=())

    @property
    def response(self) -> MemberFacts:
        return self.members[0]


def fingerprint(facts: PackageFacts) -> str:
    """The sha256 of everything in ``facts``, as canonical JSON."""
    data = {"format": PACKAGE_FORMAT, **asdict(facts)}
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=_plain, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not a fact: {type(value).__name__}")


def load_facts(session: Session, submissions: Sequence[Submission]) -> dict[int, PackageFacts]:
    """The facts of each submission that has a case (those without one cannot be archived yet).

    A handful of queries whatever the number of submissions, and no text columns.
    """
    # A follow-up is archived in its response's package, as a member after it, not on its own.
    roots = [s for s in submissions if s.id is not None and s.case_id is not None and s.follow_up_of is None]
    if not roots:
        return {}
    additions = list(session.exec(
        select(Submission).where(col(Submission.follow_up_of).in_([s.id for s in roots]))
        .order_by(col(Submission.received_at), col(Submission.id))
    ))
    subs = [*roots, *(a for a in additions if a.case_id is not None)]
    ids = [s.id for s in subs if s.id is not None]
    cases = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_({s.case_id for s in subs})))}
    query_messages = select(Message.id, Message.sha256).where(col(Message.id).in_([s.message_ref for s in subs]))
    messages = {pk: sha256 for pk, sha256 in session.exec(query_messages)}
    org_ids = {s.organisation_id for s in subs if s.organisation_id is not None}
    persons = set(
        session.exec(
            select(Organisation.id).where(col(Organisation.id).in_(org_ids), Organisation.kind == "person")
        )
    ) if org_ids else set()
    flags: dict[int, list[FlagFacts]] = {}
    for flag in session.exec(select(Flag).where(col(Flag.submission_id).in_(ids)).order_by(col(Flag.name))):
        flags.setdefault(flag.submission_id, []).append(
            FlagFacts(flag.name, flag.resolved_at is None, flag.detail, flag.resolution)
        )
    files: dict[int, list[FileFacts]] = {}
    # The extracted text is the largest column by far, and no fact.
    query = (select(Attachment).options(defer(Attachment.text))  # type: ignore[arg-type]
             .where(col(Attachment.submission_id).in_(ids)).order_by(col(Attachment.id)))
    for att in session.exec(query):
        assert att.id is not None
        files.setdefault(att.submission_id, []).append(
            FileFacts(att.id, att.filename, att.content_type, att.size, att.sha256, att.parent_id, att.inline)
        )
    members: dict[int, MemberFacts] = {}
    for sub in subs:
        assert sub.id is not None
        members[sub.id] = MemberFacts(
            submission_id=sub.id,
            receipt_ref=sub.receipt_ref,
            message_id=sub.message_id,
            message_sha256=messages[sub.message_ref],
            mailbox=sub.mailbox,
            sender=sub.sender,
            sender_name=sub.sender_name,
            subject=sub.subject,
            sent_date=sub.sent_date,
            received_at=sub.received_at,
            registered_at=sub.created_at,
            organisation=sub.organisation,
            private_person=sub.organisation_id in persons,
            match_source=sub.match_source,
            late=sub.late,
            decision=sub.decision,
            review_status=sub.review_status,
            withheld=sub.withheld,
            form=sub.form,
            flags=tuple(flags.get(sub.id, [])),
            files=tuple(files.get(sub.id, [])),
        )
    out: dict[int, PackageFacts] = {}
    for root in roots:
        assert root.id is not None
        case = cases[root.case_id]
        follow = tuple(members[a.id] for a in additions if a.follow_up_of == root.id and a.id in members)
        out[root.id] = PackageFacts(case.number, case.title, _questions(case), (members[root.id], *follow))
    return out


def _questions(case: Case) -> tuple[tuple[str, str], ...]:
    questions = (case.form or {}).get("questions") or []
    return tuple((str(q.get("id")), str(q.get("text", ""))) for q in questions if isinstance(q, dict))
