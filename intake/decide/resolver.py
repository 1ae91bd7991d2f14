"""The one way the sender check reaches DNS: TXT for DKIM and DMARC, TXT/A/AAAA/MX/PTR for SPF.

``Resolver.query(name, rdtype, timeout)`` answers with the records as text (a TXT
record's strings joined, an MX's exchange names by preference, addresses as text);
an empty list when the name or the type does not exist (a "void" answer for SPF).
Trouble reaching DNS raises ``DnsTrouble``: no answer is no verdict either way.

A resolver is also dkimpy's ``dnsfunc`` (``resolver(name, timeout=…)`` returning the
first TXT record as bytes or None), so DKIM, DMARC and SPF share one resolver, and
tests inject one small world of records for all three (``Runtime.dns``).
"""

from __future__ import annotations

import dkim
import dns.exception
import dns.resolver

MAX_ANSWERS = 32  # records read from one answer; SPF never needs more


class DnsTrouble(Exception):
    """DNS did not answer (timeout, SERVFAIL, no nameserver): a temporary error."""


class Resolver:
    """Looks names up; subclasses answer ``query``. Calling it is dkimpy's ``dnsfunc``."""

    def query(self, name: str, rdtype: str, timeout: float) -> list[str]:
        raise NotImplementedError

    def __call__(self, name: bytes | str, timeout: float = 5.0) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            found = self.query(text, "TXT", timeout)
        except DnsTrouble as err:
            raise dkim.DnsTimeoutError(str(err)) from err
        return found[0].encode("latin-1", "replace") if found else None


class SystemResolver(Resolver):
    """The machine's resolver (dnspython)."""

    def query(self, name: str, rdtype: str, timeout: float) -> list[str]:
        try:
            answer = dns.resolver.resolve(name, rdtype, lifetime=timeout, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException as err:  # timeout, no nameservers, a broken answer
            raise DnsTrouble(f"{name} {rdtype}: {err}") from err
        records = list(answer)[:MAX_ANSWERS]
        if rdtype == "TXT":
            return [b"".join(r.strings).decode("latin-1") for r in records]
        if rdtype == "MX":
            return [str(r.exchange).rstrip(".") for r in sorted(records, key=lambda r: r.preference)]
        if rdtype == "PTR":
            return [str(r.target).rstrip(".") for r in records]
        return [r.to_text() for r in records]
