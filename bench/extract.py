"""Extraction speed: pages per second in-process and through the worker pool, printed as a table.

Sets: the committed response forms (tests/fixtures/forms) and the readable PDFs of the
shared corpus (../shared/corpus/documents). Targets: the pool's overhead over in-process
extraction at most 15 % on the three-page form, and two workers at least 1.7 times the
single-process rate on a batch of 100 forms.

The first table puts the two PDF readers side by side on the same files, in this process:
PDFium's text pages (what intake reads with) and pdfplumber (its reader before, the tests'
reference), with the CPU time of each and how many times faster PDFium is.

The pool and the in-process baseline are given the same files, after a warm-up that is not
measured, and their results must be the same (a pool that read fewer files would look
faster). The batch of 100 forms and the corpus are no message: the per-message caps
(attachments, budget, workers one message may hold) are lifted for them, as in the corpus
test, so that both workers can take part; the row of 100 one-form messages is the daemon's
way (default caps, two messages prepared per worker) and has no target.

Wall time depends on what else the machine runs, so the table also gives the CPU time
spent (this process plus the pool's workers, in nanoseconds from the scheduler), which
does not; the load average is printed with it. Run ``python bench/extract.py``
(``--quick`` for fewer repetitions, ``--readers`` for the first table only).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.extract import Extraction, FileInput, Limits, PoolExtractor, extract_one  # noqa: E402
from tests.pdfplumber_text import pdfplumber_text  # noqa: E402

FORMS = ROOT / "tests" / "fixtures" / "forms"
CORPUS = ROOT.parent / "shared" / "corpus" / "documents"
# No message: every file is read and both workers may serve the one call.
LIMITS = Limits(timeout_seconds=120, max_attachments=1000, message_budget_seconds=3600, workers_per_message=2)
# The daemon's per-message caps, for the row of one-form messages.
DAEMON = Limits(timeout_seconds=120)
# The three-page row measures four files of a few milliseconds each: its median needs many turns.
SMALL_TURNS = 15

Run = Callable[[], list[Extraction]]


@dataclass
class Measure:
    wall: float
    cpu: float
    results: list[Extraction]


def load(paths: Sequence[Path]) -> list[FileInput]:
    return [FileInput(p.name, "application/octet-stream", p.read_bytes()) for p in paths]


def pages_of(results: Sequence[Extraction]) -> int:
    # A DOCX has no pages of its own; it counts as one, like a short form.
    return sum(r.pages or 1 for r in results if r.status == "ok")


def workers_cpu(pool: PoolExtractor | None) -> float:
    """CPU seconds used so far by the pool's worker processes (from /proc; they are not our children).

    The scheduler's nanoseconds of each thread, not /proc/PID/stat's clock ticks: a tick is
    10 ms, as long as two of the three-page files, so ticks would make that row's CPU time noise.
    """
    if pool is None:
        return 0.0
    total = 0
    for pid in pool.worker_pids():
        try:
            threads = list(Path(f"/proc/{pid}/task").iterdir())
            total += sum(int((t / "schedstat").read_text().split()[0]) for t in threads)
        except (OSError, ValueError):
            continue
    return total / 1e9


def measure(run: Run, pool: PoolExtractor | None) -> Measure:
    cpu_before = time.process_time() + workers_cpu(pool)
    started = time.perf_counter()
    results = run()
    wall = time.perf_counter() - started
    return Measure(wall, time.process_time() + workers_cpu(pool) - cpu_before, results)


def compared(first: tuple[Run, PoolExtractor | None], second: tuple[Run, PoolExtractor | None],
             repeat: int) -> tuple[Measure, Measure]:
    """Medians of two ways, run in turns so that other load on the machine hits both alike."""
    a = [b for _ in range(repeat) for b in (measure(*first), measure(*second))]
    firsts, seconds = a[0::2], a[1::2]

    def median(ms: list[Measure]) -> Measure:
        return Measure(statistics.median(m.wall for m in ms), statistics.median(m.cpu for m in ms), ms[-1].results)

    return median(firsts), median(seconds)


def in_process(files: Sequence[FileInput]) -> Run:
    return lambda: [extract_one(f, LIMITS) for f in files]


def one_by_one(pool: PoolExtractor, files: Sequence[FileInput]) -> Run:
    """Through the pool, one file per call: what a single message with one attachment costs."""
    return lambda: [pool.extract_many([f])[0] for f in files]


def batch(pool: PoolExtractor, files: Sequence[FileInput]) -> Run:
    return lambda: pool.extract_many(files)


def messages(pool: PoolExtractor, files: Sequence[FileInput], callers: int) -> Run:
    """Each file its own message, ``callers`` of them under way at once, as the daemon prepares them."""
    def run() -> list[Extraction]:
        with ThreadPoolExecutor(callers) as threads:
            return [answer[0] for answer in threads.map(lambda f: pool.extract_many([f]), files)]
    return run


def same(base: Measure, other: Measure) -> bool:
    """Whether two ways read the same: a faster way that read less would not be faster."""
    def outcome(results: list[Extraction]) -> list[tuple[str, str | None, int | None]]:
        return [(r.status, r.text, r.pages) for r in results]
    return outcome(base.results) == outcome(other.results)


def row(name: str, files: int, m: Measure, base: Measure | None, note: str = "") -> str:
    pages = pages_of(m.results)
    versus = f"{base.wall / m.wall:5.2f}×" if base else "    - "
    return (f"| {name:44s} | {files:5d} | {pages:5d} | {m.wall:7.2f} | {pages / m.wall:7.1f} | {versus} "
            f"| {m.cpu:6.2f} | {note}")


def readers(name: str, files: Sequence[FileInput], repeat: int) -> str:
    """One row: the same PDFs read by PDFium (intake's reader) and by pdfplumber, CPU seconds each."""
    pdfs = [f for f in files if f.data.startswith(b"%PDF-")]

    def plumber() -> None:
        for f in pdfs:
            try:
                pdfplumber_text(f.data)
            except Exception:  # a broken file costs what it cost to find out
                continue

    def pdfium() -> None:
        for f in pdfs:
            extract_one(f, LIMITS)

    times = {}
    for label, run in (("pdfium", pdfium), ("pdfplumber", plumber)):
        spent = []
        for _ in range(repeat):
            started = time.process_time()
            run()
            spent.append(time.process_time() - started)
        times[label] = statistics.median(spent)
    return (f"| {name:30s} | {len(pdfs):5d} | {times['pdfium']:9.3f} | {times['pdfplumber']:9.3f} "
            f"| {times['pdfplumber'] / max(times['pdfium'], 1e-9):6.1f}× |")


def main(argv: list[str]) -> int:
    repeat = 3 if "--quick" in argv else 7
    three_page = load([FORMS / "skjema-lang.pdf"])
    forms = load(sorted(FORMS.glob("skjema-*.pdf")) + sorted(FORMS.glob("skjema-*.docx")))
    hundred = [forms[n % len(forms)] for n in range(100)]
    corpus = load(sorted(CORPUS.rglob("*.pdf"))) if CORPUS.is_dir() else []

    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print("| PDF reader, in-process        | files | pdfium s | pdfplumber s | faster |")
    print("|--------------------------------|-------|-----------|-----------|---------|")
    print(readers("form fixtures (4 PDFs)", forms, max(1, repeat // 2)))
    if corpus:
        print(readers("corpus PDFs", corpus, 1))
    print(f"load average after the readers: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "--readers" in argv:
        return 0
    print("| set / mode" + " " * 35 + "| files | pages |  wall s | pages/s | vs in-p |  cpu s | note")
    print("|" + "-" * 46 + "|-------|-------|---------|---------|---------|--------|------")
    missed = []
    with PoolExtractor(1, LIMITS) as one, PoolExtractor(2, LIMITS) as two, PoolExtractor(2, DAEMON) as daemon:
        # Warm the pools and this process, so start-up and first imports are not measured.
        one.extract_many(forms)
        two.extract_many(forms + forms)
        messages(daemon, forms + forms, 4)()
        in_process(forms)()

        base, pooled = compared((in_process(three_page * 4), None), (one_by_one(one, three_page * 4), one),
                                SMALL_TURNS * repeat // 3)
        print(row("3-page form ×4, in-process", 4, base, None))
        wall = (pooled.wall / base.wall - 1) * 100
        cpu = (pooled.cpu / base.cpu - 1) * 100
        if wall > 15:
            missed.append(f"pool overhead {wall:.1f} % > 15 %")
        if not same(base, pooled):
            missed.append("the pool of 1 read the three-page form differently from in-process")
        print(row("3-page form ×4, pool of 1, one file per call", 4, pooled, base,
                  f"overhead {wall:+.1f} % wall, {cpu:+.1f} % cpu (target ≤ 15 %)"))

        base, pooled = compared((in_process(hundred), None), (batch(two, hundred), two), repeat)
        speedup = base.wall / pooled.wall
        if speedup < 1.7:
            missed.append(f"2-worker speed-up {speedup:.2f}× < 1.7×")
        if not same(base, pooled):
            missed.append("the pool of 2 read the 100 forms differently from in-process")
        print(row("100 forms, in-process", 100, base, None))
        print(row("100 forms, pool of 2, one call", 100, pooled, base,
                  f"speed-up {speedup:.2f}× (target ≥ 1.7×)"))
        base, pooled = compared((in_process(hundred), None), (messages(daemon, hundred, 4), daemon),
                                max(1, repeat // 2))
        print(row("100 one-form messages, pool of 2, 4 callers", 100, pooled, base,
                  f"speed-up {base.wall / pooled.wall:.2f}×, daemon's caps (no target)"
                  + ("" if same(base, pooled) else "; READ DIFFERENTLY")))

        if corpus:
            base = measure(in_process(corpus), None)
            failed = sum(r.status != "ok" for r in base.results)
            print(row("corpus PDFs, in-process", len(corpus), base, None, f"{failed} not readable"))
            print(row("corpus PDFs, pool of 1", len(corpus), measure(batch(one, corpus), one), base))
            print(row("corpus PDFs, pool of 2", len(corpus), measure(batch(two, corpus), two), base))
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
          " (other work on the machine takes cores from the pool's workers and lowers its speed-up)")
    for failure in missed:
        print(f"target missed: {failure}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
