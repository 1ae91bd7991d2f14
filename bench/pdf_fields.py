"""What reading a PDF's form fields costs: CPU time per file with the fields and without them (the floor).

Sets: the committed response forms (tests/fixtures/forms, printed text, no AcroForm: the
fields cost one lookup) and the response answered in form fields (tests/fixtures/acroform).
The floor is the same file read the same way with the fields left out, in the same run, in
turns, so that other load on the machine hits both alike. Targets: at most 3 % more for a PDF
without AcroForm; for the filled-in form, at most 2 ms more per file (PDFium's view of a
page's form, which the boxes' states need, is most of it: some 40 µs a page and 8 µs a widget).

Run ``python bench/pdf_fields.py`` (``--quick`` for fewer repetitions).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.extract import Extraction, Limits  # noqa: E402
from intake.extract.pdf import add_page, extract_pdf, page_lines  # noqa: E402

SETS = {
    "forms without AcroForm": sorted((ROOT / "tests" / "fixtures" / "forms").glob("*.pdf")),
    "response answered in fields": sorted((ROOT / "tests" / "fixtures" / "acroform").glob("*.pdf")),
}
# The most each set may cost over its floor: a ratio, or extra milliseconds per file.
RATIO_TARGET = {"forms without AcroForm": 1.03}
EXTRA_MS_TARGET = {"response answered in fields": 2.0}
LIMITS = Limits()


def without_fields(data: bytes) -> None:
    """The floor: extract_pdf as it is, but with no form handle opened and no field read."""
    pdf = pdfium.PdfDocument(data)
    try:
        total = len(pdf)
        paragraphs: list[list[str]] = []
        ended = True
        for number in range(total):
            ended = add_page(page_lines(pdf, number), paragraphs, ended)
    finally:
        pdf.close()
    Extraction(status="ok", text="\n\n".join("\n".join(lines) for lines in paragraphs if lines), pages=total)


def with_fields(data: bytes) -> None:
    extract_pdf(data, LIMITS)


def cpu_per_file(read: Callable[[bytes], None], files: list[bytes], rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        for data in files:
            read(data)
    return (time.process_time() - started) / rounds / len(files)


def main(argv: list[str]) -> int:
    repeat, rounds = (5, 3) if "--quick" in argv else (15, 5)
    print(f"load average {os.getloadavg()[0]:.2f}; CPU ms per file, median of {repeat} turns of {rounds} rounds")
    print("| set                          | files | floor ms | fields ms | ratio  | extra ms | target")
    failed = False
    for name, paths in SETS.items():
        files = [p.read_bytes() for p in paths]
        if not files:
            print(f"| {name:28s} | none found")
            continue
        cpu_per_file(with_fields, files, 1)  # warm up both paths
        cpu_per_file(without_fields, files, 1)
        floor, fields = [], []
        for _ in range(repeat):
            floor.append(cpu_per_file(without_fields, files, rounds))
            fields.append(cpu_per_file(with_fields, files, rounds))
        base, spent = statistics.median(floor), statistics.median(fields)
        ratio, extra = spent / max(base, 1e-9), (spent - base) * 1000
        if name in RATIO_TARGET:
            ok, target = ratio <= RATIO_TARGET[name], f"ratio ≤ {RATIO_TARGET[name]:.2f}"
        else:
            ok, target = extra <= EXTRA_MS_TARGET[name], f"extra ≤ {EXTRA_MS_TARGET[name]:.1f} ms"
        failed |= not ok
        print(f"| {name:28s} | {len(files):5d} | {base * 1000:8.3f} | {spent * 1000:9.3f} | {ratio:5.3f}× "
              f"| {extra:8.3f} | {target} {'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
