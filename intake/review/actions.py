"""What staff decide about a submission; every change is written to the audit log.

Each function takes the session of the caller's transaction and the acting
user's name, changes the rows and adds one AuditLog entry. The web routes are a
thin layer over these.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from intake.db.audit import record
from intake.db.models import Acknowledgement, Case, DeadlineExtension, Flag, Message, Organisation, Submission, utcnow
from intake.decide.deadlines import extension_for, late_for, redecide_late
from intake.errors import IntakeError
from intake.receipts.compose import valid_address
from intake.receipts.plan import is_own_address, new_message_id, receipt_kind, receipt_recipient, recipient_key
from intake.receipts.resend import resend_refusal

# Flags that say "we do not know the case"; setting the case by hand answers them.
CASE_FLAGS = ("unmatched", "unknown_case", "ambiguous_case")
# Flags only their own decision clears (review/personal_data.py, review/campaigns.py): marking a
# response reviewed leaves them open, so nothing is published or grouped by a general "done".
DECISION_FLAGS = ("personal_data", "campaign")
LATE_REJECTED = "late_rejected"


class ReviewError(IntakeError):
    """A staff action cannot be done as asked; the message is shown to the user."""


def get_submission(session: Session, submission_id: int) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise ReviewError(f"innsending {submission_id} finnes ikke")
    return sub


def audit(session: Session, actor: str, action: str, entity: str, entity_id: int | None, **detail: Any) -> None:
    kept = {key: value for key, value in detail.items() if value is not None}
    record(session, action, entity, entity_id, kept or None, actor=actor)


def _resolve(session: Session, sub: Submission, names: tuple[str, ...], actor: str, resolution: str) -> list[str]:
    flags = session.exec(
        select(Flag).where(Flag.submission_id == sub.id, col(Flag.name).in_(names), col(Flag.resolved_at).is_(None))
    ).all()
    now = utcnow()
    for flag in flags:
        flag.resolved_at = now
        flag.resolved_by = actor
        flag.resolution = resolution
        session.add(flag)
    return [f.name for f in flags]


def touch(session: Session, sub: Submission) -> None:
    sub.updated_at = utcnow()
    session.add(sub)


def set_case(session: Session, submission_id: int, case_number: str, *, actor: str) -> Submission:
    """Sets or changes the case by hand; re-decides lateness against the new deadline."""
    sub = get_submission(session, submission_id)
    case = session.exec(select(Case).where(Case.number == case_number.strip())).first()
    if case is None:
        raise ReviewError(f"saken {case_number!r} finnes ikke")
    before = sub.case_number
    sub.case_id = case.id
    sub.case_number = case.number
    sub.match_source = "manual"
    sub.late = late_for(session, case, sub.organisation_id, sub.received_at)
    resolved = _resolve(session, sub, CASE_FLAGS, actor, f"sak satt til {case.number}")
    late_flag = session.exec(select(Flag).where(Flag.submission_id == sub.id, Flag.name == "late")).first()
    if sub.late and late_flag is None:
        assert sub.id is not None
        session.add(Flag(submission_id=sub.id, name="late", detail=f"mottatt etter fristen {case.deadline}"))
    elif not sub.late and late_flag is not None and late_flag.resolved_at is None:
        resolved += _resolve(session, sub, ("late",), actor, "ikke for sent i den nye saken")
    touch(session, sub)
    audit(
        session,
        actor,
        "submission.set_case",
        "submission",
        sub.id,
        before=before,
        after=case.number,
        late=sub.late,
        resolved=resolved,
    )
    return sub


def decide_late(session: Session, submission_id: int, *, accept: bool, actor: str, comment: str = "") -> Submission:
    """Accepts a late response into the consultation, or rejects it."""
    sub = get_submission(session, submission_id)
    if not sub.late:
        raise ReviewError("innsendingen er ikke kommet for sent")
    sub.decision = "late_accepted" if accept else "late_rejected"
    _resolve(session, sub, ("late",), actor, "godtatt" if accept else "avvist")
    touch(session, sub)
    audit(session, actor, "submission." + sub.decision, "submission", sub.id, comment=comment or None)
    return sub


def decide_duplicate(session: Session, submission_id: int, *, keep: bool, actor: str, comment: str = "") -> Submission:
    """Marks a second response from the same organisation as kept, or superseded (not published)."""
    sub = get_submission(session, submission_id)
    refuse_keeping_rejected(sub, keep=keep)
    if sub.decision == LATE_REJECTED:
        # Rejected as late, it is out already; superseding it must not erase why.
        _resolve(session, sub, ("duplicate_organisation",), actor, "erstattet")
        touch(session, sub)
        audit(session, actor, "submission.superseded", "submission", sub.id, comment=comment or None)
        return sub
    sub.decision = "duplicate_kept" if keep else "superseded"
    _resolve(session, sub, ("duplicate_organisation",), actor, "beholdt" if keep else "erstattet")
    touch(session, sub)
    audit(session, actor, "submission." + sub.decision, "submission", sub.id, comment=comment or None)
    return sub


def refuse_keeping_rejected(sub: Submission, *, keep: bool) -> None:
    """A late response staff rejected stays out: keeping it as the duplicate that counts would publish it."""
    if keep and sub.decision == LATE_REJECTED:
        raise ReviewError("svaret er avvist fordi det kom for sent; godta det for sene svaret først "
                          "om det skal regnes med")


def mark_reviewed(session: Session, submission_id: int, *, actor: str, comment: str) -> Submission:
    """Closes the review: every open flag is resolved with the comment."""
    sub = get_submission(session, submission_id)
    sub.review_status = "reviewed"
    resolved = _resolve(session, sub, tuple(_open_flag_names(session, sub)), actor, comment.strip() or "gjennomgått")
    touch(session, sub)
    audit(
        session,
        actor,
        "submission.reviewed",
        "submission",
        sub.id,
        comment=comment.strip() or None,
        resolved=resolved,
    )
    return sub


def _open_flag_names(session: Session, sub: Submission) -> list[str]:
    query = select(Flag.name).where(
        Flag.submission_id == sub.id, col(Flag.resolved_at).is_(None), col(Flag.name).not_in(DECISION_FLAGS)
    )
    return list(session.exec(query).all())


def set_withheld(session: Session, submission_id: int, *, withheld: bool, actor: str, reason: str = "") -> Submission:
    """Withholds a submission from the publication list (or publishes it again)."""
    sub = get_submission(session, submission_id)
    sub.withheld = withheld
    touch(session, sub)
    audit(
        session,
        actor,
        "submission.withheld" if withheld else "submission.published",
        "submission",
        sub.id,
        reason=reason.strip() or None,
    )
    return sub


def grant_extension(session: Session, case: Case, organisation_id: int, until: date, *, actor: str,
                    reason: str = "") -> DeadlineExtension:
    """An admin grants (or changes) an organisation's later deadline; its responses are decided again."""
    if until < case.deadline:
        raise ReviewError(f"den utsatte fristen ({until:%d.%m.%Y}) er før høringsfristen ({case.deadline:%d.%m.%Y})")
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise ReviewError(f"organisasjon {organisation_id} finnes ikke")
    row = extension_for(session, case, organisation_id)
    before = row.until.isoformat() if row is not None else None
    if row is None:
        assert case.id is not None
        row = DeadlineExtension(case_id=case.id, organisation_id=organisation_id, until=until)
    row.until, row.source, row.granted_by, row.reason = until, "staff", actor, reason.strip() or None
    session.add(row)
    session.flush()
    changed = redecide_late(session, case, organisation_id, actor=actor)
    audit(session, actor, "case.extension_granted", "case", case.id, organisation=org.name, before=before,
           until=until.isoformat(), reason=reason.strip() or None, changed=changed)
    return row


