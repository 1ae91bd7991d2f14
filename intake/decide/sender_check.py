"""Our own sender check for mail handed to our SMTP receiver: DKIM (dkimpy), SPF and DMARC.

When no border server stands in front of the receiver, nobody has written an
``Authentication-Results`` header we could trust, so we verify the message's DKIM
signatures and the SPF of its envelope ourselves and ask whether either passes
aligned with the From domain (RFC 7489 §3.1): DKIM's ``d=``, or SPF's domain (MAIL
FROM's, or HELO's for the null reverse-path), in the same organisational domain, or
the very domain with ``adkim=s`` / ``aspf=s``. The From domain's DMARC record decides
what a missing aligned pass means: with a record it is ``dmarc=fail``; without one it
proves nothing. DNS trouble (a DKIM key or SPF record that did not arrive in time) is
ours, not the sender's: then only an aligned pass counts, and otherwise no verdict.

DNS is reached only through one ``Resolver`` (``Runtime.dns``), so tests run offline.
Work is bounded: at most ``MAX_SIGNATURES`` signatures on at most ``MAX_BYTES``, and
SPF within its own limits (intake/decide/spf.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dkim

from intake.decide.authres import SenderAuthentication
from intake.decide.domains import MAX_DOMAIN, organisational_domain, same_organisation
from intake.decide.resolver import Resolver, SystemResolver
from intake.decide.spf import check_host

MAX_SIGNATURES = 3
MAX_BYTES = 25 * 1024 * 1024
MAX_RECORD = 2048


@dataclass(frozen=True)
class Envelope:
    """What the sending server told our receiver: its address, HELO name and MAIL FROM."""

    peer_ip: str | None
    helo: str | None
    mail_from: str | None  # "" for the null reverse-path <>


@dataclass(frozen=True)
class SpfVerdict:
    result: str  # pass | fail | softfail | neutral | none | permerror | temperror
    domain: str  # the domain SPF judged
    identity: str  # smtp.mailfrom | smtp.helo


def check_sender(
    raw: bytes, from_domain: str | None, *, resolver: Resolver | None = None, envelope: Envelope | None = None,
    timeout: float = 5.0,
) -> SenderAuthentication:
    """What our own DKIM, SPF and DMARC check says about the From domain of ``raw``."""
    if not from_domain or len(from_domain) > MAX_DOMAIN:
        return SenderAuthentication("none", "ingen avsenderadresse å kontrollere")
    domain = from_domain.strip().strip(".").lower()
    if len(raw) > MAX_BYTES:
        return SenderAuthentication("none", f"meldingen er for stor til at avsenderen {domain} ble kontrollert")
    raw = bytes(raw)  # a large stored message comes as a memory map; dkimpy reads bytes
    lookup = resolver or SystemResolver()
    try:
        record = _dmarc_record(domain, lookup, timeout)
    except dkim.DnsTimeoutError:
        return _no_answer(domain)
    strict_dkim = record is not None and record.get("adkim", "r").lower() == "s"
    strict_spf = record is not None and record.get("aspf", "r").lower() == "s"
    dkim_trouble = False
    try:
        signed, passed = _dkim_results(raw, lookup, timeout)
    except dkim.DnsTimeoutError:
        dkim_trouble, signed, passed = True, True, []
    aligned = [d for d in passed if _aligned(d, domain, strict_dkim)]
    if aligned:
        dmarc = ", dmarc=pass" if record is not None else ""
        return SenderAuthentication(
            "pass", f"avsender bekreftet for {domain}: dkim=pass (header.d={aligned[0]}){dmarc}"
        )
    spf = _spf(envelope, lookup, timeout)
    if spf is not None and spf.result == "pass" and _aligned(spf.domain, domain, strict_spf):
        dmarc = ", dmarc=pass" if record is not None else ""
        return SenderAuthentication(
            "pass", f"avsender bekreftet for {domain}: spf=pass ({spf.identity}={spf.domain}){dmarc}"
        )
    dkim_text = "DKIM-signaturen stemmer ikke" if signed else "meldingen har ingen gyldig DKIM-signatur fra domenet"
    if record is None:
        seen = "dkim=fail" if signed else "ingen DKIM-signatur"
        return SenderAuthentication("none", f"avsenderdomenet {domain} har ingen DMARC-oppføring ({seen})")
    if dkim_trouble or (spf is not None and spf.result == "temperror"):
        return _no_answer(domain)
    if spf is None:
        # DMARC fails only when SPF fails too: without the envelope (mail stored before it was
        # recorded, or handed on by our own relay) there is no verdict either way.
        return SenderAuthentication("none", f"avsenderen {domain} kunne ikke kontrolleres helt: "
                                            f"{dkim_text}, og SPF ble ikke kontrollert")
    policy = record.get("p", "none").lower()
    return SenderAuthentication(
        "fail", f"avsenderkontroll feilet for {domain}: dmarc=fail ({dkim_text}; {_spf_text(spf, domain)}; "
                f"p={policy})"
    )


def _aligned(found: str, domain: str, strict: bool) -> bool:
    return found == domain if strict else same_organisation(found, domain)


def _no_answer(domain: str) -> SenderAuthentication:
    # A DNS outage is ours, not the sender's fault: no verdict either way.
    return SenderAuthentication("none", f"avsenderen {domain} kunne ikke kontrolleres (DNS svarte ikke)")


def _spf(envelope: Envelope | None, resolver: Resolver, timeout: float) -> SpfVerdict | None:
    """SPF of MAIL FROM's domain, or of the HELO name for the null reverse-path; None: not known."""
    if envelope is None or not envelope.peer_ip or envelope.mail_from is None:
        return None
    mail_from = envelope.mail_from.strip().strip("<>")
    helo = (envelope.helo or "").strip().rstrip(".").lower()
    if mail_from:
        local, at, host = mail_from.rpartition("@")
        spf_domain = (host if at else mail_from).strip().rstrip(".").lower()
        sender, identity = (mail_from if at and local else f"postmaster@{spf_domain}"), "smtp.mailfrom"
    elif helo:
        spf_domain, sender, identity = helo, f"postmaster@{helo}", "smtp.helo"
    else:
        return None
    result = check_host(envelope.peer_ip, spf_domain, sender, helo, resolver, timeout=timeout)
    return SpfVerdict(result, spf_domain, identity)


