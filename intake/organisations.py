"""Who a submission speaks for.

An invited body whose domains include the sender's domain (or a parent of
it); otherwise the sender's domain; except for public mail providers, where it
is the person. The key is what duplicate detection compares.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from intake.models import Invitation, Organisation

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


def resolve(
    session: Session, *, sender: str | None, sender_name: str | None, case_id: int | None
) -> Organisation | None:
    """Finds or creates the organisation of a sender; None without a usable address."""
    domain = domain_of(sender)
    if domain is None or sender is None:
        return None
    invited = _invited_for(session, domain, sender_name, case_id)
    if invited is not None:
        return invited
    if domain in PUBLIC_PROVIDERS:
        key, name, kind = f"person:{sender.lower()}", (sender_name or sender), "person"
    else:
        key, name, kind = f"domain:{domain}", domain, "domain"
    org = session.exec(select(Organisation).where(Organisation.key == key)).first()
    if org is None:
        org = Organisation(key=key, name=name, kind=kind, domains=[domain] if kind == "domain" else [])
        session.add(org)
        session.flush()
    return org


def _invited_for(session: Session, domain: str, sender_name: str | None, case_id: int | None) -> Organisation | None:
    candidates = [
        org
        for org in session.exec(select(Organisation).where(Organisation.kind == "invited")).all()
        if set(org.domains or []) & set(_parents(domain))
    ]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    # Several bodies share a domain (the statsforvaltere do): the display name decides,
    # then an invitation to this very case, then the most specific domain.
    if sender_name:
        folded = sender_name.casefold()
        named = [org for org in candidates if org.name.casefold() in folded or folded in org.name.casefold()]
        if len(named) == 1:
            return named[0]
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
            return in_case[0]
    return max(candidates, key=lambda org: max(len(d) for d in (org.domains or [""])))
