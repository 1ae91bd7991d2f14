"""The documents of a response: what a person would call its letter and its attachments.

A forwarded message or a winmail.dat is a wrapper: its documents are the files found inside it,
never the ``.eml`` itself (the forwarded text is part of the e-mail text, its files are
attachments of their own). Inline images of the e-mail are no documents.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from intake.db.models import Attachment, Submission
from intake.review.letter import MAX_CHARS, response_text

WRAPPERS = ("message/rfc822", "message/global")


class Letterlike(Protocol):
    """A submission as far as its texts go: a whole row or ``responses.SubmissionRow``."""

    @property
    def id(self) -> int | None: ...
    @property
    def receipt_ref(self) -> str: ...
    @property
    def form(self) -> dict[str, Any] | None: ...


def is_document(attachment: Attachment, parents: set[int]) -> bool:
    return not attachment.inline and attachment.id not in parents and attachment.content_type not in WRAPPERS


def documents(attachments: Sequence[Attachment]) -> list[Attachment]:
    """The attachments that are documents, in the order they came."""
    parents = {a.parent_id for a in attachments if a.parent_id is not None}
    return [a for a in attachments if is_document(a, parents)]


def attachments_by_submission(session: Session, ids: Sequence[int]) -> dict[int, list[Attachment]]:
    out: dict[int, list[Attachment]] = defaultdict(list)
    if ids:
        query = (
            select(Attachment)
            .where(col(Attachment.submission_id).in_(list(ids)))
            .order_by(col(Attachment.submission_id), col(Attachment.position), col(Attachment.id))
        )
        for attachment in session.exec(query):
            out[attachment.submission_id].append(attachment)
    return out


def own_texts(session: Session, subs: Sequence[Letterlike], *, chars: int = MAX_CHARS) -> dict[int, str]:
    """Each response's own words (``letter.response_text``) from its e-mail text and documents.

    A response on the case's form says what its answers say: the printed questions are the same
    in every form, so the form's own text would make every two forms look like one letter.
    Only the first ``chars`` of each text are read from the database: the no-comment check needs
    far less than the campaign grouping.
    """
    ids = [s.id for s in subs if s.id is not None]
    bodies = body_beginnings(session, ids, chars=chars)
    texts: dict[int, list[str | None]] = defaultdict(list)
    if ids:
        # Six columns are more than sqlmodel's select is typed for; the core select reads them alike.
        query = (
            sql_select(col(Attachment.submission_id), col(Attachment.id), col(Attachment.parent_id),
                       col(Attachment.inline), col(Attachment.content_type),
                       func.substr(col(Attachment.text), 1, chars))
            .where(col(Attachment.submission_id).in_(ids))
            .order_by(col(Attachment.submission_id), col(Attachment.position), col(Attachment.id))
        )
        rows = [tuple(row) for row in session.connection().execute(query)]
        parents = {parent for _, _, parent, _, _, _ in rows if parent is not None}
        for submission_id, attachment_id, _, inline, content_type, text in rows:
            if not inline and attachment_id not in parents and content_type not in WRAPPERS:
                texts[submission_id].append(text)
    answers = {s.id: form_answers(s.form) for s in subs if s.id is not None}
    return {i: response_text(bodies[i], [answers[i]] if answers[i] else texts.get(i, [])) for i in ids}


def body_beginnings(session: Session, ids: Sequence[int], *, chars: int = MAX_CHARS) -> dict[int, str]:
    """The first ``chars`` of each submission's e-mail text (empty when it has none)."""
    out = {i: "" for i in ids}
    if ids:
        query = select(Submission.id, func.substr(col(Submission.body_text), 1, chars)).where(
            col(Submission.id).in_(list(ids))
        )
        for submission_id, text in session.exec(query):
            if submission_id is not None:
                out[submission_id] = text or ""
    return out


def body_sizes(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """The size in bytes (UTF-8) of each submission's e-mail text, for those that have one."""
    out: dict[int, int] = {}
    for start in range(0, len(ids), 1000):
        query = select(Submission.id, Submission.body_text).where(
            col(Submission.id).in_(list(ids[start : start + 1000])), col(Submission.body_text).is_not(None)
        )
        for submission_id, text in session.exec(query):
            if submission_id is not None and text:
                out[submission_id] = len(text.encode("utf-8"))
    return out


def form_answers(form: object) -> str:
    """The answers of a response form as plain text, one question after the other (empty: no form)."""
    if not isinstance(form, dict):
        return ""
    parts = []
    for answer in form.values():
        if isinstance(answer, dict):
            parts += [str(answer[key]) for key in ("choice", "text") if answer.get(key)]
    return "\n\n".join(parts)


# The beginning of each response's own words, by (id, receipt reference): a response's texts never
# change once it is stored, and the summary page reads thousands of them on every view. The
# receipt reference (from the message's hash) keeps a reused id from finding another's text.
_BEGINNINGS: OrderedDict[tuple[int, str, int], str] = OrderedDict()
_BEGINNINGS_LOCK = threading.Lock()
BEGINNINGS_KEPT = 20_000


def own_beginnings(session: Session, subs: Sequence[Letterlike], *, chars: int) -> dict[int, str]:
    """``own_texts`` of the first ``chars`` of each text, remembered across calls in this process."""
    keys = {s.id: (s.id, s.receipt_ref, chars) for s in subs if s.id is not None}
    with _BEGINNINGS_LOCK:
        known = {i: _BEGINNINGS[k] for i, k in keys.items() if k in _BEGINNINGS}
    missing = [s for s in subs if s.id is not None and s.id not in known]
    fresh = own_texts(session, missing, chars=chars) if missing else {}
    with _BEGINNINGS_LOCK:
        for i, text in fresh.items():
            _BEGINNINGS[keys[i]] = text
        for key in (keys[i] for i in known):
            if key in _BEGINNINGS:
                _BEGINNINGS.move_to_end(key)
        while len(_BEGINNINGS) > BEGINNINGS_KEPT:
            _BEGINNINGS.popitem(last=False)
    return {**known, **fresh}
