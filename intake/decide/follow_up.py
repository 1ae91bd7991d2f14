"""Follow-ups a clerk should confirm: a new message from the same organisation to the same case that
says it adds to or corrects an earlier response («vedlagt korrigert versjon», «glemte vedlegget»).

Thread headers decide on their own (``intake.decide.thread.thread_parent``); this
reads content, which anyone can write, so it only *suggests* the link. The words
are looked for in the subject and the start of the text, as plain substrings.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from intake.db.models import Submission
from intake.mail.mime import ParsedMessage

# Read no further than this into the text: what a sender says about the message comes first.
TEXT_CHARS = 2000
WORDS = (
    "korrigert", "korrigering", "korrigere", "rettet versjon", "rettelse", "erstatter", "erstatning for",
    "tillegg til", "tilleggsinnspill", "supplement", "glemte vedlegg", "glemt vedlegg", "glemte å legge ved",
    "manglende vedlegg", "oppdatert versjon", "ny versjon", "revidert", "retta versjon", "gløymde vedlegg",
    "corrected", "correction", "addendum", "updated version", "forgot the attachment", "missing attachment",
)


def says_it_follows_up(subject: str | None, text: str | None) -> bool:
    """Whether the message says it adds to or corrects an earlier one."""
    words = f"{(subject or '')[:500]}\n{(text or '')[:TEXT_CHARS]}".casefold()
    return any(word in words for word in WORDS)


def suggested_parent(session: Session, submission: Submission, parsed: ParsedMessage) -> int | None:
    """The organisation's first response to this case, if this message says it adds to or corrects one."""
    if submission.case_id is None or submission.organisation_id is None:
        return None
    if not says_it_follows_up(parsed.subject, parsed.body_text):
        return None
    query = (
        select(Submission.id)
        .where(Submission.case_id == submission.case_id, Submission.organisation_id == submission.organisation_id)
        .where(col(Submission.follow_up_of).is_(None), col(Submission.received_at) <= submission.received_at)
    )
    if submission.id is not None:  # asked before the submission is written, there is no row of its own to skip
        query = query.where(col(Submission.id) != submission.id)
    return session.exec(query.order_by(col(Submission.received_at), col(Submission.id)).limit(1)).first()
