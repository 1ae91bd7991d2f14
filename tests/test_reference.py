"""The cases and invited bodies a process keeps between messages follow every sync, from any process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, Submission
from intake.pipeline.run import ingest
from intake.receipts.outbox import deliver_due
from intake.review.actions import resend_receipt
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email
from tests.conftest import REPO

RECEIVED = datetime(2022, 9, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "workflows"
    shutil.copytree(REPO / "workflows", target)
    return target


@pytest.fixture
def pair(settings_factory, folder: Path) -> Iterator[tuple[Runtime, Runtime]]:  # type: ignore[no-untyped-def]
    """Two processes' runtimes on one database: the first decides mail, the second syncs workflows."""
    deciding = Runtime.open(settings_factory(workflows={"path": str(folder)}), extract=False)
    syncing = Runtime.open(settings_factory(workflows={"path": str(folder)}), extract=False)
    workflows.sync_database(syncing.engine, folder)
    yield deciding, syncing
    deciding.close()
    syncing.close()


def decided(rt: Runtime, n: int, subject: str) -> Submission:
    raw = make_email(subject=subject, message_id=f"<svar{n}@legemiddelverket.no>")
    result = ingest(rt, raw, Source(kind="file"), RECEIVED)
    with Session(rt.engine) as session:
        submission = session.get(Submission, result.submission_id)
        assert submission is not None
        return submission


def test_a_case_synced_by_another_process_counts_from_the_next_message(pair: tuple[Runtime, Runtime],
                                                                       folder: Path) -> None:
    deciding, syncing = pair
    assert decided(deciding, 1, "Høringssvar sak 22/414").case_number == "22/414"
    # Another process adds a consultation and moves a deadline; this one has both kept already.
    text = (folder / "22-414.yaml").read_text(encoding="utf-8")
    (folder / "23-100.yaml").write_text(text.replace('case: "22/414"', 'case: "23/100"'), encoding="utf-8")
    (folder / "22-414.yaml").write_text(text.replace("deadline: 2022-10-01", "deadline: 2022-09-01"),
                                        encoding="utf-8")
    workflows.sync_database(syncing.engine, folder)
    new_case = decided(deciding, 2, "Høringssvar sak 23/100")
    assert new_case.case_number == "23/100" and new_case.case_id is not None
    moved = decided(deciding, 3, "Høringssvar sak 22/414")
    assert moved.late  # received 20.09, after the new deadline 01.09
    # A case whose file is gone is no longer matched.
    (folder / "23-100.yaml").unlink()
    workflows.sync_database(syncing.engine, folder)
    assert decided(deciding, 4, "Høringssvar sak 23/100").case_id is None


def test_an_unchanged_database_is_not_read_again(pair: tuple[Runtime, Runtime]) -> None:
    deciding, _ = pair
    decided(deciding, 1, "Høringssvar sak 22/414")
    statements: list[str] = []
    event.listen(deciding.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    decided(deciding, 2, "Høringssvar sak 22/414")
    assert not any("FROM cases" in s and "sum(" not in s for s in statements)
    assert not any("FROM organisations" in s and "kind" in s for s in statements)


def test_a_planned_receipt_has_its_text_and_a_resend_writes_it_again(rt: Runtime) -> None:
    raw = make_email(subject="Høringssvar sak 22/414", message_id="<svar@legemiddelverket.no>")
    result = ingest(rt, raw, Source(kind="file"), RECEIVED)
    with session_scope(rt.engine) as session:
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == result.submission_id)).one()
        assert ack.status == "pending"
        assert ack.subject and "22/414" in ack.subject
        assert ack.body_text and "20.09.2022" in ack.body_text and ack.body_html
    deliver_due(rt)
    with session_scope(rt.engine) as session:
        # The case's deadline may have moved since: a receipt sent again is written again when it goes.
        again = resend_receipt(session, result.submission_id, actor="kari", from_address="postmottak@ehelse.no",
                               own_addresses=())
        assert again.status == "pending" and again.body_text is None and again.subject is None
    assert deliver_due(rt).sent == 1
    with Session(rt.engine) as session:
        sent = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == result.submission_id)).one()
        assert sent.status == "sent" and sent.body_text and "20.09.2022" in sent.body_text
