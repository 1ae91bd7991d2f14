"""Extraction speed: pages per second in-process and through the worker pool, printed as a table.

Sets: the committed response forms (tests/fixtures/forms) and the readable PDFs of the
shared corpus (../shared/corpus/documents). Targets: the pool's overhead over in-process
extraction at most 15 % on the three-page form, and two workers at least 1.7 times the
single-process rate on a batch of 100 forms.

Run ``python bench/extract.py`` (``--quick`` for fewer repetitions).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.extract import Extraction, FileInput, Limits, PoolExtractor, extract_one  # noqa: E402

FORMS = ROOT / "tests" / "fixtures" / "forms"
CORPUS = ROOT.parent / "shared" / "corpus" / "documents"
LIMITS = Limits(timeout_seconds=120)


def load(paths: Sequence[Path]) -> list[FileInput]:
    return [FileInput(p.name, "application/octet-stream", p.read_bytes()) for p in paths]


def pages_of(results: Sequence[Extraction]) -> int:
    # A DOCX has no pages of its own; it counts as one, like a short form.
    return sum(r.pages or 1 for r in results if r.status == "ok")


def timed(run: Callable[[], list[Extraction]], repeat: int) -> tuple[float, list[Extraction]]:
    """The median wall time of ``repeat`` runs, and the last run's results."""
    times = []
    results: list[Extraction] = []
    for _ in range(repeat):
        started = time.perf_counter()
        results = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), results


def compared(
    first: Callable[[], list[Extraction]], second: Callable[[], list[Extraction]], repeat: int
) -> tuple[float, float, list[Extraction]]:
    """Median wall times of two ways, run in turns so that other load on the machine hits both alike."""
    a: list[float] = []
    b: list[float] = []
    results: list[Extraction] = []
    for _ in range(repeat):
        started = time.perf_counter()
        results = first()
        a.append(time.perf_counter() - started)
        started = time.perf_counter()
        second()
        b.append(time.perf_counter() - started)
    return statistics.median(a), statistics.median(b), results


def in_process(files: Sequence[FileInput]) -> Callable[[], list[Extraction]]:
    return lambda: [extract_one(f, LIMITS) for f in files]


def one_by_one(pool: PoolExtractor, files: Sequence[FileInput]) -> Callable[[], list[Extraction]]:
    """Through the pool, one file per call: what a single message with one attachment costs."""
    return lambda: [pool.extract_many([f])[0] for f in files]


def batch(pool: PoolExtractor, files: Sequence[FileInput]) -> Callable[[], list[Extraction]]:
    return lambda: pool.extract_many(files)


def row(name: str, files: int, pages: int, seconds: float, base: float | None, note: str = "") -> str:
    rate = pages / seconds if seconds else 0.0
    versus = f"{base / seconds:5.2f}×" if base else "    - "
    return f"| {name:44s} | {files:5d} | {pages:5d} | {seconds:8.3f} | {rate:8.1f} | {versus} | {note}"


def main(argv: list[str]) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_known_args(argv)[1]
    quick = "--quick" in options
    repeat = 3 if quick else 5
    three_page = load([FORMS / "skjema-lang.pdf"])
    forms = load(sorted(FORMS.glob("skjema-*.pdf")) + sorted(FORMS.glob("skjema-*.docx")))
    hundred = [forms[n % len(forms)] for n in range(100)]
    corpus = load(sorted(CORPUS.rglob("*.pdf"))) if CORPUS.is_dir() else []

    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print("| set / mode                                   | files | pages |   wall s |  pages/s | vs in-p | note")
    print("|" + "-" * 46 + "|-------|-------|----------|----------|---------|------")
    failures = []
    with PoolExtractor(1, LIMITS) as one, PoolExtractor(2, LIMITS) as two:
        # Warm both pools and this process, so start-up and first imports are not measured.
        one.extract_many(forms)
        two.extract_many(forms + forms)
        in_process(forms)()

        base, pooled, results = compared(in_process(three_page * 4), one_by_one(one, three_page * 4), repeat * 2)
        pages = pages_of(results)
        print(row("3-page form ×4, in-process", 4, pages, base, None))
        overhead = (pooled / base - 1) * 100
        ok = overhead <= 15
        failures += [] if ok else [f"pool overhead {overhead:.1f} % > 15 %"]
        print(row("3-page form ×4, pool 1 worker, one per call", 4, pages, pooled, base,
                  f"overhead {overhead:+.1f} % (target ≤ 15 %) {'ok' if ok else 'MISSED'}"))

        base, pooled, results = compared(in_process(hundred), batch(two, hundred), max(1, repeat - 2))
        pages = pages_of(results)
        print(row("100 forms, in-process", 100, pages, base, None))
        speedup = base / pooled
        ok = speedup >= 1.7
        failures += [] if ok else [f"2-worker speed-up {speedup:.2f}× < 1.7×"]
        print(row("100 forms, pool 2 workers", 100, pages, pooled, base,
                  f"speed-up {speedup:.2f}× (target ≥ 1.7×) {'ok' if ok else 'MISSED'}"))

        if corpus:
            base, results = timed(in_process(corpus), 1)
            pages = pages_of(results)
            failed = sum(r.status != "ok" for r in results)
            print(row("corpus PDFs, in-process", len(corpus), pages, base, None, f"{failed} not readable"))
            pooled, _ = timed(batch(one, corpus), 1)
            print(row("corpus PDFs, pool 1 worker", len(corpus), pages, pooled, base))
            pooled, _ = timed(batch(two, corpus), 1)
            print(row("corpus PDFs, pool 2 workers", len(corpus), pages, pooled, base))
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
          f" on {os.cpu_count()} CPUs; other work on the machine lowers the pool's speed-up")
    for failure in failures:
        print(f"target missed: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
