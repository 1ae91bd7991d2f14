"""suspicious_sender: failed sender authentication (an invited body's domain named as such), our own
address, our own domain from outside, a name that claims an invited body it is not, or an invited
body's domain that our border did not confirm.

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
        invited = ctx.organisation is not None and ctx.organisation.kind == "invited"
        sender = ctx.parsed.sender
        domain = domain_of(sender)
        ours = {d for d in (domain_of(a) for a in ctx.own_addresses) if d}
        # Mail between colleagues never passes our border and carries no check; mail in our name
        # that came from outside, and was not confirmed, is somebody using our domain.
        if domain in ours and ctx.sender_auth.checked and ctx.sender_auth.status != "pass":
            why = f"; {ctx.sender_auth.detail}" if ctx.sender_auth.status == "fail" else ""
            return f"avsenderen bruker vårt eget domene {domain}, men meldingen kom utenfra uten bekreftelse{why}"
        if ctx.sender_auth.status == "fail":
            if invited and ctx.organisation is not None:
                return f"{ctx.sender_auth.detail} (domenet tilhører høringsinstansen {ctx.organisation.name})"
            return ctx.sender_auth.detail
        if sender and sender.lower() in ctx.own_addresses:
            return f"avsender er vår egen adresse {sender}"
        impersonation = self._impersonation(ctx)
        if impersonation is not None:
            return impersonation
        if invited and ctx.organisation is not None and ctx.sender_auth.status != "pass":
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