def resend_receipt(
    session: Session,
    submission_id: int,
    *,
    actor: str,
    from_address: str,
    own_addresses: Collection[str],
    to: str | None = None,
) -> Acknowledgement:
    """Puts the receipt back in the outbox with a fresh Message-ID, to be delivered again.

    Without ``to`` it goes to the submission's receipt address and is refused where the
    automatic receipt was suppressed (``resend_refusal``). With ``to`` it is an admin's
    override: sent to that typed address whatever the suppression said, and audited so.
    The hourly caps hold either way.
    """
    sub = get_submission(session, submission_id)
    own = {*own_addresses, from_address}
    if to is None:
        refusal = resend_refusal(session, submission_id, own_addresses=own)
        if refusal is not None:
            raise ReviewError(refusal)
        recipient = receipt_recipient(sub)
    else:
        recipient = to.strip().lower()
        if not valid_address(recipient):
            raise ReviewError(f"«{to.strip()}» er ikke en e-postadresse (skriv den som navn@domene.no)")
        if is_own_address(recipient, own):
            raise ReviewError(f"{recipient} er vår egen adresse; en kvittering dit ville gått i ring")
    ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == sub.id)).first()
    if ack is None:
        raise ReviewError("innsendingen har ingen kvittering")
    if ack.status == "sending":
        raise ReviewError("kvitteringen blir sendt akkurat nå; vent til den er sendt eller feilet")
    if recipient is None:
        raise ReviewError("kvitteringen har ingen mottaker")
    before, suppressed = ack.status, ack.reason if ack.status == "suppressed" else None
    open_flags = session.exec(
        select(Flag.name).where(Flag.submission_id == sub.id).where(col(Flag.resolved_at).is_(None))
    ).all()
    # The case, lateness or deadline may have changed since the receipt was written: the outbox
    # writes its text again when it goes.
    ack.kind = receipt_kind(sub, set(open_flags))
    ack.subject = ack.body_text = ack.body_html = None
    ack.recipient, ack.recipients = recipient, [recipient]
    ack.recipient_key, ack.recipient_domain = recipient_key(recipient)
    ack.message_id = new_message_id(from_address)
    ack.status = "pending"
    ack.reason = f"sendes på nytt etter ønske fra {actor}" if to is None else f"sendt til {recipient} av {actor}"
    ack.attempts = 0
    ack.last_error = None
    ack.sent_at = None
    ack.next_attempt_at = utcnow()
    ack.updated_at = utcnow()
    # The outbox's lease and hand-off mark would stop a second delivery; a resend is a new delivery.
    ack.claim_token = ack.claimed_until = ack.handoff_at = None
    session.add(ack)
    action = "receipt.resend" if to is None else "receipt.resend_override"
    audit(session, actor, action, "submission", sub.id, before=before, to=recipient, overrode=suppressed,
           message_id=ack.message_id)
    return ack


def requeue_message(session: Session, message_pk: int, *, actor: str) -> Message:
    """Makes a failed or parked message eligible for processing again, with a fresh attempt count."""
    message = session.get(Message, message_pk)
    if message is None:
        raise ReviewError(f"melding {message_pk} finnes ikke")
    if message.status not in ("failed", "parked"):
        raise ReviewError("meldingen er ikke feilet")
    before = message.status
    message.status = "stored"
    message.attempts = 0
    session.add(message)
    audit(session, actor, "message.retry", "message", message.id, before=before, last_error=message.last_error)
    return message
