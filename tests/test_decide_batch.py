"""Messages decided together in one transaction: each sees those before it; one failure costs the rest nothing."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlmodel import Session, col, select

import intake.pipeline.finish as finish
from intake.db.models import Acknowledgement, Attachment, AuditLog, Flag, Message, Submission
from intake.pipeline.finish import finish_batch
from intake.pipeline.prepare import prepare_message
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from tests.builders import make_email

ON_TIME = datetime(2022, 9, 28, 10, 15, tzinfo=ZoneInfo("Europe/Oslo"))
FILE = Source(kind="file")


def stored(rt: Runtime, *emails: bytes) -> list[int]:
    return [store_message(rt, raw, FILE, ON_TIME).id for raw in emails]


def commits(rt: Runtime) -> Counter[str]:
    counted: Counter[str] = Counter()
    event.listen(rt.engine, "commit", lambda conn: counted.update(["commit"]))
    return counted


def test_messages_decided_together_see_the_ones_before_them_and_commit_once(rt: Runtime) -> None:
    pks = stored(
        rt,
        make_email(sender="Kari <kari@legemiddelverket.no>", message_id="<a@legemiddelverket.no>"),
        make_email(sender="Ola <ola@dmp.no>", message_id="<b@dmp.no>", subject="Oppdatert høringssvar sak 22/414"),
        make_email(sender="post@helsedir.no", message_id="<c@helsedir.no>"),
        # The first one again, under other bytes: its Message-ID was decided two messages ago.
        make_email(sender="Kari <kari@legemiddelverket.no>", message_id="<a@legemiddelverket.no>", body="Igjen."),
    )
    prepared = [prepare_message(rt, pk) for pk in pks]
    counted = commits(rt)
    results = finish_batch(rt, prepared)
    assert all(r is not None for r in results) and len(set(results)) == 4
    assert counted["commit"] == 1
    with Session(rt.engine) as session:
        flags = {(s.sender, s.message_ref): sorted(f.name for f in session.exec(
            select(Flag).where(Flag.submission_id == s.id))) for s in session.exec(select(Submission))}
        statuses = {m.id: m.status for m in session.exec(select(Message))}
        created = session.exec(select(AuditLog.entity_id).where(AuditLog.action == "submission.created")).all()
    assert flags == {
        ("kari@legemiddelverket.no", pks[0]): [],
        ("ola@dmp.no", pks[1]): ["duplicate_organisation"],
        ("post@helsedir.no", pks[2]): [],
        ("kari@legemiddelverket.no", pks[3]): ["duplicate_message", "duplicate_organisation"],
    }
    assert set(statuses.values()) == {"processed"}
    assert sorted(created) == sorted(results)


def test_an_auto_reply_earlier_in_a_batch_is_nobodys_first_response_and_flags_are_written_once(rt: Runtime) -> None:
    pks = stored(
        rt,
        make_email(sender="Kari <kari@legemiddelverket.no>", message_id="<away@legemiddelverket.no>",
                   subject="Automatisk svar: Høringssvar sak 22/414"),
        make_email(sender="Per <per@legemiddelverket.no>", message_id="<real@legemiddelverket.no>"),
        make_email(sender="Ola <ola@legemiddelverket.no>", message_id="<again@legemiddelverket.no>"),
    )
    prepared = [prepare_message(rt, pk) for pk in pks]
    statements: list[str] = []
    event.listen(rt.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_rest: statements.append(statement.split("(", 1)[0].strip()))
    results = finish_batch(rt, prepared)
    with Session(rt.engine) as session:
        names = {s.message_ref: sorted(f.name for f in session.exec(select(Flag).where(Flag.submission_id == s.id)))
                 for s in session.exec(select(Submission))}
    # The auto-reply's flag was written before the next decision read it: Per's response is the
    # organisation's first, and Ola's the second.
    assert "auto_reply" in names[pks[0]]
    assert "duplicate_organisation" not in names[pks[1]]
    assert "duplicate_organisation" in names[pks[2]]
    assert all(r is not None for r in results)
    # The other flags of the batch went in one statement at its end, after the last submission.
    flag_writes = [n for n, statement in enumerate(statements) if statement == "INSERT INTO flags"]
    last_submission = max(n for n, statement in enumerate(statements) if statement == "INSERT INTO submissions")
    assert len(flag_writes) == 2 and flag_writes[0] < last_submission < flag_writes[1]


def test_a_message_that_fails_in_a_batch_is_recorded_alone_and_the_others_are_decided(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pks = stored(rt, *(make_email(sender=f"post@org{n}.example", message_id=f"<m{n}@org{n}.example>")
                       for n in range(4)))
    bad = pks[2]
    real = finish.run_chain

    def failing(ctx: Any) -> Any:
        if ctx.message_pk == bad:
            raise RuntimeError("simulated rule crash")
        return real(ctx)

    monkeypatch.setattr(finish, "run_chain", failing)
    prepared = [prepare_message(rt, pk) for pk in pks]
    results = finish_batch(rt, prepared)
    assert results[2] is None and all(results[n] is not None for n in (0, 1, 3))
    with Session(rt.engine) as session:
        messages = {m.id: m for m in session.exec(select(Message))}
        receipts = session.exec(select(Acknowledgement.submission_id)).all()
        created = session.exec(select(AuditLog.entity_id).where(AuditLog.action == "submission.created")).all()
        failed = session.exec(select(AuditLog.entity_id).where(col(AuditLog.action).in_(
            ["message.failed", "message.parked"]))).all()
    assert messages[bad].status == "failed" and messages[bad].attempts == 1
    assert "simulated rule crash" in (messages[bad].last_error or "")
    # The batch was thrown away whole and its others decided again, each once: no attempt charged,
    # one submission, one receipt and one audit entry each, nothing left of the first try.
    assert all(messages[pk].status == "processed" and messages[pk].attempts == 0 for pk in pks if pk != bad)
    assert sorted(receipts) == sorted(r for r in results if r is not None)
    assert sorted(created) == sorted(r for r in results if r is not None)
    assert failed == [bad]


def test_prepared_messages_with_nothing_to_decide_keep_their_places_in_a_batch(rt: Runtime) -> None:
    first, second, third = stored(rt, make_email(message_id="<x@legemiddelverket.no>"),
                                  make_email(sender="post@helsedir.no", message_id="<y@helsedir.no>"),
                                  make_email(sender="post@dmp.no", message_id="<z@dmp.no>"))
    done = finish_batch(rt, [prepare_message(rt, first)])[0]
    # The first is done already (its answer is final); the second failed to prepare.
    again, broken, fresh = (prepare_message(rt, pk) for pk in (first, second, third))
    broken.error, broken.parsed = RuntimeError("simulated read error"), None
    results = finish_batch(rt, [again, broken, fresh])
    assert results[0] == done and results[1] is None and results[2] is not None
    with Session(rt.engine) as session:
        assert session.get(Message, second).status == "failed"  # type: ignore[union-attr]
        assert session.get(Message, third).status == "processed"  # type: ignore[union-attr]


def test_a_batchs_files_are_written_with_their_own_submissions_and_a_bare_thanks_is_told_apart(rt: Runtime) -> None:
    from intake.receipts.plan import THANKS_ONLY

    note = ("notat.txt", "text/plain", "Vårt notat til sak 22/414.".encode())
    (first,) = stored(rt, make_email(sender="Kari <kari@legemiddelverket.no>", message_id="<svar@legemiddelverket.no>"))
    assert finish_batch(rt, [prepare_message(rt, first)])[0] is not None
    reply = {"In-Reply-To": "<svar@legemiddelverket.no>"}
    pks = stored(
        rt,
        # A thanks that brings a file is no bare thanks: its receipt goes.
        make_email(sender="Kari <kari@legemiddelverket.no>", message_id="<fil@legemiddelverket.no>", body="Takk!",
                   headers=reply, attachments=[note]),
        make_email(sender="Kari <kari@legemiddelverket.no>", message_id="<takk@legemiddelverket.no>", body="Takk!",
                   headers=reply),
        make_email(sender="post@helsedir.no", message_id="<svar@helsedir.no>",
                   attachments=[note, ("vedlegg.txt", "text/plain", b"Mer tekst.")]),
    )
    results = finish_batch(rt, [prepare_message(rt, pk) for pk in pks])
    assert all(r is not None for r in results)
    with Session(rt.engine) as session:
        files = Counter(session.exec(select(Attachment.submission_id)).all())
        receipts = {a.submission_id: (a.status, a.reason) for a in session.exec(select(Acknowledgement))}
        follow_ups = {s.id: s.follow_up_of for s in session.exec(select(Submission))}
    assert files == {results[0]: 1, results[2]: 2}
    assert receipts[results[0]][0] == "pending"
    assert receipts[results[1]] == ("suppressed", THANKS_ONLY)
    assert receipts[results[2]][0] == "pending"
    assert follow_ups[results[0]] is not None and follow_ups[results[1]] is not None
