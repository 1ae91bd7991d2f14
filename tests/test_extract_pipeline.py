"""Attachments through the whole pipeline: a case number only inside the form, its answers, a hostile file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from intake import workflows
from intake.db.engine import session_scope
from intake.extract import FileInput
from intake.pipeline.run import ingest
from intake.review import queries
from intake.review.serialize import submission_json
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email
from tests.fixtures.forms.make_forms import EXPECTED
from tests.pdf_builder import make_pdf, scattered_page

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"
ON_TIME = datetime(2022, 9, 28, 10, 15, tzinfo=ZoneInfo("Europe/Oslo"))
PLAIN = {"subject": "Høringssvar", "body": "Vedlagt følger vårt høringssvar.\n\nMed vennlig hilsen\nNSF"}


@pytest.fixture
def pooled(settings_factory) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    """A Runtime whose extraction runs in one worker process with a short timeout, as the daemon's does."""
    runtime = Runtime.open(settings_factory(extract={"workers": 1, "timeout_seconds": 3}))
    with session_scope(runtime.engine) as session:
        workflows.sync(session, runtime.settings.workflows.path)
    yield runtime
    runtime.close()


def only(rt: Runtime) -> dict[str, object]:
    with Session(rt.engine) as session:
        subs = [submission_json(session, s) for s in queries.list_submissions(session)]
    assert len(subs) == 1
    return subs[0]


@pytest.mark.parametrize("suffix", ["pdf", "docx"])
def test_case_number_only_inside_the_attachment_is_matched(rt: Runtime, suffix: str) -> None:
    form = (FORMS / f"skjema-nei.{suffix}").read_bytes()
    raw = make_email(**PLAIN, sender="Norsk Sykepleierforbund <post@nsf.no>",
                     attachments=[(f"Høringssvar NSF.{suffix}", "application/octet-stream", form)])
    ingest(rt, raw, Source(kind="file"), ON_TIME)
    sub = only(rt)
    assert sub["case"] == "22/414"
    assert sub["match_source"] == "attachment"
    assert sub["form"] == EXPECTED["skjema-nei"]
    (attachment,) = sub["attachments"]  # type: ignore[misc]
    assert attachment["text_chars"] > 1000
    assert "extraction_failed" not in sub["flags"]  # type: ignore[operator]


def test_hostile_attachment_is_flagged_and_the_response_still_read(pooled: Runtime) -> None:
    # Some 30 ms a page to PDFium: 200 pages are far over the 3 s timeout (60 were read in under 2 s).
    slow = make_pdf([scattered_page()] * 200, compress=True)
    raw = make_email(**PLAIN, attachments=[
        ("vedlegg.pdf", "application/pdf", slow),
        ("skjema.pdf", "application/pdf", (FORMS / "skjema-ja.pdf").read_bytes()),
    ])
    ingest(pooled, raw, Source(kind="file"), ON_TIME)
    sub = only(pooled)
    assert sub["case"] == "22/414" and sub["match_source"] == "attachment"
    assert "extraction_failed" in sub["flags"]  # type: ignore[operator]
    assert sub["form"] == EXPECTED["skjema-ja"]
    assert sub["acknowledgement"]["status"] == "pending"  # type: ignore[index]


def test_a_large_form_goes_to_the_worker_as_a_stored_file_and_is_read(
    pooled: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intake.extract import pool

    sent: list[tuple[int, str | None]] = []
    original = pool._Worker.run

    def spy(self: pool._Worker, file: FileInput, timeout: float) -> object:
        sent.append((len(file.data), file.path))
        return original(self, file, timeout)

    monkeypatch.setattr(pool._Worker, "run", spy)
    # Bytes after %%EOF are ignored by PDF readers: a 3 MB form, as a scanned annex would make it.
    form = (FORMS / "skjema-ja.pdf").read_bytes() + b"\n%" + bytes(3 * 2**20)
    raw = make_email(**PLAIN, sender="Norsk Sykepleierforbund <post@nsf.no>",
                     attachments=[("Høringssvar sak 22-414.pdf", "application/pdf", form)])
    ingest(pooled, raw, Source(kind="file"), ON_TIME)

    sub = only(pooled)
    assert sub["form"] == EXPECTED["skjema-ja"]
    [(size, path)] = sent
    assert size == 0 and path is not None and Path(path).read_bytes() == form
