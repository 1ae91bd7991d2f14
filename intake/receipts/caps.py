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

from sqlalchemy import ColumnElement, true
from sqlmodel import Session, col, func, select

from intake.config import SmtpSettings
from intake.db.models import Acknowledgement
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
    checks: list[tuple[int, ColumnElement[bool], str]] = [
        (smtp.rate_limit_per_hour, col(Acknowledgement.recipient_key) == ack.recipient_key,
         f"mottakeren {ack.recipient_key}"),
        (smtp.domain_limit_per_hour, col(Acknowledgement.recipient_domain) == ack.recipient_domain,
         f"domenet {ack.recipient_domain}"),
        (smtp.total_limit_per_hour, true(), "alle mottakere til sammen"),
    ]
    for limit, matches, who in checks:
        if not limit:
            continue
        # The newest ``limit`` hand-offs in the hour: when the oldest of them leaves the hour, there is room.
        recent = session.exec(
            select(Acknowledgement.handoff_at)
            .where(matches, col(Acknowledgement.status).in_(_HANDED_OFF))
            .where(col(Acknowledgement.handoff_at) >= now - WINDOW, col(Acknowledgement.id) != ack.id)
            .order_by(col(Acknowledgement.handoff_at).desc())
            .limit(limit)
        ).all()
        if len(recent) >= limit and recent[-1] is not None:
            until = recent[-1] + WINDOW
            return Wait(until, f"{WAITING}{limit} kvitteringer i timen til {who} er nådd; sendes etter {oslo(until)}")
    return None


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
