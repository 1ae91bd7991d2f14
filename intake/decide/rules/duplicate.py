"""duplicate_organisation and duplicate_message: a second response where one was asked for."""

from __future__ import annotations

from intake.decide.rules.base import RuleContext


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
        first = ctx.earlier().first_response
        if first is None:
            return None
        first_id, receipt_ref = first
        return f"{ctx.organisation.name} har allerede svart (innsending {first_id}, kvittering {receipt_ref})"


class DuplicateMessage:
    name = "duplicate_message"
    flag = "duplicate_message"

    def check(self, ctx: RuleContext) -> str | None:
        if not ctx.parsed.message_id:
            return None
        other = ctx.earlier().same_message_id
        if other is None:
            return None
        return f"samme Message-ID som innsending {other}, med andre bytes"
