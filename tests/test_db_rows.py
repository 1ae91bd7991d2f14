"""Rows past the ORM (the model's defaults apply, a required column left out is an error) and reading sessions."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from intake.db.audit import gathered, record
from intake.db.engine import session_scope
from intake.db.models import AuditLog
from intake.db.rows import insert_values
from intake.runtime import Runtime


def test_plain_rows_get_the_models_defaults(rt: Runtime) -> None:
    before = datetime.now(UTC)
    with session_scope(rt.engine) as session:
        insert_values(session, AuditLog, [{"action": "test.one", "entity": "test"},
                                          {"action": "test.two", "entity": "test", "actor": "kari", "entity_id": 7,
                                           "detail": {"note": "æøå"}}])
    with Session(rt.engine) as session:
        rows = {r.action: r for r in session.exec(select(AuditLog).where(AuditLog.entity == "test"))}
    assert rows["test.one"].actor == "system" and rows["test.one"].entity_id is None
    assert rows["test.one"].detail is None and rows["test.one"].at >= before
    assert (rows["test.two"].actor, rows["test.two"].entity_id, rows["test.two"].detail) == ("kari", 7, {"note": "æøå"})


def test_a_required_column_left_out_is_an_error_before_anything_is_written(rt: Runtime) -> None:
    with pytest.raises(KeyError, match=r"audit_log\.action"), session_scope(rt.engine) as session:
        insert_values(session, AuditLog, [{"entity": "test"}])


def test_gathered_entries_are_written_at_the_end_of_the_block_and_not_at_all_after_an_error(rt: Runtime) -> None:
    with session_scope(rt.engine) as session, gathered(session):
        record(session, "test.gathered", "test", 1)
        assert session.exec(select(AuditLog).where(AuditLog.action == "test.gathered")).all() == []
    with pytest.raises(RuntimeError), session_scope(rt.engine) as session, gathered(session):
        record(session, "test.lost", "test", 2)
        raise RuntimeError("the batch failed")
    with Session(rt.engine) as session:
        actions = session.exec(select(AuditLog.action).where(AuditLog.entity == "test")).all()
    assert actions == ["test.gathered"]


def test_a_reading_session_sees_what_is_committed_and_waits_for_no_writer(rt: Runtime) -> None:
    from intake.db.engine import reading

    with session_scope(rt.engine) as writer:
        insert_values(writer, AuditLog, [{"action": "test.uncommitted", "entity": "test"}])
        writer.flush()
        # On SQLite a session of its own would begin with BEGIN IMMEDIATE and wait for this writer.
        started = time.monotonic()
        with reading(rt.engine) as session:
            seen = session.exec(select(AuditLog.action).where(AuditLog.entity == "test")).all()
        assert seen == [] and time.monotonic() - started < 5
    with reading(rt.engine) as session:
        assert session.exec(select(AuditLog.action).where(AuditLog.entity == "test")).all() == ["test.uncommitted"]
