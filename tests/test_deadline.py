"""The deadline is a date, inclusive, in Europe/Oslo; summer and winter time alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from intake.decide.deadlines import deadline_end, is_late

OSLO = ZoneInfo("Europe/Oslo")


@pytest.mark.parametrize(
    ("deadline", "local", "late"),
    [
        # Summer time (CEST, UTC+2): 22/414's deadline, 1 October 2022.
        (date(2022, 10, 1), datetime(2022, 10, 1, 23, 30), False),
        (date(2022, 10, 1), datetime(2022, 10, 1, 23, 59, 59), False),
        (date(2022, 10, 1), datetime(2022, 10, 2, 0, 0, 0), True),
        (date(2022, 10, 1), datetime(2022, 10, 2, 0, 30), True),
        (date(2022, 10, 1), datetime(2022, 9, 30, 12, 0), False),
        # Winter time (CET, UTC+1): a deadline in January.
        (date(2023, 1, 15), datetime(2023, 1, 15, 23, 30), False),
        (date(2023, 1, 15), datetime(2023, 1, 16, 0, 30), True),
        # 21/761's deadline, 11 April 2022, just after the switch to summer time.
        (date(2022, 4, 11), datetime(2022, 4, 11, 23, 30), False),
        (date(2022, 4, 11), datetime(2022, 4, 12, 0, 30), True),
    ],
)
def test_deadline_edges_in_oslo_time(deadline: date, local: datetime, late: bool) -> None:
    received = local.replace(tzinfo=OSLO).astimezone(UTC)
    assert is_late(received, deadline, "Europe/Oslo") is late


def test_deadline_end_in_utc_follows_the_offset() -> None:
    assert deadline_end(date(2022, 10, 1), "Europe/Oslo").astimezone(UTC) == datetime(2022, 10, 1, 22, 0, tzinfo=UTC)
    assert deadline_end(date(2023, 1, 15), "Europe/Oslo").astimezone(UTC) == datetime(2023, 1, 15, 23, 0, tzinfo=UTC)


def test_utc_time_before_midnight_utc_but_after_midnight_oslo_is_late() -> None:
    # 22:30 UTC on 1 October is 00:30 on 2 October in Oslo: late, though the UTC date is still the 1st.
    assert is_late(datetime(2022, 10, 1, 22, 30, tzinfo=UTC), date(2022, 10, 1), "Europe/Oslo")
