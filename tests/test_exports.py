"""The case officer's exports: the XLSX of every response and the DOCX draft, opened by openpyxl,
python-docx and LibreOffice (converted headless, as a person's office suite would open them)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review.campaigns import regroup
from intake.review.draft import summary_docx
from intake.review.spreadsheet import summary_xlsx
from intake.review.summary import case_summary
from intake.runtime import Runtime
from tests.conftest import need
from tests.consultation import form_text, respond

CALC = Path("/usr/lib/libreoffice/program/libsclo.so")
HOSTILE = '=HYPERLINK("http://evil.example","klikk")'
LETTER = (
    "Vi ber om at strategien gir kommunene tid og midler til å innføre felles løsninger, og at staten tar "
    "ansvar for de nasjonale komponentene. Uten forutsigbar finansiering vil tiltakene ikke bli gjennomført, "
    "og pasientene vil ikke merke forskjell i sin hverdag."
)


@pytest.fixture
def exports(rt: Runtime) -> tuple[bytes, bytes]:
    respond(rt, sender="Statens legemiddelverk <post@legemiddelverket.no>", form=form_text("Ja", "Målene er gode."))
    respond(rt, sender="Bergen kommune <postmottak@bergen.kommune.no>", form=form_text("Nei", HOSTILE))
    respond(rt, sender="Helsedirektoratet <post@helsedir.no>", body="Helsedirektoratet har ingen merknader.")
    for name in ("ola", "kari", "per"):
        respond(rt, sender=f"{name.title()} <{name}@gmail.com>", body=f"Hei,\n\n{LETTER}\n\nHilsen {name}")
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        regroup(session, case)
        summary = case_summary(session, case)
        return summary_xlsx(session, summary, review_url="https://intake.example.no"), summary_docx(summary)


def test_the_spreadsheet_has_a_row_per_response(exports: tuple[bytes, bytes]) -> None:
    sheet = load_workbook(io.BytesIO(exports[0])).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:8] == ("Organisasjon", "Kategori", "Invitert", "Mottatt", "For sent", "Avgjørelse",
                           "Ingen merknader", "Kampanje")
    assert rows[0][8:10] == ("q1 valg", "q1 Kan dere stille dere bak de fem strategiske målene")
    assert len(rows) == 7
    first = rows[1]
    assert first[:3] == ("Statens legemiddelverk", "Statlige etater", "Ja")
    assert first[3].strftime("%d.%m.%Y %H:%M") == "28.09.2022 12:00"  # type: ignore[union-attr]
    assert first[8:10] == ("Ja", "Målene er gode.")
    assert first[-1] == "https://intake.example.no/submissions/1"
    # What a sender wrote is text, never a formula the spreadsheet would run.
    bergen = next(r for r in rows if r[0] == "Bergen kommune")
    assert bergen[9] == HOSTILE
    cell = next(c for c in sheet["J"] if c.value == HOSTILE)
    assert cell.data_type == "s"
    assert sum(1 for r in rows[1:] if r[7]) == 3  # the three copies of one letter, with their campaign
    assert next(r for r in rows if r[0] == "Helsedirektoratet")[6] == "Ja"


def test_the_draft_summary_has_the_headings_to_edit(exports: tuple[bytes, bytes]) -> None:
    document = Document(io.BytesIO(exports[1]))
    headings = [(p.style.name, p.text) for p in document.paragraphs if p.style is not None
                and p.style.name.startswith(("Heading", "Title"))]
    assert headings[0] == ("Title", "Oppsummering av høringssvar: Nasjonal e-helsestrategi for helse- og "
                                    "omsorgssektoren")
    names = [text for _, text in headings]
    for expected in ("Hvem som har svart", "Statlige etater", "Kommuner", "Privatpersoner", "Svar per spørsmål",
                     "q1: Kan dere stille dere bak de fem strategiske målene", "Svarene", "Kampanjer",
                     "Svar utenfor skjemaet", "Svar uten merknader"):
        assert expected in names
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Målene er gode." in text and "Statens legemiddelverk" in text
    assert "Kampanje 1: 3 like brev" in text
    # The campaign's letter is quoted once, with its count.
    assert text.count("Uten forutsigbar finansiering") == 1 and "kampanje med 3 like svar" in text


def _convert(source: Path, target: str, out: Path) -> str:
    """Converts with LibreOffice headless; returns what it printed, after checking it succeeded."""
    if shutil.which("soffice") is None:
        need("LibreOffice", "soffice not installed (Debian: libreoffice-writer-nogui)")
    if not CALC.exists():
        need("LibreOffice Calc", "not installed (Debian: libreoffice-calc-nogui)")
    done = subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{out / 'profile'}", "--headless", "--convert-to", target,
         "--outdir", str(out), str(source)],
        capture_output=True, text=True, timeout=120,
    )
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed
    assert "Error" not in printed, printed
    return printed


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_libreoffice_opens_both_files(exports: tuple[bytes, bytes], tmp_path: Path) -> None:
    (tmp_path / "svar.xlsx").write_bytes(exports[0])
    (tmp_path / "oppsummering.docx").write_bytes(exports[1])
    # 44,34,76: comma-separated, quoted, UTF-8.
    _convert(tmp_path / "svar.xlsx", "csv:Text - txt - csv (StarCalc):44,34,76", tmp_path)
    rows = list(csv.reader((tmp_path / "svar.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0][:3] == ["Organisasjon", "Kategori", "Invitert"]
    assert rows[1][:3] == ["Statens legemiddelverk", "Statlige etater", "Ja"]
    bergen = next(r for r in rows if r[0] == "Bergen kommune")
    assert bergen[9] == HOSTILE
    _convert(tmp_path / "oppsummering.docx", "txt:Text (encoded):UTF8", tmp_path)
    text = (tmp_path / "oppsummering.txt").read_text(encoding="utf-8-sig")
    assert "Oppsummering av høringssvar: Nasjonal e-helsestrategi" in text
    assert "Hvem som har svart" in text and "Målene er gode." in text
