"""Flag: small named rules, each deciding one flag, run as a chain that records hits and misses.

A rule is any object with a ``name``, the ``flag`` it raises and a
``check(ctx) -> str | None`` that returns a detail (the reason, for a person)
when it hits and None when it misses. The chain keeps both outcomes, so a
reviewer can see why a submission was or was not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from intake.decide.rules.auto_reply import AutoReply
from intake.decide.rules.base import RuleContext
from intake.decide.rules.duplicate import DuplicateMessage, DuplicateOrganisation
from intake.decide.rules.extraction import ExtractionFailed
from intake.decide.rules.late import Late
from intake.decide.rules.matching import AmbiguousCase, UnknownCase, Unmatched
from intake.decide.rules.personal_data import PersonalData
from intake.decide.rules.suspicious import SuspiciousSender
from intake.decide.rules.unreadable import Unreadable

__all__ = ["Hit", "Rule", "RuleContext", "run_chain"]


class Rule(Protocol):
    name: str
    flag: str

    def check(self, ctx: RuleContext) -> str | None:
        """Returns why the flag applies, or None when it does not."""
        ...


@dataclass(frozen=True)
class Hit:
    flag: str
    detail: str


CHAIN: tuple[Rule, ...] = (
    Unreadable(),
    AutoReply(),
    Unmatched(),
    UnknownCase(),
    AmbiguousCase(),
    Late(),
    DuplicateMessage(),
    DuplicateOrganisation(),
    ExtractionFailed(),
    SuspiciousSender(),
    PersonalData(),
)


def run_chain(ctx: RuleContext, chain: tuple[Rule, ...] = CHAIN) -> tuple[list[Hit], list[dict[str, object]]]:
    """Runs every rule; returns the hits and the log of every rule's outcome."""
    hits: list[Hit] = []
    log: list[dict[str, object]] = []
    for rule in chain:
        detail = rule.check(ctx)
        log.append({"rule": rule.name, "flag": rule.flag, "hit": detail is not None, "detail": detail})
        if detail is not None:
            hits.append(Hit(rule.flag, detail))
    return hits, log
