"""Polling an IMAP mailbox folder: fetch what is new since the cursor, store it, then process it.

The order is what keeps mail from being lost or doubled:
1. the raw bytes of each new message are made durable on disk;
2. their rows are committed together with the cursor (``MailboxState.last_uid``)
   moved past them, so the cursor never covers a message we do not have;
3. then the stored messages are processed, and only after that is anything
   done to them on the server (``\\Seen`` or a move, per ``after_processing``).
A crash between any two steps repeats at most the step in hand, and the
repeat is harmless: stored bytes are recognised by their sha256, processing is
idempotent, and a UIDVALIDITY change falls back on Message-ID and bytes.
``\\Seen`` is never read: other people and clients read the same mailbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from imapclient import IMAPClient
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from intake import metrics
from intake.config import MailboxSettings
from intake.db.engine import database_errors
from intake.db.locks import mailbox_lock
from intake.db.models import Message, utcnow
from intake.errors import DatabaseUnavailable, SourceUnavailable
from intake.mail.large import Mapped
from intake.mail.mime import peek_message_id
from intake.pipeline.batch import process_many
from intake.runtime import Runtime
from intake.sources import cursor
from intake.sources.batch_store import Fetched, store_batch
from intake.sources.imap_actions import apply_pending, ensure_move_target
from intake.sources.imap_connect import connect, disconnect, imap_errors
from intake.sources.imap_fetch import Fetch
from intake.sources.prefetch import prefetched
from intake.store.messages import Source

log = logging.getLogger(__name__)
# The largest UID IMAP allows (RFC 3501: a 32-bit unsigned number).
MAX_UID = 4294967295


@dataclass
class PollResult:
    """What one poll of one mailbox folder did."""

    mailbox: str
    folder: str
    uidvalidity: int | None = None
    new: int = 0
    stored: int = 0
    known: int = 0
    processed: int = 0
    failed: int = 0
    actioned: int = 0
    skipped: str | None = None
    warning: str | None = None
    seconds: float = 0.0
    message_pks: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"{self.mailbox}/{self.folder}"
        if self.skipped:
            return f"{where}: skipped, {self.skipped}"
        return (
            f"{where}: {self.new} new, {self.stored} stored, {self.known} already known, "
            f"{self.processed} processed, {self.failed} failed ({self.seconds:.1f} s)"
        )


def poll_all(rt: Runtime) -> list[PollResult]:
    """Polls every configured mailbox once (``intake poll --once``).

    Raises ``SourceUnavailable`` (one line, naming every mailbox that failed)
    after trying all of them, so one broken mailbox does not hide the others' mail.
    """
    results: list[PollResult] = []
    errors: list[str] = []
    for box in rt.settings.mailboxes:
        try:
            results.append(poll_mailbox(rt, box))
        except DatabaseUnavailable:
            raise
        except SourceUnavailable as err:
            log.error("%s", err)
            errors.append(str(err))
    if errors:
        for result in results:
            log.info("%s", result)
        raise SourceUnavailable("; ".join(errors))
    return results


def poll_mailbox(rt: Runtime, box: MailboxSettings, *, process: bool = True) -> PollResult:
    """Connects, polls the folder once under the mailbox's lock, and disconnects."""
    lock = mailbox_lock(rt.engine, rt.settings.storage.path, box.name)
    if not lock.acquire():
        return PollResult(box.name, box.folder, skipped="another process is polling it")
    try:
        client = None
        try:
            client = connect(box)
            result = poll_connected(rt, box, client, process=process)
        except SourceUnavailable as err:
            _record(rt, box, str(err))
            raise
        finally:
            disconnect(client)
        _record(rt, box, None)
        return result
    finally:
        lock.release()


def _record(rt: Runtime, box: MailboxSettings, error: str | None) -> None:
    with database_errors():
        cursor.record_poll(rt.engine, box.name, box.folder, error)


def poll_connected(
    rt: Runtime,
    box: MailboxSettings,
    client: IMAPClient,
    *,
    stop: threading.Event | None = None,
    process: bool = True,
) -> PollResult:
    """Polls the folder over an open connection; the caller holds the mailbox lock.

    With ``stop`` set the poll ends after the message in hand; whatever was
    stored but not yet processed is picked up by ``process_pending`` later.
    """
    started = time.monotonic()
    # One database connection for the whole poll, so its steps and batches do not each check one
    # out (and ping it, on PostgreSQL).
    with database_errors(), rt.engine.connect() as conn:
        result = _poll(rt, conn, box, client, stop, process)
    result.seconds = time.monotonic() - started
    if result.new:
        log.info("%s", result)
    return result


