"""The publication list of a case, the way consultation pages publish responses.

Responses that count and may be published (``responses.exclusion``), grouped by respondent
category and alphabetical by organisation within it (Norwegian order: æ, ø, å after z), each
with the documents to publish: the files inside a forward rather than the ``.eml``, without the
ones staff withheld, and the e-mail text itself when there is no other document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from intake.config import PublicationSettings
from intake.db.models import Attachment, Case
from intake.localtime import oslo_day
from intake.review.categories import Categories
from intake.review.documents import attachments_by_submission, body_sizes, documents
from intake.review.responses import counted, follow_ups_of

PRIVATE_PERSON = "Privatperson"
_NORWEGIAN_ORDER = str.maketrans({"æ": "{", "ø": "|", "å": "}", "ä": "{", "ö": "|", "ü": "y"})


def norwegian_key(text: str) -> str:
    """Sorts æ, ø and å after z, as a Norwegian reader expects."""
    return text.casefold().translate(_NORWEGIAN_ORDER)


@dataclass(frozen=True)
class PublishedDocument:
    """A file to publish: an attachment, or (``attachment`` None) the e-mail text."""

    filename: str
    attachment: Attachment | None
    size: int


@dataclass(frozen=True)
class PublishedResponse:
    submission_id: int
    name: str
    category: str
    received: date
    documents: list[PublishedDocument]
    # Responses with a decided identity number, so the list can say a document was left out.
    left_out: int = 0


def publication_list(session: Session, case: Case, settings: PublicationSettings) -> list[PublishedResponse]:
    responses = counted(session, case, publishing=True)
    subs = [r.submission for r in responses]
    categories = Categories(session, case, [s.organisation_id for s in subs])
    # A follow-up is published as part of its response: its documents join that response's.
    additions = follow_ups_of(session, [r.id for r in responses])
    files = attachments_by_submission(session, [r.id for r in responses] + [i for ids in additions.values()
                                                                            for i in ids])
    bodies = body_sizes(session, [r.id for r in responses])
    out: list[PublishedResponse] = []
    for response in responses:
        sub = response.submission
        respondent = categories.of(sub.organisation_id, sub.sender)
        name = categories.name(sub, respondent)
        if respondent.person and settings.private_persons == "anonymous":
            name = PRIVATE_PERSON
        docs = documents(files.get(response.id, []))
        for addition in additions.get(response.id, []):
            docs += documents(files.get(addition, []))
        # The version of a corrected document staff chose not to count is left out (not counted as withheld).
        docs = [a for a in docs if not a.superseded]
        published = [PublishedDocument(a.filename, a, a.size) for a in docs if not a.withheld]
        left_out = sum(1 for a in docs if a.withheld) + int(sub.body_withheld)
        if not docs and bodies.get(response.id) and not sub.body_withheld:
            published.append(PublishedDocument("E-post.txt", None, bodies[response.id]))
        out.append(PublishedResponse(response.id, name, respondent.category, oslo_day(sub.received_at), published,
                                     left_out))
    out.sort(key=lambda p: (categories.rank(p.category), norwegian_key(p.name), p.received, p.submission_id))
    return out
