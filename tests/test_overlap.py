"""process_many: extraction of the next messages overlaps the decision on this one; decisions stay in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Attachment, Message, Submission
from intake.pipeline.batch import prepare_ahead, process_many
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from tests.builders import make_email

FORMS = Path(__file__).parent / "fixtures" / "forms"
FILE = Source(kind="file")
WHEN = datetime(2022, 9, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def pooled(settings_factory) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]
    runtime = Runtime.open(settings_factory(extract={"workers": 2}))
    with session_scope(runtime.engine) as session:
        workflows.sync(session, runtime.settings.workflows.path)
    yield runtime
    runtime.close()


def stored(rt: Runtime, count: int) -> list[int]:
    pks = []
    for i in range(count):
        form = ["skjema-ja.pdf", "skjema-nei.docx", None][i % 3]
        attachments = [(form, "application/octet-stream", (FORMS / form).read_bytes())] if form else []
        raw = make_email(message_id=f"<overlap{i}@legeforeningen.no>", sender=f"p{i} <p{i}@legeforeningen.no>",
                         attachments=attachments, body=f"Høringssvar {i} i sak 22/414.")
        pks.append(store_message(rt, raw, FILE, WHEN).id)
    return pks


def test_a_batch_is_processed_in_order_with_every_attachment_extracted(pooled: Runtime) -> None:
    assert prepare_ahead(pooled) == 3 * pooled.settings.extract.workers
    pks = stored(pooled, 7)
    seen: list[int] = []
    results = process_many(pooled, pks, done=lambda pk, _result: seen.append(pk))
    assert seen == pks
    assert None not in results
    with Session(pooled.engine) as session:
        submissions = session.exec(select(Submission).order_by(col(Submission.id))).all()
        # Decided one at a time in the order given: submission ids follow message ids.
        assert [s.message_ref for s in submissions] == pks
        assert all(s.case_number == "22/414" for s in submissions)
        texts = session.exec(select(Attachment.text)).all()
        assert len(texts) == 5 and all(t and "22/414" in t for t in texts)
    # Again: nothing new, the same answers.
    assert process_many(pooled, pks) == results


def test_stop_leaves_the_rest_stored_for_later(pooled: Runtime) -> None:
    pks = stored(pooled, 20)
    stop = threading.Event()
    results = process_many(pooled, pks, stop=stop, done=lambda _pk, _result: stop.set())
    # The first batch decided set stop (a batch is at most the window); at most the ones
    # already prepared were decided after it.
    assert 1 <= len(results) <= 2 * prepare_ahead(pooled) < len(pks)
    with Session(pooled.engine) as session:
        statuses = [session.get(Message, pk).status for pk in pks]  # type: ignore[union-attr]
    assert statuses[: len(results)] == ["processed"] * len(results)
    assert set(statuses[len(results):]) <= {"stored"}
    assert process_many(pooled, pks)[len(results):] == process_many(pooled, pks)[len(results):]


def test_a_message_that_cannot_be_read_fails_alone(pooled: Runtime) -> None:
    pks = stored(pooled, 3)
    with Session(pooled.engine) as session:
        message = session.get(Message, pks[1])
        assert message is not None
        pooled.store.path_of(message.blob).unlink()
    results = process_many(pooled, pks)
    assert results[0] is not None and results[2] is not None and results[1] is None
    with Session(pooled.engine) as session:
        failed = session.get(Message, pks[1])
        assert failed is not None and failed.status == "failed" and failed.attempts == 1
