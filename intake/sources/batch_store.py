"""Storing a fetched batch of IMAP messages at once: the same guarantees as ``store_message``, fewer syncs.

``store_message`` pays two file syncs and a database commit per message,
which caps a poll at a few dozen messages a second on an ordinary disk. Here
the new messages of a batch are appended to a pack file and made durable
together (``RawStore.put_batch``: one sync for the whole batch), then every row
of the batch and the advanced cursor are committed in one transaction. So the
cursor still moves only with the rows it covers, and a crash still loses
nothing: the bytes are durable before any row names them, and uncommitted UIDs
are fetched and stored again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from intake.mime import peek_message_id
from intake.models import MailboxState, Message, utcnow
from intake.pipeline import Source, StoredMessage
from intake.runtime import Runtime
from intake.store import sha256_hex

MESSAGES = Message.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    received_at: datetime


def store_batch(
    rt: Runtime, source: Source, uidvalidity: int, items: Sequence[Fetched], cursor_to: int
) -> list[StoredMessage]:
    """Stores ``items`` (one per UID) and moves the cursor to ``cursor_to`` in the same commit.

    Returns one ``StoredMessage`` per item, in order; ``created`` is False for
    bytes we already had. New mail is the rule and known bytes the exception
    (a rebuilt folder, the same message delivered twice), so the batch is
    appended and inserted without asking first; only when the insert meets a
    sha256 we already have are the known ones looked up and the rest inserted.
    """
    assert source.mailbox is not None and source.folder is not None
    digests = [sha256_hex(item.raw) for item in items]
    firsts: dict[str, Fetched] = {}
    for sha, item in zip(digests, items, strict=True):
        firsts.setdefault(sha, item)
    refs = dict(rt.store.put_batch([item.raw for item in firsts.values()]))
    known: dict[str, StoredMessage] = {}
    try:
        created = _commit(rt, source, uidvalidity, firsts, refs, cursor_to)
    except IntegrityError:
        # Some of these bytes are stored already (or are being stored by another process this
        # moment): keep their rows, insert the others.
        known = _known(rt, list(firsts))
        created = _commit(rt, source, uidvalidity, {k: v for k, v in firsts.items() if k not in known}, refs, cursor_to)
    out: list[StoredMessage] = []
    for sha in digests:
        if sha in created:
            # The same bytes twice in one batch: the first is the new row, the second a copy of it.
            out.append(StoredMessage(created.pop(sha), True, "stored"))
            known[sha] = StoredMessage(out[-1].id, False, "stored")
        else:
            out.append(known[sha])
    return out


def _known(rt: Runtime, digests: list[str]) -> dict[str, StoredMessage]:
    with Session(rt.engine) as session:
        return {
            sha: StoredMessage(pk, False, status)
            for pk, sha, status in session.execute(
                select(MESSAGES.c.id, MESSAGES.c.sha256, MESSAGES.c.status).where(MESSAGES.c.sha256.in_(digests))
            ).all()
        }


def _commit(
    rt: Runtime,
    source: Source,
    uidvalidity: int,
    new: dict[str, Fetched],
    refs: dict[str, str],
    cursor_to: int,
) -> dict[str, int]:
    """Inserts a row per new sha256 and moves the cursor, in one transaction; returns the new ids."""
    now = utcnow()
    rows = [
        {
            "sha256": sha, "size": len(item.raw), "blob": refs[sha], "message_id": peek_message_id(item.raw),
            "source": source.kind, "mailbox": source.mailbox, "folder": source.folder,
            "uidvalidity": uidvalidity, "uid": item.uid, "received_at": item.received_at,
            "stored_at": now, "status": "stored", "attempts": 0,
        }
        for sha, item in new.items()
    ]
    created: dict[str, int] = {}
    with Session(rt.engine) as session:
        # A Core insert, not ORM objects: this is the hot path of a poll. The row is the record of
        # the storing (when, from where, how big), so no audit row is written beside it.
        if rows:
            # A plain executemany and one select cost less than INSERT ... RETURNING for many rows.
            session.execute(insert(MESSAGES), rows)
            created = {
                sha: pk for pk, sha in session.execute(
                    select(MESSAGES.c.id, MESSAGES.c.sha256).where(MESSAGES.c.sha256.in_(list(new)))
                ).all()
            }
        session.execute(
            update(MailboxState)
            .where(
                col(MailboxState.mailbox) == source.mailbox,
                col(MailboxState.folder) == source.folder,
                col(MailboxState.uidvalidity) == uidvalidity,
                col(MailboxState.last_uid) < cursor_to,
            )
            .values(last_uid=cursor_to)
        )
        session.commit()
    return created
