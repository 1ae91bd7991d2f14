"""Extract: each attachment's bytes stored, its text read (in the worker pool), its row written.

Files found inside containers (winmail.dat, Outlook .msg, attached messages)
become attachments of their own, linked to the file they came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from intake.db.models import Attachment
from intake.db.rows import insert_rows
from intake.mail.filenames import shown_filename
from intake.mail.mime import Part
from intake.runtime import Runtime

if TYPE_CHECKING:
    from intake.extract import Extraction


# Attachments larger than this go to an extraction worker as a path, not as bytes.
BY_PATH = 1024 * 1024


def db_text(text: str | None) -> str | None:
    """Text as every database can hold it: PostgreSQL refuses NUL characters."""
    return text.replace("\x00", "") if text else text



@dataclass
class Unpacked:
    """An attachment ready for the database: its part, blob and extracted text."""

    part: Part
    sha256: str
    blob: str
    extraction: Extraction | None
    children: list[Unpacked]
    size: int


def unpack(rt: Runtime, parts: Sequence[Part]) -> list[Unpacked]:
    """Stores every attachment's bytes and extracts its text (in the worker pool when there is one)."""
    # A large body is decoded into the store piece by piece, never whole in memory.
    stored = [rt.store.put_chunks(p.large.chunks()) if p.large else (*rt.store.put(p.data), len(p.data)) for p in parts]
    for part in parts:
        part.large = None  # the raw message it pointed into can go
    extractions: list[Any] = [None] * len(parts)
    if rt.extractor is not None and parts:
        from intake.extract import FileInput

        extractions = rt.extractor.extract_many([
            # A large file is read by the worker from the store rather than copied through the pipe.
            FileInput(p.filename, p.content_type, b"", path=str(rt.store.path_of(blob)))
            if size > BY_PATH else FileInput(p.filename, p.content_type, p.data)
            for p, (_, blob, size) in zip(parts, stored, strict=True)
        ])
    _cap_message_text(extractions, rt.settings.extract.max_message_text_chars)
    unpacked = [
        _unpacked(rt, part, extraction, where)
        for part, extraction, where in zip(parts, extractions, stored, strict=True)
    ]
    for part in parts:
        if len(part.data) > BY_PATH:
            part.data = b""  # stored and read: a large file is not kept in memory until the decision
    return _once(unpacked)


def _once(unpacked: list[Unpacked]) -> list[Unpacked]:
    """Each file of a forwarded message once: as the forward's own file, linked to it.

    The MIME parser walks into a forward it can read and lists its files beside the forward; the
    extractor finds the same files inside it. The copy inside the forward is kept, so a file says
    where it came from, and the parser's copy is left out (kept only where the extractor found none).
    """
    inside = {(c.sha256, c.part.filename) for u in unpacked if u.part.walked for c in flatten(u.children)}
    return [u for u in unpacked if not (u.part.depth > 0 and (u.sha256, u.part.filename) in inside)]


def _cap_message_text(extractions: Sequence[Extraction | None], limit: int) -> None:
    """Cuts the texts of one message's files, in order, so that together they hold at most ``limit`` characters."""
    from intake.extract.limits import cap_text

    left = limit
    pending = [e for e in extractions if e is not None]
    while pending:
        extraction = pending.pop(0)
        pending[:0] = [child for _, child in extraction.children]
        if extraction.text:
            cap_text(extraction, max(left, 0))
            left -= len(extraction.text or "")


def _unpacked(
    rt: Runtime, part: Part, extraction: Extraction | None, stored: tuple[str, str, int] | None = None
) -> Unpacked:
    sha256, blob, size = stored or (*rt.store.put(part.data), len(part.data))
    children: list[Unpacked] = []
    for child_input, child_extraction in (extraction.children if extraction is not None else []):
        child = Part(child_input.filename, child_input.content_type, child_input.data, depth=part.depth + 1)
        children.append(_unpacked(rt, child, child_extraction))
    return Unpacked(part, sha256, blob, extraction, children, size)


def flatten(items: list[Unpacked]) -> list[Unpacked]:
    out: list[Unpacked] = []
    for item in items:
        out.append(item)
        out.extend(flatten(item.children))
    return out


def extraction_errors(items: list[Unpacked]) -> list[tuple[str, str]]:
    """The file name and error of every attachment that could not be read, nested ones included, in order."""
    return [(item.part.filename, item.extraction.error or "unknown error") for item in flatten(items)
            if item.extraction is not None and item.extraction.status == "failed"]


def add_rows(
    session: Session, submission_id: int, items: list[Unpacked], parent_id: int | None,
    *, later: list[Attachment] | None = None,
) -> list[Attachment]:
    """Writes the attachment rows of a submission, in the order of ``flatten`` (a container
    before its members), and returns the rows of ``items`` themselves.

    With ``later``, rows that need no id now (files without members) are put there for the
    caller to write together with others, and have no id until then.
    """
    rows = [
        Attachment(
            submission_id=submission_id,
            position=position,
            parent_id=parent_id,
            filename=shown_filename(db_text(item.part.filename)),
            content_type=item.part.content_type,
            size=item.size,
            sha256=item.sha256,
            blob=item.blob,
            inline=item.part.inline,
            depth=item.part.depth,
            text=db_text(item.extraction.text) if item.extraction else None,
            text_chars=len(item.extraction.text or "") if item.extraction else 0,
            pages=item.extraction.pages if item.extraction else None,
            extraction_status=item.extraction.status if item.extraction else "pending",
            extraction_error=db_text(item.extraction.error) if item.extraction else None,
        )
        for position, item in enumerate(items)
    ]
    if not any(item.children for item in items):
        if later is not None:
            later.extend(rows)
        else:
            insert_rows(session, rows)  # one statement for them all
        return rows
    for item, row in zip(items, rows, strict=True):
        insert_rows(session, [row])  # its members come next, and need its id
        add_rows(session, submission_id, item.children, row.id)
    return rows


def read_form_answers(questions: list[dict[str, Any]], texts: list[str]) -> dict[str, Any] | None:
    from intake.extract import read_form

    for text in texts:
        answers: dict[str, Any] | None = read_form(text, questions)
        if answers:
            return answers
    return None
