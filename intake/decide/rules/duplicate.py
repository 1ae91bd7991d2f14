"""duplicate_organisation and duplicate_message: a second response where one was asked for."""

from __future__ import annotations

from sqlalchemy import bindparam, exists
from sqlmodel import col, select

from intake.db.models import Flag, Submission
from intake.decide.rules.base import RuleContext

# Built once: every message runs them, and building a statement costs more than running it.
# An auto-reply is never a response, even once a person has looked at it. Its flag row is
# written with its rule log in one transaction and never deleted, so the row tells what the
# log would, without reading every earlier submission's log.
_AUTO_REPLY = exists().where(col(Flag.submission_id) == col(Submission.id), col(Flag.name) == "auto_reply")
_FIRST_RESPONSE = (
    select(Submission.id, Submission.receipt_ref)
    .where(
        col(Submission.case_id) == bindparam("case_id"),
        col(Submission.organisation_id) == bindparam("organisation_id"),
        col(Submission.message_ref) != bindparam("pk"),
        ~_AUTO_REPLY,
    )
    .order_by(col(Submission.received_at), col(Submission.id))
    .limit(1)
)
_SAME_ID = (
    select(Submission.id)
    .where(col(Submission.message_id) == bindparam("message_id"), col(Submission.message_ref) != bindparam("pk"))
    .limit(1)
)


class DuplicateOrganisation:
    name = "duplicate_organisation"
    flag = "duplicate_organisation"

    def check(self, ctx: RuleContext) -> str | None:
        if ctx.case is None or ctx.organisation is None:
            return None
        # A follow-up adds to the organisation's response; it is not a second one.
        if ctx.follow_up_of is not None:
            return None
        if ctx.parsed.not_mime:
            return None
        first = ctx.session.connection().execute(
            _FIRST_RESPONSE, {"case_id": ctx.case.id, "organisation_id": ctx.organisation.id, "pk": ctx.message_pk}
        ).first()
        if first is None:
            return None
        first_id, receipt_ref = first
        return f"{ctx.organisation.name} har allerede svart (innsending {first_id}, kvittering {receipt_ref})"


class DuplicateMessage:
    name = "duplicate_message"
    flag = "duplicate_message"

    def check(self, ctx: RuleContext) -> str | None:
        message_id = ctx.parsed.message_id
        if not message_id:
            return None
        other = ctx.session.connection().execute(_SAME_ID, {"message_id": message_id, "pk": ctx.message_pk}).scalar()
        if other is None:
            return None
        return f"samme Message-ID som innsending {other}, med andre bytes"
