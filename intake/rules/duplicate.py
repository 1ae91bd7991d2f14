"""duplicate_organisation and duplicate_message: a second response where one was asked for."""

from __future__ import annotations

from sqlmodel import col, select

from intake.models import Submission
from intake.rules.base import RuleContext


class DuplicateOrganisation:
    name = "duplicate_organisation"
    flag = "duplicate_organisation"

    def check(self, ctx: RuleContext) -> str | None:
        if ctx.case is None or ctx.organisation is None:
            return None
        if ctx.parsed.not_mime:
            return None
        earlier = ctx.session.exec(
            select(Submission)
            .where(
                Submission.case_id == ctx.case.id,
                Submission.organisation_id == ctx.organisation.id,
                Submission.message_ref != ctx.message_pk,
            )
            .order_by(col(Submission.received_at))
        ).all()
        earlier = [s for s in earlier if not _is_auto(s)]
        if not earlier:
            return None
        first = earlier[0]
        return f"{ctx.organisation.name} har allerede svart (innsending {first.id}, kvittering {first.receipt_ref})"


def _is_auto(submission: Submission) -> bool:
    return any(entry.get("flag") == "auto_reply" and entry.get("hit") for entry in submission.rule_log or [])


class DuplicateMessage:
    name = "duplicate_message"
    flag = "duplicate_message"

    def check(self, ctx: RuleContext) -> str | None:
        message_id = ctx.parsed.message_id
        if not message_id:
            return None
        other = ctx.session.exec(
            select(Submission).where(Submission.message_id == message_id, Submission.message_ref != ctx.message_pk)
        ).first()
        if other is None:
            return None
        return f"samme Message-ID som innsending {other.id}, med andre bytes"
