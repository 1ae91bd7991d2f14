"""Inserting the rows every message makes with one statement per table, not the ORM's unit of work.

A flush costs about half a millisecond an object, and deciding a message makes half a
dozen (its submission, files, flags, receipt and audit entries): that was half of its
decision. Here the objects are built as usual, so their defaults apply, written by an
INSERT built once per table, and then put into the session as the rows they now are,
so that reading and changing them afterwards works as for any other loaded object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel

_STATEMENTS: dict[tuple[str, bool], Insert] = {}


def insert_rows(session: Session, rows: Sequence[SQLModel]) -> None:
    """Writes new objects of one table in the session's transaction and sets their ids."""
    if not rows:
        return
    table: Any = type(rows[0]).__table__  # type: ignore[attr-defined]
    many = len(rows) > 1
    statement = _STATEMENTS.get((table.name, many))
    if statement is None:
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=many)
        _STATEMENTS[(table.name, many)] = statement
    columns = [c.key for c in table.columns if c.key != "id"]
    values = [{key: getattr(row, key) for key in columns} for row in rows]
    # On the session's connection, past the ORM's handling of statements: these are plain rows.
    result = session.connection().execute(statement, values if many else values[0])
    for row, row_id in zip(rows, result.scalars().all(), strict=True):
        row.id = row_id  # type: ignore[attr-defined]
        make_transient_to_detached(row)
        session.add(row)
