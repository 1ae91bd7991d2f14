"""Our own sender check for mail handed to our SMTP receiver: DKIM (dkimpy) and DMARC alignment.

When no border server stands in front of the receiver, nobody has written an
``Authentication-Results`` header we could trust, so we verify the message's DKIM
signatures ourselves and ask whether one of them is aligned with the From domain
(RFC 7489 §3.1.1: the same organisational domain, or the very domain with
``adkim=s``). The From domain's DMARC record decides what a missing aligned pass
means: with a record it is ``dmarc=fail``; without one it proves nothing. SPF is
not checked here (only DKIM can pass DMARC), which the failure text says.

DNS is reached only through ``dnsfunc`` (dkimpy's contract: ``dnsfunc(name,
timeout=…)`` returning the TXT record as bytes, or None), so tests run offline.
Work is bounded: at most ``MAX_SIGNATURES`` signatures on at most ``MAX_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dkim

from intake.decide.authres import SenderAuthentication
from intake.decide.domains import MAX_DOMAIN, organisational_domain, same_organisation

DnsFunc = Callable[..., Any]
MAX_SIGNATURES = 3
MAX_BYTES = 25 * 1024 * 1024
MAX_RECORD = 2048


def check_sender(
    raw: bytes, from_domain: str | None, *, dnsfunc: DnsFunc | None = None, timeout: float = 5.0
) -> SenderAuthentication:
    """What our own DKIM and DMARC check says about the From domain of ``raw``."""
    if not from_domain or len(from_domain) > MAX_DOMAIN:
        return SenderAuthentication("none", "ingen avsenderadresse å kontrollere")
    domain = from_domain.strip().strip(".").lower()
    if len(raw) > MAX_BYTES:
        return SenderAuthentication("none", f"meldingen er for stor til at avsenderen {domain} ble kontrollert")
    lookup: DnsFunc = dnsfunc or dkim.get_txt
    try:
        record = _dmarc_record(domain, lookup, timeout)
        signed, passed = _dkim_results(raw, lookup, timeout)
    except dkim.DnsTimeoutError:
        # A DNS outage is ours, not the sender's fault: no verdict either way.
        return SenderAuthentication("none", f"avsenderen {domain} kunne ikke kontrolleres (DNS svarte ikke)")
    strict = record is not None and record.get("adkim", "r").lower() == "s"
    aligned = [d for d in passed if (d == domain if strict else same_organisation(d, domain))]
    if aligned:
        dmarc = ", dmarc=pass" if record is not None else ""
        return SenderAuthentication(
            "pass", f"avsender bekreftet for {domain}: dkim=pass (header.d={aligned[0]}){dmarc}"
        )
    if record is None:
        seen = "dkim=fail" if signed else "ingen DKIM-signatur"
        return SenderAuthentication("none", f"avsenderdomenet {domain} har ingen DMARC-oppføring ({seen})")
    why = "DKIM-signaturen stemmer ikke" if signed else "meldingen har ingen gyldig DKIM-signatur fra domenet"
    policy = record.get("p", "none").lower()
    return SenderAuthentication(
        "fail", f"avsenderkontroll feilet for {domain}: dmarc=fail ({why}; p={policy}; SPF ikke kontrollert)"
    )


def _dkim_results(raw: bytes, dnsfunc: DnsFunc, timeout: float) -> tuple[bool, list[str]]:
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


def _dmarc_record(domain: str, dnsfunc: DnsFunc, timeout: float) -> dict[str, str] | None:
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
