"""The one validated Settings object, built once from a TOML file and the environment.

Lookup order for the file: ``--config PATH``, else ``$INTAKE_CONFIG``, else
``config/intake.toml``. Any key can be overridden by ``INTAKE_<SECTION>__<KEY>``;
a mailbox by ``INTAKE_MAILBOXES__<NAME or INDEX>__<KEY>``. Relative paths are
relative to the parent of the config file's folder (the project root for the
shipped file). A secret may be given as ``password_file`` instead of ``password``.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from intake.errors import ConfigError

DEFAULT_CONFIG = Path("config/intake.toml")
ENV_PREFIX = "INTAKE_"

Security = Literal["ssl", "starttls", "none"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite:///var/intake.db"


class StorageSettings(Section):
    path: Path = Path("var/store")


class WorkflowSettings(Section):
    path: Path = Path("workflows")


class MailboxSettings(Section):
    name: str
    host: str
    port: int = 993
    security: Security = "ssl"
    username: str = ""
    password: str = ""
    password_file: Path | None = None
    auth: Literal["login", "xoauth2", "m365"] = "login"
    oauth2_token_file: Path | None = None
    oauth2_token_command: str | None = None
    # auth = "m365": the app registration in Entra ID, signing in with a certificate (a PEM file
    # with the private key and the certificate; preferred) or a client secret read from a file,
    # whose expiry date (as Entra ID shows it) must be given, since nothing else can tell it.
    m365_tenant_id: str = ""
    m365_client_id: str = ""
    m365_certificate_file: Path | None = None
    m365_client_secret_file: Path | None = None
    m365_secret_expires: date | None = None
    # Another cloud's sign-in address (e.g. https://login.microsoftonline.us), and a CA bundle for
    # an inspecting proxy in front of it; the system's CAs by default.
    m365_authority: str = "https://login.microsoftonline.com"
    m365_ca_file: Path | None = None
    # The health check turns unhealthy this many days before the credential expires.
    credential_warning_days: int = Field(default=14, ge=0)
    folder: str = "INBOX"
    poll_interval_seconds: int = Field(default=60, ge=1)
    idle: bool = False
    after_processing: Literal["none", "seen", "move"] = "none"
    move_to: str = "Behandlet"
    batch_size: int = Field(default=100, ge=1, le=1000)
    # Messages larger than this are fetched one at a time, so a batch holds at most
    # batch_size x this much mail in memory.
    large_message_kb: int = Field(default=256, ge=1)
    timeout_seconds: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _m365_complete(self) -> MailboxSettings:
        if self.auth != "m365":
            return self
        for key in ("m365_tenant_id", "m365_client_id", "username"):
            if not str(getattr(self, key)).strip():
                raise ValueError(f"auth = \"m365\" needs {key}")
        if (self.m365_certificate_file is None) == (self.m365_client_secret_file is None):
            raise ValueError('auth = "m365" needs one of m365_certificate_file or m365_client_secret_file')
        if self.m365_client_secret_file is not None and self.m365_secret_expires is None:
            raise ValueError("m365_client_secret_file needs m365_secret_expires (the date Entra ID shows)")
        if not self.m365_authority.startswith("https://"):
            raise ValueError("m365_authority must be an https:// address")
        return self


class SmtpSettings(Section):
    host: str = ""
    port: int = 587
    security: Security = "starttls"
    username: str = ""
    password: str = ""
    password_file: Path | None = None
    from_address: str = "postmottak@example.no"
    from_name: str = "Postmottak"
    timeout_seconds: float = Field(default=30.0, gt=0)
    outbox_path: Path = Path("var/outbox")
    # Hourly caps on receipts handed to the mail server: per recipient (``+tags`` removed), per
    # recipient domain, and in total. Past a cap a receipt waits for the hour to make room; it is
    # never dropped. Zero turns a cap off.
    rate_limit_per_hour: int = Field(default=5, ge=0)
    domain_limit_per_hour: int = Field(default=20, ge=0)
    total_limit_per_hour: int = Field(default=200, ge=0)
    max_attempts: int = Field(default=10, ge=1)
    retry_base_seconds: float = Field(default=30.0, ge=0)
    retry_max_seconds: float = Field(default=3600.0, ge=0)
    contact: str = ""
    # A CA bundle to trust for the server's certificate (an internal CA); the system's by default.
    ca_file: Path | None = None
    # How long a sender holds the receipts it claimed before another process may take them over
    # (after a crash, they wait this long). A lease that runs out early costs no duplicate, as the
    # hand-off is fenced by the claim token; it should still exceed timeout_seconds.
    claim_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=20, ge=1, le=1000)


class ReceiverSettings(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    recipients: list[str] = Field(default_factory=list)
    max_message_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Verify DKIM signatures (dkimpy) and DMARC alignment of the From domain ourselves, for mail
    # handed to this receiver without a border server's Authentication-Results in front of it.
    verify_senders: bool = False
    dns_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # Host names our mail relay writes after "by" in its Received header: mail it queued while intake
    # was down gets the relay's time as received_at (intake/sources/relay_time.py). Empty: our own clock.
    trusted_relays: list[str] = Field(default_factory=list)


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8000
    # None: Secure cookies unless the pages are served on a loopback address only.
    secure_cookies: bool | None = None
    # A session ends after this long without a request, and in any case this long after the login.
    session_idle_hours: float = Field(default=10.0, gt=0)
    session_max_hours: float = Field(default=12.0, gt=0)
    # Lets a monitor read /healthz in full (``Authorization: Bearer <token>``) without a login.
    health_token: str = ""
    health_token_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secret_key(cls, data: Any) -> Any:
        # The key was read but never used for anything; saying so beats a bare "unknown key".
        if isinstance(data, dict):
            for key in ("secret_key", "secret_key_file"):
                if key in data:
                    raise ValueError(f"{key} is no longer used; remove it from [web]")
        return data

    @property
    def cookies_secure(self) -> bool:
        """Whether the login cookies carry ``Secure`` (and so the ``__Host-`` prefix)."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return not is_loopback(self.host)


