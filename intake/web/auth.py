"""Staff logins: argon2 password hashes, server-side sessions, CSRF tokens and lock-out.

The cookie carries only a random token; the database keeps its SHA-256, the
user and the CSRF token, so logging out or deactivating a user takes effect at
once and a stolen database does not yield usable cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, col, delete, select

from intake.db.models import AuditLog, User, WebSession, utcnow
from intake.errors import IntakeError

COOKIE_NAME = "intake_session"
SESSION_LIFETIME = timedelta(hours=10)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
ROLES = ("reviewer", "admin")

_hasher = PasswordHasher()
# Checked against when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("intake-no-such-user")


class AuthError(IntakeError):
    """A login was refused; the message is safe to show."""


class LockedOut(AuthError):
    """Too many failed logins; the account is locked until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__("Kontoen er midlertidig låst etter for mange mislykkede innlogginger.")
        self.until = until


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
    """Adds a staff user, or replaces the password and role of an existing one."""
    if role not in ROLES:
        raise AuthError(f"ukjent rolle {role!r}; bruk reviewer eller admin")
    if not name.strip() or len(password) < 8:
        raise AuthError("navn må være utfylt og passordet minst 8 tegn")
    user = session.exec(select(User).where(User.name == name)).first()
    action = "user.update" if user else "user.create"
    if user is None:
        user = User(name=name, password_hash=hash_password(password), role=role)
    else:
        user.password_hash = hash_password(password)
        user.role = role
        user.failed_logins = 0
        user.locked_until = None
    session.add(user)
    session.flush()
    session.add(AuditLog(actor=actor, action=action, entity="user", entity_id=user.id, detail={"role": role}))
    return user


def authenticate(session: Session, name: str, password: str, *, now: datetime | None = None) -> User:
    """Returns the user when the password is right; counts failures and locks after five."""
    now = now or utcnow()
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None or not user.active:
        _verify(_DUMMY_HASH, password)
        raise AuthError("Feil brukernavn eller passord.")
    if user.locked_until is not None and user.locked_until > now:
        raise LockedOut(user.locked_until)
    if not _verify(user.password_hash, password):
        user.failed_logins += 1
        detail: dict[str, object] = {"failures": user.failed_logins}
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            detail["locked_until"] = user.locked_until.isoformat()
        session.add(user)
        session.add(AuditLog(actor=name, action="login.failed", entity="user", entity_id=user.id, detail=detail))
        if user.locked_until is not None and user.locked_until > now:
            raise LockedOut(user.locked_until)
        raise AuthError("Feil brukernavn eller passord.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    session.add(user)
    session.add(AuditLog(actor=name, action="login", entity="user", entity_id=user.id))
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def start_session(session: Session, user: User, *, now: datetime | None = None) -> str:
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
            expires_at=now + SESSION_LIFETIME,
        )
    )
    # Expired sessions are dropped on the way so the table does not grow forever.
    session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
    return token


def load_session(session: Session, token: str | None, *, now: datetime | None = None) -> Staff | None:
    """The staff member behind a cookie token, or None when it is unknown, expired or disabled."""
    if not token:
        return None
    now = now or utcnow()
    row = session.exec(select(WebSession).where(WebSession.token_hash == _digest(token))).first()
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active or user.id is None or row.id is None:
        return None
    # Sliding expiry, but written at most once a minute to keep page views read-only.
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
        row.expires_at = now + SESSION_LIFETIME
        session.add(row)
    return Staff(user_id=user.id, name=user.name, role=user.role, csrf_token=row.csrf_token, session_id=row.id)


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(col(WebSession.token_hash) == _digest(token)))


def csrf_ok(staff: Staff, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(staff.csrf_token, submitted or "")
