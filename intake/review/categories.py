"""Respondent categories: the workflow's ``category`` of an invited body, else a fallback.

A person writing from a public mail provider is «Privatpersoner», a sender at a
``kommune.no`` domain is «Kommuner», and everyone else «Andre».
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, col, select

from intake.db.models import Case, Invitation, Organisation
from intake.decide.organisations import domain_of
from intake.review.responses import SubmissionRow

PERSONS = "Privatpersoner"
MUNICIPALITIES = "Kommuner"
OTHERS = "Andre"


@dataclass(frozen=True)
class Respondent:
    """What the summary needs to know of who wrote: the category and whether they were invited."""

    category: str
    invited: bool
    person: bool
    # Known only by the sender's mail domain (neither invited nor a person).
    domain_only: bool = False


def fallback(kind: str | None, domains: list[str], sender: str | None) -> str:
    if kind == "person":
        return PERSONS
    names = [*domains, domain_of(sender) or ""]
    if any(d == "kommune.no" or d.endswith(".kommune.no") for d in names):
        return MUNICIPALITIES
    return OTHERS


class Categories:
    """The category of each organisation in one case, read once for the whole case."""

    def __init__(self, session: Session, case: Case, organisation_ids: Collection[int | None]) -> None:
        self._invited = {
            org_id: category
            for org_id, category in session.exec(
                select(Invitation.organisation_id, Invitation.category).where(Invitation.case_id == case.id)
            )
        }
        self._orgs = {
            org_id: (kind, list(domains or []))
            for org_id, kind, domains in session.exec(
                select(Organisation.id, Organisation.kind, Organisation.domains).where(
                    col(Organisation.id).in_([i for i in set(organisation_ids) if i is not None])
                )
            )
        }
        # Workflow order is the reading order of the categories; the fallbacks come last.
        order: list[str] = []
        for category in self._invited.values():
            if category and category not in order:
                order.append(category)
        self.order = [*order, *(c for c in (MUNICIPALITIES, OTHERS, PERSONS) if c not in order)]

    def of(self, organisation_id: int | None, sender: str | None) -> Respondent:
        kind, domains = self._orgs.get(organisation_id or -1, (None, []))
        invited = organisation_id in self._invited
        category = self._invited.get(organisation_id or -1) or fallback(kind, domains, sender)
        return Respondent(category=category, invited=invited, person=kind == "person",
                          domain_only=kind == "domain" and not invited)

    def name(self, sub: SubmissionRow, respondent: Respondent) -> str:
        """Who wrote, as a reader names them: an organisation known only by its domain goes by the
        sender's display name (``Ås kommune`` rather than ``as.kommune.no``)."""
        if respondent.domain_only and sub.sender_name:
            return sub.sender_name
        return sub.organisation or sub.sender_name or sub.sender or "(ukjent avsender)"

    def rank(self, category: str) -> int:
        return self.order.index(category) if category in self.order else len(self.order)
