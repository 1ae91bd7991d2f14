"""The structure of a Word (DOCX) file for reading it in the page: headings, paragraphs, lists, tables, boxes.

Read in an extraction worker (``DocxOutline`` is a WorkerTask), under the same time and
memory limits as the text, because the file is the sender's. The answer is bounded: at
most ``MAX_BLOCKS`` paragraphs and cells and ``MAX_CHARS`` characters (the rest is cut,
and the outline says so), tables at most ``MAX_TABLE_DEPTH`` deep (deeper, the outline
fails). It is plain data (JSON), never markup: the page escapes every text in it.

A block is one of
``{"kind": "heading", "level": 1..3, "parts": P}``, ``{"kind": "p", "parts": P}``,
``{"kind": "list", "ordered": bool, "items": [P, ...]}`` and
``{"kind": "table", "rows": [[{"head": bool, "span": n, "blocks": [block, ...]}, ...], ...]}``,
where a head cell is in a header row (marked so, or the first row by the table's style), and
P is a list of strings (text) and booleans (a checkbox: true when checked).
The text of a paragraph is read exactly as for the extracted text (intake.extract.docx).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import docx
from docx.opc.exceptions import PackageNotFoundError
from lxml import etree

from intake.errors import ExtractionFailed
from intake.extract.base import CHECKED, UNCHECKED, Extraction, WorkerTask
from intake.extract.docx import SKIP, W, _checkbox, _inline
from intake.extract.limits import MIB, Limits, open_zip

MAX_BLOCKS = 5000
MAX_CHARS = 400_000
MAX_TABLE_DEPTH = 3
# A document part bigger than this is not parsed for its structure at all (about 2,000 pages of text).
MAX_PART_BYTES = 40 * MIB
# Seconds the outline of one file may take in a worker (the page waits for it the first time).
SECONDS = 10.0
# Reasons an outline is not made, as codes the page words for staff (intake.review.wording).
TOO_DEEP = "too_deep"
TOO_LARGE = "too_large"
BROKEN = "broken"

Parts = list[str | bool]
Block = dict[str, Any]
_HEADING_NAME = re.compile(r"heading\s*([1-9])$")
_BOXES = re.compile(f"([{CHECKED}{UNCHECKED}])")


@dataclass(frozen=True)
class DocxOutline(WorkerTask):
    """The outline of the DOCX in ``data``, as JSON in the Extraction's text; failed with a code."""

    seconds: ClassVar[float | None] = SECONDS

    def run(self, limits: Limits) -> Extraction:
        try:
            outline = read_outline(self.data, limits)
        except _Refused as err:
            return Extraction.failed(err.code)
        except RecursionError:
            return Extraction.failed(TOO_DEEP)
        except ExtractionFailed as err:
            return Extraction.failed(TOO_LARGE if "zip bomb" in str(err) else BROKEN)
        return Extraction(status="ok", text=json.dumps(outline, ensure_ascii=False))


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _Full(Exception):
    """The output bound is reached: stop reading, keep what was read."""


def read_outline(data: bytes, limits: Limits) -> dict[str, Any]:
    """``{"blocks": [...], "cut": bool}``; raises _Refused, or ExtractionFailed for a zip bomb."""
    with open_zip(data, limits) as archive:
        if any(info.file_size > MAX_PART_BYTES for info in archive.infolist()):
            raise _Refused(TOO_LARGE)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, etree.XMLSyntaxError) as err:
        # libxml2 refuses elements nested deeper than 256 levels: tables inside tables, most often.
        raise _Refused(TOO_DEEP if "depth" in str(err).lower() else BROKEN) from err
    reader = _Reader(_styles(document), _numbering(document))
    blocks: list[Block] = []
    try:
        reader.blocks(document.element.body, blocks, depth=0)
    except _Full:
        return {"blocks": blocks, "cut": True}
    return {"blocks": blocks, "cut": False}


@dataclass
class _Style:
    heading: int | None
    listed: bool
    ordered: bool | None
    based_on: str | None


def _styles(document: docx.document.Document) -> dict[str, _Style]:
    out: dict[str, _Style] = {}
    try:
        root = document.styles.element
    except (KeyError, ValueError, etree.XMLSyntaxError):
        return out
    for style in root.iterchildren(W + "style"):
        if style.get(W + "type") != "paragraph" or not style.get(W + "styleId"):
            continue
        name_el = style.find(W + "name")
        name = (name_el.get(W + "val") or "").strip().lower() if name_el is not None else ""
        ppr = style.find(W + "pPr")
        heading = _heading_of(name, ppr)
        based = style.find(W + "basedOn")
        listed = (ppr is not None and ppr.find(W + "numPr") is not None) or name.startswith("list")
        out[style.get(W + "styleId") or ""] = _Style(
            heading=heading, listed=listed, ordered=True if "number" in name else None,
            based_on=based.get(W + "val") if based is not None else None)
    return out


def _heading_of(name: str, ppr: etree._Element | None) -> int | None:
    if name == "title":
        return 1
    if match := _HEADING_NAME.match(name):
        return int(match.group(1))
    level = ppr.find(W + "outlineLvl") if ppr is not None else None
    if level is not None and (value := level.get(W + "val", "")).isdigit() and int(value) < 9:
        return int(value) + 1
    return None


def _numbering(document: docx.document.Document) -> dict[str, bool]:
    """Whether each list (``w:numId``) is numbered (True) or bulleted (False), at its first level."""
    try:
        root = document.part.numbering_part.element
    except (KeyError, ValueError, NotImplementedError, etree.XMLSyntaxError):
        return {}
    abstract: dict[str, bool] = {}
    for item in root.iterchildren(W + "abstractNum"):
        fmt = item.find(f"{W}lvl/{W}numFmt")
        abstract[item.get(W + "abstractNumId") or ""] = fmt is not None and fmt.get(W + "val") != "bullet"
    out: dict[str, bool] = {}
    for num in root.iterchildren(W + "num"):
        ref = num.find(W + "abstractNumId")
        if ref is not None:
            out[num.get(W + "numId") or ""] = abstract.get(ref.get(W + "val") or "", False)
    return out


