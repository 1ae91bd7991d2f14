"""Builds PDF forms (AcroForm) as a PDF reader leaves them once filled in: values in the fields, not the page.

A page is printed text (``Text``) and form fields (``TextField``, ``ChoiceField``, ``CheckBox``,
``RadioGroup``); each field's widget carries its value (``/V``) and a box its state (``/AS``),
with an appearance stream for each state as readers write them, while the page's content
holds only the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class Text:
    """Printed text in 10 pt Helvetica, its baseline's left end at (x, y) from the page's bottom left."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class TextField:
    name: str
    rect: Rect
    value: str = ""
    multiline: bool = False


@dataclass(frozen=True)
class ChoiceField:
    """A drop-down list (combo box) with ``value`` chosen among ``options``."""

    name: str
    rect: Rect
    options: list[str]
    value: str = ""


@dataclass(frozen=True)
class CheckBox:
    name: str
    rect: Rect
    checked: bool
    export: str = "Yes"


@dataclass(frozen=True)
class RadioGroup:
    """One radio field with a widget per option: (export value, rect); ``chosen`` is one export value or None."""

    name: str
    options: list[tuple[str, Rect]]
    chosen: str | None = None


Item = Text | TextField | ChoiceField | CheckBox | RadioGroup


def pdf_string(text: str) -> bytes:
    """A PDF text string in UTF-16BE with its byte order mark, so any letter or box glyph survives."""
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def pdf_name(text: str) -> bytes:
    """A PDF name, every byte outside plain letters and digits written as #hh."""
    return b"/" + b"".join(bytes([c]) if chr(c).isalnum() and c < 128 else b"#%02X" % c
                           for c in text.encode("utf-8"))


def _content(texts: list[Text]) -> bytes:
    body = []
    for item in texts:
        escaped = item.text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        body.append(b"BT /F1 10 Tf %.2f %.2f Td (%s) Tj ET" % (item.x, item.y, escaped.encode("cp1252")))
    return b"\n".join(body)


@dataclass
class _Writer:
    objects: list[bytes] = field(default_factory=list)

    def reserve(self) -> int:
        self.objects.append(b"")
        return len(self.objects)

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def set(self, number: int, body: bytes) -> None:
        self.objects[number - 1] = body

    def stream(self, data: bytes, extra: bytes = b"") -> int:
        return self.add(b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(data), extra, data))

    def bytes(self, root: int) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(self.objects) + 1, root, xref)
        return bytes(out)


def _rect(rect: Rect) -> bytes:
    return b"[%.2f %.2f %.2f %.2f]" % rect


def make_form_pdf(pages: list[list[Item]], *, acroform: bool = True) -> bytes:
    """A PDF of one page per item list; ``acroform=False`` prints the text only (no fields, no /AcroForm)."""
    w = _Writer()
    catalog, tree = w.reserve(), w.reserve()
    font = w.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    box_on = w.stream(b"0 g 2 2 6 6 re f", b" /Type /XObject /Subtype /Form /BBox [0 0 10 10]")
    box_off = w.stream(b"", b" /Type /XObject /Subtype /Form /BBox [0 0 10 10]")
    fields: list[int] = []
    page_numbers: list[int] = []
    for items in pages:
        page = w.reserve()
        page_numbers.append(page)
        annots: list[int] = []
        texts = [item for item in items if isinstance(item, Text)]
        for item in items if acroform else []:
            if isinstance(item, TextField):
                flags = 4096 if item.multiline else 0
                ref = w.add(b"<< /Type /Annot /Subtype /Widget /FT /Tx /T %s /V %s /Ff %d /F 4 /Rect %s /P %d 0 R"
                            b" /DA (/Helv 10 Tf 0 g) >>" % (pdf_string(item.name), pdf_string(item.value), flags,
                                                            _rect(item.rect), page))
                annots.append(ref)
                fields.append(ref)
            elif isinstance(item, ChoiceField):
                options = b" ".join(pdf_string(option) for option in item.options)
                ref = w.add(b"<< /Type /Annot /Subtype /Widget /FT /Ch /Ff %d /T %s /V %s /Opt [%s] /F 4 /Rect %s"
                            b" /P %d 0 R /DA (/Helv 10 Tf 0 g) >>" % (1 << 17, pdf_string(item.name),
                                                                   pdf_string(item.value), options,
                                                                   _rect(item.rect), page))
                annots.append(ref)
                fields.append(ref)
            elif isinstance(item, CheckBox):
                state = pdf_name(item.export) if item.checked else b"/Off"
                ref = w.add(b"<< /Type /Annot /Subtype /Widget /FT /Btn /T %s /V %s /AS %s /F 4 /Rect %s /P %d 0 R"
                            b" /AP << /N << %s %d 0 R /Off %d 0 R >> >> >>"
                            % (pdf_string(item.name), state, state, _rect(item.rect), page,
                               pdf_name(item.export), box_on, box_off))
                annots.append(ref)
                fields.append(ref)
            elif isinstance(item, RadioGroup):
                parent = w.reserve()
                kids = []
                for export, rect in item.options:
                    state = pdf_name(export) if export == item.chosen else b"/Off"
                    kids.append(w.add(b"<< /Type /Annot /Subtype /Widget /Parent %d 0 R /AS %s /F 4 /Rect %s"
                                      b" /P %d 0 R /AP << /N << %s %d 0 R /Off %d 0 R >> >> >>"
                                      % (parent, state, _rect(rect), page, pdf_name(export), box_on, box_off)))
                value = pdf_name(item.chosen) if item.chosen else b"/Off"
                w.set(parent, b"<< /FT /Btn /Ff %d /T %s /V %s /Kids [%s] >>"
                      % (1 << 15 | 1 << 14, pdf_string(item.name), value,
                         b" ".join(b"%d 0 R" % kid for kid in kids)))
                annots.extend(kids)
                fields.append(parent)
        content = w.stream(_content(texts))
        annot_list = b" /Annots [%s]" % b" ".join(b"%d 0 R" % a for a in annots) if annots else b""
        w.set(page, b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 %d 0 R >> >>"
              b" /Contents %d 0 R%s >>" % (tree, font, content, annot_list))
    w.set(tree, b"<< /Type /Pages /Kids [%s] /Count %d >>"
          % (b" ".join(b"%d 0 R" % p for p in page_numbers), len(page_numbers)))
    form = (b" /AcroForm << /Fields [%s] /DA (/Helv 10 Tf 0 g) >>"
            % b" ".join(b"%d 0 R" % f for f in fields)) if acroform else b""
    w.set(catalog, b"<< /Type /Catalog /Pages %d 0 R%s >>" % (tree, form))
    return w.bytes(catalog)
