"""late: received after the deadline day ended, in the case's own time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from intake.decide.rules.base import RuleContext


def deadline_end(deadline: date, timezone: str) -> datetime:
    """The first instant after the deadline day, as an aware datetime.

    The deadline is inclusive: a response is on time up to 23:59:59.999… local
    time on that day, whatever the summer-time offset is then.
    """
    return datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))


def is_late(received_at: datetime, deadline: date, timezone: str) -> bool:
    return received_at >= deadline_end(deadline, timezone)


class Late:
    name = "late"
    flag = "late"

    def check(self, ctx: RuleContext) -> str | None:
        case = ctx.case
        if case is None or not is_late(ctx.received_at, case.deadline, case.timezone):
            return None
        local = ctx.received_at.astimezone(ZoneInfo(case.timezone))
        return f"mottatt {local:%d.%m.%Y %H:%M}, fristen var {case.deadline:%d.%m.%Y}"
