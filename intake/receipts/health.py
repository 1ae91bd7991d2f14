"""Whether the mail server takes our receipts: the outbox's part of ``/healthz`` and the staff pages.

Each delivery run that reaches the point of talking to the server records how it
went. The outbox is unhealthy while its last error is newer than its last
success; a relay that refuses every receipt (TLS or a login required, relay
access denied) is marked ``blocked``, since no retry fixes that without a person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from intake.db.engine import session_scope
from intake.db.models import OutboxState, utcnow

OSLO = ZoneInfo("Europe/Oslo")
NAME = "smtp"


def record_run(engine: Engine, error: str | None, *, blocked: bool = False) -> None:
    """Notes one delivery run's outcome: ``error`` None for a run the server took part in without refusing."""
    now = utcnow()
    for attempt in (1, 2):
        try:
            with session_scope(engine) as session:
                state = (session.exec(select(OutboxState).where(OutboxState.name == NAME)).first()
                         or OutboxState(name=NAME))
                state.last_attempt_at = now
                if error is None:
                    state.last_success_at, state.blocked = now, False
                else:
                    state.last_error, state.last_error_at, state.blocked = error[:1000], now, blocked
                session.add(state)
            return
        except IntegrityError:
            # Two senders' first runs ended at once and both wrote the first row: the second try finds it.
            if attempt == 2:
                raise


def problem_of(state: OutboxState | None) -> str | None:
    """Why the outbox is unhealthy, in one line; None when it is fine or has not run yet."""
    if state is None or state.last_error_at is None:
        return None
    if state.last_success_at is not None and state.last_success_at >= state.last_error_at:
        return None
    return state.last_error


def outbox_health(engine: Engine) -> dict[str, Any]:
    """``ok``, ``blocked``, ``problem``, ``last_error_at`` and ``last_success_at`` (ISO 8601, Oslo time)."""
    try:
        with Session(engine) as session:
            state = session.exec(select(OutboxState).where(OutboxState.name == NAME)).first()
    except SQLAlchemyError:
        return {"ok": False, "blocked": False, "problem": "databasen svarer ikke",
                "last_error_at": None, "last_success_at": None}
    problem = problem_of(state)
    return {
        "ok": problem is None,
        "blocked": bool(state and state.blocked and problem is not None),
        "problem": problem,
        "last_error_at": _oslo(state.last_error_at if state else None),
        "last_success_at": _oslo(state.last_success_at if state else None),
    }


def _oslo(when: datetime | None) -> str | None:
    return when.astimezone(OSLO).isoformat() if when else None
