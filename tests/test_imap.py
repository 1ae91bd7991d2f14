"""The IMAP poller against a real Dovecot, on SQLite and PostgreSQL: never miss, lose or double a message."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlmodel import Session, col, func, select

from intake.db.models import MailboxState, Message, Submission
from intake.errors import SourceUnavailable, TokenUnavailable
from intake.runtime import Runtime
from intake.sources import imap, prefetch
from intake.sources.imap import plan_batches, poll_all, poll_mailbox
from intake.sources.imap_fetch import Fetch, Spool, fetch_batch
from tests.builders import make_email
from tests.dovecot import Dovecot

MakeRt = Callable[..., Runtime]


def counts(rt: Runtime) -> tuple[int, int]:
    with Session(rt.engine) as session:
        messages = session.exec(select(func.count()).select_from(Message)).one()
        submissions = session.exec(select(func.count()).select_from(Submission)).one()
    return messages, submissions


def message_ids(rt: Runtime) -> list[str]:
    with Session(rt.engine) as session:
        return sorted(m or "" for m in session.exec(select(Submission.message_id)).all())


def test_new_mail_is_stored_processed_and_dated_by_internaldate(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    when = datetime(2022, 9, 30, 21, 59, 30, tzinfo=UTC)  # 23:59:30 in Oslo, the day before the deadline
    dovecot.append(make_email(message_id="<first@legemiddelverket.no>"), user=imap_user, when=when)
    rt = make_rt(dovecot.mailbox_settings(imap_user))

    [result] = poll_all(rt)

    assert (result.new, result.stored, result.processed, result.failed) == (1, 1, 1, 0)
    with Session(rt.engine) as session:
        submission = session.exec(select(Submission)).one()
        state = session.exec(select(MailboxState)).one()
    assert submission.received_at == when
    assert submission.case_number == "22/414" and not submission.late
    assert (state.mailbox, state.folder, state.last_uid) == ("postmottak", "INBOX", 1)
    assert state.last_success_at is not None and state.last_error is None


def test_nothing_is_processed_twice_across_restarts(dovecot: Dovecot, imap_user: str, make_rt: MakeRt) -> None:
    box = dovecot.mailbox_settings(imap_user, batch_size=2)
    dovecot.append_many([make_email(message_id=f"<m{i}@a.no>") for i in range(5)], user=imap_user)
    assert poll_all(make_rt(box))[0].stored == 5

    # A new process: only the cursor in the database tells it what it has seen. The highest UID
    # is below "6:*", which IMAP still answers with that message; it must not come back.
    again = make_rt(box)
    assert poll_all(again)[0].new == 0
    dovecot.append(make_email(message_id="<m5@a.no>"), user=imap_user)
    [result] = poll_all(make_rt(box))

    assert (result.new, result.stored) == (1, 1)
    assert counts(again) == (6, 6)
    assert message_ids(again) == sorted(f"<m{i}@a.no>" for i in range(6))


def test_mail_appended_during_a_poll_is_taken_exactly_once(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    box = dovecot.mailbox_settings(imap_user, batch_size=3)
    rt = make_rt(box)
    dovecot.append_many([make_email(message_id=f"<early{i}@a.no>") for i in range(10)], user=imap_user)

    def keep_appending() -> None:
        for i in range(15):
            dovecot.append(make_email(message_id=f"<late{i}@a.no>"), user=imap_user)

    writer = threading.Thread(target=keep_appending)
    writer.start()
    while writer.is_alive():
        poll_all(rt)
    writer.join()
    poll_all(rt)

    assert counts(rt) == (25, 25)
    assert len(set(message_ids(rt))) == 25


def test_one_window_of_preparations_spans_the_fetched_batches_of_a_poll(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt, caplog: pytest.LogCaptureFixture
) -> None:
    # Each message fetched in a batch of its own: when every batch was processed on its own, each
    # decision held one message and the window of preparations emptied after every one.
    box = dovecot.mailbox_settings(imap_user, batch_size=1)
    dovecot.append_many([make_email(message_id=f"<w{i}@a.no>") for i in range(12)], user=imap_user)
    rt = make_rt(box, workers=2)
    caplog.set_level(logging.INFO, logger="intake.pipeline.finish")

    [result] = poll_all(rt)

    assert (result.stored, result.processed, result.failed) == (12, 12, 0)
    sizes = [int(found) for found in re.findall(r" batch=(\d+) ", caplog.text)]
    assert len(sizes) == 12 and max(sizes) > 1, sizes
    # In the order they came, as before.
    with Session(rt.engine) as session:
        refs = session.exec(select(Submission.message_ref).order_by(col(Submission.id))).all()
        ids = session.exec(select(Message.message_id).order_by(col(Message.id))).all()
    assert list(refs) == sorted(refs) and ids == [f"<w{i}@a.no>" for i in range(12)]


def test_a_batch_that_cannot_be_stored_ends_the_poll_after_what_was_stored_is_processed(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = dovecot.mailbox_settings(imap_user, batch_size=2)
    dovecot.append_many([make_email(message_id=f"<f{i}@a.no>") for i in range(8)], user=imap_user)
    rt = make_rt(box, workers=2)
    store_batch = imap._store_batch
    calls: list[int] = []

    def failing_third(*args: Any) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise SourceUnavailable("mailbox postmottak: the connection was lost while fetching")
        return store_batch(*args)

    monkeypatch.setattr(imap, "_store_batch", failing_third)
    with pytest.raises(SourceUnavailable):
        poll_mailbox(rt, rt.settings.mailboxes[0])
    # The two batches stored before it were decided, not left for the leftover run minutes later.
    with Session(rt.engine) as session:
        statuses = session.exec(select(Message.status)).all()
    assert statuses == ["processed"] * 4
    assert counts(rt) == (4, 4)

    monkeypatch.setattr(imap, "_store_batch", store_batch)
    [result] = poll_all(rt)
    assert (result.stored, result.processed) == (4, 4)
    assert counts(rt) == (8, 8)
    assert message_ids(rt) == sorted(f"<f{i}@a.no>" for i in range(8))


def test_uidvalidity_reset_brings_no_duplicates(dovecot: Dovecot, imap_user: str, make_rt: MakeRt) -> None:
    folder = "Høringssvar"
    box = dovecot.mailbox_settings(imap_user, folder=folder)
    originals = [make_email(message_id=f"<r{i}@a.no>") for i in range(3)]
    for raw in originals:
        dovecot.append(raw, user=imap_user, folder=folder)
    rt = make_rt(box)
    poll_all(rt)

    # The folder is deleted and rebuilt from a backup: new UIDVALIDITY, UIDs from 1 again. One
    # message comes back with a header the server added (other bytes, same Message-ID), and one is new.
    with dovecot.client(imap_user) as client:
        client.delete_folder(folder)
    for raw in originals[:2]:
        dovecot.append(raw, user=imap_user, folder=folder)
    dovecot.append(b"X-Restored: yes\r\n" + originals[2], user=imap_user, folder=folder)
    dovecot.append(make_email(message_id="<new@a.no>"), user=imap_user, folder=folder)
    [result] = poll_all(rt)

    assert (result.new, result.known, result.stored) == (4, 3, 1)
    assert counts(rt) == (4, 4)
    with Session(rt.engine) as session:
        assert session.exec(select(MailboxState.last_uid)).one() == 4


def test_a_corrected_resend_after_a_uidvalidity_change_is_new_mail(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    folder = "Omnummerert"
    box = dovecot.mailbox_settings(imap_user, folder=folder)
    original = make_email(message_id="<rettet@a.no>", body="Første versjon.")
    dovecot.append(original, user=imap_user, folder=folder)
    rt = make_rt(box)
    poll_all(rt)
    with dovecot.client(imap_user) as client:
        client.delete_folder(folder)
    dovecot.append(b"X-Restored: yes\r\n" + original, user=imap_user, folder=folder)
    [reread] = poll_all(rt)
    assert (reread.known, reread.stored) == (1, 0)
    # The sender corrects the response and sends it again under the same Message-ID.
    dovecot.append(make_email(message_id="<rettet@a.no>", body="Rettet versjon."), user=imap_user, folder=folder)
    [after] = poll_all(rt)
    # Before: it was taken for a copy of the first for ever: never stored, never flagged.
    assert (after.new, after.known, after.stored) == (1, 0, 1)
    assert counts(rt) == (2, 2)


def test_move_mode_moves_processed_mail_to_a_created_folder(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    box = dovecot.mailbox_settings(imap_user, after_processing="move", move_to="Behandlet")
    dovecot.append_many([make_email(message_id=f"<mv{i}@a.no>") for i in range(3)], user=imap_user)
    rt = make_rt(box)

    [result] = poll_all(rt)

    assert result.actioned == 3
    assert dovecot.uids(imap_user) == {}
    assert len(dovecot.uids(imap_user, "Behandlet")) == 3
    with Session(rt.engine) as session:
        assert all(m.imap_done_at is not None for m in session.exec(select(Message)).all())
    assert poll_all(rt)[0].actioned == 0


def test_seen_mode_marks_processed_mail_and_never_trusts_the_seen_flag(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    box = dovecot.mailbox_settings(imap_user, after_processing="seen")
    dovecot.append_many([make_email(message_id=f"<s{i}@a.no>") for i in range(2)], user=imap_user)
    # A clerk opened the first one in Outlook before the service polled.
    with dovecot.client(imap_user) as client:
        client.select_folder("INBOX")
        client.add_flags([1], [b"\\Seen"])
    rt = make_rt(box)

    [result] = poll_all(rt)

    assert result.stored == 2
    assert all(b"\\Seen" in flags for flags in dovecot.uids(imap_user).values())


def test_readonly_mode_leaves_the_mailbox_untouched(dovecot: Dovecot, imap_user: str, make_rt: MakeRt) -> None:
    dovecot.append(make_email(), user=imap_user)
    poll_all(make_rt(dovecot.mailbox_settings(imap_user)))
    # Still \Recent: the folder was only EXAMINEd, which claims nothing, not even that.
    assert dovecot.uids(imap_user) == {1: (b"\\Recent",)}


def test_connection_cut_mid_fetch_resumes_without_loss_or_doubles(own_dovecot: Dovecot, make_rt: MakeRt) -> None:
    server = own_dovecot
    total = 150
    body = "Vi viser til høringen.\n" * 50
    server.append_many([make_email(message_id=f"<cut{i}@a.no>", body=body) for i in range(total)],
                       user="cut")
    rt = make_rt(server.mailbox_settings("cut", batch_size=5))
    outcome: list[BaseException | None] = []

    def poll() -> None:
        try:
            poll_all(rt)
            outcome.append(None)
        except SourceUnavailable as err:
            outcome.append(err)

    poller = threading.Thread(target=poll)
    poller.start()
    deadline = time.monotonic() + 30
    while counts(rt)[0] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    stopped_at = time.monotonic()
    server.stop()
    poller.join(30)
    assert time.monotonic() - stopped_at < 5
    assert isinstance(outcome[0], SourceUnavailable), "the poll finished before the server stopped"
    cut_at = counts(rt)[0]
    assert 0 < cut_at < total
    with Session(rt.engine) as session:
        state = session.exec(select(MailboxState)).one()
    assert state.last_error is not None and "postmottak" in state.last_error
    assert state.last_uid <= cut_at

    server.start()
    from intake.pipeline.run import process_pending

    process_pending(rt)
    poll_all(rt)
    assert counts(rt) == (total, total)
    assert len(set(message_ids(rt))) == total


def test_unreachable_mailbox_raises_one_line(make_rt: MakeRt) -> None:
    from tests.ports import free_port

    rt = make_rt({"name": "postmottak", "host": "127.0.0.1", "port": free_port(), "security": "none",
                  "username": "x", "password": "y"})
    with pytest.raises(SourceUnavailable) as caught:
        poll_all(rt)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("mailbox postmottak: cannot connect to 127.0.0.1:")
    with Session(rt.engine) as session:
        state = session.exec(select(MailboxState)).one()
    assert state.last_error_at is not None and state.last_success_at is None


def test_wrong_password_is_reported(own_dovecot: Dovecot, make_rt: MakeRt) -> None:
    rt = make_rt(own_dovecot.mailbox_settings("someone", password="wrong"))
    with pytest.raises(SourceUnavailable, match=r"login to .* refused"):
        poll_all(rt)


def test_xoauth2_reads_the_token_file_and_reports_a_failing_command(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt, tmp_path: Path
) -> None:
    token = tmp_path / "token.json"
    token.write_text('{"access_token": "secret", "expires_in": 3599}')
    dovecot.append(make_email(), user=imap_user)
    good = dovecot.mailbox_settings(imap_user, auth="xoauth2", password="", oauth2_token_file=str(token))
    assert poll_all(make_rt(good))[0].stored == 1

    bad = dovecot.mailbox_settings(imap_user, name="m365", auth="xoauth2", password="",
                                   oauth2_token_command="sh -c 'echo refresh token expired >&2; exit 3'")
    with pytest.raises(TokenUnavailable, match="m365: XOAUTH2 token command failed: refresh token expired"):
        poll_mailbox(make_rt(bad), make_rt(bad).settings.mailboxes[0])


def test_the_same_bytes_twice_in_the_folder_are_one_message_and_both_copies_are_handled(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    raw = make_email(message_id="<twice@a.no>")
    dovecot.append_many([raw, make_email(message_id="<other@a.no>"), raw], user=imap_user)
    rt = make_rt(dovecot.mailbox_settings(imap_user, after_processing="seen"))

    [result] = poll_all(rt)

    assert (result.new, result.stored, result.known, result.processed) == (3, 2, 1, 2)
    assert counts(rt) == (2, 2)
    assert all(b"\\Seen" in flags for flags in dovecot.uids(imap_user).values())


def test_plan_batches_keeps_the_order_and_gives_a_large_message_a_batch_of_its_own() -> None:
    assert plan_batches([1, 2, 3, 4, 5, 6, 7], {3, 4}, 2) == [[1, 2], [3], [4], [5, 6], [7]]
    assert plan_batches([1, 2, 3], set(), 5) == [[1, 2, 3]]
    assert plan_batches([], {1}, 5) == []


def test_large_messages_are_fetched_one_at_a_time(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = "Vedlagt høringssvar.\n" + "x" * 3000
    raws = [make_email(message_id=f"<s{i}@a.no>", body=big if i in (2, 3) else "Kort svar.") for i in range(6)]
    dovecot.append_many(raws, user=imap_user)
    sizes: list[int] = []

    def spy(client: IMAPClient, uids: list[int], spool: Spool | None = None) -> Fetch:
        sizes.append(len(uids))
        return fetch_batch(client, uids, spool)

    monkeypatch.setattr(prefetch, "fetch_batch", spy)
    rt = make_rt(dovecot.mailbox_settings(imap_user, batch_size=3, large_message_kb=2))
    [result] = poll_all(rt)

    assert (result.new, result.stored, result.processed) == (6, 6, 6)
    assert sizes == [2, 1, 1, 2]
    with Session(rt.engine) as session:
        stored = session.exec(select(Message).order_by(col(Message.uid))).all()
    assert [rt.store.read(m.blob).replace(b"\r\n", b"\n") for m in stored] == [r.replace(b"\r\n", b"\n") for r in raws]


def test_a_large_message_goes_to_a_file_of_its_own_without_a_copy_in_memory(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    """Spooled to the store as it is fetched (in a batch with small mail, as when it arrives late),
    stored as a file of its own, read through a map and processed like any other."""
    from intake.mail.large import MAPPED_MESSAGE

    attachment = b"%PDF-1.4\n" + bytes(range(256)) * (MAPPED_MESSAGE // 256)
    raws = [make_email(message_id="<liten@a.no>", body="Kort svar."),
            make_email(message_id="<stor@a.no>", attachments=[("stor.pdf", "application/pdf", attachment)])]
    dovecot.append_many(raws, user=imap_user)
    # Nothing counts as large for the search, so the large message is fetched with the small one.
    rt = make_rt(dovecot.mailbox_settings(imap_user, large_message_kb=64 * 1024))
    [result] = poll_all(rt)

    assert (result.new, result.stored, result.processed) == (2, 2, 2)
    with Session(rt.engine) as session:
        small, large = session.exec(select(Message).order_by(col(Message.uid))).all()
    assert "#" in small.blob and "#" not in large.blob
    assert rt.store.read(large.blob).replace(b"\r\n", b"\n") == raws[1].replace(b"\r\n", b"\n")
    assert large.size == rt.store.path_of(large.blob).stat().st_size
    # Nothing is left behind where it was spooled.
    assert [p.name for p in (rt.store.root / "incoming").iterdir()] == []
