"""What a staff password must be: at least 12 characters, and not one of the passwords people pick most.

The common passwords are the 30,000 of the list the ``zxcvbn`` package ships,
with a few Norwegian words of our own that belong on it for a Norwegian agency.
A password is refused when it, or what is left of it once the digits and marks
at its end are taken off (``Sommer2024!``), is on the list, or when it is the
user name or one character repeated.
"""

from __future__ import annotations

from functools import cache

MIN_LENGTH = 12
# Words Norwegian staff reach for that an English list does not have.
NORWEGIAN = frozenset({
    "passord", "passordet", "hemmelig", "hemmelighet", "sommer", "vinter", "høst", "host", "vaar", "vår",
    "velkommen", "norge", "norway", "oslo", "bergen", "trondheim", "stavanger", "postmottak", "høring",
    "horing", "høringssvar", "kvittering", "saksbehandler", "arkiv", "direktoratet", "ehelse", "helse",
    "fotball", "glemmeg", "qwertyuiopå", "asdfghjkløæ", "jegerbest", "mittpassord", "nyttpassord",
})


@cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"]) | NORWEGIAN


def password_problem(name: str, password: str) -> str | None:
    """Why this password will not do (in Norwegian, for the person choosing it), or None."""
    if len(password) < MIN_LENGTH:
        return f"passordet må ha minst {MIN_LENGTH} tegn"
    folded = password.casefold()
    stem = folded.rstrip("0123456789!?.,;:-_#*+@$%&/()= ")
    if len(set(folded)) == 1:
        return "passordet kan ikke være ett tegn gjentatt"
    if name.strip() and name.strip().casefold() in folded:
        return "passordet kan ikke inneholde brukernavnet"
    common = _common()
    if folded in common or stem in common or _doubled(stem) in common:
        return "passordet er et av de mest brukte passordene; velg et annet"
    return None


def _doubled(stem: str) -> str:
    """``hemmelighemmelig`` is ``hemmelig`` twice, which guessing tools try early."""
    half = len(stem) // 2
    return stem[:half] if len(stem) % 2 == 0 and stem[:half] == stem[half:] else ""
