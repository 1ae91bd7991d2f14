"""Inserting the rows every message makes with one statement per table, not the ORM's unit of work.

A flush costs about half a millisecond an object, and deciding a message makes half a
dozen (its submission, files, flags, receipt and audit entries): that was half of its
decision. Here the objects are built as usual, so their defaults apply, written by an
INSERT built once per table, and then put into the session as the rows they now are,
so that reading and changing them afterwards works as for any other loaded object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic_core import PydanticUndefined
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


def insert_values(session: Session, model: type[SQLModel], rows: Sequence[Mapping[str, Any]]) -> None:
    """Writes plain rows of a table in the session's transaction, with the model's defaults filled in.

    For rows nothing reads back as objects (audit entries, flags): building a model object
    costs 40-70 µs, and its id is not needed.
    """
    if not rows:
        return
    table: Any = model.__table__  # type: ignore[attr-defined]
    defaults = _DEFAULTS.get(table.name)
    if defaults is None:
        defaults = _DEFAULTS[table.name] = _defaults(model, table)
    values = [{key: row[key] if key in row else make() for key, make in defaults.items()} for row in rows]
    statement = _PLAIN.get(table.name)
    if statement is None:
        statement = _PLAIN[table.name] = insert(table)
    session.connection().execute(statement, values if len(values) > 1 else values[0])


def _defaults(model: type[SQLModel], table: Any) -> dict[str, Callable[[], Any]]:
    """For each column but the id, how to make its value when a row leaves it out."""
    made: dict[str, Callable[[], Any]] = {}
    for column in table.columns:
        if column.key == "id":
            continue
        info = model.model_fields[column.key]
        if info.default_factory is not None:
            made[column.key] = info.default_factory  # type: ignore[assignment]
        elif info.default is not PydanticUndefined or column.nullable:
            default = None if info.default is PydanticUndefined else info.default
            made[column.key] = lambda default=default: default  # type: ignore[misc]
        else:
            made[column.key] = _required(table.name, column.key)
    return made


def _required(table: str, key: str) -> Callable[[], Any]:
    def missing() -> Any:
        raise KeyError(f"{table}.{key} has no default and was not given")
    return missing


_DEFAULTS: dict[str, dict[str, Callable[[], Any]]] = {}
_PLAIN: dict[str, Insert] = {}
