"""The staff decision on a response that holds a national identity number (flag ``personal_data``).

Three answers clear the flag, each audited: withhold the whole response from publication; publish
it without the documents that hold the number (the e-mail text and attachments are left out one
by one); or «ikke et fødselsnummer», when the digits are something else (an order number that
happens to pass the checks).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from intake.db.models import Attachment, Flag, Submission, utcnow
from intake.decide.pii import find_identity_numbers
from intake.review.actions import ReviewError, audit, get_submission, touch

FLAG = "personal_data"
DECISIONS = {
    "withhold": "holdt tilbake fra publisering",
    "without_documents": "publiseres uten dokumentene med fødselsnummer",
    "not_identity_number": "ikke et fødselsnummer",
}


def documents_with_numbers(session: Session, sub: Submission) -> tuple[bool, list[Attachment]]:
    """Whether the e-mail text holds an identity number, and which attachments do."""
    attachments = session.exec(select(Attachment).where(Attachment.submission_id == sub.id)).all()
    return bool(find_identity_numbers(sub.body_text)), [a for a in attachments if find_identity_numbers(a.text)]


def decide_personal_data(
    session: Session, submission_id: int, *, decision: str, actor: str, comment: str = ""
) -> Submission:
    """Clears the open ``personal_data`` flag with one of ``DECISIONS``."""
    if decision not in DECISIONS:
        raise ReviewError("velg en av de tre avgjørelsene")
    sub = get_submission(session, submission_id)
    flag = session.exec(
        select(Flag).where(Flag.submission_id == sub.id, Flag.name == FLAG, col(Flag.resolved_at).is_(None))
    ).first()
    if flag is None:
        raise ReviewError("innsendingen har ingen åpen merknad om fødselsnummer")
    left_out: list[str] = []
    if decision == "withhold":
        sub.withheld = True
    elif decision == "without_documents":
        in_body, attachments = documents_with_numbers(session, sub)
        if in_body:
            sub.body_withheld = True
            left_out.append("E-postteksten")
        for attachment in attachments:
            attachment.withheld = True
            session.add(attachment)
            left_out.append(attachment.filename)
    flag.resolved_at, flag.resolved_by = utcnow(), actor
    flag.resolution = DECISIONS[decision] + (f": {', '.join(left_out)}" if left_out else "")
    session.add(flag)
    touch(session, sub)
    audit(session, actor, "submission.personal_data", "submission", sub.id, decision=decision,
           left_out=left_out or None, comment=comment.strip() or None)
    return sub
