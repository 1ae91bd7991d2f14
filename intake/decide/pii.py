"""Finds Norwegian national identity numbers (fødselsnummer, D-number) in text.

The ``personal_data`` rule raises a flag for staff to decide on before anything
is published. A number counts when both mod-11 check digits are right and its
first six digits are a date: as written for a fødselsnummer, with 4 added to
the first digit for a D-number, or with 4 added to the third digit (the month)
for an H-number. Eleven digits that merely pass the check digits (one in
about 120 random runs does) are thus not taken for a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

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


def _birth_date(number: str) -> date | None:
    """The date the first six digits stand for, read as fødselsnummer, D-number or H-number."""
    day, month, year = int(number[0:2]), int(number[2:4]), int(number[4:6])
    if day > 40:
        day -= 40  # D-number: the first digit has 4 added
    elif month > 40:
        month -= 40  # H-number: the third digit has 4 added
    individual = int(number[6:9])
    # The individual number tells the century; 29 February needs the right one.
    if individual < 500:
        century = 1900
    elif individual < 750 and year >= 54:
        century = 1800
    elif year < 40:
        century = 2000
    elif individual >= 900:
        century = 1900
    else:
        return None
    try:
        return date(century + year, month, day)
    except ValueError:
        return None


def is_identity_number(number: str) -> bool:
    """True for eleven digits with both mod-11 check digits right and a date in front (D/H-numbers too)."""
    if len(number) != 11 or not number.isdigit():
        return False
    digits = [int(c) for c in number]
    return (
        _check_digit(digits[:9], _WEIGHTS_1) == digits[9]
        and _check_digit(digits[:10], _WEIGHTS_2) == digits[10]
        and _birth_date(number) is not None
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
