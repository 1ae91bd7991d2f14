"""The draft summary the case officer edits into the høringsnotat, as a Word document (python-docx).

Respondents by category, the counts per question, and every answer quoted under its question
with its organisation (a campaign once, with its count), then the campaigns and the responses
without comments.
"""

from __future__ import annotations

import io
import re

from docx import Document
from docx.document import Document as WordDocument
from docx.shared import Pt

from intake.localtime import oslo_date
from intake.review.summary import Answer, CaseSummary, QuestionSummary

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Characters XML 1.0 cannot hold (controls other than tab and line breaks); a sender may send them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def _counts_table(document: WordDocument, question: QuestionSummary) -> None:
    table = document.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    for cell, label in zip(table.rows[0].cells, ["Svar", "Antall", "Andel", "Inviterte", "Andre"], strict=True):
        cell.text = label
        cell.paragraphs[0].runs[0].bold = True
    for count in question.choices:
        cells = table.add_row().cells
        values = [count.choice, str(count.total), _percent(count.total, question.answered), str(count.invited),
                  str(count.others)]
        for cell, value in zip(cells, values, strict=True):
            cell.text = _text(value)


def _quoted(document: WordDocument, answers: list[Answer]) -> None:
    """Each answer under its organisation, quoted; a campaign once, with its count."""
    for answer in answers:
        heading = document.add_paragraph()
        heading.add_run(_text(answer.organisation)).bold = True
        note = f" ({answer.category}" + (f", {answer.choice}" if answer.choice else "") + ")"
        if answer.copies:
            note += f" – kampanje med {answer.copies} like svar"
        heading.add_run(_text(note))
        if answer.text:
            document.add_paragraph(_text(answer.text), style="Quote")


def summary_docx(summary: CaseSummary) -> bytes:
    case = summary.case
    document = Document()
    document.styles["Normal"].font.size = Pt(11)  # type: ignore[union-attr]
    document.add_heading(_text(f"Oppsummering av høringssvar: {case.title}"), level=0)
    document.add_paragraph(_text(
        f"Sak {case.number}, høringsfrist {oslo_date(case.deadline)}. {summary.responses} høringssvar, "
        f"{summary.invited} av dem fra inviterte høringsinstanser. {summary.no_comments} svar har ingen merknader."
        + (f" {len(summary.campaigns)} kampanjer (like brev) er regnet med, hver med sitt antall."
           if summary.campaigns else "")
    ))
    document.add_paragraph("Dette er et utkast. Rediger det til høringsnotatet.", style="Intense Quote")

    document.add_heading("Hvem som har svart", level=1)
    table = document.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for cell, label in zip(table.rows[0].cells, ["Kategori", "Svar", "Av dem inviterte"], strict=True):
        cell.text = label
    for category, responses, invited in summary.categories:
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = _text(category), str(responses), str(invited)
    for category, _, _ in summary.categories:
        document.add_heading(_text(category), level=2)
        names = sorted({r.organisation for r in summary.rows if r.respondent.category == category}, key=str.casefold)
        for name in names:
            document.add_paragraph(_text(name), style="List Bullet")

    if summary.questions:
        document.add_heading("Svar per spørsmål", level=1)
    for question in summary.questions:
        document.add_heading(_text(f"{question.id}: {question.text}"), level=2)
        document.add_paragraph(f"{question.answered} av {summary.responses} har svart på spørsmålet.")
        if question.choices:
            _counts_table(document, question)
        document.add_heading("Svarene", level=3)
        _quoted(document, question.answers)

    if summary.letters.answers:
        document.add_heading("Svar utenfor skjemaet" if summary.questions else "Svarene", level=1)
        document.add_paragraph(f"{summary.letters.answered} svar er brev eller e-post. Teksten er uten hilsen og "
                               "signatur, og et langt svar er forkortet.")
        _quoted(document, summary.letters.answers)

    if summary.campaigns:
        document.add_heading("Kampanjer", level=1)
        for campaign in summary.campaigns:
            document.add_paragraph(_text(f"Kampanje {campaign.id}: {campaign.count} like brev, "
                                         f"malen er svaret fra {campaign.organisation}."), style="List Bullet")
    no_comment = [r.organisation for r in summary.rows if r.no_comment]
    if no_comment:
        document.add_heading("Svar uten merknader", level=1)
        for name in sorted(no_comment, key=str.casefold):
            document.add_paragraph(_text(name), style="List Bullet")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