class ExtractSettings(Section):
    workers: int = Field(default=2, ge=0)
    timeout_seconds: float = Field(default=60.0, gt=0)
    memory_mb: int = Field(default=1024, ge=192)
    max_pages: int = Field(default=500, ge=1)
    max_uncompressed_mb: int = Field(default=200, ge=1)
    max_compression_ratio: int = Field(default=100, ge=1)
    max_depth: int = Field(default=5, ge=1)
    # Text kept per attachment and per message: 20 MB of text in a 300 KB DOCX once grew the
    # daemon by a gigabyte. A cut text is kept as far as it goes and flagged extraction_failed.
    max_text_chars: int = Field(default=1_000_000, ge=1000)
    max_message_text_chars: int = Field(default=3_000_000, ge=1000)
    # Attachments read per message (the rest are stored and listed, not read), and the time all
    # of one message's files together may take in the workers.
    max_attachments: int = Field(default=50, ge=1)
    message_budget_seconds: float = Field(default=120.0, gt=0)
    # Workers one message may hold at once; 0: all but one, so the next message never waits
    # behind one message's slow files (with 2 workers, one message's files are read one by one).
    workers_per_message: int = Field(default=0, ge=0)


class ProcessingSettings(Section):
    max_attempts: int = Field(default=3, ge=1)
    # The time one message may take to be read, parsed and extracted; past it, it is parked
    # for a person with the reason and the next message goes on.
    message_budget_seconds: float = Field(default=300.0, gt=0)
    own_addresses: list[str] = Field(default_factory=list)
    # The authserv-id our own border mail server writes in the Authentication-Results header it
    # prepends (RFC 8601). Empty: no result is trusted, so no sender counts as authenticated.
    authserv_id: str = ""
    # The mailbox is behind Microsoft 365: Exchange Online writes its Authentication-Results without
    # an authserv-id, and the topmost such header is then trusted as our border's.
    trust_m365: bool = False


