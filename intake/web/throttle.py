"""Failed logins slow down the one who fails: per client address, and per account name.

There is no lock-out. From the ``FREE``-th failure from one client address on, each
further attempt from it must wait twice as long as the last (up to
``CLIENT_MAX_WAIT``); from the ``ACCOUNT_FREE``-th failure for one account name,
from anywhere, the same, but never longer than ``ACCOUNT_MAX_WAIT``, so that
somebody guessing another person's password can slow their login by a minute at
most, never keep them out. A name that is no account is counted like one, and a
waiting attempt is refused before any password is checked, whatever the name:
so neither the answers nor their timing tell which names exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from intake.db.models import LoginThrottle

FREE = 5
ACCOUNT_FREE = 10
CLIENT_MAX_WAIT = timedelta(minutes=15)
ACCOUNT_MAX_WAIT = timedelta(minutes=1)
# Failures older than this are forgotten, and their rows removed.
FORGET_AFTER = timedelta(hours=24)
MAX_KEY = 200


@dataclass(frozen=True)
class Keys:
    """The two counters one attempt touches."""

    client: str
    account: str


def keys_for(client: str | None, name: str) -> Keys:
    return Keys(
        client=("client:" + (client or "unknown"))[:MAX_KEY],
        account=("account:" + " ".join(name.casefold().split()))[:MAX_KEY],
    )


def wait_until(session: Session, keys: Keys, now: datetime) -> datetime | None:
    """Until when this attempt must wait, or None when it may go ahead."""
    rows = session.exec(select(LoginThrottle).where(col(LoginThrottle.key).in_([keys.client, keys.account]))).all()
    waits = [row.wait_until for row in rows if row.wait_until is not None and row.wait_until > now
             and now - row.last_failure_at < FORGET_AFTER]
    return max(waits) if waits else None


def record_failure(session: Session, keys: Keys, now: datetime) -> None:
    """Counts one failure against both keys and sets their next wait."""
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.last_failure_at) < now - FORGET_AFTER))
    for key, free, longest in ((keys.client, FREE, CLIENT_MAX_WAIT), (keys.account, ACCOUNT_FREE, ACCOUNT_MAX_WAIT)):
        row = session.exec(select(LoginThrottle).where(LoginThrottle.key == key)).first()
        if row is None:
            row = _insert(session, key, now)
        if now - row.last_failure_at >= FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        over = row.failures - free + 1
        row.wait_until = now + min(timedelta(seconds=2 ** min(over - 1, 20)), longest) if over > 0 else None
        session.add(row)


def _insert(session: Session, key: str, now: datetime) -> LoginThrottle:
    """The row for ``key``; another request may insert it at the same moment, and then its row is used."""
    try:
        with session.begin_nested():
            row = LoginThrottle(key=key, failures=0, last_failure_at=now)
            session.add(row)
        return row
    except IntegrityError:
        found = session.exec(select(LoginThrottle).where(LoginThrottle.key == key)).one()
        return found


def clear_account(session: Session, keys: Keys) -> None:
    """A successful login forgets the account's failures (the client's are left to run out)."""
    session.execute(delete(LoginThrottle).where(col(LoginThrottle.key) == keys.account))


def clear_name(session: Session, name: str) -> None:
    """Forgets the failures counted against an account name (``intake users unlock``)."""
    clear_account(session, keys_for(None, name))


def account_wait(session: Session, name: str, now: datetime) -> datetime | None:
    """Until when logins to this account wait, for ``intake users list``."""
    row = session.exec(select(LoginThrottle).where(LoginThrottle.key == keys_for(None, name).account)).first()
    return row.wait_until if row is not None and row.wait_until is not None and row.wait_until > now else None
