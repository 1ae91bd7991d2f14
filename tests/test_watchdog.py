"""One message's time budget: past it the message is parked with the reason and the next goes on;
a person parks one by hand with ``intake messages park ID``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import AuditLog, Message, Submission
from intake.pipeline.run import ingest, process_message, process_pending
from intake.pipeline.watchdog import NotParkable, park
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from tests.builders import make_email
from tests.pdf_builder import make_pdf, text_page
from tests.test_cli import project, run  # noqa: F401  (project is a fixture)

FILE = Source(kind="file")
WHEN = datetime(2022, 9, 28, 8, 0, tzinfo=UTC)
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore"


def test_a_message_past_its_budget_is_parked_and_the_next_goes_on(settings_factory) -> None:  # type: ignore[no-untyped-def]
    settings = settings_factory(extract={"workers": 2, "timeout_seconds": 20, "memory_mb": 384},
                                processing={"message_budget_seconds": 1.5})
    rt = Runtime.open(settings)
    try:
        with session_scope(rt.engine) as session:
            workflows.sync(session, rt.settings.workflows.path)
        slow = make_pdf([text_page([LOREM] * 60)] * 300)
        started = time.monotonic()
        hostile = ingest(rt, make_email(attachments=[("tung.pdf", "application/pdf", slow)]), FILE, WHEN)
        # Before: no budget; the message took the whole 20 s extraction timeout (and more files, more).
        assert time.monotonic() - started < 4.0
        assert hostile.submission_id is None
        ordinary = ingest(rt, make_email(subject="Høringssvar sak 22/414 fra Helsedirektoratet"), FILE, WHEN)
        assert ordinary.submission_id is not None
        with Session(rt.engine) as session:
            message = session.get(Message, hostile.message_pk)
            assert message is not None
            assert message.status == "parked" and message.last_error == "over the processing time budget (1.5 s)"
        # Parked is parked: left-over processing does not take it up again.
        assert process_pending(rt) == 0
    finally:
        if rt.extractor is not None:
            rt.extractor.interrupt()
        rt.close()


def test_messages_park_parks_a_stored_message_until_it_is_retried(project: Path, rt: Runtime) -> None:  # noqa: F811
    stored = store_message(rt, make_email(), FILE, WHEN)
    config = project  # the same database as rt's
    parked = run(config, "messages", "park", str(stored.id), "--reason", "venter på avklaring")
    assert parked.returncode == 0, parked.stderr
    listed = run(config, "messages", "list", "--status", "parked")
    assert str(stored.id) in listed.stdout and "venter på avklaring" in listed.stdout
    assert process_pending(rt) == 0
    with Session(rt.engine) as session:
        assert session.exec(select(Submission)).first() is None
        assert session.exec(select(AuditLog).where(AuditLog.action == "message.parked")).first() is not None
    assert process_message(rt, stored.id, force=True) is not None
    with pytest.raises(NotParkable, match="already processed"):
        park(rt, stored.id, "for sent")
