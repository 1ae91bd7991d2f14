"""The committed 22/414 forms read exactly, in DOCX and in PDF; the parts of a DOCX plain text misses."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from intake import workflows
from intake.db.engine import session_scope
from intake.extract import FileInput, Limits, extract_one, read_form
from intake.pipeline.run import ingest
from intake.review import queries
from intake.review.serialize import submission_json
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email
from tests.conftest import SHARED, need
from tests.fixtures.forms.make_forms import EXPECTED, PLACEHOLDER, QUESTIONS

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"


def read(path: Path) -> FileInput:
    # Mail clients often send documents as octet-stream; the bytes must decide.
    return FileInput(path.name, "application/octet-stream", path.read_bytes())


@pytest.mark.parametrize("suffix", ["docx", "pdf"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_form_answers_of_each_fixture_exactly(name: str, suffix: str) -> None:
    extraction = extract_one(read(FORMS / f"{name}.{suffix}"), Limits())
    assert extraction.status == "ok", extraction.error
    assert extraction.text is not None
    assert read_form(extraction.text, QUESTIONS) == EXPECTED[name]


@pytest.mark.parametrize("suffix", ["docx", "pdf"])
def test_fixture_text_keeps_the_case_number_and_the_boxes(suffix: str) -> None:
    extraction = extract_one(read(FORMS / f"skjema-nei.{suffix}"), Limits())
    text = extraction.text or ""
    assert "Merk skjemaet med «Saksnummer 22/414»" in text
    assert "☐ Ja, utdyp gjerne" in text and "☒ Nei, utdyp gjerne" in text
    assert PLACEHOLDER in text  # the unanswered question is still shown as the respondent left it
    if suffix == "pdf":
        assert extraction.pages == 2


def test_the_real_response_in_the_seeds_reads() -> None:
    # Text another PDF reader made of a real response: a blank line after every line, page breaks.
    seeds = sorted((SHARED / "seeds").glob("003_*.txt"))
    if not seeds:
        need("shared seeds", "003_*.txt is missing")
    answers = read_form(seeds[0].read_text(encoding="utf-8"), QUESTIONS)
    assert answers is not None
    assert answers["q1"]["choice"] == "Ja"
    assert answers["q1"]["text"].startswith("Legemiddelverket stiller seg bak de fem strategiske målene")
    assert answers["q2"]["text"].startswith("Mål 1: Aktiv medvirkning i egen og næres helse")
    assert answers["q2"]["text"].endswith("kommunikasjonsstandarder på tvers av helsesektoren.")
    assert answers["q3"] == {} and answers["q4"] == {}


def test_no_question_found_is_none() -> None:
    assert read_form("Vedlagt følger vårt høringssvar.", QUESTIONS) is None
    assert read_form("", QUESTIONS) is None


def test_placeholder_is_no_answer_and_unchecked_boxes_no_choice() -> None:
    text = (
        "1) Kan dere stille dere bak de fem strategiske målene?\n\n"
        "☐ Ja, utdyp gjerne ☐ Nei, utdyp gjerne ☐ Vet ikke, utdyp gjerne\n\n"
        "Klikk eller trykk\nher for å skrive inn tekst.\n\n"
        "4) Andre innspill og tilbakemeldinger?\n\nNei takk."
    )
    assert read_form(text, QUESTIONS) == {"q1": {}, "q4": {"text": "Nei takk."}}


def test_a_bare_label_shorter_than_another_choice_is_read() -> None:
    # "Nei" is shorter than "Vet ikke": comparing it with that choice once failed with an IndexError.
    text = "1) Kan dere stille dere bak de fem strategiske målene?\n☐ Ja ☒ Nei ☐ Vet ikke\nFor vage.\n"
    assert read_form(text, QUESTIONS) == {"q1": {"choice": "Nei", "text": "For vage."}}


@pytest.mark.parametrize("line", ["☒ Ja", "☒ Ja ☐ Nei ☐ Vet ikke", "☐ Ja ☐ Nei ☒ Vet ikke"])
def test_a_common_answer_line_is_read_without_failing(line: str) -> None:
    # «☒ Ja» against Ja/Nei/Vet ikke once raised IndexError; the response was parked, with no receipt.
    text = f"1) Kan dere stille dere bak de fem strategiske målene?\n{line}\n"
    assert read_form(text, QUESTIONS) == {"q1": {"choice": "Vet ikke" if line.endswith("☒ Vet ikke") else "Ja"}}


def test_answer_keeps_paragraphs_and_joins_wrapped_lines() -> None:
    text = (
        "2) Har dere tilbakemelding på de fem\nstrategiske målene med målindikatorer?\n"
        "Første linje\nfortsetter her.\n\n\n   Andre   avsnitt.\n"
    )
    assert read_form(text, QUESTIONS) == {"q2": {"text": "Første linje fortsetter her.\n\nAndre avsnitt."}}


def test_question_quoted_in_an_earlier_answer_does_not_split_it() -> None:
    text = (
        "Kan dere stille dere bak de fem strategiske målene?\n☒ Vet ikke, utdyp gjerne\n"
        "Vi har ingen andre innspill og tilbakemeldinger her.\n\n"
        "Har dere tilbakemelding på de fem strategiske målene med målindikatorer?\nJa.\n\n"
        "Andre innspill og tilbakemeldinger?\nNei."
    )
    answers = read_form(text, QUESTIONS)
    assert answers == {
        "q1": {"choice": "Vet ikke", "text": "Vi har ingen andre innspill og tilbakemeldinger her."},
        "q2": {"text": "Ja."},
        "q4": {"text": "Nei."},
    }


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
# Word's constructs that plain paragraph text misses, each as Word writes it.
DOCX_XML = (Path(__file__).resolve().parent / "fixtures" / "docx-constructs.xml").read_text(encoding="utf-8")


def _part(root: str, text: str) -> str:
    return f'<?xml version="1.0"?><w:{root} xmlns:w="{W_NS}"><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:{root}>'


def build_docx(document_xml: str = DOCX_XML) -> bytes:
    """A minimal Word package written by hand, so every construct under test is exactly what Word writes."""
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{main}.document.main+xml"/>'
            f'<Override PartName="/word/header1.xml" ContentType="{main}.header+xml"/>'
            f'<Override PartName="/word/footer1.xml" ContentType="{main}.footer+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        z.writestr(
            "word/_rels/document.xml.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rIdH" Type="{rel}/header" Target="header1.xml"/>'
            f'<Relationship Id="rIdF" Type="{rel}/footer" Target="footer1.xml"/></Relationships>',
        )
        z.writestr("word/document.xml", document_xml)
        z.writestr("word/header1.xml", _part("hdr", "Vår ref. 22/414"))
        z.writestr("word/footer1.xml", _part("ftr", "Side 1"))
    return buffer.getvalue()


def test_docx_reads_controls_tables_boxes_headers_and_footers() -> None:
    extraction = extract_one(FileInput("svar.docx", "application/octet-stream", build_docx()), Limits())
    assert extraction.status == "ok", extraction.error
    assert (extraction.text or "").split("\n\n") == [
        "Vår ref. 22/414",
        "Før satt inn",
        "Indre blokk",
        "Inline ☒ valgt",
        "Celle A",
        "Celle B",
        "☒ Gammel boks",
        "☐ Tom boks",
        "Anker",
        "Tekstboks 22/414",
        "Side 1",
    ]


def big_docx(paragraphs: int, text: str = "lorem ipsum dolor sit amet " * 8) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for _ in range(paragraphs))
    return build_docx(f'<?xml version="1.0"?><w:document xmlns:w="{W_NS}"><w:body>{body}</w:body></w:document>')


def test_reading_a_form_costs_no_per_character_structures() -> None:
    text = "1) Kan dere stille dere bak de fem strategiske målene?\n☒ Ja\n" + "lorem ipsum " * 170_000
    tracemalloc.start()
    try:
        answers = read_form(text, QUESTIONS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert answers is not None and answers["q1"]["choice"] == "Ja"
    # Before: 104 MB for these 2 million characters (a lower-cased copy and an offset per
    # character, then a list of every word); now a few copies of the text (2 bytes a character).
    assert peak < 20 * len(text), peak


def test_text_of_one_attachment_is_cut_at_the_cap_with_the_reason() -> None:
    data = big_docx(2_000)  # 432,000 characters in a 3 KB file
    assert len(data) < 10_000
    result = extract_one(FileInput("svar.docx", "application/octet-stream", data), Limits(max_text_chars=50_000))
    assert result.status == "failed" and result.error == "text over 50 000 characters: the rest is not read"
    assert result.text is not None and len(result.text) == 50_000 and "lorem ipsum" in result.text[:100]


def test_texts_of_one_message_are_cut_at_the_message_cap(settings_factory) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime.open(settings_factory(extract={"workers": 0, "max_message_text_chars": 10_000}), extract=True)
    try:
        with session_scope(rt.engine) as session:
            workflows.sync(session, rt.settings.workflows.path)
        files = [(f"del{n}.txt", "text/plain", ("tekst " * 1_500).encode()) for n in range(3)]
        ingest(rt, make_email(attachments=files), Source(kind="file"), datetime(2022, 9, 28, tzinfo=UTC))
        with Session(rt.engine) as session:
            (shown,) = [submission_json(session, s) for s in queries.list_submissions(session)]
    finally:
        rt.close()
    chars = [a["text_chars"] for a in shown["attachments"]]
    assert sum(chars) == 10_000 and chars[0] > 8_000 and chars[2] == 0, chars
    assert "extraction_failed" in shown["flags"]
