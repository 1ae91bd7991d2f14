"""Hourly caps on receipts: per recipient (``+tags`` removed), per recipient domain, and in total.

A receipt past a cap is never dropped: it waits until the hour has made room,
and the reason stays on its row for staff and ``/healthz``. What counts is what
was handed to the mail server (``handoff_at``) in the hour before, so a receipt
that waits costs nothing against the caps. Several sending processes check at
once may each let one more through; with one, the caps hold exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, true
from sqlmodel import Session, col, func, select

from intake.config import SmtpSettings
from intake.db.models import Acknowledgement, UTCDateTime
from intake.localtime import oslo

WINDOW = timedelta(hours=1)
# Every reason a waiting receipt carries starts so, which is how health and the pages find them.
WAITING = "venter: "
_HANDED_OFF = ("sending", "sent")


@dataclass(frozen=True)
class Wait:
    """A receipt that must wait: until when, and why (in Norwegian, for staff)."""

    until: datetime
    reason: str


def cap_wait(session: Session, ack: Acknowledgement, smtp: SmtpSettings, now: datetime) -> Wait | None:
    """The wait a cap imposes on ``ack`` now, or None when it may go."""
    for limit, kind, value, who in (
        (smtp.rate_limit_per_hour, "recipient", ack.recipient_key, f"mottakeren {ack.recipient_key}"),
        (smtp.domain_limit_per_hour, "domain", ack.recipient_domain, f"domenet {ack.recipient_domain}"),
        (smtp.total_limit_per_hour, "total", None, "alle mottakere til sammen"),
    ):
        if not limit:
            continue
        # The newest ``limit`` hand-offs in the hour: when the oldest of them leaves the hour, there is room.
        recent = session.connection().execute(_RECENT[kind], {
            "value": value, "since": now - WINDOW, "ack_id": ack.id, "limit": limit}).scalars().all()
        if len(recent) >= limit and recent[-1] is not None:
            until = recent[-1] + WINDOW
            return Wait(until, f"{WAITING}{limit} kvitteringer i timen til {who} er nådd; sendes etter {oslo(until)}")
    return None


def _recent(matches: ColumnElement[bool]) -> Any:
    return (
        select(col(Acknowledgement.handoff_at))
        .where(matches, col(Acknowledgement.status).in_(_HANDED_OFF))
        .where(col(Acknowledgement.handoff_at) >= bindparam("since", type_=UTCDateTime),
               col(Acknowledgement.id) != bindparam("ack_id"))
        .order_by(col(Acknowledgement.handoff_at).desc())
        .limit(bindparam("limit", type_=Integer))
    )


# Asked for every receipt while a cap is set: built once.
_RECENT = {
    "recipient": _recent(col(Acknowledgement.recipient_key) == bindparam("value")),
    "domain": _recent(col(Acknowledgement.recipient_domain) == bindparam("value")),
    "total": _recent(true()),
}


@dataclass(frozen=True)
class Waiting:
    """Receipts that wait for a cap right now, and the reasons (the first few distinct ones)."""

    count: int
    reasons: list[str]


def waiting(session: Session, now: datetime) -> Waiting:
    query = (
        select(Acknowledgement.reason)
        .where(Acknowledgement.status == "pending", col(Acknowledgement.next_attempt_at) > now)
        .where(col(Acknowledgement.reason).startswith(WAITING))
    )
    count = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    reasons = sorted({r for r in session.exec(query.limit(50)).all() if r})[:5]
    return Waiting(count, reasons)