class PublicationSettings(Section):
    # How a private person is named in the published list: by name, or as «Privatperson».
    private_persons: Literal["name", "anonymous"] = "anonymous"
    # The address of the review pages, for the links in the exports (default: http://web.host:web.port).
    review_url: str = ""


class ArchiveSettings(Section):
    """Archive packages (arkivmelding) for the agency's Noark 5 archive; see docs/archive.md."""

    # The drop folder the daemon fills and «Eksporter nå» writes to; unset, only the CLI exports.
    path: Path | None = None
    mode: Literal["manual", "when_reviewed", "immediately"] = "manual"
    interval_seconds: int = Field(default=60, ge=5)
    system: str = Field(default="intake", min_length=1)
    # Empty: the agency's name (smtp.from_name). A workflow's own `archive:` values win over these.
    administrativ_enhet: str = ""
    saksansvarlig: str = "Postmottak"
    journalenhet: str = ""
    journalstatus: Literal[
        "Journalført", "Ferdigstilt fra saksbehandler", "Godkjent av leder", "Ekspedert", "Arkivert", "Utgår"
    ] = "Journalført"
    tilgangsrestriksjon: str = Field(default="13", min_length=1)
    skjermingshjemmel: str = Field(default="Offl. § 13 jf. fvl. § 13 første ledd nr. 1", min_length=1)
    # LibreOffice, which turns DOCX, ODT, RTF and DOC into PDF/A; a name is looked up on PATH.
    soffice: str = "soffice"
    # How long an export may hold a package it started before another process may take it over.
    claim_seconds: float = Field(default=900.0, gt=0)


class Settings(Section):
    root: Path
    config_file: Path | None = None
    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    workflows: WorkflowSettings = WorkflowSettings()
    mailboxes: list[MailboxSettings] = Field(default_factory=list)
    smtp: SmtpSettings = SmtpSettings()
    receiver: ReceiverSettings = ReceiverSettings()
    web: WebSettings = WebSettings()
    extract: ExtractSettings = ExtractSettings()
    processing: ProcessingSettings = ProcessingSettings()
    publication: PublicationSettings = PublicationSettings()
    archive: ArchiveSettings = ArchiveSettings()

    @field_validator("mailboxes")
    @classmethod
    def _unique_mailbox_names(cls, value: list[MailboxSettings]) -> list[MailboxSettings]:
        names = [m.name for m in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"mailbox name {name!r} is used twice")
        return value

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        # Paths are resolved once here so nothing downstream has to know the root.
        root = self.root
        resolve = _resolver(root)
        object.__setattr__(self, "storage", self.storage.model_copy(update={"path": resolve(self.storage.path)}))
        object.__setattr__(
            self, "workflows", self.workflows.model_copy(update={"path": resolve(self.workflows.path)})
        )
        object.__setattr__(
            self, "database", self.database.model_copy(update={"url": _resolve_sqlite(self.database.url, root)})
        )
        smtp = self.smtp.model_copy(
            update={
                "outbox_path": resolve(self.smtp.outbox_path),
                "ca_file": resolve(self.smtp.ca_file) if self.smtp.ca_file else None,
                "password": _secret(self.smtp.password, self.smtp.password_file, root, "smtp.password_file"),
            }
        )
        object.__setattr__(self, "smtp", smtp)
        boxes = [
            m.model_copy(
                update={
                    "password": _secret(m.password, m.password_file, root, f"mailboxes.{m.name}.password_file"),
                    "oauth2_token_file": resolve(m.oauth2_token_file) if m.oauth2_token_file else None,
                    **{
                        key: resolve(getattr(m, key))
                        for key in ("m365_certificate_file", "m365_client_secret_file", "m365_ca_file")
                        if getattr(m, key) is not None
                    },
                }
            )
            for m in self.mailboxes
        ]
        object.__setattr__(self, "mailboxes", boxes)
        web = self.web.model_copy(
            update={"health_token": _secret(self.web.health_token, self.web.health_token_file, root,
                                            "web.health_token_file")}
        )
        object.__setattr__(self, "web", web)
        if self.archive.path is not None:
            object.__setattr__(self, "archive", self.archive.model_copy(update={"path": resolve(self.archive.path)}))
        return self

    def review_url(self) -> str:
        """Where staff open the review pages, without a trailing slash."""
        return (self.publication.review_url or f"http://{self.web.host}:{self.web.port}").rstrip("/")

    def mailbox(self, name: str) -> MailboxSettings:
        for box in self.mailboxes:
            if box.name == name:
                return box
        raise ConfigError(f"no mailbox named {name!r} in the configuration")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _resolver(root: Path) -> Any:
    def resolve(path: Path) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else (root / path)

    return resolve


