"""Which submissions of a case count as responses, and which of them are published: one function.

``exclusion`` names the reason a submission is left out, so the summary, the exports and the
publication list agree, and a new rule (a follow-up merged into its response) is one more line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from intake.db.models import Case, Flag, Submission

# Reasons a submission is no response to the consultation at all.
AUTO_REPLY = "auto_reply"
SUPERSEDED = "superseded"
LATE_REJECTED = "late_rejected"
# Reasons a response is counted but not published.
WITHHELD = "withheld"
PERSONAL_DATA = "personal_data"

REASON_LABELS = {
    AUTO_REPLY: "autosvar, returmelding eller listepost",
    SUPERSEDED: "erstattet av et nyere svar",
    LATE_REJECTED: "for sent, avvist",
    WITHHELD: "holdt tilbake fra publisering",
    PERSONAL_DATA: "fødselsnummer som ikke er avgjort",
}


@dataclass
class Response:
    """A submission of the case with the names of its flags (all of them, and the open ones)."""

    submission: Submission
    flags: set[str] = field(default_factory=set)
    open_flags: set[str] = field(default_factory=set)

    @property
    def id(self) -> int:
        assert self.submission.id is not None
        return self.submission.id


def exclusion(response: Response, *, publishing: bool) -> str | None:
    """Why the submission is left out of the summary (or, ``publishing``, of publication); None if not."""
    sub = response.submission
    if AUTO_REPLY in response.flags:
        return AUTO_REPLY
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
    subs = session.exec(
        select(Submission).where(Submission.case_id == case.id).order_by(col(Submission.received_at),
                                                                         col(Submission.id))
    ).all()
    return with_flags(session, subs)


def with_flags(session: Session, subs: Sequence[Submission]) -> list[Response]:
    responses = {s.id: Response(s) for s in subs if s.id is not None}
    if responses:
        query = select(Flag.submission_id, Flag.name, Flag.resolved_at).where(
            col(Flag.submission_id).in_(list(responses))
        )
        for submission_id, name, resolved_at in session.exec(query):
            responses[submission_id].flags.add(name)
            if resolved_at is None:
                responses[submission_id].open_flags.add(name)
    return list(responses.values())


def counted(session: Session, case: Case, *, publishing: bool = False) -> list[Response]:
    """The case's responses that count (or are published), in the order received."""
    return [r for r in case_submissions(session, case) if exclusion(r, publishing=publishing) is None]
