"""Staff logins: argon2 password hashes, server-side sessions, CSRF tokens and login delays.

The cookie carries only a random token; the database keeps its SHA-256, the
user and the CSRF token, so logging out, a new password or disabling a user
takes effect at once and a stolen database does not yield usable cookies. A
session ends after ``web.session_idle_hours`` without a request and, however
busy, ``web.session_max_hours`` after the login. Failed logins slow down the
client and the account name they came from (``intake.web.throttle``); every
failure gets the same answer after the same work, and is logged with the
client's address.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, col, delete, select

from intake.config import WebSettings
from intake.db.models import AuditLog, User, WebSession, utcnow
from intake.errors import IntakeError
from intake.web import throttle
from intake.web.passwords import password_problem

log = logging.getLogger(__name__)
COOKIE_NAME = "intake_session"
ROLES = ("reviewer", "admin")
WRONG = "Feil brukernavn eller passord."

_hasher = PasswordHasher()
# Checked against when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("intake-no-such-user")


class AuthError(IntakeError):
    """A login was refused; the message is safe to show."""


class LoginDelayed(AuthError):
    """Too many failed logins from this client or for this name: the next try must wait until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__("For mange mislykkede innlogginger. Vent litt før du prøver igjen.")
        self.until = until


def cookie_name(web: WebSettings) -> str:
    """``__Host-intake_session`` when the cookie is Secure: a browser then refuses it from any
    other host or path, or over plain HTTP; plain ``intake_session`` on a loopback-only setup."""
    return f"__Host-{COOKIE_NAME}" if web.cookies_secure else COOKIE_NAME


@dataclass(frozen=True)
class Staff:
    """The logged-in user as the pages see them."""

    user_id: int
    name: str
    role: str
    csrf_token: str
    session_id: int


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(session: Session, *, name: str, password: str, role: str, actor: str = "system") -> User:
    """Adds a staff user, or replaces the password and role of an existing one.

    A new password ends every session of the user: whoever had the old one is logged out.
    """
    if role not in ROLES:
        raise AuthError(f"ukjent rolle «{role}»; bruk reviewer eller admin")
    if not name.strip():
        raise AuthError("brukernavnet må være utfylt")
    problem = password_problem(name, password)
    if problem is not None:
        raise AuthError(problem)
    user = session.exec(select(User).where(User.name == name)).first()
    action = "user.update" if user else "user.create"
    ended = 0
    if user is None:
        user = User(name=name, password_hash=hash_password(password), role=role)
    else:
        user.password_hash = hash_password(password)
        user.role = role
        ended = end_user_sessions(session, user)
    session.add(user)
    session.flush()
    throttle.clear_name(session, name)
    session.add(AuditLog(actor=actor, action=action, entity="user", entity_id=user.id,
                         detail={"role": role, "sessions_ended": ended}))
    return user


def find_user(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None:
        raise AuthError(f"ingen bruker heter «{name}»")
    return user


def end_user_sessions(session: Session, user: User) -> int:
    """Ends every session of ``user``; returns how many there were."""
    done = session.execute(delete(WebSession).where(col(WebSession.user_id) == user.id))
    return int(done.rowcount)  # type: ignore[attr-defined]


def set_active(session: Session, name: str, *, active: bool, actor: str) -> User:
    """Disables a user (and ends their sessions at once) or enables them again."""
    user = find_user(session, name)
    user.active = active
    session.add(user)
    ended = 0 if active else end_user_sessions(session, user)
    session.add(AuditLog(actor=actor, action="user.enabled" if active else "user.disabled", entity="user",
                         entity_id=user.id, detail={"sessions_ended": ended}))
    return user


def log_out_everywhere(session: Session, name: str, *, actor: str) -> int:
    """Ends every session of the named user; they must log in again."""
    user = find_user(session, name)
    ended = end_user_sessions(session, user)
    session.add(AuditLog(actor=actor, action="user.logout", entity="user", entity_id=user.id,
                         detail={"sessions_ended": ended}))
    return ended


def authenticate(
    session: Session, name: str, password: str, *, client: str | None = None, now: datetime | None = None
) -> User:
    """Returns the user when the password is right; raises AuthError (or LoginDelayed) otherwise.

    Every failure costs one password check, whether the name exists or not, and
    counts against both the client and the name; an attempt that must wait is
    refused before any check, whatever the name.
    """
    now = now or utcnow()
    keys = throttle.keys_for(client, name)
    until = throttle.wait_until(session, keys, now)
    if until is not None:
        _failed(session, name, client, None, "must wait", {"wait_until": until.isoformat()})
        raise LoginDelayed(until)
    user = session.exec(select(User).where(User.name == name)).first()
    known = user is not None and user.active
    ok = _verify(user.password_hash if user is not None and known else _DUMMY_HASH, password)
    if user is None or not known or not ok:
        why = "unknown user" if user is None else ("disabled user" if not user.active else "wrong password")
        throttle.record_failure(session, keys, now)
        _failed(session, name, client, user.id if user is not None else None, why, {})
        raise AuthError(WRONG)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    throttle.clear_account(session, keys)
    session.add(AuditLog(actor=name, action="login", entity="user", entity_id=user.id, detail={"client": client}))
    return user


def _failed(session: Session, name: str, client: str | None, user_id: int | None, why: str,
            detail: dict[str, object]) -> None:
    """Writes one failed login to the audit log and the service log, with the client's address."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in name[:128])
    session.add(AuditLog(actor=shown or "?", action="login.failed", entity="user", entity_id=user_id,
                         detail={"client": client, "reason": why, **detail}))
    log.warning("login failed: user %r from %s: %s", shown, client or "unknown address", why)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(session: Session, user: User, web: WebSettings, *, now: datetime | None = None) -> str:
    """Creates a login session and returns the token for the cookie."""
    now = now or utcnow()
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=_expiry(now, now, web),
        )
    )
    # Expired sessions are dropped on the way so the table does not grow forever.
    session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
    return token


def _expiry(created: datetime, now: datetime, web: WebSettings) -> datetime:
    """Idle time from now, but never past the absolute lifetime from the login."""
    return min(now + timedelta(hours=web.session_idle_hours), created + timedelta(hours=web.session_max_hours))


def load_session(
    session: Session, token: str | None, web: WebSettings, *, now: datetime | None = None
) -> Staff | None:
    """The staff member behind a cookie token, or None when it is unknown, expired or disabled."""
    if not token:
        return None
    now = now or utcnow()
    row = session.exec(select(WebSession).where(WebSession.token_hash == _digest(token))).first()
    # The absolute limit is checked against the login time too, so lowering session_max_hours
    # ends the sessions it now rules out.
    if row is None or row.expires_at <= now or row.created_at + timedelta(hours=web.session_max_hours) <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active or user.id is None or row.id is None:
        return None
    # Sliding expiry, but written at most once a minute to keep page views read-only.
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
        row.expires_at = _expiry(row.created_at, now, web)
        session.add(row)
    return Staff(user_id=user.id, name=user.name, role=user.role, csrf_token=row.csrf_token, session_id=row.id)


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == _digest(token)))


def csrf_ok(staff: Staff, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(staff.csrf_token, submitted or "")