def _poll(
    rt: Runtime, conn: Connection, box: MailboxSettings, client: IMAPClient, stop: threading.Event | None,
    process: bool,
) -> PollResult:
    readonly = box.after_processing == "none"
    if box.after_processing == "move":
        # Checked before anything is fetched, so a target the server refuses is one clear error.
        ensure_move_target(client, box)
    with imap_errors(box, f"opening folder {box.folder}"):
        info = client.select_folder(box.folder, readonly=readonly)
    uidvalidity = int(info[b"UIDVALIDITY"])
    uidnext = int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None
    result = PollResult(box.name, box.folder, uidvalidity=uidvalidity)
    state = cursor.load(conn, box.name, box.folder)
    last = state.last_uid
    resync_below = state.resync_below
    if state.uidvalidity != uidvalidity:
        resync_below = None
        if state.uidvalidity is not None:
            # The server renumbered the folder (rebuilt, restored, recreated): every UID is new to
            # us, so read it all again and let content and Message-ID recognise what we have.
            log.warning(
                "mailbox %s: folder %s UIDVALIDITY changed from %s to %s; reading the folder again",
                box.name, box.folder, state.uidvalidity, uidvalidity,
            )
            exists = int(info.get(b"EXISTS", 0))
            resync_below = uidnext if uidnext is not None else _newest_uid(client, box, exists) + 1
        cursor.reset(conn, box.name, box.folder, uidvalidity, resync_below)
        last = 0
    # UIDNEXT says whether anything arrived without a SEARCH, so an empty poll costs the same
    # however large the folder is.
    extra_uids: list[int] = []
    if uidnext is None or uidnext > last + 1:
        # The highest UID there can be rather than "*": GNU imap4d answers "UID N:*" with
        # nothing at all, and intake would report «0 new» for ever while staying healthy.
        wanted = f"{last + 1}:{MAX_UID}".encode()
        with imap_errors(box, "searching for new messages"):
            found = client.search([b"UID", wanted])
        uids = sorted(uid for uid in found if uid > last)
        result.new = len(uids)
        if not uids and int(info.get(b"EXISTS", 0)) > 0:
            _warn_if_missed(client, box, last, result, int(info[b"EXISTS"]))
        # Asked of the database rather than remembered, so a reread cut short by a lost
        # connection still checks Message-IDs when it resumes.
        resync = bool(uids) and _renumbered(conn, box, uidvalidity)
        # Only what was in the folder when it was renumbered may be a copy of what we stored
        # before; a corrected resend arriving later (same Message-ID, new bytes) is new mail.
        # (A change noticed before intake kept this bound leaves it empty: every UID may be.)
        copies_below = resync_below if resync_below is not None else MAX_UID + 1
        with imap_errors(box, "searching for large messages"):
            larger = str(box.large_message_kb * 1024).encode()
            large = set(client.search([b"UID", wanted, b"LARGER", larger]))

        def stopping() -> bool:
            return stop is not None and stop.is_set()

        batches = plan_batches(uids, large, box.batch_size)
        with prefetched(box, client, batches, stopping, alone=lambda b: b[0] in large,
                        spool=rt.store.spool) as fetched:

            def stored() -> Iterator[int]:
                """Stores each fetched batch when the one before is nearly processed; yields what to process."""
                nonlocal last
                for batch, response in fetched:
                    if stopping():
                        return
                    last = _store_batch(rt, conn, box, batch, response, uidvalidity, last,
                                        copies_below if resync else 0, result, extra_uids)
                    del response  # stored: the bytes are read back from the store when processed
                    pending, result.message_pks = result.message_pks, []
                    yield from pending

            if process:
                _process(rt, stored(), result, stop)
            else:
                result.message_pks = list(stored())  # the caller processes them
    if process and (stop is None or not stop.is_set()):
        result.actioned = apply_pending(rt.engine, box, client, uidvalidity, extra_uids)
    return result


def _warn_if_missed(client: IMAPClient, box: MailboxSettings, last: int, result: PollResult, exists: int) -> None:
    """Warns when the folder's newest message lies past the cursor although the search returned nothing."""
    newest = _newest_uid(client, box, exists)
    if newest > last:
        result.warning = (f"the server's search found no new mail, but the folder holds UID {newest} "
                          f"past the cursor {last}; the server's SEARCH is not to be trusted")
        log.warning("mailbox %s: folder %s: %s", box.name, box.folder, result.warning)


def _newest_uid(client: IMAPClient, box: MailboxSettings, exists: int) -> int:
    """The UID of the folder's newest message (``FETCH <EXISTS> (UID)``, by sequence number), 0 when empty."""
    if exists <= 0:
        return 0
    with imap_errors(box, "checking the newest message"):
        client.use_uid = False
        try:
            answer = client.fetch([exists], [b"UID"])
        finally:
            client.use_uid = True
    return max((int(data.get(b"UID", 0)) for data in answer.values()), default=0)


