"""Every document in the shared corpus extracts, or fails with a reason, within the limits, through the pool.

The closing summary (run with ``-s``) prints the counts by outcome and reason.
"""

from __future__ import annotations

import collections
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from intake.extract import Limits, PoolExtractor
from intake.extract.base import FileInput
from tests.conftest import SHARED, need

DOCUMENTS = SHARED / "corpus" / "documents"
NOT_DOCUMENTS = {"LICENSE", "LICENSE.txt", "SOURCE.txt"}
# Known from the corpus's own descriptions: these must be recognised for what they are.
ENCRYPTED = {"password-example.pdf", "encrypted.pdf", "password-is-test.pdf"}
NOT_A_PDF = {"empty.pdf"}
# A damaged cross-reference table (no /Root where it should be) that PDFium repairs, as browsers do.
REPAIRED = {"invalid_pdf.pdf"}


def documents() -> list[Path]:
    return sorted(p for p in DOCUMENTS.rglob("*") if p.is_file() and p.name not in NOT_DOCUMENTS)


def test_every_corpus_document_extracts_or_is_flagged_within_the_limits() -> None:
    if not DOCUMENTS.is_dir():
        need("shared corpus", f"{DOCUMENTS} is missing")
    files = documents()
    inputs = [FileInput(p.name, "application/octet-stream", p.read_bytes()) for p in files]
    # The corpus is no message: the per-message caps (attachments, budget) are lifted, and it is
    # sent as two callers, since one message never takes both workers.
    limits = Limits(timeout_seconds=30, memory_mb=1024, max_attachments=len(inputs), message_budget_seconds=3600)
    half = len(inputs) // 2
    with PoolExtractor(2, limits) as pool, ThreadPoolExecutor(2) as callers:
        first, second = callers.map(pool.extract_many, [inputs[:half], inputs[half:]])
    results = first + second
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for path, result in zip(files, results, strict=True):
        counts[(path.suffix.lower(), result.status, result.error or "")] += 1
        # Nothing may crash a worker or run into the time limit: those would be our bugs.
        assert result.error is None or not result.error.startswith(("worker", "timeout")), (path, result.error)
        if result.status == "failed":
            assert result.error, path
        if path.name in ENCRYPTED:
            assert (result.status, result.error) == ("failed", "encrypted PDF"), path
        elif path.name in NOT_A_PDF:
            assert result.status == "failed" and (result.error or "").startswith("broken PDF"), path
        elif path.name in REPAIRED:
            assert result.status == "ok" and "Invoice number" in (result.text or ""), (path, result.error)
        elif path.suffix.lower() in {".pdf", ".docx", ".odt", ".html"}:
            assert result.status == "ok", (path, result.error)
    print()
    for (suffix, status, reason), count in sorted(counts.items()):
        print(f"{count:4d}  {suffix:6s} {status:8s} {reason}")
    pdf_docx = [p for p in files if p.suffix.lower() in {".pdf", ".docx"}]
    assert len(pdf_docx) >= 80
