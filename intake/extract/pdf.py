"""Text of a PDF with PDFium's text pages, as lines and paragraphs, within a page limit.

PDFium (through pypdfium2) finds the characters and groups them into runs on one line
("rects"); this module orders those runs into lines and the lines into paragraphs, by
the vertical gaps between them, as a reader sees the page. A filled-in form's field values
(``pdf_fields``) join the lines at their widgets' places. PDFium is not thread-safe:
this runs in the extraction workers, one document at a time per process.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from intake.extract.base import Extraction
from intake.extract.limits import Limits
from intake.extract.pdf_fields import Field, FormFields

# A vertical gap between two lines larger than this share of the line's height starts a
# new paragraph; ordinary line spacing leaves a gap of about a quarter of the height.
PARAGRAPH_GAP = 0.6
SENTENCE_END = (".", "?", "!", ":")
# Across a page break: a line ending this far short of the right margin ends its paragraph,
# and a line starting with a list mark starts one.
SHORT_LINE = 0.8
LIST_MARKS = ("•", "–", "-", "▪", "◦", "*")
# Two runs on one line further apart than this (points) are two words, as pdfplumber's default has it.
WORD_GAP = 3.0
# A run's text is asked for inside its box drawn in by these shares of its height (across the
# line and along it), so that a neighbour's glyph just touching the box is not read twice.
INSET_ACROSS = 0.1
INSET_ALONG = 0.05
# Runs whose vertical extents overlap by at least this share of the lower one are one line.
SAME_LINE = 0.5
RUN_SHAPE = 2.0
# Printed text starting within this many box heights right of a checkbox is its label: the
# box's export value is shown only when there is none.
LABEL_REACH = 3.0
SPACES = re.compile(r"[ \t\u00a0]+")


# Reading one run's text costs PDFium a pass over the page's characters: a page of more runs
# than this (a table of thousands of cells, or hostile scatter) is read in PDFium's own order.
MAX_RUNS = 1500

Box = tuple[float, float, float, float]


@dataclass
class Line:
    """One line of a page, top-down: ``top`` and ``bottom`` from the page's top edge, ``x1`` its right end."""

    text: str
    top: float
    bottom: float
    x0: float
    x1: float
    box: Box = (0.0, 0.0, 0.0, 0.0)
    # A form field's widget: its text is the field's, not read from the page.
    field: Field | None = None


