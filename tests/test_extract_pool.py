"""The worker pool: replaces crashed and stuck workers, serves several threads, stops cleanly."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from intake.config import ExtractSettings
from intake.errors import ExtractionInterrupted, ExtractorUnavailable
from intake.extract import FileInput, InProcessExtractor, Limits, PoolExtractor, make_extractor, read_form
from intake.extract.pool import NICENESS
from tests.fixtures.forms.make_forms import EXPECTED, QUESTIONS
from tests.pdf_builder import make_pdf, scattered_page

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"


def forms() -> list[tuple[str, FileInput]]:
    return [
        (name, FileInput(f"{name}.{suffix}", "application/octet-stream", (FORMS / f"{name}.{suffix}").read_bytes()))
        for name in sorted(EXPECTED)
        for suffix in ("pdf", "docx")
    ]


def test_make_extractor_follows_the_settings() -> None:
    assert isinstance(make_extractor(ExtractSettings(workers=0)), InProcessExtractor)
    pool = make_extractor(ExtractSettings(workers=1, timeout_seconds=5))
    try:
        assert isinstance(pool, PoolExtractor) and len(pool.worker_pids()) == 1
    finally:
        pool.close()


def test_workers_run_at_a_lower_priority_than_the_service() -> None:
    with PoolExtractor(2, Limits(timeout_seconds=30)) as pool:
        pids = pool.worker_pids()
        assert len(pids) == 2
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert [os.getpriority(os.PRIO_PROCESS, pid) for pid in pids] == [min(19, ours + NICENESS)] * 2
        # ... and still read what they are given.
        name, form = forms()[0]
        (result,) = pool.extract_many([form])
        assert read_form(result.text or "", QUESTIONS) == EXPECTED[name]


def test_a_crashed_worker_is_replaced_and_only_its_file_fails() -> None:
    with PoolExtractor(1, Limits(timeout_seconds=30)) as pool:
        (victim,) = pool.worker_pids()
        # Scattered letters, each its own run: seconds of work, since PDFium reads plain pages in milliseconds.
        slow = FileInput("tung.pdf", "application/pdf", make_pdf([scattered_page()] * 100, compress=True))
        results: list[object] = []
        runner = threading.Thread(target=lambda: results.extend(pool.extract_many([slow])))
        runner.start()
        time.sleep(0.5)
        # A segmentation fault in a parser's C code looks exactly like this to the pool.
        os.kill(victim, signal.SIGSEGV)
        runner.join(timeout=30)
        assert [r.status for r in results] == ["failed"]  # type: ignore[attr-defined]
        assert results[0].error == "worker crashed (SIGSEGV)"  # type: ignore[attr-defined]
        name, form = forms()[0]
        (after,) = pool.extract_many([form])
        assert read_form(after.text or "", QUESTIONS) == EXPECTED[name]
        assert pool.worker_pids() != [victim] and len(pool.worker_pids()) == 1


def test_a_pool_whose_workers_cannot_start_fails_at_once() -> None:
    # 16 MiB of address space is less than the interpreter itself needs: the worker dies at start.
    with pytest.raises(ExtractorUnavailable, match="did not start"):
        PoolExtractor(1, Limits(memory_mb=16))


def test_several_threads_share_the_pool_and_get_their_own_results() -> None:
    inputs = forms()
    failures: list[str] = []

    def caller(offset: int) -> None:
        mine = inputs[offset:] + inputs[:offset]
        for (name, _), result in zip(mine, pool.extract_many([f for _, f in mine]), strict=True):
            if read_form(result.text or "", QUESTIONS) != EXPECTED[name]:
                failures.append(f"{name}: {result.status} {result.error}")

    with PoolExtractor(2, Limits(timeout_seconds=30)) as pool:
        threads = [threading.Thread(target=caller, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert failures == []


def test_close_stops_every_worker_and_is_idempotent() -> None:
    pool = PoolExtractor(2, Limits())
    pids = pool.worker_pids()
    assert len(pids) == 2
    pool.close()
    pool.close()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {pid} still runs after close")


def test_close_waits_for_the_file_a_caller_is_reading() -> None:
    # A caller may read its own file on a free worker, outside the pool's threads: close must not
    # stop that worker under it (the file would come back failed, as if it were broken).
    slow = FileInput("tung.pdf", "application/pdf", make_pdf([scattered_page()] * 40, compress=True))
    pool = PoolExtractor(1, Limits(timeout_seconds=30))
    out: dict[str, object] = {}

    def read() -> None:
        try:
            out["results"] = [r.status for r in pool.extract_many([slow])]
        except ExtractionInterrupted as err:
            out["error"] = err

    runner = threading.Thread(target=read)
    runner.start()
    time.sleep(0.3)
    pool.close()
    runner.join(timeout=30)
    assert out.get("results") == ["ok"] or isinstance(out.get("error"), ExtractionInterrupted), out
    assert pool.worker_pids() == []


def test_one_message_of_many_files_keeps_every_worker_it_may_hold_busy() -> None:
    # Two files of a message that may hold both workers are read at once, not one after the other:
    # half-way, both workers are running (R), neither waits for a file (S).
    slow = FileInput("tung.pdf", "application/pdf", make_pdf([scattered_page()] * 100, compress=True))
    with PoolExtractor(2, Limits(timeout_seconds=30, workers_per_message=2)) as pool:
        pids = pool.worker_pids()
        results: list[object] = []
        runner = threading.Thread(target=lambda: results.extend(pool.extract_many([slow, slow])))
        runner.start()
        time.sleep(0.5)
        states = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for pid in pids]
        runner.join(timeout=60)
    assert states == ["R", "R"]
    assert [r.status for r in results] == ["ok", "ok"]  # type: ignore[attr-defined]


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no Pss line")


def test_a_worker_does_not_keep_what_its_files_left_behind() -> None:
    """A DOCX leaves its document in reference cycles: a worker that never collected them grew by
    over 20 MB in 40 files (and by 45 MB in the end-to-end benchmark)."""
    docx = [file for _, file in forms() if file.filename.endswith(".docx")]
    with PoolExtractor(1, Limits(timeout_seconds=30)) as pool:
        (pid,) = pool.worker_pids()
        assert all(r.status == "ok" for r in pool.extract_many(docx))
        start = pss_mb(pid)
        for _ in range(10):
            assert all(r.status == "ok" for r in pool.extract_many(docx))
        grown = pss_mb(pid) - start
    assert grown < 10, f"the worker grew by {grown:.0f} MB over {10 * len(docx)} DOCX files"
