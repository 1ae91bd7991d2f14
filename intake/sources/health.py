"""Whether each mailbox is being read: the answer behind ``/healthz`` and the stale-mailbox alarm.

A mailbox is unhealthy when its last successful poll is older than three poll
intervals (or it never had one and the service has run that long), when its
last attempt failed for want of an XOAUTH2 token, which no retry will fix, or,
for ``auth = "m365"``, from ``credential_warning_days`` before its certificate or
client secret expires, so that somebody renews it while the mail still flows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from intake.config import MailboxSettings
from intake.db.models import MailboxState, utcnow
from intake.runtime import Runtime
from intake.sources.m365 import credential_of, days_left

OSLO = ZoneInfo("Europe/Oslo")
STALE_INTERVALS = 3
TOKEN_MARK = "XOAUTH2 token"


def stale_after(box: MailboxSettings) -> timedelta:
    return timedelta(seconds=STALE_INTERVALS * box.poll_interval_seconds)


def mailbox_health(rt: Runtime, *, started_at: datetime | None = None) -> list[dict[str, Any]]:
    """One entry per configured mailbox: name, folder, last_poll_at, last_success_at, last_error, healthy.

    Times are ISO 8601 in Norwegian time (what staff read on the page) or null.
    ``started_at`` (the daemon's start) keeps a mailbox that has simply not been
    polled yet from counting as stale during its first intervals.
    """
    try:
        with Session(rt.engine) as session:
            states = {(s.mailbox, s.folder): s for s in session.exec(select(MailboxState)).all()}
    except SQLAlchemyError as err:
        # A health check must answer, not fail: without the database nothing can be said to work.
        reason = "database unreachable: " + (str(getattr(err, "orig", None) or err).strip().splitlines() or ["?"])[0]
        return [
            {"name": box.name, "folder": box.folder, "last_poll_at": None, "last_success_at": None,
             "last_error": reason, "last_error_at": None, "credential": _credential(box, utcnow()),
             "healthy": False, "problem": reason}
            for box in rt.settings.mailboxes
        ]
    now = utcnow()
    out = []
    for box in rt.settings.mailboxes:
        state = states.get((box.name, box.folder))
        problem = problem_of(box, state, now, started_at)
        out.append(
            {
                "name": box.name,
                "folder": box.folder,
                "last_poll_at": _oslo(state.last_poll_at if state else None),
                "last_success_at": _oslo(state.last_success_at if state else None),
                "last_error": state.last_error if state and state.last_error_at else None,
                "last_error_at": _oslo(state.last_error_at if state else None),
                "credential": _credential(box, now),
                "healthy": problem is None,
                "problem": problem,
            }
        )
    return out


def problem_of(
    box: MailboxSettings, state: MailboxState | None, now: datetime, started_at: datetime | None = None
) -> str | None:
    """Why the mailbox is unhealthy, in one line; None when it is fine."""
    success = state.last_success_at if state else None
    error_at = state.last_error_at if state else None
    error = state.last_error if state else None
    if error and error_at and (success is None or error_at > success) and TOKEN_MARK in error:
        return error
    expiring = credential_problem(box, now)
    if expiring is not None:
        return expiring
    since = success or started_at
    if since is None or now - since > stale_after(box):
        when = f"since {success.astimezone(OSLO):%Y-%m-%d %H:%M:%S} (Oslo time)" if success else "ever"
        reason = f"; last error: {error}" if error and error_at and (success is None or error_at > success) else ""
        return f"mailbox {box.name}: no successful poll of {box.folder} {when}{reason}"
    return None


def credential_problem(box: MailboxSettings, now: datetime) -> str | None:
    """Why the mailbox's Microsoft 365 credential needs renewing now; None when it has time left."""
    credential = credential_of(box)
    if credential is None:
        return None
    what = "certificate" if credential.kind == "certificate" else "client secret"
    if credential.expires_at is None:
        return f"mailbox {box.name}: the Microsoft 365 {what} cannot be read for its expiry date"
    left = days_left(credential.expires_at, now)
    day = f"{credential.expires_at.astimezone(OSLO):%Y-%m-%d}"
    if credential.expires_at <= now:
        return f"mailbox {box.name}: the Microsoft 365 {what} expired on {day}; renew it in Entra ID"
    if left <= box.credential_warning_days:
        return (f"mailbox {box.name}: the Microsoft 365 {what} expires on {day} (in {left} days); "
                "renew it in Entra ID")
    return None


def _credential(box: MailboxSettings, now: datetime) -> dict[str, Any] | None:
    """The credential's kind and expiry for the health JSON; null for mailboxes that do not use auth = m365."""
    credential = credential_of(box)
    if credential is None:
        return None
    expires = credential.expires_at
    return {"kind": credential.kind, "expires_at": _oslo(expires),
            "days_left": days_left(expires, now) if expires else None,
            "warning_days": box.credential_warning_days}


def _oslo(when: datetime | None) -> str | None:
    return when.astimezone(OSLO).isoformat() if when else None
