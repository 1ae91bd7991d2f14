"""Hostile attachments end as failed extractions with a reason, bounded in time and memory.

They run through the real worker pool, as in the daemon, with tight limits so the suite
stays fast; the files after them must still be read.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.errors import ExtractionInterrupted
from intake.extract import Extraction, FileInput, Limits, PoolExtractor, extract_one, read_form
from tests.conftest import SHARED, need
from tests.fixtures.forms.make_forms import EXPECTED, QUESTIONS
from tests.pdf_builder import bomb_stream, make_pdf, scattered_page, text_page

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"
PDFPLUMBER = SHARED / "corpus" / "documents" / "pdfplumber" / "tests" / "pdfs"
LIMITS = Limits(timeout_seconds=2.0, memory_mb=384, max_pages=200)


def zip_bomb_docx(megabytes: int = 50) -> bytes:
    """A DOCX-shaped zip whose document part inflates to ``megabytes`` MiB: a 1000:1 ratio."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(b"\0" * (1024 * 1024))
    return buffer.getvalue()


def slow_pdf(pages: int = 160) -> bytes:
    """Pages of scattered letters, each its own run: some 30 ms a page to PDFium, all together far over 2 s.

    A page has just fewer runs than the reader orders itself (MAX_RUNS), its slowest case.
    """
    return make_pdf([scattered_page()] * pages, compress=True)


def good_form() -> FileInput:
    return FileInput("skjema.pdf", "application/pdf", (FORMS / "skjema-ja.pdf").read_bytes())


@pytest.fixture(scope="module")
def pool() -> Iterator[PoolExtractor]:
    extractor = PoolExtractor(2, LIMITS)
    yield extractor
    extractor.close()


def assert_form_read(extraction: Extraction) -> None:
    assert extraction.status == "ok", extraction.error
    assert read_form(extraction.text or "", QUESTIONS) == EXPECTED["skjema-ja"]


def test_zip_bomb_docx_is_refused_before_it_is_opened() -> None:
    started = time.monotonic()
    result = extract_one(FileInput("svar.docx", "application/octet-stream", zip_bomb_docx()), Limits())
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("zip bomb: ratio")
    assert time.monotonic() - started < 1.0


def test_zip_over_the_uncompressed_limit_is_refused() -> None:
    result = extract_one(FileInput("svar.docx", "", zip_bomb_docx(12)), Limits(max_uncompressed_mb=10))
    assert result.status == "failed" and result.error == "zip bomb: 12 MiB uncompressed > 10 MiB"


def test_pdf_over_the_page_limit_fails_with_the_first_pages_read() -> None:
    data = make_pdf([text_page([f"Side {n} sak 22/414"]) for n in range(1, 13)])
    result = extract_one(FileInput("lang.pdf", "application/pdf", data), Limits(max_pages=10))
    assert result.status == "failed" and result.error == "too many pages: 12 > 10"
    assert result.pages == 12
    assert "Side 10 sak 22/414" in (result.text or "") and "Side 11" not in (result.text or "")


def test_page_tree_that_loops_is_bounded() -> None:
    looping = make_pdf([text_page(["Hei"])], kids=b"2 0 R")
    started = time.monotonic()
    result = extract_one(FileInput("loop.pdf", "application/pdf", looping), Limits())
    assert result.status in {"ok", "failed"}
    assert time.monotonic() - started < 2.0


