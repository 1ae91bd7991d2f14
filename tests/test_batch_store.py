"""Storing a fetched batch: rows, ids and the cursor, on each database, through the driver-level insert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlmodel import Session, col, select

from intake.db.models import MailboxState, Message
from intake.pipeline.run import process_message
from intake.runtime import Runtime
from intake.sources.batch_store import Fetched, store_batch
from intake.store.messages import Source
from tests.builders import make_email

SOURCE = Source(kind="imap", mailbox="postmottak", folder="INBOX", uidvalidity=7)
WHEN = datetime(2026, 11, 23, 21, 55, 26, tzinfo=timezone(timedelta(hours=1)))


def start_cursor(rt: Runtime, last_uid: int = 0) -> None:
    with Session(rt.engine) as session:
        session.add(MailboxState(mailbox="postmottak", folder="INBOX", uidvalidity=7, last_uid=last_uid))
        session.commit()


def cursor_at(rt: Runtime) -> int:
    with Session(rt.engine) as session:
        return session.exec(select(MailboxState)).one().last_uid


def rows(rt: Runtime) -> list[Message]:
    with Session(rt.engine) as session:
        return list(session.exec(select(Message).order_by(col(Message.id))).all())


def test_a_new_batch_is_stored_with_every_column_and_the_cursor_moves(rt: Runtime) -> None:
    start_cursor(rt)
    raws = [make_email(message_id=f"<b{i}@a.no>", body=f"Svar {i}.") for i in range(3)]
    no_id = make_email(body="Uten Message-ID.").replace(b"Message-ID:", b"X-Old-ID:")
    batch = [Fetched(uid, raw, WHEN) for uid, raw in zip((4, 5, 6, 9), [*raws, no_id], strict=True)]

    with rt.engine.connect() as conn:
        stored = store_batch(rt, SOURCE, 7, batch, 12, conn)

    assert [s.created for s in stored] == [True] * 4 and len({s.id for s in stored}) == 4
    assert cursor_at(rt) == 12
    by_id = {m.id: m for m in rows(rt)}
    for item, result in zip(batch, stored, strict=True):
        row = by_id[result.id]
        assert rt.store.read(row.blob) == item.raw and row.size == len(item.raw)
        assert (row.source, row.mailbox, row.folder, row.uidvalidity, row.uid) == ("imap", "postmottak", "INBOX", 7,
                                                                                    item.uid)
        assert row.received_at == WHEN and row.received_at.tzinfo == UTC
        assert row.stored_at.tzinfo == UTC and abs(row.stored_at - datetime.now(UTC)) < timedelta(minutes=1)
        assert (row.status, row.attempts) == ("stored", 0)
    assert [by_id[s.id].message_id for s in stored] == ["<b0@a.no>", "<b1@a.no>", "<b2@a.no>", None]


def test_known_bytes_keep_their_row_and_a_copy_in_the_same_batch_is_not_a_second_message(rt: Runtime) -> None:
    start_cursor(rt)
    old, new = make_email(message_id="<old@a.no>"), make_email(message_id="<new@a.no>")
    [first] = store_batch(rt, SOURCE, 7, [Fetched(1, old, WHEN)], 1)

    stored = store_batch(rt, SOURCE, 7, [Fetched(2, new, WHEN), Fetched(3, old, WHEN), Fetched(4, new, WHEN)], 4)

    assert [(s.created, s.status) for s in stored] == [(True, "stored"), (False, "stored"), (False, "stored")]
    assert stored[1].id == first.id and stored[2].id == stored[0].id
    assert len(rows(rt)) == 2 and cursor_at(rt) == 4


def test_the_cursor_never_moves_back_nor_under_another_uidvalidity(rt: Runtime) -> None:
    start_cursor(rt, last_uid=50)
    store_batch(rt, SOURCE, 7, [Fetched(3, make_email(message_id="<late@a.no>"), WHEN)], 3)
    assert cursor_at(rt) == 50
    store_batch(rt, SOURCE, 8, [Fetched(60, make_email(message_id="<other@a.no>"), WHEN)], 60)
    assert cursor_at(rt) == 50
    store_batch(rt, SOURCE, 7, [], 70)  # nothing left in the batch (all expunged): the cursor still moves
    assert cursor_at(rt) == 70


def test_one_connection_serves_many_batches_and_stays_usable_after_known_bytes(rt: Runtime) -> None:
    start_cursor(rt)
    with rt.engine.connect() as conn:
        for n in range(3):
            batch = [Fetched(n * 10 + i, make_email(message_id=f"<c{n}.{i}@a.no>"), WHEN) for i in range(1, 6)]
            assert all(s.created for s in store_batch(rt, SOURCE, 7, batch, n * 10 + 5, conn))
        again = store_batch(rt, SOURCE, 7, [Fetched(40, make_email(message_id="<c0.1@a.no>"), WHEN)], 40, conn)
        assert [s.created for s in again] == [False]
        fresh = store_batch(rt, SOURCE, 7, [Fetched(41, make_email(message_id="<c9@a.no>"), WHEN)], 41, conn)
        assert [s.created for s in fresh] == [True]
    assert len(rows(rt)) == 16 and cursor_at(rt) == 41


def test_a_message_id_with_control_characters_or_too_long_is_none_and_does_not_stop_the_batch(rt: Runtime) -> None:
    # PostgreSQL stores no NUL in text: one such message must not hold up the mailbox.
    start_cursor(rt)
    bad = b"Message-ID: <a\x00b@a.no>\r\nFrom: kari@a.no\r\nSubject: Svar\r\n\r\nSvar.\r\n"
    too_long = b"Message-ID: <" + b"a" * 1200 + b"@a.no>\r\nFrom: kari@a.no\r\n\r\nSvar.\r\n"
    good = make_email(message_id="<ok@a.no>")
    stored = store_batch(rt, SOURCE, 7, [Fetched(1, bad, WHEN), Fetched(2, too_long, WHEN), Fetched(3, good, WHEN)], 3)
    assert [s.created for s in stored] == [True, True, True]
    assert [m.message_id for m in rows(rt)] == [None, None, "<ok@a.no>"]
    for stored_one in stored:  # and each is processed into a submission
        assert process_message(rt, stored_one.id) is not None


def test_a_folder_is_renumbered_when_it_has_rows_under_a_lower_or_a_higher_uidvalidity(rt: Runtime) -> None:
    from intake.config import MailboxSettings
    from intake.sources.imap import _renumbered

    box = MailboxSettings.model_validate({"name": "postmottak", "host": "h", "username": "u", "password": "p"})
    with rt.engine.connect() as conn:
        assert not _renumbered(conn, box, 7)  # nothing stored yet
        start_cursor(rt)
        store_batch(rt, SOURCE, 7, [Fetched(1, make_email(message_id="<r1@a.no>"), WHEN)], 1, conn)
        assert not _renumbered(conn, box, 7)
        assert _renumbered(conn, box, 8) and _renumbered(conn, box, 6)
        other = Source(kind="imap", mailbox="postmottak", folder="Arkiv", uidvalidity=3)
        store_batch(rt, other, 3, [Fetched(1, make_email(message_id="<r2@a.no>"), WHEN)], 1, conn)
        assert not _renumbered(conn, box, 7)  # another folder's rows do not count
