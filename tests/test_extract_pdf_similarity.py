"""PDFium's text of every corpus PDF and form fixture is pdfplumber's text, file by file (difflib ratio ≥ 0.98).

intake reads PDFs with PDFium; pdfplumber was its reader before and stays the reference.
A file below 0.98 must be listed in EXCEPTIONS with the reason and the ratio it keeps.
The table of the worst rows is printed with ``-s``.
"""

from __future__ import annotations

import difflib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from intake.extract import FileInput, Limits, extract_one
from tests.conftest import SHARED, need
from tests.pdfplumber_text import pdfplumber_text

DOCUMENTS = SHARED / "corpus" / "documents"
FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"
TARGET = 0.98
LONG_STRETCH = 2000 * 2000

# name: (the ratio it must keep, why it is below the target)
EXCEPTIONS: dict[str, tuple[float, str]] = {
    "invalid_pdf.pdf": (0.0, "pdfplumber cannot open it (no /Root); PDFium repairs the file and reads its text"),
    "issue-848.pdf": (0.30, "its font misplaces the glyphs (pdfplumber's issue 848): pdfplumber puts a space "
                      "between every letter of pages 2-3, PDFium gives each line's two halves swapped"),
    "rtl-test.pdf": (0.15, "Arabic, right to left: the two readers give the letters in different orders"),
    "senate-expenditures.pdf": (0.89, "pdfplumber drops the word spaces ('DOCUMENTNO.', 'BAIN,JMATTHEW'); "
                                "PDFium keeps them"),
    "issue-1054-example.pdf": (0.94, "pdfplumber drops the word spaces ('Seite1092 GMBl2008'); PDFium keeps them"),
    "la-precinct-bulletin-2014-p1.pdf": (0.95, "a table whose cells overlap on the line: the two readers order "
                                         "'REP 247' differently and join a name and its party at other places"),
    "extra-attrs-example.pdf": (0.95, "13 characters: PDFium separates the words 'Black Red' 4.5 pt apart, "
                                "pdfplumber joins them"),
    "pdffill-demo.pdf": (0.96, "words drawn at an angle: pdfplumber gives them a letter a line, PDFium as words"),
    "first.pdf": (0.97, "24 letter-spaced characters: one space more before the full stop"),
    "second.pdf": (0.97, "25 letter-spaced characters: one space more before the full stop"),
}
# Shown sideways (/Rotate 90 over upright text): pdfplumber applies the rotation and gives a word a
# line, PDFium reads the upright text; it is compared with pdfplumber's text of the upright original.
REFERENCE = {"nics-background-checks-2015-11-rotated.pdf": "nics-background-checks-2015-11.pdf"}


def pdfs() -> list[Path]:
    return sorted(DOCUMENTS.rglob("*.pdf")) + sorted(FORMS.glob("*.pdf"))


def compare(path: Path) -> tuple[str, float, str, int, int]:
    """(name, ratio, outcome, PDFium's characters, pdfplumber's characters) for one file."""
    ours = extract_one(FileInput(path.name, "application/pdf", path.read_bytes()), Limits())
    reference = path.with_name(REFERENCE[path.name]) if path.name in REFERENCE else path
    try:
        theirs: str | None = pdfplumber_text(reference.read_bytes())
    except Exception:  # pdfplumber fails in many ways on a broken file; that it failed is the answer
        theirs = None
    if ours.status != "ok" or theirs is None:
        same = (ours.status != "ok") == (theirs is None)
        return path.name, 1.0 if same else 0.0, f"PDFium {ours.status}, pdfplumber " + (
            "failed" if theirs is None else "ok"), len(ours.text or ""), len(theirs or "")
    return path.name, similarity(ours.text or "", theirs), "ok", len(ours.text or ""), len(theirs)


def similarity(a: str, b: str) -> float:
    """difflib's ratio, 2 × matched characters / all characters, with the lines matched first.

    Matching characters costs the product of the lengths: where two differing stretches are
    both long, their characters are matched word by word (a word's characters all or none).
    """
    if a == b:
        return 1.0
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    matched = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, la, lb, autojunk=False).get_opcodes():
        if tag == "equal":
            matched += sum(len(line) for line in la[i1:i2])
        elif tag == "replace":
            matched += _matched("".join(la[i1:i2]), "".join(lb[j1:j2]))
    return 2 * matched / (len(a) + len(b))


def _matched(a: str, b: str) -> int:
    if len(a) * len(b) <= LONG_STRETCH:
        blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
        return sum(block.size for block in blocks)
    wa, wb = a.split(), b.split()
    blocks = difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_matching_blocks()
    return sum(len(word) + 1 for block in blocks for word in wa[block.a : block.a + block.size])


@pytest.fixture(scope="module")
def table() -> list[tuple[str, float, str, int, int]]:
    if not DOCUMENTS.is_dir():
        need("shared corpus", f"{DOCUMENTS} is missing")
    # PDFium is not thread-safe: processes, as the service's workers.
    with ProcessPoolExecutor(2) as pool:
        rows = list(pool.map(compare, pdfs()))
    print("\n| file | ratio | outcome | PDFium chars | pdfplumber chars |")
    for name, ratio, outcome, ours, theirs in sorted(rows, key=lambda r: r[1])[:10]:
        print(f"| {name} | {ratio:.4f} | {outcome} | {ours} | {theirs} |")
    return rows


def test_every_pdf_reads_like_pdfplumber_or_has_its_reason(table: list[tuple[str, float, str, int, int]]) -> None:
    assert len(table) >= 40
    below = {name: ratio for name, ratio, _o, _a, _b in table if ratio < TARGET and
             not (name in EXCEPTIONS and ratio >= EXCEPTIONS[name][0])}
    assert below == {}


def test_the_form_fixtures_read_exactly_as_pdfplumber_reads_them(table: list[tuple[str, float, str, int, int]]) -> None:
    forms = {p.name for p in FORMS.glob("*.pdf")}
    ratios = {name: ratio for name, ratio, _o, _a, _b in table if name in forms}
    assert len(ratios) == 4
    assert ratios == {name: 1.0 for name in forms}  # the same text, character for character


def test_a_large_pdf_handed_over_by_path_is_read_from_its_file_not_into_memory(tmp_path: Path) -> None:
    import tracemalloc

    form = (FORMS / "skjema-nei.pdf").read_bytes()
    big = tmp_path / "stor.pdf"
    # 20 MiB after %%EOF, as a scanned annex appended by a careless tool: ignored by PDF readers.
    big.write_bytes(form + b"\n%" + bytes(range(256)) * (80 * 1024))
    tracemalloc.start()
    try:
        result = extract_one(FileInput("stor.pdf", "application/pdf", b"", path=str(big)), Limits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "ok", result.error
    assert result.text == extract_one(FileInput("skjema-nei.pdf", "application/pdf", form), Limits()).text
    assert peak < 4 * 2**20
