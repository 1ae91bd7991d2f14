"""The migrations: one head, and a migrated database matches the models exactly."""

from __future__ import annotations

import sqlite3
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel, select

import intake.db.models  # noqa: F401  (registers the tables)
from intake.db.engine import alembic_config, make_engine, upgrade
from intake.db.models import Case, Message
from tests.conftest import need
from tests.pgscratch import scratch_database


def test_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=COMPARE)
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


# Every revision id a database in the field may carry; they must never change, since a
# database names the last one applied.
REVISIONS = ["0001", "0400", "0300", "0200", "0500", "0600", "0820", "0710", "0800", "0930", "0920", "0900", "0910"]
# The full-text search objects (intake/review/search_schema.py) are one dialect each and live
# outside the models' metadata; every other table and index must match the models.
COMPARE = {"compare_type": True, "include_name": lambda name, type_, parents: not (name or "").startswith("search_")}
OLD_LAYOUT = Path(__file__).parent / "fixtures" / "old-layout"


def test_revision_ids_are_the_ones_databases_carry() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    chain = [rev.revision for rev in script.walk_revisions()]
    assert list(reversed(chain))[: len(REVISIONS)] == REVISIONS


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_of_the_previous_layout_upgrades_cleanly(backend: str, tmp_path: Path) -> None:
    """A database that the package migrated before its modules moved into stage folders."""
    dump = (OLD_LAYOUT / f"intake-0600.{backend}.sql").read_text(encoding="utf-8")
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'old.db'}"
            connection = sqlite3.connect(tmp_path / "old.db")
            connection.executescript(dump)
            connection.close()
        else:
            try:
                url = stack.enter_context(scratch_database("intake_old_layout"))
            except Exception as err:  # any failure to reach the server means "not available"
                need("PostgreSQL", str(err).splitlines()[0])
            with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                                 autocommit=True) as connection:
                connection.execute(dump.encode())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine)
        upgrade(engine)  # a second run finds nothing to do
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=COMPARE)
            assert context.get_current_revision() == script_head()
            assert compare_metadata(context, SQLModel.metadata) == []
        with Session(engine) as session:
            assert session.exec(select(Case.number)).all() == ["22/414"]
            message = session.exec(select(Message)).one()
            assert message.message_id == "<old@layout.example>"
            assert message.received_at == datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


def script_head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head