def _spf_text(spf: SpfVerdict, domain: str) -> str:
    """Why SPF did not help, for a clerk (the technical word kept, as in the border's headers)."""
    where = f"{spf.identity}={spf.domain}"
    if spf.result == "pass":
        return f"spf=pass for {where}, som ikke samsvarer med avsenderdomenet {domain}"
    if spf.result in ("fail", "softfail"):
        return f"spf={spf.result}: avsenderserveren har ikke lov å sende for {spf.domain}"
    if spf.result == "none":
        return f"spf=none: {spf.domain} har ingen SPF-oppføring"
    if spf.result == "permerror":
        return f"spf=permerror: SPF-oppføringen til {spf.domain} er ugyldig"
    return f"spf={spf.result}: SPF for {spf.domain} sier verken ja eller nei"


def _dkim_results(raw: bytes, dnsfunc: Resolver, timeout: float) -> tuple[bool, list[str]]:
    """Whether the message carries a DKIM signature, and the domains (d=) of those that verify."""
    try:
        signer = dkim.DKIM(raw, timeout=int(max(1, timeout)))
    except dkim.DKIMException:
        return False, []
    count = sum(1 for name, _ in signer.headers if name.lower() == b"dkim-signature")
    passed: list[str] = []
    for idx in range(min(count, MAX_SIGNATURES)):
        try:
            ok = signer.verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.DnsTimeoutError:
            raise
        except dkim.DKIMException:
            ok = False
        if ok and signer.domain:
            passed.append(signer.domain.decode("ascii", "replace").strip(".").lower())
    return count > 0, passed


def _dmarc_record(domain: str, dnsfunc: Resolver, timeout: float) -> dict[str, str] | None:
    """The DMARC record of the From domain, else of its organisational domain (RFC 7489 §6.6.3)."""
    names = [domain]
    org = organisational_domain(domain)
    if org != domain:
        names.append(org)
    for name in names:
        found = dnsfunc(f"_dmarc.{name}.".encode("ascii", "replace"), timeout=timeout)
        record = _parse_record(found)
        if record is not None:
            return record
    return None


def _parse_record(found: Any) -> dict[str, str] | None:
    """``v=DMARC1; p=reject; adkim=s`` as tags; None when it is no DMARC record."""
    if isinstance(found, bytes):
        text = found[:MAX_RECORD].decode("ascii", "replace")
    elif isinstance(found, str):
        text = found[:MAX_RECORD]
    else:
        return None
    tags: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), value.strip())
    if tags.get("v", "").upper() != "DMARC1":
        return None
    return tags
