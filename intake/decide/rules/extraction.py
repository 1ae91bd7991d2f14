"""extraction_failed: an attachment could not be read within the limits."""

from __future__ import annotations

from intake.decide.rules.base import RuleContext


class ExtractionFailed:
    name = "extraction_failed"
    flag = "extraction_failed"

    def check(self, ctx: RuleContext) -> str | None:
        if not ctx.extraction_errors:
            return None
        return "; ".join(f"{name}: {reason}" for name, reason in ctx.extraction_errors)
