"""Which submissions of a case count as responses, and which of them are published: one function.

``exclusion`` names the reason a submission is left out, so the summary, the exports and the
publication list agree, and a new rule (a follow-up merged into its response) is one more line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from intake.db.models import Case, Flag, Submission

# Reasons a submission is no response to the consultation at all.
AUTO_REPLY = "auto_reply"
SUPERSEDED = "superseded"
LATE_REJECTED = "late_rejected"
# Part of an earlier response: counted, published and archived with that one.
FOLLOW_UP = "follow_up"
# Reasons a response is counted but not published.
WITHHELD = "withheld"
PERSONAL_DATA = "personal_data"

REASON_LABELS = {
    AUTO_REPLY: "autosvar, returmelding eller listepost",
    SUPERSEDED: "erstattet av et nyere svar",
    LATE_REJECTED: "for sent, avvist",
    FOLLOW_UP: "tillegg til et tidligere svar",
    WITHHELD: "holdt tilbake fra publisering",
    PERSONAL_DATA: "fødselsnummer som ikke er avgjort",
}


@dataclass(slots=True)
class SubmissionRow:
    """What the summary, the exports and the publication list read of a submission, and no more.

    Read as plain columns: thousands of whole ORM objects, with their e-mail text and rule log,
    cost the summary page most of its time.
    """

    id: int
    receipt_ref: str
    received_at: datetime
    organisation_id: int | None
    organisation: str | None
    sender: str | None
    sender_name: str | None
    late: bool
    decision: str | None
    withheld: bool
    body_withheld: bool
    review_status: str
    form: dict[str, Any] | None
    follow_up_of: int | None


_COLUMNS = tuple(col(getattr(Submission, name)) for name in SubmissionRow.__slots__)


@dataclass
class Response:
    """A submission of the case with the names of its flags (all of them, and the open ones)."""

    submission: SubmissionRow
    flags: set[str] = field(default_factory=set)
    open_flags: set[str] = field(default_factory=set)

    @property
    def id(self) -> int:
        return self.submission.id


def exclusion(response: Response, *, publishing: bool) -> str | None:
    """Why the submission is left out of the summary (or, ``publishing``, of publication); None if not."""
    sub = response.submission
    if AUTO_REPLY in response.flags:
        return AUTO_REPLY
    if sub.follow_up_of is not None:
        return FOLLOW_UP
    if sub.decision == "superseded":
        return SUPERSEDED
    if sub.decision == "late_rejected":
        return LATE_REJECTED
    if not publishing:
        return None
    if sub.withheld:
        return WITHHELD
    if PERSONAL_DATA in response.open_flags:
        return PERSONAL_DATA
    return None


def case_submissions(session: Session, case: Case) -> list[Response]:
    """Every submission of the case with its flags, in the order received."""
    query = (
        sql_select(*_COLUMNS)
        .where(col(Submission.case_id) == case.id)
        .order_by(col(Submission.received_at), col(Submission.id))
    )
    responses = {row.id: Response(SubmissionRow(*row)) for row in session.connection().execute(query)}
    if responses:
        flags = select(Flag.submission_id, Flag.name, Flag.resolved_at).where(
            col(Flag.submission_id).in_(select(col(Submission.id)).where(Submission.case_id == case.id))
        )
        for submission_id, name, resolved_at in session.exec(flags):
            response = responses.get(submission_id)
            if response is not None:
                response.flags.add(name)
                if resolved_at is None:
                    response.open_flags.add(name)
    return list(responses.values())


def counted(session: Session, case: Case, *, publishing: bool = False) -> list[Response]:
    """The case's responses that count (or are published), in the order received."""
    return [r for r in case_submissions(session, case) if exclusion(r, publishing=publishing) is None]


def follow_ups_of(session: Session, ids: list[int]) -> dict[int, list[int]]:
    """The follow-ups of each of these responses, in the order received (auto-replies left out)."""
    out: dict[int, list[int]] = {}
    if not ids:
        return out
    auto = select(Flag.submission_id).where(Flag.name == AUTO_REPLY)
    rows = session.exec(
        select(Submission.follow_up_of, Submission.id)
        .where(col(Submission.follow_up_of).in_(ids))
        .where(col(Submission.id).not_in(auto))
        .where(col(Submission.withheld).is_(False))
        .order_by(col(Submission.received_at), col(Submission.id))
    ).all()
    for root, pk in rows:
        if root is not None and pk is not None:
            out.setdefault(root, []).append(pk)
    return out
