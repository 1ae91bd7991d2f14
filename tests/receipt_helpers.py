"""Shared set-up for the receipt tests: a Runtime with a chosen [smtp] section, and due receipt rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from intake import workflows
from intake.config import Settings
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, Case, Submission
from intake.pipeline.run import ingest
from intake.receipts.plan import plan_receipt, write_planned
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.smtpsink import Sink

FILE = Source(kind="file")
SMTP = {"from_name": "Direktoratet for e-helse", "contact": "postmottak@ehelse.no, telefon 21 49 50 70"}
RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def make_rt(settings_factory: Callable[..., Settings]) -> Iterator[RuntimeFactory]:
    """Builds Runtimes without the extraction pool, with the shipped workflows synced."""
    opened: list[Runtime] = []

    def build(**smtp: object) -> Runtime:
        rt = Runtime.open(settings_factory(smtp={**SMTP, **smtp}), extract=False)
        opened.append(rt)
        with session_scope(rt.engine) as session:
            workflows.sync(session, rt.settings.workflows.path)
        return rt

    yield build
    for rt in opened:
        rt.close()


def set_language(rt: Runtime, number: str, language: str) -> None:
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
        case.language = language
        session.add(case)


def ingest_one(rt: Runtime, raw: bytes, received_at: datetime) -> Acknowledgement:
    result = ingest(rt, raw, FILE, received_at)
    assert result.submission_id is not None
    return ack_of(rt, result.submission_id)


def ack_of(rt: Runtime, submission_id: int) -> Acknowledgement:
    with Session(rt.engine) as session:
        return session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == submission_id)).one()


def acks(rt: Runtime) -> list[Acknowledgement]:
    with Session(rt.engine) as session:
        return list(session.exec(select(Acknowledgement).order_by(Acknowledgement.id)).all())  # type: ignore[arg-type]


def due_receipts(rt: Runtime, count: int, *, start: int = 0) -> list[int]:
    """Submission and receipt rows made directly, as fast as the database allows; returns the receipt ids."""
    ids = []
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        for n in range(start, start + count):
            sub = Submission(
                message_ref=_message(session, n), message_id=f"<svar-{n}@respondent.example>",
                sender=f"post{n}@respondent{n}.example", subject=f"Høringssvar {n} sak 22/414",
                received_at=datetime(2022, 9, 28, 8, 15, tzinfo=UTC), case_id=case.id, case_number=case.number,
                receipt_ref=f"K-{n:010d}",
            )
            session.add(sub)
            session.flush()
            ack = plan_receipt(session, sub, case, set(), smtp=rt.settings.smtp)
            write_planned(session, [ack])
            assert ack.id is not None
            ids.append(ack.id)
    return ids


def _message(session: Session, n: int) -> int:
    from intake.db.models import Message

    message = Message(sha256=f"{n:064d}", size=1, blob=f"x/{n}", source="file",
                      received_at=datetime(2022, 9, 28, 8, 15, tzinfo=UTC))
    session.add(message)
    session.flush()
    assert message.id is not None
    return message.id
