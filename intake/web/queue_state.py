"""The queue a clerk came from, carried through a submission's page and its actions as one URL parameter.

Only the queue's own filter names are read back, each cut short, so the parameter can neither
point elsewhere nor carry text onto the page.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from intake.review.queue import Filters

KEYS = ("flag", "case", "mailbox", "archive", "sort")
MAX_VALUE = 64


def parse(raw: str) -> Filters | None:
    """The filters in a ``queue`` parameter, or None when there is none."""
    if not raw:
        return None
    values = {k: v[:MAX_VALUE] for k, v in parse_qsl(raw[:1000], keep_blank_values=False) if k in KEYS}
    return Filters(**values)


def encode(filters: Filters) -> str:
    """The ``queue`` parameter for these filters (``from`` every other parameter it travels with)."""
    return urlencode(filters.params()) or "sort=received"