def _resolve_sqlite(url: str, root: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        relative = url[len(prefix) :]
        if relative and not relative.startswith(":"):
            return prefix + str((root / relative).resolve())
    return url


def _secret(value: str, file: Path | None, root: Path, key: str) -> str:
    if file is None:
        return value
    path = file if file.is_absolute() else root / file
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"config error: {key}: cannot read {path}: {err.strerror}") from err


def _parse_env_value(raw: str) -> Any:
    """Reads an override as a TOML value when it is one (numbers, booleans, arrays), else as text."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Returns ``data`` with every ``INTAKE_<SECTION>__<KEY>`` override applied."""
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        value = _parse_env_value(raw)
        if parts[0] == "mailboxes" and len(parts) == 3:
            boxes = data.setdefault("mailboxes", [])
            target = _find_mailbox(boxes, parts[1])
            if target is None:
                raise ConfigError(f"config error: {name}: no mailbox named or numbered {parts[1]!r}")
            target[parts[2]] = value
        elif len(parts) == 2:
            section = data.setdefault(parts[0], {})
            if not isinstance(section, dict):
                raise ConfigError(f"config error: {name}: {parts[0]} is not a section")
            section[parts[1]] = value
        else:
            raise ConfigError(f"config error: {name}: expected INTAKE_<SECTION>__<KEY>")
    return data


def _find_mailbox(boxes: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    for box in boxes:
        if str(box.get("name", "")).lower() == key:
            return box
    if key.isdigit() and int(key) < len(boxes):
        return boxes[int(key)]
    return None


def config_path(explicit: str | Path | None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("INTAKE_CONFIG"):
        return Path(environ["INTAKE_CONFIG"])
    return DEFAULT_CONFIG


def load_settings(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Reads, overrides and validates the configuration; raises ConfigError with one line."""
    environ = os.environ if environ is None else environ
    file = config_path(path, environ).expanduser().resolve()
    try:
        data: dict[str, Any] = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"config error: file not found: {file}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config error: {file}: {err}") from err
    data = apply_env(data, environ)
    return settings_from_dict(data, root=file.parent.parent, config_file=file)


def settings_from_dict(data: dict[str, Any], *, root: Path, config_file: Path | None = None) -> Settings:
    try:
        return Settings.model_validate({**data, "root": root, "config_file": config_file})
    except ValidationError as err:
        raise ConfigError(_one_line(err, data)) from err


def _one_line(err: ValidationError, data: dict[str, Any]) -> str:
    first = err.errors()[0]
    location = list(first["loc"])
    # Name a mailbox by its name rather than its position where we can.
    if len(location) >= 2 and location[0] == "mailboxes" and isinstance(location[1], int):
        boxes = data.get("mailboxes", [])
        if location[1] < len(boxes) and isinstance(boxes[location[1]], dict) and "name" in boxes[location[1]]:
            location[1] = boxes[location[1]]["name"]
    key = ".".join(str(p) for p in location) or "(top level)"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"config error: {key}: {message}{more}"