def extract_pdf(data: bytes | Path, limits: Limits) -> Extraction:
    """Reads up to ``limits.max_pages`` pages; more pages, encryption or damage fail with the reason.

    ``data`` is the file's bytes, or its path (PDFium then reads the file as it needs it).
    """
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        if getattr(err, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            return Extraction.failed("encrypted PDF")
        return Extraction.failed(f"broken PDF: {_reason(err)}")
    fields: FormFields | None = None
    try:
        fields = FormFields.open(pdf)
        total = len(pdf)
        paragraphs: list[list[str]] = []
        ended = True
        for number in range(total):
            if number >= limits.max_pages:
                return Extraction.failed(
                    f"too many pages: {total} > {limits.max_pages}", text=_join(paragraphs), pages=total
                )
            ended = add_page(page_lines(pdf, number, fields), paragraphs, ended)
    finally:
        # The form handle refers to the document: it goes first.
        if fields is not None:
            fields.close()
        pdf.close()
    return Extraction(status="ok", text=_join(paragraphs), pages=total)


def page_lines(pdf: pdfium.PdfDocument, number: int, fields: FormFields | None = None) -> list[Line]:
    """The page's lines from top to bottom, each from PDFium's runs of characters, left to right.

    With ``fields``, the page's form fields are runs too, their values where their widgets are.
    """
    page = pdf[number]
    try:
        widgets = fields.page(page) if fields is not None else []
        textpage = page.get_textpage()
        try:
            count = textpage.count_rects()
            if count > MAX_RUNS:
                plain = _plain_lines(textpage)
                at = float(len(plain))
                return plain + [Line(f"{w.text} {w.label}".strip(), at + n, at + n + 1.0, 0.0, 1.0)
                                for n, w in enumerate(widgets)]
            boxes = [textpage.get_rect(index) for index in range(count)]
            upright = _upright(page, boxes)
            runs = [upright.line(box) for box in boxes]
            tall = [_field_line(upright, w) for w in widgets if w.tall]
            runs += [_field_line(upright, w) for w in widgets if not w.tall]
            lines = _lines(runs)
            # Room for every character and the line breaks PDFium adds between them.
            buffer = (ctypes.c_ushort * (2 * textpage.count_chars() + 16))()
            read = [line for line in (_read(textpage, upright, runs, buffer) for runs in lines) if line.text]
            return _placed(read, tall) if tall else read
        finally:
            textpage.close()
    finally:
        page.close()


def _field_line(upright: Upright, field: Field) -> Line:
    """A form field as a run (or, for a tall text field, a line of its own) where its widget is."""
    run = upright.line(field.box)
    run.text, run.field = field.text, field
    return run


def _placed(lines: list[Line], tall: list[Line]) -> list[Line]:
    """The page's lines with each tall field's value as its own lines, before the first line below its top."""
    placed = list(lines)
    for field in sorted(tall, key=lambda f: (f.top, f.x0)):
        at = next((n for n, line in enumerate(placed) if line.field is None and line.top > field.top), len(placed))
        placed.insert(at, field)
    return placed


def _plain_lines(textpage: pdfium.PdfTextPage) -> list[Line]:
    """The page's text in PDFium's order, one line each, spaced as one paragraph: linear in its size."""
    text = textpage.get_text_range()
    lines = [SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return [Line(line, float(n), float(n) + 1.0, 0.0, 1.0) for n, line in enumerate(lines) if line]


@dataclass(frozen=True)
class Upright:
    """Turns a box in the page's own coordinates into one as the page is shown (its /Rotate applied)."""

    rotation: int
    left: float
    bottom: float
    width: float
    height: float

    @property
    def flat(self) -> bool:
        return self.rotation in (0, 180)

    def line(self, box: Box) -> Line:
        """The run in ``box`` (left, bottom, right, top on the page), its text not read yet."""
        x0, x1 = box[0] - self.left, box[2] - self.left
        y0, y1 = box[1] - self.bottom, box[3] - self.bottom
        if self.rotation == 90:
            return Line("", x0, x1, y0, y1, box)
        if self.rotation == 180:
            return Line("", y0, y1, self.width - x1, self.width - x0, box)
        if self.rotation == 270:
            return Line("", self.width - x1, self.width - x0, self.height - y1, self.height - y0, box)
        return Line("", self.height - y1, self.height - y0, x0, x1, box)

    def clipped(self, box: Box, start: float) -> Box:
        """``box`` without what lies left of ``start`` as the page is shown."""
        left, bottom, right, top = box
        if self.rotation == 90:
            return left, max(bottom, start + self.bottom), right, top
        if self.rotation == 180:
            return left, bottom, min(right, self.width - start + self.left), top
        if self.rotation == 270:
            return left, bottom, right, min(top, self.height - start + self.bottom)
        return max(left, start + self.left), bottom, right, top


def _upright(page: pdfium.PdfPage, boxes: Sequence[Box]) -> Upright:
    """How to turn the page so that most of its text runs left to right.

    The page's /Rotate says how it is shown, but some pages are shown sideways on purpose
    (a wide table): the runs' own direction decides whether the rotation is applied.
    """
    left, bottom, right, top = page.get_bbox()
    rotation = int(page.get_rotation()) % 360
    # A run of one or two letters is as tall as it is wide: only clearly long runs tell the direction.
    wide = sum(r - x for x, b, r, t in boxes if r - x >= RUN_SHAPE * (t - b))
    tall = sum(t - b for x, b, r, t in boxes if t - b >= RUN_SHAPE * (r - x))
    sideways = (90, 270) if tall > wide else (0, 180)
    rotation = rotation if rotation in sideways else sideways[0]
    return Upright(rotation, left, bottom, right - left, top - bottom)


def _lines(runs: Iterable[Line]) -> list[list[Line]]:
    """Runs grouped into lines by their vertical overlap, the lines in reading order (top first)."""
    lines: list[list[Line]] = []
    for run in sorted(runs, key=lambda r: (r.top, r.x0)):
        for line in reversed(lines[-3:]):
            top, bottom = min(r.top for r in line), max(r.bottom for r in line)
            overlap = min(bottom, run.bottom) - max(top, run.top)
            if overlap >= SAME_LINE * min(bottom - top, run.bottom - run.top):
                line.append(run)
                break
        else:
            lines.append([run])
    return lines


def _bounded(textpage: pdfium.PdfTextPage, box: Box, buffer: ctypes.Array[ctypes.c_ushort]) -> str:
    """The text inside ``box``, in one pass over the page (pypdfium2's get_text_bounded makes two)."""
    left, bottom, right, top = box
    count = pdfium_c.FPDFText_GetBoundedText(textpage, left, top, right, bottom, buffer, len(buffer))
    text = bytes(memoryview(buffer).cast("B")[: 2 * max(0, count)]).decode("utf-16-le", errors="ignore")
    return text.rstrip("\x00")  # the count includes the terminating NUL


def _read(textpage: pdfium.PdfTextPage, upright: Upright, runs: Sequence[Line],
          buffer: ctypes.Array[ctypes.c_ushort]) -> Line:
    """One line's text: its runs left to right, a run overlapping the one before read only past it.

    A form field's run is its value, set apart by spaces; it leaves the page's own text as it is.
    """
    text = ""
    end = float("-inf")
    ordered = sorted(runs, key=lambda r: r.x0)
    for number, run in enumerate(ordered):
        if run.field is not None:
            text = f"{text} {_field_text(run.field, run, ordered[number + 1:])} "
            continue
        if run.x1 <= end + WORD_GAP:
            continue  # wholly inside what was read already
        box = run.box if run.x0 >= end else upright.clipped(run.box, end)
        left, bottom, right, top = box
        across = min(right - left, top - bottom, run.bottom - run.top)
        inset_along, inset_across = INSET_ALONG * across, INSET_ACROSS * across
        inset_x, inset_y = (inset_along, inset_across) if upright.flat else (inset_across, inset_along)
        found = _bounded(textpage, (left + inset_x, bottom + inset_y, right - inset_x, top - inset_y), buffer)
        if run.x0 - end > WORD_GAP and text and not text[-1:].isspace() and not found[:1].isspace():
            text += " "
        text += found
        end = max(end, run.x1)
    text = SPACES.sub(" ", text.replace("\r", "").replace("\n", " ")).strip()
    printed = [run for run in runs if run.field is None]
    top, bottom = _extent(textpage, upright, printed) if printed else (min(r.top for r in runs),
                                                                        max(r.bottom for r in runs))
    return Line(text, top, bottom, min(r.x0 for r in runs), max(r.x1 for r in runs))


def _field_text(field: Field, run: Line, after: Sequence[Line]) -> str:
    """A field's text; a box's export value too when no printed label follows it closely on its line."""
    if not field.label:
        return field.text
    label = next((r for r in after if r.field is None), None)
    if label is not None and label.x0 <= run.x1 + LABEL_REACH * max(1.0, run.bottom - run.top):
        return field.text
    return f"{field.text} {field.label}"


def _extent(textpage: pdfium.PdfTextPage, upright: Upright, runs: Sequence[Line]) -> tuple[float, float]:
    """The line's top and bottom by its font's height (ascent to descent), not by its glyphs.

    A run's box ends where its letters end, so a line without descenders looks shorter and the
    gap under it wider; the font's box, of the character in the middle of the longest run, is
    what the lines' spacing is measured against (as pdfplumber measures it).
    """
    longest = max(runs, key=lambda r: r.x1 - r.x0)
    left, bottom, right, top = longest.box
    tolerance = min(right - left, top - bottom) / 2
    index = pdfium_c.FPDFText_GetCharIndexAtPos(textpage, (left + right) / 2, (bottom + top) / 2, tolerance, tolerance)
    if index >= 0:
        try:
            font = upright.line(textpage.get_charbox(index, loose=True))
        except pdfium.PdfiumError:
            pass
        else:
            if font.bottom > font.top:
                return font.top, font.bottom
    return min(r.top for r in runs), max(r.bottom for r in runs)


def add_page(lines: Sequence[Line], paragraphs: list[list[str]], ended: bool) -> bool:
    """Appends a page's lines, starting a paragraph where the vertical gap is wider than line spacing.

    ``ended`` says whether the previous page's last line looked like the end of a
    paragraph; the return value says the same of this page's last line. A tall form field's
    value (a free answer) is a paragraph of its own.
    """
    previous: Line | None = None
    for line in lines:
        text = line.text.strip()
        if not text:
            continue
        if previous is None:
            if not paragraphs or ended or text.startswith(LIST_MARKS) or _tall(line):
                paragraphs.append([])
        else:
            height = max(1.0, previous.bottom - previous.top)
            if line.top - previous.bottom > PARAGRAPH_GAP * height or _tall(line) or _tall(previous):
                paragraphs.append([])
        paragraphs[-1].append(text)
        previous = line
    if previous is None:
        return ended
    # A wrapped line runs to the right margin; a paragraph's last line usually stops short of it.
    right = max(line.x1 for line in lines)
    last = previous.text.strip()
    return last.endswith(SENTENCE_END) or previous.x1 < SHORT_LINE * right or _tall(previous)


def _tall(line: Line) -> bool:
    return line.field is not None and line.field.tall


def _join(paragraphs: list[list[str]]) -> str:
    return "\n\n".join("\n".join(lines) for lines in paragraphs if lines)


def _reason(err: object) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0][:160]