def test_truncated_pdf_fails_with_a_reason() -> None:
    data = (FORMS / "skjema-nei.pdf").read_bytes()
    result = extract_one(FileInput("halv.pdf", "application/pdf", data[: len(data) // 3]), Limits())
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("broken PDF")


def test_encrypted_pdf_fails_as_encrypted() -> None:
    if not PDFPLUMBER.is_dir():
        need("shared corpus", f"{PDFPLUMBER} is missing")
    data = (PDFPLUMBER / "password-example.pdf").read_bytes()
    result = extract_one(FileInput("hemmelig.pdf", "application/pdf", data), Limits())
    assert result.status == "failed" and result.error == "encrypted PDF"


def test_slow_pdf_is_stopped_at_the_timeout_and_the_next_file_is_read(pool: PoolExtractor) -> None:
    started = time.monotonic()
    slow, form = pool.extract_many([FileInput("tung.pdf", "application/pdf", slow_pdf()), good_form()])
    assert slow.status == "failed" and slow.error == "timeout after 2 s"
    assert_form_read(form)
    assert time.monotonic() - started < LIMITS.timeout_seconds + 5


def test_decompression_bomb_is_stopped_by_the_memory_limit() -> None:
    # 400 MiB of blanks in a 400 KiB stream: the worker may not hold it under its 256 MiB cap.
    # The time limit is generous here so that only the memory cap can stop it.
    limits = Limits(timeout_seconds=20.0, memory_mb=256)
    started = time.monotonic()
    with PoolExtractor(1, limits) as pool:
        result, form = pool.extract_many([FileInput("bombe.pdf", "application/pdf", _flate_pdf(400)), good_form()])
    assert result.status == "failed"
    # PDFium's allocator aborts the process when the cap refuses it memory.
    assert result.error in {"out of memory", "worker crashed (SIGKILL)", "worker crashed (SIGSEGV)",
                            "worker crashed (SIGABRT)"}
    assert_form_read(form)
    assert time.monotonic() - started < 15


def _flate_pdf(megabytes: int) -> bytes:
    """A one-page PDF whose content stream is a FlateDecode bomb."""
    packed = bomb_stream(megabytes)
    return make_pdf([packed], compress=False).replace(
        b"<< /Length %d >>" % len(packed), b"<< /Length %d /Filter /FlateDecode >>" % len(packed)
    )


def test_every_hostile_file_in_one_message_and_the_form_after_them(pool: PoolExtractor) -> None:
    encrypted = (PDFPLUMBER / "password-example.pdf").read_bytes() if PDFPLUMBER.is_dir() else b"%PDF-1.4\n"
    nei = (FORMS / "skjema-nei.pdf").read_bytes()
    files = [
        FileInput("bombe.docx", "application/octet-stream", zip_bomb_docx()),
        FileInput("tung.pdf", "application/pdf", slow_pdf()),
        FileInput("halv.pdf", "application/pdf", nei[: len(nei) // 3]),
        FileInput("hemmelig.pdf", "application/pdf", encrypted),
        FileInput("loop.pdf", "application/pdf", make_pdf([text_page(["Hei"])], kids=b"2 0 R")),
        good_form(),
    ]
    started = time.monotonic()
    results = pool.extract_many(files)
    assert [r.status for r in results[:4]] == ["failed"] * 4
    assert_form_read(results[-1])
    assert time.monotonic() - started < LIMITS.timeout_seconds + 8


def _timed(pool: PoolExtractor, files: list[FileInput], out: dict[str, object], key: str) -> None:
    started = time.monotonic()
    out[key] = pool.extract_many(files)
    out[key + "_seconds"] = time.monotonic() - started


def test_a_message_behind_four_slow_pdfs_is_read_at_once() -> None:
    # Before: first come, first served; the four PDFs held both workers and the form waited
    # for two rounds of timeouts (the daemon's 30 s timeout: 122 s). Now one worker stays free.
    out: dict[str, object] = {}
    with PoolExtractor(2, LIMITS) as pool:
        slow = threading.Thread(target=_timed, args=(pool, [FileInput(f"tung{n}.pdf", "application/pdf", slow_pdf())
                                                            for n in range(4)], out, "slow"))
        slow.start()
        time.sleep(0.3)
        _timed(pool, [good_form()], out, "form")
        slow.join()
    (form,) = out["form"]  # type: ignore[misc]
    assert_form_read(form)
    assert out["form_seconds"] < 1.5, out["form_seconds"]


def test_one_message_gets_its_budget_and_no_more() -> None:
    limits = Limits(timeout_seconds=2.0, memory_mb=384, max_pages=200, message_budget_seconds=3.0)
    with PoolExtractor(2, limits) as pool:
        started = time.monotonic()
        results = pool.extract_many([FileInput(f"tung{n}.pdf", "application/pdf", slow_pdf()) for n in range(4)])
        spent = time.monotonic() - started
    # One file at a time: 2 s, then the 1 s left, then nothing (before: 4 s on two workers, 8 s on one).
    assert [r.status for r in results] == ["failed"] * 4
    assert results[0].error == "timeout after 2 s"
    assert results[1].error == "the message's extraction time (3 s) was spent"
    assert results[3].error == "the message's extraction time (3 s) was spent before this file"
    assert spent < limits.message_budget_seconds + 1.5


def test_attachments_past_the_cap_are_not_read() -> None:
    files = [FileInput(f"del{n}.txt", "text/plain", b"sak 22/414") for n in range(5)]
    with PoolExtractor(1, Limits(timeout_seconds=5.0, memory_mb=384, max_attachments=3)) as pool:
        results = pool.extract_many(files)
    assert [r.status for r in results] == ["ok", "ok", "ok", "failed", "failed"]
    assert results[4].error == "more than 3 attachments: not read"


def test_interrupting_the_pool_stops_a_slow_file_at_once() -> None:
    out: dict[str, object] = {}
    limits = Limits(timeout_seconds=30.0, memory_mb=384, max_pages=50)
    with PoolExtractor(1, limits) as pool:
        caller = threading.Thread(target=lambda: out.update(error=_interrupted(pool)))
        caller.start()
        time.sleep(0.5)
        started = time.monotonic()
        pool.interrupt()
        caller.join(timeout=5)
        assert time.monotonic() - started < 2.0
    assert isinstance(out["error"], ExtractionInterrupted)


def _interrupted(pool: PoolExtractor) -> Exception | None:
    try:
        pool.extract_many([FileInput("tung.pdf", "application/pdf", slow_pdf(400))])
    except ExtractionInterrupted as err:
        return err
    return None


def understated_docx(megabytes: int = 60) -> bytes:
    """A DOCX-shaped zip whose directory says its document part holds 1,000 bytes; it inflates to ``megabytes`` MiB."""
    data = bytearray(zip_bomb_docx(megabytes))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("word/document.xml")
    entry = data.rfind(b"PK\x01\x02")
    assert data[entry + 46 : entry + 46 + len(info.filename)] == info.filename.encode()
    data[entry + 24 : entry + 28] = struct.pack("<I", 1000)  # the directory entry's uncompressed size
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("word/document.xml").file_size == 1000
    return bytes(data)


def test_zip_member_that_understates_its_size_is_refused_while_inflating() -> None:
    # Before: the directory's claims passed the check; reading the member inflated all 60 MiB at once.
    tracemalloc.start()
    try:
        result = extract_one(FileInput("svar.docx", "application/octet-stream", understated_docx()), Limits())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.status == "failed"
    assert result.error == "zip bomb: 'word/document.xml' inflates past its declared size"
    assert peak < 16 * 1024 * 1024, peak


def test_on_one_worker_a_new_message_goes_before_the_next_file_of_a_slow_one() -> None:
    limits = Limits(timeout_seconds=2.0, memory_mb=384, max_pages=200, message_budget_seconds=5.0)
    out: dict[str, object] = {}
    with PoolExtractor(1, limits) as pool:
        slow = threading.Thread(target=_timed, args=(pool, [FileInput(f"tung{n}.pdf", "application/pdf", slow_pdf())
                                                            for n in range(3)], out, "slow"))
        slow.start()
        time.sleep(0.3)
        _timed(pool, [good_form()], out, "form")
        slow.join()
    (form,) = out["form"]  # type: ignore[misc]
    assert_form_read(form)
    # Before: the slow message's next files went first (it came first), and the form waited 5 s.
    assert out["form_seconds"] < 3.5, out["form_seconds"]
