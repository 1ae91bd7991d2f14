"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is reached at $INTAKE_TEST_PG (default 127.0.0.1:5432, database
``test``, trust auth). The run creates a database of its own, migrates it once,
empties it between tests and drops it at the end. Under ``CI=true`` a missing
PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from intake.db.engine import make_engine, upgrade
from tests.builders import BORDER
from tests.pgscratch import scratch_database
from tests.ports import free_port

if TYPE_CHECKING:
    from intake.config import Settings
    from intake.runtime import Runtime

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
BACKENDS = ["sqlite", "postgresql"]


# The staff pages' fixtures (seeded, client, csrf), for every module that does not define its own.
pytest_plugins = ["tests.seeded_pages"]


def need(what: str, reason: str) -> None:
    """Skips a test for a missing external part, except under CI where it must fail."""
    message = f"{what} unavailable: {reason}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def start_or_need(what: str, server: Any) -> None:
    """Starts a server a test drives (Dovecot, Postfix); when it will not start, ``need`` says why."""
    try:
        server.start()
    except RuntimeError as err:
        server.close()
        need(what, str(err))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database for this run, migrated once, dropped at the end."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database("intake_test"))
        except Exception as err:  # any failure to reach the server means "not available"
            need("PostgreSQL", str(err).splitlines()[0])
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


def _empty(engine: Engine) -> None:
    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'intake.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    url: str = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    _empty(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings_factory(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Builds Settings for a test: its own database, store and outbox; the shipped workflows."""
    from intake.config import settings_from_dict

    def build(**sections: dict[str, object]) -> Settings:
        data: dict[str, object] = {
            "database": {"url": database_url},
            "storage": {"path": str(tmp_path / "store")},
            "workflows": {"path": str(REPO / "workflows")},
            "smtp": {"outbox_path": str(tmp_path / "outbox"), "from_address": "postmottak@ehelse.no"},
            "extract": {"workers": 0},
            "web": {"port": free_port()},
            "processing": {"authserv_id": BORDER},
        }
        for name, values in sections.items():
            merged = dict(data.get(name, {}))  # type: ignore[call-overload]
            merged.update(values)
            data[name] = merged
        return settings_from_dict(data, root=tmp_path)

    return build


@pytest.fixture
def rt(settings_factory):  # type: ignore[no-untyped-def]
    """A Runtime on an empty database with the shipped workflows synced, extraction in-process."""
    from intake import workflows
    from intake.db.engine import session_scope
    from intake.runtime import Runtime

    runtime = Runtime.open(settings_factory(), extract=_extraction_available())
    with session_scope(runtime.engine) as session:
        workflows.sync(session, runtime.settings.workflows.path)
    yield runtime
    runtime.close()


def _extraction_available() -> bool:
    try:
        import intake.extract  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def dovecot_server():  # type: ignore[no-untyped-def]
    """One real Dovecot for the run (tests/dovecot.py); a test that stops it must start it again."""
    from tests.dovecot import Dovecot, dovecot_binary

    binary = dovecot_binary()
    if binary is None:
        need("Dovecot", "dovecot or its IMAP server /usr/lib/dovecot/imap is missing (Debian: dovecot-imapd)")
    server = Dovecot(binary)
    start_or_need("Dovecot", server)
    yield server
    server.close()


@pytest.fixture
def dovecot(dovecot_server):  # type: ignore[no-untyped-def]
    """The shared Dovecot, running; pair it with ``imap_user`` for a mailbox of the test's own."""
    if dovecot_server.process is None:
        dovecot_server.start()
    return dovecot_server


@pytest.fixture(scope="session")
def postfix_server():  # type: ignore[no-untyped-def]
    """One private Postfix for the run (tests/postfix.py), relaying everything to its own sink."""
    from tests.postfix import Postfix, unavailable

    reason = unavailable()
    if reason is not None:
        need("Postfix", reason)
    server = Postfix()
    start_or_need("Postfix", server)
    yield server
    server.close()


@pytest.fixture
def postfix(postfix_server):  # type: ignore[no-untyped-def]
    """The shared Postfix, with its sink emptied for the test."""
    postfix_server.sink.messages.clear()
    return postfix_server


@pytest.fixture
def imap_user() -> str:
    """A fresh user name, hence an empty mailbox, on the shared Dovecot."""
    return f"pm{uuid.uuid4().hex[:12]}"


@pytest.fixture
def own_dovecot(dovecot):  # type: ignore[no-untyped-def]
    """A Dovecot of the test's own: for stopping it, and for failed logins, which Dovecot
    answers ever more slowly from the same address."""
    from tests.dovecot import Dovecot

    server = Dovecot(dovecot.binary)
    server.start()
    yield server
    server.close()


def build_settings(database_url: str, tmp_path: Path, boxes: list[dict[str, Any]], *, workers: int = 0) -> Settings:
    """Settings for a test with these ``[[mailboxes]]``: its own database and store, the shipped workflows.

    ``workers``: extraction workers (none: attachments are read in the calling thread, one message at a time).
    """
    from intake.config import settings_from_dict

    return settings_from_dict(
        {
            "database": {"url": database_url},
            "storage": {"path": str(tmp_path / "store")},
            "workflows": {"path": str(REPO / "workflows")},
            "extract": {"workers": workers},
            "web": {"port": free_port()},
            "processing": {"authserv_id": BORDER},
            "mailboxes": boxes,
        },
        root=tmp_path,
    )


@pytest.fixture
def make_rt(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Opens a Runtime (a process start, as far as the poller can tell) for the given mailboxes.

    With ``workers`` it has an extraction pool, and a poll prepares messages ahead of the decisions.
    """
    from intake import workflows
    from intake.db.engine import session_scope
    from intake.runtime import Runtime

    opened: list[Runtime] = []

    def make(*boxes: dict[str, Any], workers: int = 0):  # type: ignore[no-untyped-def]
        rt = Runtime.open(build_settings(database_url, tmp_path, list(boxes), workers=workers), extract=workers > 0)
        with session_scope(rt.engine) as session:
            workflows.sync(session, rt.settings.workflows.path)
        opened.append(rt)
        return rt

    yield make
    for rt in opened:
        rt.close()
