"""Word documents built in the tests, with what a response form holds: headings, lists, tables, checkboxes."""

from __future__ import annotations

import io

import docx
from docx.oxml import parse_xml

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
W14_NS = "http://schemas.microsoft.com/office/word/2010/wordml"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _box(checked: bool, label: str) -> str:
    """A paragraph with a ``w14:checkbox`` content control, as Word writes a form's box."""
    glyph = "☒" if checked else "☐"
    return (f'<w:p xmlns:w="{W_NS}" xmlns:w14="{W14_NS}"><w:sdt><w:sdtPr><w14:checkbox>'
            f'<w14:checked w14:val="{int(checked)}"/></w14:checkbox></w:sdtPr>'
            f'<w:sdtContent><w:r><w:t>{glyph}</w:t></w:r></w:sdtContent></w:sdt>'
            f'<w:r><w:t xml:space="preserve"> {label}</w:t></w:r></w:p>')


def form_docx() -> bytes:
    """A response form as a clerk gets it: two heading levels, a list, a table and filled-in boxes."""
    document = docx.Document()
    document.add_heading("Høringssvar fra Legeforeningen", level=1)
    document.add_paragraph("Vi viser til høringsbrevet.")
    document.add_heading("Mål 1: Samhandling", level=2)
    for point in ("Bedre deling av journal", "Felles <script>alert(1)</script> løsninger"):
        document.add_paragraph(point, style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Tiltak", "Kostnad"
    table.rows[1].cells[0].text, table.rows[1].cells[1].text = "Opplæring", "2 mill."
    body = document.element.body
    for xml in (_box(True, "Ja, vi støtter forslaget"), _box(False, "Nei")):
        body.insert(len(body) - 1, parse_xml(xml))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def nested_tables_docx(depth: int) -> bytes:
    """Tables inside tables, ``depth`` deep: cheap to send, a stack of markup to show."""
    document = docx.Document()
    cell = document.add_table(rows=1, cols=1).rows[0].cells[0]
    for level in range(depth):
        cell.paragraphs[0].text = f"Nivå {level}"
        cell = cell.add_table(rows=1, cols=1).rows[0].cells[0]
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def huge_docx(paragraphs: int) -> bytes:
    document = docx.Document()
    body = document.element.body
    chunk = "".join(f"<w:p><w:r><w:t>Avsnitt {n}</w:t></w:r></w:p>" for n in range(paragraphs))
    section = body[-1]
    for child in list(parse_xml(f'<w:body xmlns:w="{W_NS}">{chunk}</w:body>')):
        section.addprevious(child)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def long_docx(pages: int) -> bytes:
    """About ``pages`` pages of a long response: per page a heading, two subheadings, text, a list, a table, boxes."""
    document = docx.Document()
    sentence = "Helsetjenesten trenger bedre samhandling mellom kommunene og sykehusene om pasientene. "
    body = document.element.body
    for page in range(1, pages + 1):
        document.add_heading(f"Kapittel {page}: Innspill til strategien", level=1)
        for part in (1, 2):
            document.add_heading(f"Mål {page}.{part}", level=2)
            for _ in range(2):
                document.add_paragraph(sentence * 4)
        for point in range(4):
            document.add_paragraph(f"Tiltak {page}.{point}: felles løsninger", style="List Bullet")
        table = document.add_table(rows=4, cols=3)
        for r, row in enumerate(table.rows):
            for c, cell in enumerate(row.cells):
                cell.text = f"Rad {r} kolonne {c}"
        for xml in (_box(True, "Vi støtter forslaget"), _box(False, "Vi støtter ikke forslaget")):
            body.insert(len(body) - 1, parse_xml(xml))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
