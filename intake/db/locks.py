"""One poller per mailbox across processes.

On PostgreSQL a session-level advisory lock, held on a connection of its own
for as long as the poll runs, so the lock dies with the process that held it.
On SQLite (one machine by nature) an ``flock`` on a file under the storage
folder, which the kernel also releases when the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from intake.errors import DatabaseUnavailable


class Lock(Protocol):
    """A non-blocking, process-wide exclusive lock on one name."""

    def acquire(self) -> bool:
        """Takes the lock if nobody holds it; False when another process (or holder) has it."""
        ...

    def release(self) -> None:
        """Gives the lock back; harmless when not held."""
        ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` from a readable name."""
    return int.from_bytes(hashlib.sha256(f"intake:{name}".encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.key = lock_key(name)
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return False
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as err:
            raise DatabaseUnavailable(f"database unreachable: {str(err.orig).strip().splitlines()[0]}") from err
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except DBAPIError as err:
            conn.invalidate()
            conn.close()
            raise DatabaseUnavailable(f"database unreachable: {str(err.orig).strip().splitlines()[0]}") from err
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        except DBAPIError:
            # The connection is gone, and the server dropped the lock with it; make sure the
            # pool never hands this connection out again.
            conn.invalidate()
        finally:
            conn.close()


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def named_lock(engine: Engine, storage: Path, name: str) -> Lock:
    """The right kind of lock for the database behind ``engine``."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, name)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return FileLock(storage / "locks" / f"{safe}.lock")


def mailbox_lock(engine: Engine, storage: Path, mailbox: str) -> Lock:
    """The lock that lets only one process poll ``mailbox`` at a time."""
    return named_lock(engine, storage, f"mailbox-{mailbox}")
