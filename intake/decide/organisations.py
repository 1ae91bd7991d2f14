"""Who a submission speaks for.

An invited body whose domains include the sender's domain (or a parent of
it); otherwise the sender's domain; except for public mail providers, where it
is the person. The key is what duplicate detection compares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from intake.db.models import Invitation, Organisation

PUBLIC_PROVIDERS = frozenset(
    {
        "gmail.com", "googlemail.com", "hotmail.com", "hotmail.no", "outlook.com", "outlook.no",
        "live.com", "live.no", "msn.com", "online.no", "yahoo.com", "yahoo.no", "icloud.com",
        "me.com", "mac.com", "aol.com", "protonmail.com", "proton.me", "pm.me", "gmx.com",
        "gmx.net", "mail.com", "getmail.no", "broadpark.no", "frisurf.no", "c2i.net",
        "start.no", "altibox.no", "lyse.net", "hotmail.co.uk", "yandex.com", "zoho.com",
        "fastmail.com", "tutanota.com", "live.se", "telia.com", "bluewin.ch", "web.de",
    }
)


def invited_key(name: str) -> str:
    return "invited:" + " ".join(name.casefold().split())


def domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].strip().strip(".").lower() or None


def _parents(domain: str) -> list[str]:
    parts = domain.split(".")
    return [".".join(parts[i:]) for i in range(len(parts) - 1)]


@dataclass(frozen=True)
class Invited:
    """What the lookups need of an invited body: not the whole row."""

    id: int
    name: str
    domains: tuple[str, ...]


def invited_bodies(session: Session) -> list[Invited]:
    """Every invited body, oldest first: a few hundred at most, however much mail there is.

    Read afresh on every call; the pipeline keeps them between messages only while no
    ``workflows sync`` has changed them (``decide/reference.py``).
    """
    rows = session.exec(
        select(Organisation.id, Organisation.name, Organisation.domains)
        .where(Organisation.kind == "invited")
        .order_by(col(Organisation.id))
    ).all()
    return [Invited(org_id, name, tuple(domains or ())) for org_id, name, domains in rows if org_id is not None]


# Read for nearly every message: built once.
_BY_KEY = select(Organisation).where(col(Organisation.key) == bindparam("key"))


def resolve(
    session: Session,
    *,
    sender: str | None,
    sender_name: str | None,
    case_id: int | None,
    invited: Sequence[Invited] | None = None,
    bodies: Mapping[int, Organisation] | None = None,
) -> Organisation | None:
    """Finds or creates the organisation of a sender; None without a usable address.

    ``invited`` is ``invited_bodies(session)`` when the caller has it already, and ``bodies``
    their rows by id (``decide/reference.py``); an invited body found there is not read again.
    """
    domain = domain_of(sender)
    if domain is None or sender is None:
        return None
    found = _invited_for(session, invited_bodies(session) if invited is None else invited, domain, sender_name,
                         case_id)
    if found is not None:
        return bodies[found] if bodies is not None and found in bodies else session.get(Organisation, found)
    if domain in PUBLIC_PROVIDERS:
        key, name, kind = f"person:{sender.lower()}", (sender_name or sender), "person"
    else:
        key, name, kind = f"domain:{domain}", domain, "domain"
    org = session.execute(_BY_KEY, {"key": key}).scalars().first()
    if org is None:
        org = Organisation(key=key, name=name, kind=kind, domains=[domain] if kind == "domain" else [])
        session.add(org)
        session.flush()
    return org


def _invited_for(
    session: Session, invited: Sequence[Invited], domain: str, sender_name: str | None, case_id: int | None
) -> int | None:
    """The id of the invited body the sender's domain belongs to, or None."""
    parents = set(_parents(domain))
    candidates = [org for org in invited if parents.intersection(org.domains)]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0].id
    # Several bodies share a domain (the statsforvaltere do): the display name decides,
    # then an invitation to this very case, then the most specific domain.
    if sender_name:
        folded = sender_name.casefold()
        named = [org for org in candidates if org.name.casefold() in folded or folded in org.name.casefold()]
        if len(named) == 1:
            return named[0].id
    if case_id is not None:
        ids = [org.id for org in candidates]
        invited_ids = set(
            session.exec(
                select(Invitation.organisation_id).where(
                    Invitation.case_id == case_id, col(Invitation.organisation_id).in_(ids)
                )
            ).all()
        )
        in_case = [org for org in candidates if org.id in invited_ids]
        if len(in_case) == 1:
            return in_case[0].id
    return max(candidates, key=lambda org: max(len(d) for d in (org.domains or ("",)))).id
