"""What every rule may look at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from intake.db.models import Case, Organisation
from intake.decide.authres import NOT_CHECKED, SenderAuthentication
from intake.decide.deadlines import deadline_for
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
    # The organisation's own deadline for the case (an extension counts), read once for the
    # rules and the receipt; None: read it when asked (``deadline``).
    own_deadline: date | None = None

    def deadline(self) -> date | None:
        """The last day, inclusive, on which the response is on time; None without a case."""
        if self.case is None:
            return None
        if self.own_deadline is None:
            organisation_id = self.organisation.id if self.organisation else None
            self.own_deadline = deadline_for(self.session, self.case, organisation_id)
        return self.own_deadline
