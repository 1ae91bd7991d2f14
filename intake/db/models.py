"""The tables. Every timestamp is stored in UTC and comes back timezone-aware.

One row family per thing a person talks about: a case (høring), an
organisation and its invitations, a stored raw message, the submission made of
it, its attachments and flags, its acknowledgement (the outbox row), the IMAP
cursor of each mailbox folder, staff users, and the audit log of every change.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every backend and hands back aware UTC datetimes."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _now_ts(*, index: bool = False) -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index))


def _json(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


def _text() -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=True))


class Case(SQLModel, table=True):
    """A consultation (høring), loaded from its workflow file."""

    __tablename__ = "cases"
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(index=True, unique=True, max_length=32)
    title: str
    deadline: date
    timezone: str = "Europe/Oslo"
    language: str = "nb"
    form: dict[str, Any] | None = _json()
    templates: dict[str, Any] | None = _json()
    source_file: str | None = None
    active: bool = True
    synced_at: datetime = _now_ts()
    # When the campaign grouping last ran; responses changed since then are not grouped yet.
    campaigns_grouped_at: datetime | None = _ts(nullable=True)
    # The workflow's own archive metadata (administrativ_enhet, saksansvarlig, saksdato), if any.
    archive: dict[str, Any] | None = _json()


class Organisation(SQLModel, table=True):
    """Who a submission speaks for: an invited body, a domain, or a person."""

    __tablename__ = "organisations"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=320)
    name: str
    # Indexed: every message reads the invited bodies, while domains and persons grow with the mail.
    kind: str = Field(index=True, max_length=16)  # invited | domain | person
    domains: list[str] | None = _json()
    created_at: datetime = _now_ts()


class Invitation(SQLModel, table=True):
    """An organisation invited to respond to a case (høringsinstans)."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("case_id", "organisation_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    # The respondent category of the summary (Kommuner, Statlige etater…), from the workflow file.
    category: str | None = Field(default=None, max_length=64)


