"""The engine, sessions and migrations; the same code runs on SQLite and PostgreSQL."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from intake.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# The key of the PostgreSQL advisory lock that serialises migrations: "intake" in ASCII, then 1.
MIGRATION_LOCK_KEY = 0x696E74616B65_01


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Creates an engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # SQLite's driver opens transactions lazily and lets writers collide; BEGIN IMMEDIATE
        # serialises writers up front so concurrent ingests wait instead of failing.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # a reading session (``reading``): no transaction, no write lock
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits at the end of the block, or rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def reading(engine: Engine) -> Session:
    """A session for reads only, outside any transaction: each statement sees what is committed when it runs.

    For the few reads every message or receipt makes before its writes: a transaction of its
    own cost them a BEGIN and a ROLLBACK, two round trips, and on SQLite the write lock.
    """
    reader = _READERS.get(engine)
    if reader is None:
        reader = _READERS[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Session(reader)


_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Applies the migrations to the database behind ``engine``."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with database_errors(), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Every replica migrates on start; without this lock two fresh starts race to
            # create the same tables and one fails. The lock ends with the transaction, and
            # the waiter then finds the schema at head and does nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def check_connection(engine: Engine) -> None:
    with database_errors(), engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")


@contextmanager
def database_errors() -> Iterator[None]:
    """Turns a lost or refusing database inside the block into a one-line ``DatabaseUnavailable``."""
    try:
        yield
    except OperationalError as err:
        raise DatabaseUnavailable(f"database unreachable: {_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err)
    return text.strip().splitlines()[0] if text.strip() else type(err).__name__
