"""The audit log: every state change, by whom and when, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from intake.db.models import AuditLog
from intake.db.rows import insert_rows


def record(
    session: Session,
    action: str,
    entity: str,
    entity_id: int | None,
    detail: dict[str, Any] | None = None,
    *,
    actor: str = "system",
) -> AuditLog:
    """Writes one entry in the session's transaction, at once (``db/rows.py``)."""
    entry = AuditLog(actor=actor, action=action, entity=entity, entity_id=entity_id, detail=detail)
    insert_rows(session, [entry])
    return entry