class DeadlineExtension(SQLModel, table=True):
    """A later deadline (utsatt frist) for one organisation in one case, inclusive like the case's own."""

    __tablename__ = "deadline_extensions"
    __table_args__ = (UniqueConstraint("case_id", "organisation_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    until: date
    source: str = Field(default="staff", max_length=16)  # workflow | staff
    granted_by: str | None = Field(default=None, max_length=128)
    reason: str | None = _text()
    created_at: datetime = _now_ts()


class Message(SQLModel, table=True):
    """The original bytes of one received message; written before any parsing."""

    __tablename__ = "messages"
    # What a poll asks of its folder's rows: any under an earlier UIDVALIDITY, and the processed
    # ones still waiting for their IMAP action (imap_done_at null). Serves lookups by mailbox too.
    __table_args__ = (Index("ix_messages_folder_state", "mailbox", "folder", "uidvalidity", "imap_done_at"),)
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True, unique=True, max_length=64)
    size: int = Field(sa_type=BigInteger)
    blob: str  # path relative to storage.path
    message_id: str | None = Field(default=None, index=True, max_length=998)
    source: str = Field(max_length=16)  # imap | smtp | file
    mailbox: str | None = None
    folder: str | None = None
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    uid: int | None = Field(default=None, sa_type=BigInteger)
    received_at: datetime = _ts(index=True)
    stored_at: datetime = _now_ts()
    status: str = Field(default="stored", index=True, max_length=16)  # stored | processed | failed | parked
    attempts: int = 0
    last_error: str | None = _text()
    processed_at: datetime | None = _ts(nullable=True)
    # When after_processing (seen / move) was done on the IMAP server; null until then.
    imap_done_at: datetime | None = _ts(nullable=True)
    # The SMTP envelope of mail handed to our receiver, for SPF: the peer's address, its HELO
    # name and MAIL FROM ("" for the null reverse-path <>). Null when not known.
    peer_ip: str | None = Field(default=None, max_length=45)
    helo: str | None = Field(default=None, max_length=255)
    mail_from: str | None = Field(default=None, max_length=320)


class Submission(SQLModel, table=True):
    """A response (høringssvar) as staff see it: one per stored message."""

    __tablename__ = "submissions"
    # An organisation's earlier responses to a case, in the order received (id breaks ties): the
    # duplicate rule reads the first of them for every message. Serves lookups by organisation too.
    __table_args__ = (
        Index("ix_submissions_organisation_case_received", "organisation_id", "case_id", "received_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    message_ref: int = Field(foreign_key="messages.id", unique=True)
    message_id: str | None = Field(default=None, index=True, max_length=998)
    mailbox: str | None = None
    sender: str | None = Field(default=None, index=True)
    sender_name: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    body_text: str | None = _text()
    sent_date: datetime | None = _ts(nullable=True)
    received_at: datetime = _ts(index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    case_number: str | None = Field(default=None, max_length=32)
    match_source: str | None = Field(default=None, max_length=16)
    late: bool = False
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id")
    organisation: str | None = None
    form: dict[str, Any] | None = _json()
    rule_log: list[dict[str, Any]] | None = _json()
    receipt_ref: str = Field(index=True, unique=True, max_length=32)
    review_status: str = Field(default="open", max_length=16)  # open | reviewed
    decision: str | None = Field(default=None, max_length=32)
    withheld: bool = False
    # The e-mail text is left out of publication (it held personal data), the attachments are not.
    body_withheld: bool = False
    # The response this message follows up (a reply to it or to its receipt, or an addition a clerk
    # confirmed): it is counted, published and archived with that one. Always the thread's first.
    follow_up_of: int | None = Field(default=None, foreign_key="submissions.id", index=True)
    # An earlier response this one seems to add to or correct (same organisation and case, and says
    # so); only a suggestion until a clerk confirms it.
    follow_up_suggested: int | None = Field(default=None, foreign_key="submissions.id")
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()


class Attachment(SQLModel, table=True):
    """A file that came with a submission, possibly from inside a forwarded message."""

    __tablename__ = "attachments"
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submissions.id", index=True)
    position: int = 0
    parent_id: int | None = Field(default=None, foreign_key="attachments.id")
    filename: str
    content_type: str
    size: int
    sha256: str = Field(max_length=64)
    blob: str
    inline: bool = False
    depth: int = 0
    text: str | None = _text()
    text_chars: int = 0
    pages: int | None = None
    extraction_status: str = Field(default="pending", max_length=16)  # pending | ok | failed | skipped
    extraction_error: str | None = _text()
    # Left out of publication by a staff decision (it held personal data); the response itself is published.
    withheld: bool = False
    # An earlier version of a document a follow-up corrected: staff chose the other one to count, so
    # this one is not published (the archive keeps every version).
    superseded: bool = False


class Flag(SQLModel, table=True):
    """A reason a person should look at a submission."""

    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("submission_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submissions.id", index=True)
    name: str = Field(index=True, max_length=32)
    detail: str | None = _text()
    created_at: datetime = _now_ts()
    resolved_at: datetime | None = _ts(nullable=True)
    resolved_by: str | None = None
    resolution: str | None = None


class Acknowledgement(SQLModel, table=True):
    """The receipt (kvittering) of a submission: the outbox row, created with the submission."""

    __tablename__ = "acknowledgements"
    # The receipts handed to the mail server in the last hour, per recipient, per domain and in all:
    # the hourly caps read them before every delivery.
    __table_args__ = (
        Index("ix_acknowledgements_recipient_key_handoff_at", "recipient_key", "handoff_at"),
        Index("ix_acknowledgements_recipient_domain_handoff_at", "recipient_domain", "handoff_at"),
        Index("ix_acknowledgements_handoff_at", "handoff_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submissions.id", unique=True)
    kind: str = Field(max_length=16)  # on_time | late | unmatched
    status: str = Field(default="pending", index=True, max_length=16)  # pending | sent | suppressed | failed
    reason: str | None = _text()
    recipients: list[str] | None = _json()
    # Indexed: a reply to one of our receipts finds its case by this Message-ID.
    message_id: str | None = Field(default=None, index=True, max_length=998)
    language: str = "nb"
    subject: str | None = None
    body_text: str | None = _text()
    body_html: str | None = _text()
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True, index=True)
    last_error: str | None = _text()
    sent_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()
    # The outbox's bookkeeping (see intake/receipts/outbox.py): the one address the receipt goes to, for the
    # per-recipient rate limit; the lease a sender holds on the row; and when the sender committed
    # to handing the message over (after which the row is never sent again).
    recipient: str | None = Field(default=None, max_length=320)
    # The recipient with any ``+tag`` removed, and its domain: what the hourly caps count by.
    recipient_key: str | None = Field(default=None, max_length=320)
    recipient_domain: str | None = Field(default=None, max_length=255)
    claim_token: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = _ts(nullable=True)
    handoff_at: datetime | None = _ts(nullable=True)


class MailboxState(SQLModel, table=True):
    """The IMAP cursor of one mailbox folder and its health."""

    __tablename__ = "mailbox_state"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    folder: str
    uidvalidity: int | None = Field(default=None, sa_type=BigInteger)
    last_uid: int = Field(default=0, sa_type=BigInteger)
    # After a UIDVALIDITY change: the folder's UIDs below this were there when we noticed, and
    # only they may be recognised by Message-ID as copies of what was stored before.
    resync_below: int | None = Field(default=None, sa_type=BigInteger)
    last_poll_at: datetime | None = _ts(nullable=True)
    last_success_at: datetime | None = _ts(nullable=True)
    last_error: str | None = _text()
    last_error_at: datetime | None = _ts(nullable=True)


class Letter(SQLModel, table=True):
    """A message a clerk writes to a sender from the submission page, sent through the outbox.

    Threaded to the submission (In-Reply-To, References), so the sender's answer comes
    back into the same thread. Delivered at most once like a receipt: claim, hand-off,
    finish (``intake/receipts/letters.py``).
    """

    __tablename__ = "letters"
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submissions.id", index=True)
    template: str = Field(max_length=32)
    recipient: str = Field(max_length=320)
    subject: str
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    message_id: str = Field(index=True, max_length=998)
    references: list[str] | None = _json()
    status: str = Field(default="pending", index=True, max_length=16)  # pending | sending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    last_error: str | None = _text()
    sent_at: datetime | None = _ts(nullable=True)
    created_by: str = Field(max_length=128)
    created_at: datetime = _now_ts()
    claim_token: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = _ts(nullable=True)


class OutboxState(SQLModel, table=True):
    """How the last delivery runs to the mail server went: the outbox's health, like a mailbox's."""

    __tablename__ = "outbox_state"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)  # "smtp": one outbox, one row
    last_attempt_at: datetime | None = _ts(nullable=True)
    last_success_at: datetime | None = _ts(nullable=True)
    last_error: str | None = _text()
    last_error_at: datetime | None = _ts(nullable=True)
    # True when the server refused to relay at all (TLS, login, relay permission): no retry fixes that.
    blocked: bool = False


class User(SQLModel, table=True):
    """A staff member who may log in to the review interface."""

    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=128)
    password_hash: str
    role: str = Field(default="reviewer", max_length=16)  # reviewer | admin
    active: bool = True
    created_at: datetime = _now_ts()


class LoginThrottle(SQLModel, table=True):
    """Failed logins counted per client address and per account name, known or not.

    The key is ``client:<address>`` or ``account:<name>``; a login attempt waits
    while either of its keys is within its delay. A name that is no account is
    counted like one, so the answers do not tell which names exist.
    """

    __tablename__ = "login_throttle"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(index=True, unique=True, max_length=200)
    failures: int = 0
    last_failure_at: datetime = _ts(index=True)
    wait_until: datetime | None = _ts(nullable=True)


class AuditLog(SQLModel, table=True):
    """Every state change, by whom (a user's name or ``system``) and when."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _now_ts(index=True)
    actor: str = Field(default="system", max_length=128)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=32)
    entity_id: int | None = Field(default=None, index=True)
    detail: dict[str, Any] | None = _json()


class WebSession(SQLModel, table=True):
    """A staff login to the review interface; the cookie holds a token whose hash is the key."""

    __tablename__ = "web_sessions"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _now_ts()
    last_seen_at: datetime = _now_ts()
    expires_at: datetime = _ts(index=True)


class Campaign(SQLModel, table=True):
    """A group of responses that are the same letter (a mass campaign), with the letter they copy."""

    __tablename__ = "campaigns"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    template_submission_id: int = Field(foreign_key="submissions.id")
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()


class CampaignMember(SQLModel, table=True):
    """One response's place in a campaign: how like the template it is, and what staff decided."""

    __tablename__ = "campaign_members"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    submission_id: int = Field(foreign_key="submissions.id", unique=True)
    jaccard: float = 0.0
    containment: float = 0.0
    # member: grouped by the thresholds; maybe: in the band a person decides; confirmed and
    # rejected: a person decided, and regrouping keeps that decision.
    status: str = Field(default="member", max_length=16)
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = _ts(nullable=True)
class ArchiveExport(SQLModel, table=True):
    """One archive package (arkivmelding) of a submission, written or being written to a drop folder.

    The row is claimed before the package is written (status ``writing``, with a lease) and
    marked ``written`` only after the package was renamed into place, so two processes never
    write the same package and nothing is called exported that is not on disk. ``fingerprint``
    is the digest of everything the package was made from (intake/archive/facts.py).
    """

    __tablename__ = "archive_exports"
    __table_args__ = (UniqueConstraint("submission_id", "destination", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submissions.id", index=True)
    version: int
    melding_id: str = Field(index=True, unique=True, max_length=36)
    fingerprint: str = Field(max_length=64)
    destination: str = Field(max_length=1024)
    path: str = Field(max_length=1024)
    sha256: str | None = Field(default=None, max_length=64)
    status: str = Field(default="writing", index=True, max_length=16)  # writing | written | failed
    error: str | None = _text()
    actor: str = Field(default="system", max_length=128)
    claim_token: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = _ts(nullable=True)
    created_at: datetime = _now_ts()
    written_at: datetime | None = _ts(nullable=True)


class ReviewClaim(SQLModel, table=True):
    """Who has a submission open («tatt av kari»), so two clerks do not work the same response.

    One row per submission; a clerk holds one at a time. A claim not seen for
    ``intake.review.claims.IDLE`` is free again.
    """

    __tablename__ = "review_claims"
    submission_id: int = Field(foreign_key="submissions.id", primary_key=True)
    staff: str = Field(index=True, max_length=128)
    claimed_at: datetime = _now_ts()
    seen_at: datetime = _now_ts()
