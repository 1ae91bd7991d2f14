"""A PDF form filled in with a PDF reader: its fields' values are part of the text, where the widgets are."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from intake.extract import FileInput, Limits, PoolExtractor, extract_one, read_form
from intake.extract.pdf import MAX_RUNS
from intake.extract.pdf_fields import MAX_ANNOTATIONS_PER_PAGE, MAX_VALUE_CHARS, MAX_VALUES_CHARS
from tests.acroform_builder import CheckBox, ChoiceField, Item, RadioGroup, Text, TextField, make_form_pdf
from tests.fixtures.acroform.make_acroform import EXPECTED as ACROFORM_EXPECTED
from tests.fixtures.acroform.make_acroform import NAME as ACROFORM_NAME
from tests.fixtures.forms.make_forms import CHOICE_LABELS, EXPECTED, NEI_Q1, NEI_Q2, NEI_Q4, PRINTED, QUESTIONS

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FORMS = FIXTURES / "forms"


def text_of(data: bytes) -> str:
    extraction = extract_one(FileInput("svar.pdf", "application/octet-stream", data), Limits())
    assert extraction.status == "ok", extraction.error
    return extraction.text or ""


def small_form() -> list[Item]:
    return [
        Text(50, 800, "Navn:"),
        TextField("navn", (90, 796, 300, 812), "Kari Nordmann"),
        Text(320, 800, "Sektor:"),
        ChoiceField("sektor", (360, 796, 500, 812), ["Stat", "Kommune", "Privat"], "Kommune"),
        Text(50, 770, "Kan dere stille dere bak de fem strategiske målene?"),
        RadioGroup("q1", [("Ja", (50, 748, 60, 758)), ("Nei", (150, 748, 160, 758)),
                          ("Vet ikke", (250, 748, 260, 758))], chosen="Nei"),
        Text(64, 749, "Ja"), Text(164, 749, "Nei"), Text(264, 749, "Vet ikke"),
        # Boxes with no printed label beside them: their export values say what they are.
        CheckBox("enig", (50, 700, 60, 710), checked=True, export="Enig"),
        CheckBox("uenig", (50, 680, 60, 690), checked=False, export="Uenig"),
        # A box with its printed label: the label says it, the export value ("Yes") is not shown.
        CheckBox("samtykke", (50, 650, 60, 660), checked=True),
        Text(64, 651, "Vi samtykker i publisering"),
    ]


def test_text_field_boxes_and_radio_buttons_are_read_where_they_are() -> None:
    assert text_of(make_form_pdf([small_form()])).split("\n\n") == [
        "Navn: Kari Nordmann Sektor: Kommune",
        "Kan dere stille dere bak de fem strategiske målene?",
        "☐ Ja ☒ Nei ☐ Vet ikke",
        "☒ Enig",
        "☐ Uenig",
        "☒ Vi samtykker i publisering",
    ]


def test_the_printed_text_is_the_same_with_the_fields_or_without() -> None:
    with_fields = text_of(make_form_pdf([small_form()]))
    printed = text_of(make_form_pdf([small_form()], acroform=False))
    assert printed.split("\n\n") == ["Navn: Sektor:", "Kan dere stille dere bak de fem strategiske målene?",
                                     "Ja Nei Vet ikke", "Vi samtykker i publisering"]
    for word in (" Kari Nordmann", " Kommune", "☐ ", "☒ "):
        with_fields = with_fields.replace(word, "")
    assert [p for p in with_fields.split("\n\n") if p not in ("Enig", "Uenig")] == printed.split("\n\n")


def response_form(q1: str, q2: str, q3: str, q4: str, choice: str | None) -> list[list[Item]]:
    """The 22/414 response form as a PDF form: the questions printed, the answers in fields."""
    first: list[Item] = [Text(50, 800, "Høringssvar – Merk skjemaet med «Saksnummer 22/414»")]
    y = 770.0
    for line in textwrap.wrap(PRINTED["q1"], 95):
        first.append(Text(50, y, line))
        y -= 12
    y -= 14
    radios = []
    for number, (choice_id, label) in enumerate(CHOICE_LABELS):
        x = 50 + 160 * number
        radios.append((choice_id, (x, y - 1, x + 10, y + 9)))
        first.append(Text(x + 14, y, label))
    first.append(RadioGroup("q1", radios, chosen=choice))
    first.append(TextField("svar1", (50, y - 260, 545, y - 12), q1, multiline=True))
    second: list[Item] = []
    y = 800.0
    for key, answer in (("q2", q2), ("q3", q3), ("q4", q4)):
        second.append(Text(50, y, PRINTED[key]))
        second.append(TextField(f"svar-{key}", (50, y - 190, 545, y - 10), answer, multiline=True))
        y -= 230
    return [first, second]


def test_a_response_form_answered_in_fields_reads_as_the_printed_one() -> None:
    # A PDF reader ends a multi-line field's lines with CR; a blank line between paragraphs.
    fields = make_form_pdf(response_form("\r\r".join(NEI_Q1), "\r\r".join(NEI_Q2), "", NEI_Q4, "Nei"))
    printed = extract_one(FileInput("skjema-nei.pdf", "application/pdf", (FORMS / "skjema-nei.pdf").read_bytes()),
                          Limits())
    assert read_form(text_of(fields), QUESTIONS) == EXPECTED["skjema-nei"]
    assert read_form(printed.text or "", QUESTIONS) == EXPECTED["skjema-nei"]


def test_the_form_libreoffice_wrote_reads_as_the_printed_one() -> None:
    # Written by LibreOffice (tests/fixtures/acroform/make_acroform.py): its checked consent box
    # has the state /Yes, while its "on" appearance is named after the export value.
    text = text_of((FIXTURES / "acroform" / f"{ACROFORM_NAME}.pdf").read_bytes())
    assert text.startswith("☒ Vi samtykker i at høringssvaret publiseres\n\n")
    assert "\n\n☒ Ja, utdyp gjerne ☐ Nei, utdyp gjerne ☐ Vet ikke, utdyp gjerne\n\n" in text
    assert read_form(text, QUESTIONS) == ACROFORM_EXPECTED == EXPECTED["skjema-ja"]
    printed = extract_one(FileInput("skjema-ja.pdf", "application/pdf", (FORMS / "skjema-ja.pdf").read_bytes()),
                          Limits())
    assert read_form(printed.text or "", QUESTIONS) == ACROFORM_EXPECTED


def test_an_unanswered_form_gives_no_choice_and_no_text() -> None:
    text = text_of(make_form_pdf(response_form("", "", "", "", None)))
    assert "☐ Ja, utdyp gjerne ☐ Nei, utdyp gjerne ☐ Vet ikke, utdyp gjerne" in text
    assert read_form(text, QUESTIONS) == {"q1": {}, "q2": {}, "q3": {}, "q4": {}}


def test_a_long_value_is_cut() -> None:
    long = "langt svar " * (MAX_VALUE_CHARS // 5)
    text = text_of(make_form_pdf([[Text(50, 800, "Svar:"), TextField("svar", (50, 300, 545, 780), long, True)]]))
    label, _, value = text.partition("\n\n")
    assert label == "Svar:" and value.startswith("langt svar langt svar")
    assert MAX_VALUE_CHARS - 2 <= len(value) <= MAX_VALUE_CHARS


def test_values_together_are_bounded_per_document() -> None:
    # Ten fields of 300 000 characters: 3 million characters, the document's budget a third of that.
    value = "x" * 300_000
    items: list[Item] = [TextField(f"f{n}", (50, 800 - 40 * n, 545, 830 - 40 * n), value, True) for n in range(10)]
    text = text_of(make_form_pdf([items]))
    shown = len(text.replace("\n", ""))
    assert shown == (MAX_VALUES_CHARS // 300_001) * MAX_VALUE_CHARS, shown


def test_a_page_with_too_many_annotations_shows_its_text_but_no_fields() -> None:
    crowd: list[Item] = [CheckBox(f"b{n}", (10 + n % 50 * 11, 20 + n // 50 * 11, 20 + n % 50 * 11,
                                            30 + n // 50 * 11), checked=True)
                         for n in range(MAX_ANNOTATIONS_PER_PAGE + 1)]
    started = time.monotonic()
    text = text_of(make_form_pdf([[Text(50, 820, "Skjema."), *crowd], small_form()]))
    assert time.monotonic() - started < 2.0
    first, _, rest = text.partition("\n\n")
    assert first == "Skjema."
    assert rest.startswith("Navn: Kari Nordmann Sektor: Kommune")  # the next page's fields are read


def test_a_page_read_in_pdfiums_order_still_shows_its_fields() -> None:
    # More runs than the reader orders (a letter each): the page is read as PDFium gives it.
    scatter: list[Item] = [Text(20 + n % 50 * 11, 30 + n // 50 * 10, "x") for n in range(MAX_RUNS + 50)]
    text = text_of(make_form_pdf([[*scatter, TextField("svar", (50, 5, 300, 25), "Svar i feltet"),
                                   CheckBox("ok", (320, 5, 330, 15), checked=True, export="Godkjent")]]))
    assert text.count("x") == MAX_RUNS + 50
    assert text.endswith("Svar i feltet\n☒ Godkjent")


def test_a_free_answer_at_the_foot_of_a_page_ends_its_paragraph() -> None:
    first: list[Item] = [Text(50, 800, "Andre innspill og tilbakemeldinger?"),
                         TextField("svar", (50, 40, 545, 780), "Vi viser til brevet vårt", True)]
    text = text_of(make_form_pdf([first, [Text(50, 800, "Med vennlig hilsen")]]))
    assert text.split("\n\n") == ["Andre innspill og tilbakemeldinger?", "Vi viser til brevet vårt",
                                  "Med vennlig hilsen"]


def test_a_form_is_read_in_a_worker_process() -> None:
    data = (FIXTURES / "acroform" / f"{ACROFORM_NAME}.pdf").read_bytes()
    with PoolExtractor(1, Limits(timeout_seconds=30)) as pool:
        (result,) = pool.extract_many([FileInput("svar.pdf", "application/pdf", data)])
    assert result.status == "ok", result.error
    assert read_form(result.text or "", QUESTIONS) == ACROFORM_EXPECTED
