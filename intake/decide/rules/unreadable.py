"""unreadable: the message itself is not MIME (an Outlook .msg file, say); the raw stays stored."""

from __future__ import annotations

from intake.decide.rules.base import RuleContext


class Unreadable:
    name = "unreadable"
    flag = "unreadable"

    def check(self, ctx: RuleContext) -> str | None:
        return ctx.parsed.not_mime