def plan_batches(uids: list[int], large: set[int], size: int) -> list[list[int]]:
    """Consecutive runs of at most ``size`` UIDs, with each large message in a batch of its own.

    The order is kept, since the cursor moves batch by batch; a batch of small
    messages then holds at most ``size`` times the large-message limit in memory.
    """
    batches: list[list[int]] = []
    run: list[int] = []
    for uid in uids:
        if uid in large:
            if run:
                batches.append(run)
                run = []
            batches.append([uid])
            continue
        run.append(uid)
        if len(run) == size:
            batches.append(run)
            run = []
    if run:
        batches.append(run)
    return batches


def _store_batch(
    rt: Runtime,
    conn: Connection,
    box: MailboxSettings,
    batch: list[int],
    fetched: Fetch,
    uidvalidity: int,
    last: int,
    copies_below: int,
    result: PollResult,
    extra_uids: list[int],
) -> int:
    """Stores one fetched batch; returns the new cursor, committed with the batch's rows.

    A message whose UID is below ``copies_below`` and whose Message-ID this folder gave us
    before it was renumbered is taken for that message's copy.
    """
    items: list[Fetched] = []
    for uid in batch:
        item = fetched.get(uid)
        # A message expunged between SEARCH and FETCH is gone; there is nothing to store.
        if item is None or b"BODY[]" not in item:
            continue
        body = item[b"BODY[]"]
        # A large body was spooled to the store as it was fetched (RawStore.spool); bytes() would read it in.
        raw = cast(bytes, body) if isinstance(body, Mapped) else bytes(body)
        if uid < copies_below and _known_message_id(conn, box, raw, uidvalidity):
            result.known += 1
            extra_uids.append(uid)
            continue
        items.append(Fetched(uid, raw, _as_utc(item.get(b"INTERNALDATE"))))
    source = Source(kind="imap", mailbox=box.name, folder=box.folder, uidvalidity=uidvalidity)
    top = max(batch[-1], last)
    with metrics.cpu_stage("store"):
        stored = store_batch(rt, source, uidvalidity, items, top, conn)
    for one, message in zip(items, stored, strict=True):
        if message.created:
            result.stored += 1
            result.message_pks.append(message.id)
        else:
            result.known += 1
            extra_uids.append(one.uid)
            if message.status != "processed" and message.id not in result.message_pks:
                result.message_pks.append(message.id)
    return top


def _process(rt: Runtime, pending: Iterator[int], result: PollResult, stop: threading.Event | None) -> None:
    """Processes the poll's messages as they are stored, in one window for the whole poll.

    Storing a batch only when the window needs its first message keeps the
    window full across batches; processing each batch on its own emptied it at
    the end of every batch, and the decider then waited for the next batch's
    first preparations (bench/e2e.py). A failure while fetching or storing a
    batch ends the poll once what was stored before it has been processed, so
    that none of it is left for the run that finishes leftovers minutes later.
    """
    failure: list[Exception] = []

    def guarded() -> Iterator[int]:
        try:
            yield from pending
        except Exception as err:  # raised again below, once the window is decided
            failure.append(err)

    def count(_pk: int, submission: int | None) -> None:
        if submission is None:
            result.failed += 1
        else:
            result.processed += 1

    # Extraction of the next messages overlaps the decision on this one (intake/pipeline/batch.py).
    process_many(rt, guarded(), stop=stop, done=count)
    if failure:
        raise failure[0]


def _renumbered(conn: Connection, box: MailboxSettings, uidvalidity: int) -> bool:
    """Whether this folder gave us messages under another UIDVALIDITY (it was rebuilt).

    Read as the lowest and the highest UIDVALIDITY of the folder's rows, each
    off one end of an index, so the answer costs the same however many
    messages the folder has given us ("!=" made the database read them all).
    """
    column = col(Message.uidvalidity)
    first = (
        select(column)
        .where(Message.mailbox == box.name, Message.folder == box.folder, column.is_not(None))
        .limit(1)
    )
    with Session(conn) as session:
        for order in (column.asc(), column.desc()):
            found = session.exec(first.order_by(order)).first()
            if found is not None and found != uidvalidity:
                return True
    return False


def _known_message_id(conn: Connection, box: MailboxSettings, raw: bytes, uidvalidity: int) -> bool:
    """Whether this folder gave us the same Message-ID before it was renumbered."""
    message_id = peek_message_id(raw)
    if not message_id:
        return False
    with Session(conn) as session:
        found = session.exec(
            select(Message.id).where(
                Message.message_id == message_id, Message.mailbox == box.name, Message.folder == box.folder,
                Message.uidvalidity != uidvalidity,
            )
        ).first()
    return found is not None


def _as_utc(when: object) -> datetime:
    """INTERNALDATE as aware UTC; a missing one (never seen, but allowed) becomes now."""
    if not isinstance(when, datetime):
        return utcnow()
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)