class _Reader:
    def __init__(self, styles: dict[str, _Style], numbering: dict[str, bool]) -> None:
        self._styles = styles
        self._numbering = numbering
        self._blocks = 0
        self._chars = 0

    def _count(self, chars: int) -> None:
        self._blocks += 1
        self._chars += chars
        if self._blocks > MAX_BLOCKS or self._chars > MAX_CHARS:
            raise _Full

    def blocks(self, element: etree._Element, out: list[Block], depth: int) -> None:
        """Appends the blocks below ``element``: paragraphs, lists (consecutive items joined), tables."""
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in SKIP:
                continue
            if tag == W + "p":
                self._paragraph(child, out, depth)
            elif tag == W + "tbl":
                self._table(child, out, depth + 1)
            elif tag == W + "sdt" and (box := _checkbox(child)) is not None:
                self._add(out, {"kind": "p", "parts": _parts(box)}, 1)
            else:
                self.blocks(child, out, depth)

    def _add(self, out: list[Block], block: Block, chars: int) -> None:
        self._count(chars)
        out.append(block)

    def _paragraph(self, p: etree._Element, out: list[Block], depth: int) -> None:
        pieces: list[str] = []
        nested: list[str] = []
        _inline(p, pieces, nested)
        text = "".join(pieces).strip()
        if text:
            heading, listed, ordered = self._kind(p)
            parts = _parts(text)
            if heading is not None and depth == 0:
                self._add(out, {"kind": "heading", "level": min(heading, 3), "parts": parts}, len(text))
            elif listed:
                self._count(len(text))
                last = out[-1] if out else None
                if last is not None and last["kind"] == "list" and last["ordered"] == ordered:
                    last["items"].append(parts)
                else:
                    out.append({"kind": "list", "ordered": ordered, "items": [parts]})
            else:
                self._add(out, {"kind": "p", "parts": parts}, len(text))
        # Text boxes anchored in the paragraph read as paragraphs after it, as in the extracted text.
        for inner in nested:
            if inner.strip():
                self._add(out, {"kind": "p", "parts": _parts(inner.strip())}, len(inner))

    def _kind(self, p: etree._Element) -> tuple[int | None, bool, bool]:
        """The paragraph's heading level (or None), whether it is a list item, and whether numbered."""
        ppr = p.find(W + "pPr")
        style_el = ppr.find(W + "pStyle") if ppr is not None else None
        style_id = style_el.get(W + "val") if style_el is not None else None
        heading = _heading_of("", ppr)
        num = ppr.find(f"{W}numPr/{W}numId") if ppr is not None else None
        num_id = num.get(W + "val") if num is not None else None
        listed = num_id is not None and num_id != "0"
        ordered: bool | None = self._numbering.get(num_id or "") if listed else None
        seen = 0
        while style_id and style_id in self._styles and seen < 10:
            style = self._styles[style_id]
            heading = heading if heading is not None else style.heading
            listed = listed or (style.listed and num_id != "0")
            ordered = ordered if ordered is not None else style.ordered
            style_id, seen = style.based_on, seen + 1
        return heading, listed, bool(ordered)

    def _table(self, tbl: etree._Element, out: list[Block], depth: int) -> None:
        if depth > MAX_TABLE_DEPTH:
            raise _Refused(TOO_DEEP)
        rows: list[list[Block]] = []
        block: Block = {"kind": "table", "rows": rows}
        out.append(block)
        first_row = _first_row_is_head(tbl)
        for tr in tbl.iter(W + "tr"):
            # Rows of this table only: those of a table inside a cell are read with that table.
            if _owner(tr) is not tbl:
                continue
            head = tr.find(f"{W}trPr/{W}tblHeader") is not None or (first_row and not rows)
            cells: list[Block] = []
            for tc in tr.iter(W + "tc"):
                if _owner(tc) is not tbl:
                    continue
                span = tc.find(f"{W}tcPr/{W}gridSpan")
                value = span.get(W + "val", "1") if span is not None else "1"
                inner: list[Block] = []
                cell: Block = {"head": head, "span": int(value) if value.isdigit() and 0 < int(value) < 64 else 1,
                               "blocks": inner}
                cells.append(cell)
                self._count(0)
                self.blocks(tc, inner, depth)
            rows.append(cells)


def _first_row_is_head(tbl: etree._Element) -> bool:
    """Whether the table's style options make its first row a header row (``w:tblLook``, as Word sets by default)."""
    look = tbl.find(f"{W}tblPr/{W}tblLook")
    if look is None:
        return False
    if (flag := look.get(W + "firstRow")) is not None:
        return flag in ("1", "true", "on")
    try:
        return bool(int(look.get(W + "val") or "0", 16) & 0x20)
    except ValueError:
        return False


def _owner(element: etree._Element) -> etree._Element | None:
    """The table a row or cell belongs to (its nearest ``w:tbl`` ancestor)."""
    parent = element.getparent()
    while parent is not None and parent.tag != W + "tbl":
        parent = parent.getparent()
    return parent


def _parts(text: str) -> Parts:
    """The text split at its checkbox glyphs: strings, and True (☒) / False (☐) for each box."""
    parts: Parts = []
    for piece in _BOXES.split(text):
        if piece == CHECKED:
            parts.append(True)
        elif piece == UNCHECKED:
            parts.append(False)
        elif piece:
            parts.append(piece)
    return parts
