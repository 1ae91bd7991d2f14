"""suspicious_sender: failed sender authentication, our own address, a name that claims an invited body
it is not, or an invited body's domain that our border did not confirm.

Only what our own border mail server wrote counts (``intake.decide.authres``): an
``Authentication-Results`` header the sender added proves nothing either way. A
message from an invited body's domain that our border did not confirm keeps its
organisation but is flagged «avsender ikke bekreftet», so a forged From is never
quietly credited to an invited body.
"""

from __future__ import annotations

from intake.decide.authres import NOT_CHECKED
from intake.decide.organisations import domain_of
from intake.decide.rules.base import RuleContext

UNCONFIRMED = "avsender ikke bekreftet"


def blocks_receipt(detail: str | None) -> bool:
    """Whether a suspicious_sender hit means no automatic receipt.

    Every hit does, save one: an invited body not confirmed because no sender check is
    set up at all (``processing.authserv_id``). Then nothing could be confirmed, and the
    flag only tells staff so; with a check set up, an unconfirmed From may well be forged,
    and a receipt to it would go to somebody who did not write.
    """
    return detail is not None and not (detail.startswith(UNCONFIRMED) and NOT_CHECKED.detail in detail)


class SuspiciousSender:
    name = "suspicious_sender"
    flag = "suspicious_sender"

    def check(self, ctx: RuleContext) -> str | None:
        if ctx.sender_auth.status == "fail":
            return ctx.sender_auth.detail
        sender = ctx.parsed.sender
        if sender and sender.lower() in ctx.own_addresses:
            return f"avsender er vår egen adresse {sender}"
        impersonation = self._impersonation(ctx)
        if impersonation is not None:
            return impersonation
        if ctx.organisation is not None and ctx.organisation.kind == "invited" and ctx.sender_auth.status != "pass":
            return f"{UNCONFIRMED}: {ctx.organisation.name}; {ctx.sender_auth.detail}"
        return None

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
