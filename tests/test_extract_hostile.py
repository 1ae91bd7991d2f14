"""Hostile attachments end as failed extractions with a reason, bounded in time and memory.

They run through the real worker pool, as in the daemon, with tight limits so the suite
stays fast; the files after them must still be read.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from intake.extract import Extraction, FileInput, Limits, PoolExtractor, extract_one, read_form
from tests.conftest import SHARED, need
from tests.fixtures.forms.make_forms import EXPECTED, QUESTIONS
from tests.pdf_builder import bomb_stream, make_pdf, scattered_page, text_page

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"
PDFPLUMBER = SHARED / "corpus" / "documents" / "pdfplumber" / "tests" / "pdfs"
LIMITS = Limits(timeout_seconds=2.0, memory_mb=384, max_pages=50)


def zip_bomb_docx(megabytes: int = 50) -> bytes:
    """A DOCX-shaped zip whose document part inflates to ``megabytes`` MiB: a 1000:1 ratio."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(b"\0" * (1024 * 1024))
    return buffer.getvalue()


def slow_pdf(pages: int = 48) -> bytes:
    """Pages of scattered letters, each its own run: a tenth of a second a page, all together far over 2 s."""
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
