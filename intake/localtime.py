"""Oslo time for people: every timestamp a person reads is shown in Norwegian local time."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from intake.db.models import utcnow

OSLO = ZoneInfo("Europe/Oslo")


def oslo(value: datetime | None) -> str:
    """``28.09.2022 10:15`` in Oslo time, or an empty string."""
    if value is None:
        return ""
    return value.astimezone(OSLO).strftime("%d.%m.%Y %H:%M")


def oslo_date(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(OSLO).date()
    return value.strftime("%d.%m.%Y")


def oslo_day(value: datetime) -> date:
    return value.astimezone(OSLO).date()


def iso_oslo(value: datetime | None) -> str | None:
    """ISO 8601 with the Oslo offset, the form the JSON contract uses."""
    return value.astimezone(OSLO).isoformat() if value is not None else None


def start_of_today() -> datetime:
    """Midnight of today's Oslo date, as an aware datetime."""
    return datetime.combine(utcnow().astimezone(OSLO).date(), time.min, tzinfo=OSLO)
