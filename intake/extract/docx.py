"""Text of a Word (DOCX) file, including what ``paragraph.text`` misses.

python-docx opens the package and finds the parts; the text comes from walking each
part's XML ourselves, because the answers of a filled-in form live in content controls
(``w:sdt``), table cells and text boxes, and its checkboxes are ``w14:checkbox``
controls whose state is an attribute, not text.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.exceptions import PackageNotFoundError
from lxml import etree

from intake.errors import ExtractionFailed
from intake.extract.base import CHECKED, UNCHECKED, Extraction
from intake.extract.limits import Limits, open_zip

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
W14 = "{http://schemas.microsoft.com/office/word/2010/wordml}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"

# Property and deleted-revision elements carry no visible text; mc:Fallback repeats mc:Choice.
SKIP = {
    W + "pPr",
    W + "rPr",
    W + "sdtPr",
    W + "sdtEndPr",
    W + "del",
    W + "delText",
    W + "instrText",
    W + "moveFrom",
    W + "fldData",
    W + "tblPr",
    W + "tblGrid",
    W + "trPr",
    W + "tcPr",
    W + "sectPr",
    MC + "Fallback",
}
# Symbol-font checkboxes (w:sym) as Word inserts them from Wingdings.
SYMBOL_BOXES = {"F0FE": CHECKED, "F0FD": CHECKED, "F078": CHECKED, "F0A8": UNCHECKED, "F06F": UNCHECKED}
PARTS_BEFORE = (RT.HEADER,)
PARTS_AFTER = (RT.FOOTNOTES, RT.ENDNOTES, RT.FOOTER)
XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def extract_docx(data: bytes, limits: Limits) -> Extraction:
    """Reads headers, body (paragraphs, tables, content controls, text boxes), notes and footers."""
    open_zip(data, limits).close()
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, etree.XMLSyntaxError) as err:
        raise ExtractionFailed(
            f"broken DOCX: {str(err).splitlines()[0][:160] if str(err) else type(err).__name__}"
        ) from err
    paragraphs: list[str] = []
    for root in _related(document, PARTS_BEFORE):
        _block(root, paragraphs)
    _block(document.element.body, paragraphs)
    for root in _related(document, PARTS_AFTER):
        _block(root, paragraphs)
    text = "\n\n".join(p for p in (para.strip() for para in paragraphs) if p)
    return Extraction(status="ok", text=text, pages=None)


def _related(document: docx.document.Document, reltypes: Iterable[str]) -> list[etree._Element]:
    """The XML roots of the document's parts of the given relationship types, each once, in order."""
    roots: list[etree._Element] = []
    seen: set[str] = set()
    rels = list(document.part.rels.values())
    for reltype in reltypes:
        for rel in rels:
            if rel.is_external or rel.reltype != reltype or str(rel.target_part.partname) in seen:
                continue
            seen.add(str(rel.target_part.partname))
            part = rel.target_part
            element = getattr(part, "element", None)
            roots.append(element if element is not None else etree.fromstring(part.blob, XML_PARSER))
    return roots


def _block(element: etree._Element, out: list[str]) -> None:
    """Appends the paragraphs found anywhere below ``element`` (tables and controls included)."""
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in SKIP:
            continue
        if tag == W + "p":
            _paragraph(child, out)
        elif tag == W + "sdt" and (box := _checkbox(child)) is not None:
            out.append(box)
        else:
            _block(child, out)


def _paragraph(p: etree._Element, out: list[str]) -> None:
    parts: list[str] = []
    nested: list[str] = []
    _inline(p, parts, nested)
    out.append("".join(parts))
    # Text boxes anchored in the paragraph read as paragraphs after it.
    out.extend(nested)


def _inline(element: etree._Element, parts: list[str], nested: list[str]) -> None:
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in SKIP:
            continue
        if tag == W + "t":
            parts.append(child.text or "")
        elif tag == W + "tab":
            parts.append("\t")
        elif tag in (W + "br", W + "cr"):
            parts.append("\n")
        elif tag == W + "noBreakHyphen":
            parts.append("-")
        elif tag == W + "sym":
            parts.append(SYMBOL_BOXES.get((child.get(W + "char") or "").upper(), ""))
        elif tag == W + "fldChar":
            parts.append(_legacy_checkbox(child))
        elif tag == W + "sdt" and (box := _checkbox(child)) is not None:
            parts.append(box)
        elif tag == W + "txbxContent" or tag == W + "p":
            _block(child, nested) if tag != W + "p" else _paragraph(child, nested)
        else:
            _inline(child, parts, nested)


def _checkbox(sdt: etree._Element) -> str | None:
    """The glyph of a ``w14:checkbox`` content control, from its state rather than its shown text."""
    props = sdt.find(W + "sdtPr")
    box = props.find(W14 + "checkbox") if props is not None else None
    if box is None:
        return None
    checked = box.find(W14 + "checked")
    value = checked.get(W14 + "val", "0") if checked is not None else "0"
    return CHECKED if value in ("1", "true", "on") else UNCHECKED


def _legacy_checkbox(fld_char: etree._Element) -> str:
    """The glyph of a legacy form checkbox (``w:ffData/w:checkBox``) at its field's start, else nothing."""
    box = fld_char.find(f"{W}ffData/{W}checkBox")
    if box is None:
        return ""
    state = box.find(W + "checked")
    if state is None:
        state = box.find(W + "default")
        if state is None:
            return UNCHECKED
    return CHECKED if state.get(W + "val", "1") in ("1", "true", "on") else UNCHECKED
