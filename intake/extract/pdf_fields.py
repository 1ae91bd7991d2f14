"""Values of a PDF's form fields (AcroForm), page by page, for the page's text to show beside the labels.

A form filled in with a PDF reader keeps its answers in the fields' widget annotations, not
in the page's content: the text page shows only the printed labels. Each widget becomes a
``Field``: a text or choice field's value, a checkbox's or radio button's state as the
form reader reads boxes (☒ checked, ☐ not), with the box's export value for when no printed
label stands beside it. Everything read is bounded: widgets per page and per document,
characters per value and in all values of the document.

PDFium's form handle is opened here, not with pypdfium2's ``init_forms``: attached to the
document, that builds PDFium's view of a page's form (``FORM_OnAfterLoadPage``: every
annotation of the page, appearances made where the form asks for them) for every page as it
is loaded. Here it is built only for a page with annotations, and not for one with more than
the bound.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from intake.extract.base import CHECKED, UNCHECKED

Box = tuple[float, float, float, float]

# Annotations looked at on one page and in one document: a filled-in form has tens, a
# hostile file could have millions, each costing PDFium a lookup in the form's fields.
MAX_ANNOTATIONS_PER_PAGE = 500
MAX_ANNOTATIONS = 5000
# One field's value is cut at this many characters (a long free-text answer is a few thousand).
MAX_VALUE_CHARS = 20_000
# All values of one document together, as copied out of PDFium: one long string referenced by
# every field must not be copied thousands of times.
MAX_VALUES_CHARS = 1_000_000
# A box's export value is a short name ("Ja", "Yes"); a longer one is cut.
MAX_EXPORT_CHARS = 200
# A text field taller than this (points) is a box for a free answer: its own lines, not part
# of the printed line it overlaps.
TALL_FIELD = 30.0

_BLANK_LINES = re.compile(r"\n{3,}")
_BOXES = (pdfium_c.FPDF_FORMFIELD_CHECKBOX, pdfium_c.FPDF_FORMFIELD_RADIOBUTTON)
_VALUED = (pdfium_c.FPDF_FORMFIELD_TEXTFIELD, pdfium_c.FPDF_FORMFIELD_COMBOBOX, pdfium_c.FPDF_FORMFIELD_LISTBOX)
_SKIPPED_FLAGS = pdfium_c.FPDF_ANNOT_FLAG_HIDDEN | pdfium_c.FPDF_ANNOT_FLAG_INVISIBLE | pdfium_c.FPDF_ANNOT_FLAG_NOVIEW


@dataclass(frozen=True)
class Field:
    """One widget as the page's text shows it: ``text`` always, ``label`` after a box with nothing printed beside it."""

    text: str
    box: Box
    label: str = ""
    tall: bool = False


