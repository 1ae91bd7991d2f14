"""The case officer's spreadsheet: one row per response, every question's choice and text.

Made with openpyxl from ``summary.case_summary``. Text that a sender wrote is always written as
text, never as a formula, with the characters the file format cannot hold taken out.
"""

from __future__ import annotations

import io
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlmodel import Session

from intake.localtime import OSLO
from intake.review.documents import attachments_by_submission, documents
from intake.review.summary import CaseSummary
from intake.review.wording import decisions

# A cell holds at most 32,767 characters; a longer answer is cut with a note.
CELL_LIMIT = 32_000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def clean(value: str | None) -> str:
    text: str = ILLEGAL_CHARACTERS_RE.sub("", value or "")
    return text if len(text) <= CELL_LIMIT else text[:CELL_LIMIT] + " […]"


def _local(moment: datetime) -> datetime:
    # Spreadsheets have no time zones: the Oslo wall-clock time, as staff read it.
    return moment.astimezone(OSLO).replace(tzinfo=None)


def _cell(sheet: WriteOnlyWorksheet, value: object) -> WriteOnlyCell:
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=clean(value))
        # Whatever a sender wrote stays text: "=HYPERLINK(…)" in an answer is shown, never run.
        cell.data_type = "s"
        return cell
    return WriteOnlyCell(sheet, value=value)


def summary_xlsx(session: Session, summary: CaseSummary, *, review_url: str) -> bytes:
    """The workbook, written row by row (openpyxl's write-only mode: thousands of rows in seconds)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Høringssvar")
    questions = summary.questions
    header = ["Organisasjon", "Kategori", "Invitert", "Mottatt", "For sent", "Avgjørelse", "Ingen merknader",
              "Kampanje"]
    for question in questions:
        header += [f"{question.id} valg", f"{question.id} {question.text}"[:200]]
    header += ["Tekst", "Vedlegg", "Lenke"]
    widths = [32, 18, 9, 17, 9, 24, 10, 10, *([12, 60] * len(questions)), 60, 40, 40]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "B2"
    heading = []
    for label in header:
        cell = _cell(sheet, label)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        heading.append(cell)
    sheet.append(heading)
    files = attachments_by_submission(session, [r.response.id for r in summary.rows])
    for row in summary.rows:
        sub = row.response.submission
        values: list[object] = [
            row.organisation, row.respondent.category, "Ja" if row.respondent.invited else "Nei",
            _local(sub.received_at), "Ja" if sub.late else "Nei", decisions(sub),
            "Ja" if row.no_comment else "", row.campaign or "",
        ]
        form = sub.form or {}
        for question in questions:
            answer = form.get(question.id)
            answer = answer if isinstance(answer, dict) else {}
            values += [answer.get("choice") or "", answer.get("text") or ""]
        values.append(row.text)
        values.append(" | ".join(a.filename for a in documents(files.get(row.response.id, []))))
        cells = [_cell(sheet, value) for value in values]
        cells[3].number_format = "DD.MM.YYYY HH:MM"
        link = f"{review_url}/submissions/{row.response.id}"
        link_cell = _cell(sheet, link)
        link_cell.hyperlink = link
        link_cell.style = "Hyperlink"
        sheet.append([*cells, link_cell])
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(summary.rows) + 1}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
