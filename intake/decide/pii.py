"""Finds Norwegian national identity numbers (fødselsnummer, D-number) in text.

Used to warn staff before a submission is published: a number that passes both
mod-11 check digits is very likely a real identity number and must be withheld
or redacted. Only the check digits are tested, not the date, so D- and H-numbers
and synthetic test numbers are found too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Eleven digits, optionally written as six and five with one space between, and
# not part of a longer run of digits (an account or reference number).
_CANDIDATE = re.compile(r"(?<![\d])(\d{6})[ \u00a0]?(\d{5})(?![\d])")
_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


@dataclass(frozen=True)
class Finding:
    """One identity number: where it is and a masked form safe to show on screen."""

    start: int
    end: int
    masked: str


def _check_digit(digits: list[int], weights: tuple[int, ...]) -> int | None:
    remainder = sum(d * w for d, w in zip(digits, weights, strict=False)) % 11
    value = 11 - remainder
    if value == 11:
        return 0
    if value == 10:
        return None
    return value


def is_identity_number(number: str) -> bool:
    """True when ``number`` is eleven digits whose last two are both valid mod-11 check digits."""
    if len(number) != 11 or not number.isdigit():
        return False
    digits = [int(c) for c in number]
    return (
        _check_digit(digits[:9], _WEIGHTS_1) == digits[9]
        and _check_digit(digits[:10], _WEIGHTS_2) == digits[10]
    )


def find_identity_numbers(text: str | None) -> list[Finding]:
    """Every identity number in ``text``, in order of appearance."""
    if not text:
        return []
    found: list[Finding] = []
    for match in _CANDIDATE.finditer(text):
        number = match.group(1) + match.group(2)
        if is_identity_number(number):
            # The birth date part is shown, the personal part hidden, so staff can find it in the document.
            found.append(Finding(match.start(), match.end(), number[:6] + "*****"))
    return found