class FormFields:
    """The document's form handle and what is left of the document's budgets; close it before the document."""

    def __init__(self, pdf: pdfium.PdfDocument) -> None:
        # The handle keeps a pointer to this structure: it lives as long as the handle.
        self._info = pdfium_c.FPDF_FORMFILLINFO(version=1)
        self._handle = pdfium_c.FPDFDOC_InitFormFillEnvironment(pdf, self._info)
        self._annotations = MAX_ANNOTATIONS
        self._chars = MAX_VALUES_CHARS
        self._buffer = (ctypes.c_ushort * (MAX_VALUE_CHARS + 1))()

    @classmethod
    def open(cls, pdf: pdfium.PdfDocument) -> FormFields | None:
        """The fields of a document with an AcroForm; None (at the cost of one lookup) for any other.

        An XFA form drawn over an AcroForm ("foreground") keeps the AcroForm's fields: those are read.
        """
        if pdfium_c.FPDF_GetFormType(pdf) not in (pdfium_c.FORMTYPE_ACRO_FORM, pdfium_c.FORMTYPE_XFA_FOREGROUND):
            return None
        fields = cls(pdf)
        if not fields._handle:
            return None
        return fields

    def close(self) -> None:
        if self._handle:
            pdfium_c.FPDFDOC_ExitFormFillEnvironment(self._handle)
            self._handle = None

    def page(self, page: pdfium.PdfPage) -> list[Field]:
        """The page's visible fields that show something, in the order of the page's annotations.

        A page with more annotations than the bound, or beyond the document's bound, shows none:
        PDFium's view of a page's form, which the boxes' states need, covers all its annotations.
        """
        count = pdfium_c.FPDFPage_GetAnnotCount(page)
        if count <= 0 or count > min(MAX_ANNOTATIONS_PER_PAGE, self._annotations):
            return []
        self._annotations -= count
        pdfium_c.FORM_OnAfterLoadPage(page, self._handle)
        try:
            found: list[Field] = []
            for index in range(count):
                annot = pdfium_c.FPDFPage_GetAnnot(page, index)
                if not annot:
                    continue
                try:
                    field = self._field(annot)
                finally:
                    pdfium_c.FPDFPage_CloseAnnot(annot)
                if field is not None:
                    found.append(field)
            return found
        finally:
            pdfium_c.FORM_OnBeforeClosePage(page, self._handle)

    def _field(self, annot: ctypes.c_void_p) -> Field | None:
        if pdfium_c.FPDFAnnot_GetSubtype(annot) != pdfium_c.FPDF_ANNOT_WIDGET:
            return None
        if pdfium_c.FPDFAnnot_GetFlags(annot) & _SKIPPED_FLAGS:
            return None
        kind = pdfium_c.FPDFAnnot_GetFormFieldType(self._handle, annot)
        if kind not in _BOXES and kind not in _VALUED:
            return None  # push buttons, signatures, unknown
        rect = pdfium_c.FS_RECTF()
        if not pdfium_c.FPDFAnnot_GetRect(annot, rect):
            return None
        box = (min(rect.left, rect.right), min(rect.bottom, rect.top),
               max(rect.left, rect.right), max(rect.bottom, rect.top))
        if kind in _BOXES:
            checked = bool(pdfium_c.FPDFAnnot_IsChecked(self._handle, annot)) or _state_on(annot)
            export = self._string(pdfium_c.FPDFAnnot_GetFormFieldExportValue, annot, MAX_EXPORT_CHARS)
            label = " ".join(export.split()) if export != "Off" else ""
            return Field(CHECKED if checked else UNCHECKED, box, label=label)
        if kind == pdfium_c.FPDF_FORMFIELD_TEXTFIELD and (
            pdfium_c.FPDFAnnot_GetFormFieldFlags(self._handle, annot) & pdfium_c.FPDF_FORMFLAG_TEXT_PASSWORD
        ):
            return None
        value = _tidy(self._string(pdfium_c.FPDFAnnot_GetFormFieldValue, annot, MAX_VALUE_CHARS))
        if not value:
            return None
        return Field(value, box, tall=box[3] - box[1] > TALL_FIELD)

    def _string(self, read: Callable[..., int], annot: ctypes.c_void_p, cap: int) -> str:
        """One of PDFium's UTF-16 strings, cut at ``cap`` characters; empty once the document's budget is spent.

        PDFium copies a string only into a buffer that holds all of it, so a long value is read
        whole (PDFium holds it already) and cut; the budget counts what was copied.
        """
        # read(handle, annot, buffer, its length in bytes) -> the length needed in bytes, with the NUL.
        needed = read(self._handle, annot, None, 0) // 2
        if needed <= 1 or needed > self._chars:
            return ""
        self._chars -= needed
        buffer = self._buffer if needed <= len(self._buffer) else (ctypes.c_ushort * needed)()
        read(self._handle, annot, buffer, 2 * len(buffer))
        raw = bytes(memoryview(buffer).cast("B")[: 2 * (needed - 1)])
        return raw.decode("utf-16-le", errors="replace")[:cap]


def _state_on(annot: ctypes.c_void_p) -> bool:
    """Whether the box's appearance state (/AS) is set to anything but Off.

    PDFium calls a box checked when its state is the one its appearances name "on"; some
    writers (LibreOffice among them) set a checked box's state to /Yes while naming the "on"
    appearance after the export value. A set state still says the box was checked.
    """
    needed = pdfium_c.FPDFAnnot_GetStringValue(annot, b"AS", None, 0)
    if needed <= 2:
        return False  # no state, or an empty one
    if needed != 2 * len("Off\0"):
        return True
    buffer = (ctypes.c_ushort * 4)()
    pdfium_c.FPDFAnnot_GetStringValue(annot, b"AS", buffer, 8)
    return bytes(memoryview(buffer).cast("B")[:6]).decode("utf-16-le") != "Off"


def _tidy(value: str) -> str:
    """A value's lines as a reader shows them: readers end lines with CR, spaces run together, no empty runs."""
    lines = [" ".join(line.split()) for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines).strip("\n"))
