"""suspicious_sender: failed sender authentication, or a name that claims an invited body it is not."""

from __future__ import annotations

import re

from intake.decide.organisations import domain_of
from intake.decide.rules.base import RuleContext

_AUTH_FAIL = re.compile(r"\b(dmarc|spf|dkim)=(fail|softfail)\b", re.IGNORECASE)


class SuspiciousSender:
    name = "suspicious_sender"
    flag = "suspicious_sender"

    def check(self, ctx: RuleContext) -> str | None:
        for value in ctx.parsed.header_all("authentication-results"):
            failed = _AUTH_FAIL.search(value)
            if failed:
                return f"avsenderkontroll feilet: {failed.group(0)}"
        sender = ctx.parsed.sender
        if sender and sender.lower() in ctx.own_addresses:
            return f"avsender er vår egen adresse {sender}"
        return self._impersonation(ctx)

    def _impersonation(self, ctx: RuleContext) -> str | None:
        name = (ctx.parsed.sender_name or "").casefold()
        domain = domain_of(ctx.parsed.sender)
        if len(name) < 4 or domain is None:
            return None
        if ctx.organisation is not None and ctx.organisation.kind == "invited":
            return None
        for org in ctx.invited:
            if not org.domains or len(org.name) < 6:
                continue
            if org.name.casefold() in name:
                return f"navnet «{ctx.parsed.sender_name}» er en høringsinstans, men domenet {domain} er ikke deres"
        return None
