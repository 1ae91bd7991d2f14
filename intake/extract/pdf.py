"""Text of a PDF with pdfplumber, as lines and paragraphs, within a page limit."""

from __future__ import annotations

import io
from typing import Any

import pdfplumber
from pdfminer.pdfdocument import PDFPasswordIncorrect
from pdfplumber.utils.exceptions import PdfminerException

from intake.extract.base import Extraction
from intake.extract.limits import Limits

# A vertical gap between two lines larger than this share of the line's height starts a
# new paragraph; ordinary line spacing leaves a gap of about a quarter of the height.
PARAGRAPH_GAP = 0.6
SENTENCE_END = (".", "?", "!", ":")
# Across a page break: a line ending this far short of the right margin ends its paragraph,
# and a line starting with a list mark starts one.
SHORT_LINE = 0.8
LIST_MARKS = ("•", "–", "-", "▪", "◦", "*")


def extract_pdf(data: bytes, limits: Limits) -> Extraction:
    """Reads up to ``limits.max_pages`` pages; more pages, encryption or damage fail with the reason."""
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PdfminerException as err:
        inner = err.args[0] if err.args else err
        if isinstance(inner, PDFPasswordIncorrect):
            return Extraction.failed("encrypted PDF")
        return Extraction.failed(f"broken PDF: {_reason(inner)}")
    with pdf:
        try:
            total = len(pdf.pages)
        except PdfminerException as err:
            return Extraction.failed(f"broken PDF: {_reason(err.args[0] if err.args else err)}")
        paragraphs: list[list[str]] = []
        ended = True
        for number, page in enumerate(pdf.pages):
            if number >= limits.max_pages:
                text = _join(paragraphs)
                return Extraction.failed(
                    f"too many pages: {total} > {limits.max_pages}", text=text, pages=total
                )
            lines = page.extract_text_lines(layout=False, strip=True, return_chars=False)
            ended = _add_page(lines, paragraphs, ended)
            # pdfplumber caches every parsed object per page; dropping it keeps long files small.
            page.close()
    return Extraction(status="ok", text=_join(paragraphs), pages=total)


def _add_page(lines: list[dict[str, Any]], paragraphs: list[list[str]], ended: bool) -> bool:
    """Appends a page's lines, starting a paragraph where the vertical gap is wider than line spacing.

    ``ended`` says whether the previous page's last line looked like the end of a
    paragraph; the return value says the same of this page's last line.
    """
    previous: dict[str, Any] | None = None
    for line in lines:
        text = str(line["text"]).strip()
        if not text:
            continue
        if previous is None:
            if not paragraphs or ended or text.startswith(LIST_MARKS):
                paragraphs.append([])
        else:
            height = max(1.0, float(previous["bottom"]) - float(previous["top"]))
            gap = float(line["top"]) - float(previous["bottom"])
            if gap > PARAGRAPH_GAP * height:
                paragraphs.append([])
        paragraphs[-1].append(text)
        previous = line
    if previous is None:
        return ended
    # A wrapped line runs to the right margin; a paragraph's last line usually stops short of it.
    right = max(float(line["x1"]) for line in lines)
    last = str(previous["text"]).strip()
    return last.endswith(SENTENCE_END) or float(previous["x1"]) < SHORT_LINE * right


def _join(paragraphs: list[list[str]]) -> str:
    return "\n\n".join("\n".join(lines) for lines in paragraphs if lines)


def _reason(err: object) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:160]
