"""Checks that every file the database names is in the store and intact.

For a restore test or after a disk scare: each message and attachment row has
the sha256 of its bytes, so reading the bytes back (from their own file or from
the pack they were appended to) and hashing them proves them whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session

from intake.db.models import Attachment, Message
from intake.errors import StorageError
from intake.runtime import Runtime
from intake.store.raw import sha256_hex


@dataclass
class CheckReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)


def check_store(rt: Runtime) -> CheckReport:
    """Reads and hashes every stored message and attachment; lists the missing and the damaged."""
    report = CheckReport()
    for kind, pk, digest, blob in _rows(rt):
        report.checked += 1
        try:
            data = rt.store.read(blob)
        except StorageError as err:
            report.problems.append(f"{kind} {pk}: missing: {err}")
            continue
        if sha256_hex(data) != digest:
            report.problems.append(f"{kind} {pk}: damaged: {blob} does not hash to its sha256")
    return report


def _rows(rt: Runtime) -> Iterator[tuple[str, int, str, str]]:
    for kind, model in (("message", Message), ("attachment", Attachment)):
        table = model.__table__  # type: ignore[attr-defined,union-attr]
        last = 0
        while True:
            # In pages by id, so a large store is not one huge result in memory.
            with Session(rt.engine) as session:
                page = session.execute(
                    select(table.c.id, table.c.sha256, table.c.blob)
                    .where(table.c.id > last).order_by(table.c.id).limit(1000)
                ).all()
            if not page:
                break
            for pk, digest, blob in page:
                yield kind, pk, digest, blob
            last = page[-1][0]
