"""late: received after the deadline day ended, in the case's own time zone.

The deadline is the organisation's own when it was granted a later one (``decide/deadlines.py``).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from intake.decide.deadlines import is_late
from intake.decide.rules.base import RuleContext


class Late:
    name = "late"
    flag = "late"

    def check(self, ctx: RuleContext) -> str | None:
        case, deadline = ctx.case, ctx.deadline()
        if case is None or deadline is None:
            return None
        if not is_late(ctx.received_at, deadline, case.timezone):
            return None
        local = ctx.received_at.astimezone(ZoneInfo(case.timezone))
        extended = " (utsatt frist)" if deadline != case.deadline else ""
        return f"mottatt {local:%d.%m.%Y %H:%M}, fristen var {deadline:%d.%m.%Y}{extended}"
