"""unmatched, unknown_case, ambiguous_case: what the case matcher could not decide."""

from __future__ import annotations

from intake.decide.rules.base import RuleContext


class Unmatched:
    name = "unmatched"
    flag = "unmatched"

    def check(self, ctx: RuleContext) -> str | None:
        # What is not mail at all is unreadable; that it names no case says nothing more.
        if ctx.match.outcome != "unmatched" or ctx.parsed.not_mime:
            return None
        return "fant ikke saksnummer i " + ", ".join(ctx.match.tried or ["meldingen"])


class UnknownCase:
    name = "unknown_case"
    flag = "unknown_case"

    def check(self, ctx: RuleContext) -> str | None:
        if ctx.match.outcome != "unknown_case":
            return None
        return f"saksnummer uten arbeidsflyt: {', '.join(ctx.match.found)} (i {ctx.match.source})"


class AmbiguousCase:
    name = "ambiguous_case"
    flag = "ambiguous_case"

    def check(self, ctx: RuleContext) -> str | None:
        if ctx.match.outcome != "ambiguous_case":
            return None
        return f"flere saker: {', '.join(ctx.match.found)} (i {ctx.match.source})"
