"""personal_data: a national identity number in the subject, the text or an attachment.

The flag stays until a person decides (withhold the response, publish it without the document,
or «ikke et fødselsnummer»: ``review/personal_data.py``); marking the response reviewed does not
clear it, so nothing with a number in it reaches the publishing package by accident.
"""

from __future__ import annotations

from intake.decide.pii import find_identity_numbers
from intake.decide.rules.base import RuleContext

# The detail names at most this many places; the submission page lists every one.
_NAMED = 5


class PersonalData:
    name = "personal_data"
    flag = "personal_data"

    def check(self, ctx: RuleContext) -> str | None:
        found = [(where, f.masked) for where, text in ctx.documents for f in find_identity_numbers(text)]
        if not found:
            return None
        places = "; ".join(f"{where}: {masked}" for where, masked in found[:_NAMED])
        more = f" og {len(found) - _NAMED} til" if len(found) > _NAMED else ""
        return f"mulig fødselsnummer i {places}{more}"
