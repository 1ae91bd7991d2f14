"""Replies matched through the thread, with the sender's References bounded: the last 20 ids, one query."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import event
from sqlmodel import Session

from intake.decide.thread import MAX_REPLY_IDS, reply_ids, thread_case
from intake.mail.mime import ParsedMessage, parse
from intake.pipeline.run import ingest
from intake.review import queries
from intake.review.serialize import submission_json
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email

FILE = Source(kind="file")
ON_TIME = datetime(2022, 9, 28, 8, 0, tzinfo=UTC)


def _with_references(raw: bytes, count: int, last: str) -> bytes:
    """The mail with a References header of ``count`` ids and ``last``, written as a sender would, unfolded."""
    ids = " ".join(f"<r{n}@spam.example>" for n in range(count)) + f" {last}"
    return f"References: {ids}\r\n".encode() + raw


def test_only_the_nearest_ids_are_read() -> None:
    parsed = parse(_with_references(make_email(headers={"In-Reply-To": "<a@x.example>"}), 60_000, "<z@x>"))
    ids = reply_ids(parsed)
    assert len(ids) == MAX_REPLY_IDS == 20
    assert ids[:3] == ["<a@x.example>", "<z@x>", "<r59999@spam.example>"]


def _selects(rt: Runtime, parsed: ParsedMessage) -> tuple[str | None, int]:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    with Session(rt.engine) as session:
        event.listen(rt.engine, "before_cursor_execute", count)
        try:
            case = thread_case(session, parsed)
        finally:
            event.remove(rt.engine, "before_cursor_execute", count)
    return case, len([s for s in statements if s.lstrip().upper().startswith("SELECT")])


def test_a_reply_with_20000_references_is_matched_in_one_query_and_fast(rt: Runtime) -> None:
    first = ingest(rt, make_email(message_id="<svar-1@legemiddelverket.no>"), FILE, ON_TIME)
    assert first.submission_id is not None
    reply = _with_references(make_email(subject="Re: tillegg", body="Et tillegg."), 20_000,
                             "<svar-1@legemiddelverket.no>")
    assert _selects(rt, parse(reply)) == ("22/414", 1)
    result = ingest(rt, reply, FILE, ON_TIME)
    with Session(rt.engine) as session:
        shown = next(submission_json(session, s) for s in queries.list_submissions(session)
                     if s.id == result.submission_id)
    assert shown["case"] == "22/414" and shown["match_source"] == "thread"


def test_20000_unknown_references_cost_one_query_not_40000(rt: Runtime) -> None:
    hostile = _with_references(make_email(subject="Hei", body="Ingen sak her."), 20_000, "<siste@spam.example>")
    assert _selects(rt, parse(hostile)) == (None, 1)
    # Before: two queries per id inside the write transaction, 14 s for 20,000 ids (60,000: 77 s).
    started = time.monotonic()
    result = ingest(rt, hostile, FILE, ON_TIME)
    assert result.submission_id is not None
    assert time.monotonic() - started < 3.0
