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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from intake.db.models import Message, utcnow
from intake.mail.mime import peek_message_id
from intake.runtime import Runtime
from intake.sources.cursor import ADVANCE
from intake.store.messages import Source, StoredMessage

MESSAGES = Message.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    received_at: datetime


def store_batch(
    rt: Runtime,
    source: Source,
    uidvalidity: int,
    items: Sequence[Fetched],
    cursor_to: int,
    conn: Connection | None = None,
) -> list[StoredMessage]:
    """Stores ``items`` (one per UID) and moves the cursor to ``cursor_to`` in the same commit.

    Returns one ``StoredMessage`` per item, in order; ``created`` is False for
    bytes we already had. New mail is the rule and known bytes the exception
    (a rebuilt folder, the same message delivered twice), so the batch is
    appended and inserted without asking first; only when the insert meets a
    sha256 we already have are the known ones looked up and the rest inserted.
    ``conn``, when given, is a connection outside any transaction, which a
    poll keeps for all its batches.
    """
    if conn is None:
        with rt.engine.connect() as own:
            return store_batch(rt, source, uidvalidity, items, cursor_to, own)
    assert source.mailbox is not None and source.folder is not None
    # One sha256 and reference per item, in order; the same bytes twice are written once.
    placed = rt.store.put_batch([item.raw for item in items])
    digests = [sha for sha, _ in placed]
    refs = dict(placed)
    firsts: dict[str, Fetched] = {}
    for sha, item in zip(digests, items, strict=True):
        firsts.setdefault(sha, item)
    known: dict[str, StoredMessage] = {}
    try:
        created = _commit(conn, source, uidvalidity, firsts, refs, cursor_to)
    except IntegrityError:
        # Some of these bytes are stored already (or are being stored by another process this
        # moment): keep their rows, insert the others.
        known = _known(conn, list(firsts))
        others = {k: v for k, v in firsts.items() if k not in known}
        created = _commit(conn, source, uidvalidity, others, refs, cursor_to)
    out: list[StoredMessage] = []
    for sha in digests:
        if sha in created:
            # The same bytes twice in one batch: the first is the new row, the second a copy of it.
            out.append(StoredMessage(created.pop(sha), True, "stored"))
            known[sha] = StoredMessage(out[-1].id, False, "stored")
        else:
            out.append(known[sha])
    return out


def _known(conn: Connection, digests: list[str]) -> dict[str, StoredMessage]:
    with conn.begin():
        return {
            sha: StoredMessage(pk, False, status)
            for pk, sha, status in conn.execute(
                select(MESSAGES.c.id, MESSAGES.c.sha256, MESSAGES.c.status).where(MESSAGES.c.sha256.in_(digests))
            ).all()
        }


def _commit(
    conn: Connection,
    source: Source,
    uidvalidity: int,
    new: dict[str, Fetched],
    refs: dict[str, str],
    cursor_to: int,
) -> dict[str, int]:
    """Inserts a row per new sha256 and moves the cursor, in one transaction; returns the new ids.

    This is the hot path of a poll. SQLAlchemy's per-row work for an
    executemany (and psycopg's, for a pipeline of INSERTs) cost more CPU than
    the rest of storing together, so the rows go to the driver directly: each
    value through its column's own bind processor (the conversion SQLAlchemy
    would apply: aware UTC to naive UTC, SQLite's datetime text). Errors come
    out as SQLAlchemy's (``IntegrityError`` for bytes we have), as from any
    statement. The row is the record of the storing (when, from where, how
    big), so no audit row is written beside it.
    """
    now = utcnow()
    processors = _processors(conn.dialect)
    rows = [
        tuple(
            value if process is None else process(value)
            for process, value in zip(processors, (
                sha, len(item.raw), refs[sha], peek_message_id(item.raw), source.kind, source.mailbox,
                source.folder, uidvalidity, item.uid, item.received_at, now, "stored", 0,
            ), strict=True)
        )
        for sha, item in new.items()
    ]
    cursor_values = (cursor_to, source.mailbox, source.folder, uidvalidity, cursor_to)
    if conn.dialect.name == "postgresql":
        return _commit_postgresql(conn, rows, cursor_values)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    created: dict[str, int] = {}
    with conn.begin():
        if rows:
            conn.exec_driver_sql(
                f"INSERT INTO {MESSAGES.name} ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})", rows
            )
            found = conn.exec_driver_sql(
                f"SELECT id, sha256 FROM {MESSAGES.name} WHERE sha256 IN ({', '.join([mark] * len(rows))})",
                tuple(new),
            )
            created = {sha: pk for pk, sha in found}
        conn.exec_driver_sql(ADVANCE.replace("%s", mark), cursor_values)
    return created


def _commit_postgresql(conn: Connection, rows: list[tuple[Any, ...]], cursor_values: tuple[Any, ...]) -> dict[str, int]:
    """The same on PostgreSQL as one statement, committed on its own: one round trip to the server.

    The rows go as one JSON text, which the server turns back into typed rows
    (``json_to_recordset``): psycopg adapts a value at a time in Python, and
    the rows of a batch as arrays cost it three times the CPU. The cursor
    moves in the same statement, so both commit or neither does. The machine
    the poller shares with the database has few cores; every round trip let
    the fetching thread and the server compete for them, and a transaction of
    separate statements took four.
    """
    dialect = conn.dialect
    statement = _postgresql_statement(dialect)
    document = json.dumps([dict(zip(COLUMNS, row, strict=True)) for row in rows], default=_json_value)
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.autocommit = True
    try:
        with driver.cursor() as cursor:
            cursor.execute(statement, (document, *cursor_values))
            return {sha: pk for pk, sha in cursor.fetchall()}
    except dialect.loaded_dbapi.Error as err:
        # A connection lost here goes back to the pool, whose check on the next checkout drops it.
        raise DBAPIError.instance(statement, None, err, dialect.loaded_dbapi.Error, dialect=dialect) from err
    finally:
        if not driver.closed:
            driver.autocommit = False


def _json_value(value: object) -> str:
    if isinstance(value, datetime):  # naive UTC, from the column's bind processor
        return value.isoformat()
    raise TypeError(f"no JSON form for {type(value).__name__}")


COLUMNS = (
    "sha256", "size", "blob", "message_id", "source", "mailbox", "folder", "uidvalidity", "uid", "received_at",
    "stored_at", "status", "attempts",
)


@lru_cache(maxsize=8)
def _processors(dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    return [MESSAGES.c[name].type.bind_processor(dialect) for name in COLUMNS]


@lru_cache(maxsize=8)
def _postgresql_statement(dialect: Dialect) -> str:
    typed = ", ".join(f"{name} {MESSAGES.c[name].type.compile(dialect=dialect)}" for name in COLUMNS)
    return (
        f"WITH stored AS (INSERT INTO {MESSAGES.name} ({', '.join(COLUMNS)})"
        f" SELECT {', '.join(COLUMNS)} FROM json_to_recordset(%s::json) AS batch({typed})"
        f" RETURNING id, sha256), advanced AS ({ADVANCE}) SELECT id, sha256 FROM stored"
    )
