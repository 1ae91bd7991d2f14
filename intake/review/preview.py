"""Attachments read without downloading them: a PDF's pages as PNG images, rendered on the server.

The browser never gets the PDF itself (a sender's PDF can carry script and forms). A page is
rendered with pdfium the first time someone looks at it, at most ``MAX_PIXELS`` big whatever
size the sender gave the page, and kept in the store beside the original bytes
(``previews/<submission>/<attachment>-<page>.png``, written as tmp, fsync, rename), so the second look is a
file read.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pypdfium2 as pdfium

from intake.db.models import Attachment
from intake.errors import IntakeError
from intake.store.raw import RawStore

PDF_TYPES = ("application/pdf", "application/x-pdf")
# Width of a rendered page, and the most pixels a page may have (a sender decides its size).
WIDTH = 1000
MAX_PIXELS = 4_000_000
MAX_PAGE = 2000
# Pages shown at first, and added each time «Vis flere sider» is chosen.
PAGES_AT_ONCE = 3


class PreviewError(IntakeError):
    """The page cannot be shown (no such page, or a PDF pdfium cannot open)."""


def is_pdf(attachment: Attachment) -> bool:
    return attachment.content_type.lower() in PDF_TYPES or attachment.filename.lower().endswith(".pdf")


def cached_page(store: RawStore, submission_id: int, attachment_id: int, page: int) -> Path:
    """Where a rendered page is kept. By row ids, which never change their bytes, so a cached page is
    found without asking the database."""
    return store.root / "previews" / str(submission_id) / f"{attachment_id}-{page}.png"


def page_png(store: RawStore, attachment: Attachment, page: int) -> bytes:
    """Page ``page`` (from 1) of a PDF attachment as PNG; rendered once, then read from the store."""
    if not is_pdf(attachment) or not 1 <= page <= MAX_PAGE:
        raise PreviewError("siden finnes ikke")
    path = cached_page(store, attachment.submission_id, attachment.id or 0, page)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    png = render_page(store.read(attachment.blob), page)
    _write(path, png)
    return png


def render_page(data: bytes, page: int) -> bytes:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        raise PreviewError("PDF-en kan ikke vises") from err
    try:
        if page > len(pdf):
            raise PreviewError("siden finnes ikke")
        sheet = pdf[page - 1]
        width, height = sheet.get_size()
        if width <= 0 or height <= 0:
            raise PreviewError("siden har ingen størrelse")
        scale = min(WIDTH / width, (MAX_PIXELS / (width * height)) ** 0.5)
        image = sheet.render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False)
        return out.getvalue()
    except pdfium.PdfiumError as err:
        raise PreviewError("siden kan ikke vises") from err
    finally:
        pdf.close()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
