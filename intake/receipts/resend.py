"""Whether a receipt may be sent again, and why not: the one answer the resend button and its action share.

A plain resend obeys everything that kept the receipt from going out
automatically (an auto-reply or bounce, our own or a machine's address, a failed
sender check, a copy of a message already answered) and the hourly caps, which
make it wait. Sending past a suppression is an admin's override, to an address
typed in by hand (``intake.review.actions.resend_receipt``).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import Session, select

from intake.db.models import Acknowledgement, Flag, Submission
from intake.receipts.plan import suppression_reason

OVERRIDE_HINT = "En administrator kan likevel sende kvitteringen til en adresse som skrives inn."


def resend_refusal(session: Session, submission_id: int, *, own_addresses: Collection[str]) -> str | None:
    """Why «Send kvitteringen på nytt» would be refused for this submission (in Norwegian), or None."""
    submission = session.get(Submission, submission_id)
    if submission is None:
        return f"Innsending {submission_id} finnes ikke."
    ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == submission_id)).first()
    if ack is None:
        return "Innsendingen har ingen kvittering."
    if ack.status == "sending":
        return "Kvitteringen blir sendt akkurat nå. Vent til den er sendt eller har feilet."
    # Every flag the submission ever had counts, resolved or not: marking a bounce as reviewed
    # does not make its sender a person.
    flags = {flag.name: flag.detail for flag in session.exec(select(Flag).where(Flag.submission_id == submission_id))}
    reason = suppression_reason(submission, flags, own_addresses)
    if reason is not None:
        return f"Kvitteringen sendes ikke på nytt: {reason}. {OVERRIDE_HINT}"
    return None
