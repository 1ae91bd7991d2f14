"""The audit log: every state change, by whom and when, in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session

from intake.db.models import AuditLog, utcnow
from intake.db.rows import insert_values

_GATHERED = "intake.audit.gathered"


def record(
    session: Session,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: dict[str, Any] | None = None,
    *,
    actor: str = "system",
) -> None:
    """Writes one entry in the session's transaction: at once, or at the end of ``gathered``."""
    entry = {"at": utcnow(), "actor": actor, "action": action, "entity": entity, "entity_id": entity_id,
             "detail": detail}
    pending: list[dict[str, Any]] | None = session.info.get(_GATHERED)
    if pending is not None:
        pending.append(entry)
    else:
        insert_values(session, AuditLog, [entry])


@contextmanager
def gathered(session: Session) -> Iterator[None]:
    """Holds the entries recorded in ``session`` within the block and writes them with one statement at its end.

    Still in the same transaction as the changes they describe; for a batch of
    decisions, whose entries nothing reads back before the commit. An error in
    the block writes none of them (the transaction is rolled back anyway).
    """
    if _GATHERED in session.info:
        yield
        return
    entries: list[dict[str, Any]] = []
    session.info[_GATHERED] = entries
    try:
        yield
    finally:
        del session.info[_GATHERED]
    insert_values(session, AuditLog, entries)
