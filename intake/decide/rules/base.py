"""What every rule may look at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from intake.db.models import Case, Organisation
from intake.decide.authres import NOT_CHECKED, SenderAuthentication
from intake.decide.matching import MatchResult
from intake.decide.organisations import Invited
from intake.mail.mime import ParsedMessage


@dataclass
class RuleContext:
    """One message being decided, with its match and the session to look things up in."""

    session: Session
    parsed: ParsedMessage
    match: MatchResult
    case: Case | None
    organisation: Organisation | None
    received_at: datetime
    message_pk: int
    # Every invited body, read once per message for the organisation lookup and the rules.
    invited: Sequence[Invited]
    own_addresses: frozenset[str] = frozenset()
    # What our border mail server said about the From domain (Authentication-Results).
    sender_auth: SenderAuthentication = NOT_CHECKED
    extraction_errors: list[tuple[str, str]] = field(default_factory=list)
    # What a person may read: (where, text) for the subject, the e-mail text and each attachment.
    documents: list[tuple[str, str | None]] = field(default_factory=list)
    # The response this message follows up, by its thread headers (intake/decide/thread.py).
    follow_up_of: int | None = None
