"""When the agency's own mail relay received a message: ``received_at`` for mail it queued for us.

The relay in front of the SMTP receiver holds mail while intake is down and
retries for up to an hour or more; our own clock then says when the relay got
through, not when the sender's mail arrived. The relay writes that moment in
the ``Received`` header it puts on top (RFC 5321 §4.4). Only the headers on top
written by a relay named in ``[receiver] trusted_relays`` count: anything below
them, and anything a sender wrote, could say any time at all. The time is also
checked against our own clock, and ignored when it lies in the future or further
back than a relay keeps mail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# Only the top of the header block is read, and only so many Received fields of it.
HEAD_BYTES = 256 * 1024
MAX_FIELDS = 20
MAX_FIELD_CHARS = 4000
# Clocks of two machines differ a little; a relay keeps mail no longer than this (Postfix: 5 days).
SKEW = timedelta(minutes=2)
OLDEST = timedelta(days=5)
_BY = re.compile(r"(?:^|\s)by\s+([A-Za-z0-9.\-\[\]:]{1,255})", re.IGNORECASE)


def received_fields(raw: bytes) -> list[str]:
    """The message's Received fields, top first, unfolded; at most MAX_FIELDS of them."""
    head = raw[:HEAD_BYTES]
    end = re.search(rb"\r?\n\r?\n", head)
    if end is not None:
        head = head[: end.start()]
    fields: list[str] = []
    current: str | None = None
    for line in re.split(rb"\r?\n", head):
        text = line.decode("latin-1")
        if text[:1] in (" ", "\t"):
            if current is not None and len(current) < MAX_FIELD_CHARS:
                current += " " + text.strip()
            continue
        if current is not None:
            fields.append(current[:MAX_FIELD_CHARS])
            current = None
            if len(fields) >= MAX_FIELDS:
                return fields
        name, colon, value = text.partition(":")
        if colon and name.strip().lower() == "received":
            current = value.strip()
    if current is not None and len(fields) < MAX_FIELDS:
        fields.append(current[:MAX_FIELD_CHARS])
    return fields


def _by_and_when(field: str) -> tuple[str | None, datetime | None]:
    stamp, semicolon, when = field.rpartition(";")
    if not semicolon:
        return None, None
    by = _BY.search(stamp)
    try:
        parsed = parsedate_to_datetime(when.strip())
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is not None and parsed.tzinfo is None:
        parsed = None  # "-0000": no zone known, so no moment either
    return (by.group(1).strip("[]").lower() if by else None), parsed


def relay_received_at(raw: bytes, trusted: set[str], arrived: datetime) -> datetime | None:
    """When the first trusted relay on top took the message, or None when no trusted header says so.

    Walks the Received fields from the top while each was written by a trusted relay
    (the chain inside the agency) and returns the time in the lowest of them: when
    the mail entered the agency. Returns None for a time after ``arrived`` (plus a
    little clock skew) or more than a relay's queue lifetime before it.
    """
    if not trusted:
        return None
    found: datetime | None = None
    for field in received_fields(raw):
        by, when = _by_and_when(field)
        if by is None or by not in trusted:
            break
        if when is None:
            break
        found = when
    if found is None:
        return None
    found = found.astimezone(UTC)
    if found > arrived + SKEW or found < arrived - OLDEST:
        return None
    return min(found, arrived)
