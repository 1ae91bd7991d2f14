"""A Word attachment read in the page with its structure: headings, lists, tables and checkboxes.

The outline is read by an extraction worker (intake.extract.outline, under the extraction's
time and memory limits), never in the web process, the first time someone opens the
submission, and kept in the store beside the PDF page images
(``previews/<submission>/<attachment>-outline.json``), so the second look is a file read.
A document whose outline cannot be made keeps that answer too, so a hostile file costs
one worker's try, once; the page then says why in words for staff and shows the text.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intake.db.models import Attachment
from intake.extract.base import Extractor
from intake.extract.outline import BROKEN, TOO_LARGE, DocxOutline
from intake.extract.reader import DOCX_EXTENSIONS, DOCX_TYPES
from intake.review.preview import _write
from intake.store.raw import RawStore

# Why no outline was made, when the worker gave up rather than the outline reader.
TIMED_OUT = "timed_out"
UNAVAILABLE = "unavailable"


@dataclass
class DocxView:
    """The outline's blocks (see intake.extract.outline), whether they were cut, or why there are none."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    cut: bool = False
    problem: str | None = None


def is_docx(attachment: Attachment) -> bool:
    ctype = attachment.content_type.lower().split(";")[0].strip()
    return ctype in DOCX_TYPES or os.path.splitext(attachment.filename.lower())[1] in DOCX_EXTENSIONS


def cached_outline(store: RawStore, submission_id: int, attachment_id: int) -> Path:
    return store.root / "previews" / str(submission_id) / f"{attachment_id}-outline.json"


def docx_views(store: RawStore, extractor: Extractor | None, attachments: list[Attachment]) -> dict[int, DocxView]:
    """The view of each DOCX among ``attachments``, by attachment id: from the store, else read once in a worker."""
    views: dict[int, DocxView] = {}
    missing: list[tuple[Attachment, Path]] = []
    for att in attachments:
        if att.id is None or not is_docx(att):
            continue
        path = cached_outline(store, att.submission_id, att.id)
        try:
            views[att.id] = _view(json.loads(path.read_bytes()))
        except (FileNotFoundError, ValueError):
            missing.append((att, path))
    if not missing:
        return views
    if extractor is None:
        # A web process started without extraction workers reads no document itself.
        for att, _path in missing:
            views[att.id or 0] = DocxView(problem=UNAVAILABLE)
        return views
    tasks = [DocxOutline(att.filename, att.content_type, store.read(att.blob)) for att, _path in missing]
    for (att, path), result in zip(missing, extractor.extract_many(tasks), strict=True):
        if result.status == "ok" and result.text:
            answer: dict[str, Any] = json.loads(result.text)
        else:
            answer = {"error": _problem(result.error or "")}
        _write(path, json.dumps(answer, ensure_ascii=False).encode("utf-8"))
        views[att.id or 0] = _view(answer)
    return views


def _problem(error: str) -> str:
    """The outline reader's own code, or what the worker's failure means for staff."""
    if error.startswith("timeout after"):
        return TIMED_OUT
    if error == "out of memory":
        return TOO_LARGE
    return error if error.isidentifier() else BROKEN


def _view(answer: dict[str, Any]) -> DocxView:
    if "error" in answer:
        return DocxView(problem=str(answer["error"]))
    return DocxView(blocks=list(answer.get("blocks") or []), cut=bool(answer.get("cut")))
