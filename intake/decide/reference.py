"""What every message is decided against: the active cases and the invited bodies, kept between messages.

Read afresh for each message they cost more than the rest of its decision (the cases with
their forms and templates, some two hundred invited bodies with their domains, all of it
JSON to decode). Only ``workflows sync`` changes them, and every sync, in this process or
another, stamps each case it loads with ``synced_at`` and deactivates the ones whose file is
gone. So one small query per message, the number of active cases and the latest stamp, says
whether what is kept is still the database's; when it is not, everything is read again.
The kept rows are detached copies: read them, never add them to a session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func
from sqlmodel import Session, col, select

from intake.db.models import Case, Organisation
from intake.decide.organisations import Invited


@dataclass(frozen=True)
class Reference:
    """The active cases by number and the invited bodies (oldest first, and their rows by id)."""

    version: tuple[Any, ...]
    cases: dict[str, Case]
    invited: list[Invited]
    bodies: dict[int, Organisation]


class ReferenceCache:
    """One process's kept ``Reference``, checked against the database on every ``current`` call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: Reference | None = None

    def current(self, session: Session) -> Reference:
        version = _version(session)
        with self._lock:
            kept = self._kept
        if kept is not None and kept.version == version:
            return kept
        fresh = _load(session, version)
        with self._lock:
            self._kept = fresh
        return fresh


# The number of active cases and the latest sync: one small query, built once.
_VERSION = select(func.sum(when((col(Case.active).is_(True), 1), else_=0)), func.max(Case.synced_at))


def _version(session: Session) -> tuple[Any, ...]:
    count, stamp = session.connection().execute(_VERSION).one()
    return int(count or 0), stamp.isoformat() if isinstance(stamp, datetime) else stamp


def _load(session: Session, version: tuple[Any, ...]) -> Reference:
    cases = {c.number: c for c in session.exec(select(Case).where(col(Case.active).is_(True))).all()}
    rows = session.exec(select(Organisation).where(Organisation.kind == "invited").order_by(col(Organisation.id))).all()
    bodies = {org.id: org for org in rows if org.id is not None}
    invited = [Invited(org_id, org.name, tuple(org.domains or ())) for org_id, org in bodies.items()]
    for row in [*cases.values(), *bodies.values()]:
        session.expunge(row)
    return Reference(version, cases, invited, bodies)
