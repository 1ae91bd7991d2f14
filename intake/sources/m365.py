"""Microsoft 365 sign-in built in (``auth = "m365"``): app-only XOAUTH2 tokens from Entra ID.

The mailbox signs in as an application (OAuth 2.0 client credentials), with a
certificate (preferred) or a client secret, through MSAL's
``ConfidentialClientApplication.acquire_token_for_client`` and the scope
``https://outlook.office365.com/.default``. There is no refresh token to expire
and no user whose password or MFA could change; what does expire is the
credential itself, whose date ``credential_of`` tells the health check.

One MSAL application is kept per mailbox for the life of the process, so its
token cache is reused: MSAL answers from the cache and asks Entra ID for a new
token only when the cached one is within minutes of expiring (or past the
``refresh_in`` it was issued with). A change of the credential file builds a new
application, so a renewed certificate is used without a restart.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msal
import requests
from cryptography import x509

from intake.config import MailboxSettings
from intake.errors import SourceUnavailable, TokenUnavailable

SCOPE = "https://outlook.office365.com/.default"
ENTRA = "https://login.microsoftonline.com"
OSLO = ZoneInfo("Europe/Oslo")
MAX_CREDENTIAL_FILE = 64 * 1024


@dataclass(frozen=True)
class Credential:
    """What the mailbox signs in with, and when it stops working (UTC); None when not known."""

    kind: Literal["certificate", "secret"]
    expires_at: datetime | None


def credential_of(box: MailboxSettings) -> Credential | None:
    """The credential of an ``auth = "m365"`` mailbox: the certificate's notAfter, or the secret's configured date.

    A secret's date is the day Entra ID shows it expiring; it counts as gone from the
    start of that day in Norwegian time, so the warning never comes a day late.
    """
    if box.auth != "m365":
        return None
    if box.m365_certificate_file is not None:
        try:
            certificate = x509.load_pem_x509_certificate(_pem(box, box.m365_certificate_file))
        except (ValueError, TokenUnavailable):
            return Credential("certificate", None)
        return Credential("certificate", certificate.not_valid_after_utc)
    expires = box.m365_secret_expires
    when = datetime.combine(expires, time(0, 0), tzinfo=OSLO).astimezone(UTC) if expires else None
    return Credential("secret", when)


def access_token(box: MailboxSettings) -> str:
    """A current access token for IMAP, from MSAL's cache or freshly from Entra ID.

    Raises ``TokenUnavailable`` when Entra ID refuses (a wrong or expired credential,
    missing consent), which no retry mends, and ``SourceUnavailable`` when it cannot be
    reached, which a later poll may.
    """
    app = _application(box)
    try:
        result: dict[str, Any] = app.acquire_token_for_client(scopes=[SCOPE])
    except requests.RequestException as err:
        raise SourceUnavailable(f"mailbox {box.name}: cannot reach Microsoft Entra ID: {_first_line(err)}") from err
    token = result.get("access_token") if isinstance(result, dict) else None
    if not token:
        error = result.get("error", "no token") if isinstance(result, dict) else "no token"
        description = _first_line(result.get("error_description", "")) if isinstance(result, dict) else ""
        raise TokenUnavailable(
            f"mailbox {box.name}: Microsoft Entra ID refused the XOAUTH2 token request: {error}"
            + (f": {description}" if description else "")
        )
    return str(token)


_apps: dict[str, tuple[tuple[object, ...], msal.ConfidentialClientApplication]] = {}
_lock = threading.Lock()


def _application(box: MailboxSettings) -> msal.ConfidentialClientApplication:
    """The mailbox's MSAL application with its token cache, built again only when its settings or file change."""
    key = _key(box)
    with _lock:
        known = _apps.get(box.name)
        if known is not None and known[0] == key:
            return known[1]
        authority = f"{box.m365_authority.rstrip('/')}/{box.m365_tenant_id}"
        try:
            app = msal.ConfidentialClientApplication(
                box.m365_client_id,
                client_credential=_client_credential(box),
                authority=authority,
                # Entra ID's own authority needs no check; a stand-in (another cloud's, a test's) has none.
                validate_authority=box.m365_authority.rstrip("/") == ENTRA,
                instance_discovery=False,
                http_client=_http_client(box),
            )
        except requests.RequestException as err:
            raise SourceUnavailable(f"mailbox {box.name}: cannot reach Microsoft Entra ID at {authority}: "
                                    f"{_first_line(err)}") from err
        except ValueError as err:
            raise TokenUnavailable(f"mailbox {box.name}: Microsoft Entra ID tenant {box.m365_tenant_id} not "
                                   f"usable for an XOAUTH2 token: {_first_line(err)}") from err
        _apps[box.name] = (key, app)
        return app


def _http_client(box: MailboxSettings) -> requests.Session:
    """The HTTP session MSAL talks to Entra ID with: our CA bundle and timeout on every request.

    Requests lets ``REQUESTS_CA_BUNDLE`` in the environment override a session's CA bundle,
    so the bundle is given with each request, where it wins.
    """
    session = requests.Session()
    verify: str | bool = str(box.m365_ca_file) if box.m365_ca_file else True
    session.request = functools.partial(  # type: ignore[method-assign]
        session.request, verify=verify, timeout=box.timeout_seconds
    )
    adapter = requests.adapters.HTTPAdapter(max_retries=1)
    session.mount("https://", adapter)
    return session


def forget(box: MailboxSettings) -> None:
    """Drops the mailbox's application and its cached token, after the IMAP server refused that token.

    A token carries the permissions granted when it was issued; once an administrator has
    fixed them, only a new token has them, so the next sign-in must not reuse the cached one.
    """
    with _lock:
        _apps.pop(box.name, None)


def _key(box: MailboxSettings) -> tuple[object, ...]:
    file = box.m365_certificate_file or box.m365_client_secret_file
    try:
        stamp: object = file.stat().st_mtime_ns if file else None
    except OSError:
        stamp = None
    return (box.m365_tenant_id, box.m365_client_id, box.m365_authority, box.m365_ca_file, file, stamp)


def _client_credential(box: MailboxSettings) -> str | dict[str, str]:
    if box.m365_certificate_file is not None:
        text = _pem(box, box.m365_certificate_file).decode("ascii", "replace")
        # MSAL takes the certificate to compute its SHA-256 thumbprint and signs with the key.
        return {"private_key": text, "public_certificate": text}
    assert box.m365_client_secret_file is not None  # the settings require one of the two
    secret = _pem(box, box.m365_client_secret_file).decode("utf-8", "replace").strip()
    if not secret:
        raise TokenUnavailable(f"mailbox {box.name}: the client secret file for the XOAUTH2 token is empty")
    return secret


def _pem(box: MailboxSettings, path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_CREDENTIAL_FILE)
    except OSError as err:
        raise TokenUnavailable(
            f"mailbox {box.name}: cannot read {path} for the XOAUTH2 token: {err.strerror}"
        ) from err


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:300] if text else ""


def days_left(expires_at: datetime, now: datetime) -> int:
    """Whole days from today to the day the credential expires, both in Norwegian time; negative once past."""
    return (expires_at.astimezone(OSLO).date() - now.astimezone(OSLO).date()).days
