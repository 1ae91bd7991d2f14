"""What every rule may look at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from intake.db.models import Case, Organisation
from intake.decide.authres import NOT_CHECKED, SenderAuthentication
from intake.decide.earlier import Earlier, look_up
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
    _earlier: Earlier | None = field(default=None, init=False, repr=False)

    def earlier(self) -> Earlier:
        """What came before this message that the rules ask about, read once (``decide/earlier.py``)."""
        if self._earlier is None:
            self._earlier = look_up(
                self.session, case_id=self.case.id if self.case else None,
                organisation_id=self.organisation.id if self.organisation else None,
                message_id=self.parsed.message_id, message_pk=self.message_pk,
                # A follow-up adds to the organisation's response, and a file that is no e-mail
                # is no second one: duplicate_organisation does not ask for them.
                responses=self.follow_up_of is None and not self.parsed.not_mime,
            )
        return self._earlier

    def deadline(self) -> date | None:
        """The last day, inclusive, on which the response is on time; None without a case."""
        if self.case is None:
            return None
        if self.own_deadline is None:
            until = self.earlier().extension_until
            self.own_deadline = max(self.case.deadline, until) if until is not None else self.case.deadline
        return self.own_deadline
