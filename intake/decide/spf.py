"""SPF (RFC 7208): may this peer send mail for this domain? A small evaluator with hard bounds.

``check_host(ip, domain, sender, helo, resolver)`` gives one of ``pass``, ``fail``,
``softfail``, ``neutral``, ``none``, ``permerror`` or ``temperror``. It knows the
mechanisms all, include, a, mx, ptr, ip4, ip6 and exists, the redirect modifier and
the macros of §7 that a check (not an explanation) can use. Bounds (§4.6.4): at most
10 terms that look names up (include, a, mx, ptr, exists, redirect) across the whole
evaluation, at most 10 names from one MX or PTR answer, at most 2 void lookups, and
one time budget for all of it; past a limit the answer is ``permerror``, past the
time budget or on any DNS trouble ``temperror``.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field

from intake.decide.resolver import DnsTrouble, Resolver

MAX_LOOKUPS = 10
MAX_NAMES = 10  # from one MX or PTR answer
MAX_VOID = 2
MAX_RECORD = 4096
MAX_DOMAIN = 253
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
LOOKUP_TERMS = {"include", "a", "mx", "ptr", "exists"}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$", re.IGNORECASE)
_MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)\}", re.IGNORECASE)


class PermError(Exception):
    """The record cannot be evaluated: a syntax error or a limit passed."""


class TempError(Exception):
    """DNS did not answer in time."""


@dataclass
class _Budget:
    resolver: Resolver
    deadline: float
    timeout: float
    lookups: int = 0
    void: int = 0
    asked: list[str] = field(default_factory=list)

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise PermError(f"more than {MAX_LOOKUPS} DNS lookups")

    def query(self, name: str, rdtype: str) -> list[str]:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TempError("the time for the SPF check ran out")
        self.asked.append(f"{name} {rdtype}")
        try:
            found = self.resolver.query(name, rdtype, min(self.timeout, left))
        except DnsTrouble as err:
            raise TempError(str(err)) from err
        if not found:
            self.void += 1
            if self.void > MAX_VOID:
                raise PermError(f"more than {MAX_VOID} void DNS lookups")
        return found


@dataclass(frozen=True)
class _Context:
    ip: IPAddress
    sender: str  # local@domain
    helo: str
    budget: _Budget


def check_host(
    ip: str, domain: str, sender: str, helo: str, resolver: Resolver, *, timeout: float = 5.0,
    budget_seconds: float = 20.0,
) -> str:
    """The SPF result for mail from ``ip`` claiming ``domain`` (MAIL FROM's or HELO's)."""
    try:
        address: IPAddress = ipaddress.ip_address(ip.strip())
    except ValueError:
        return "none"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    domain = domain.strip().rstrip(".").lower()
    if not _valid_domain(domain):
        return "none"
    if "@" not in sender:
        sender = f"postmaster@{domain}"
    budget = _Budget(resolver, time.monotonic() + budget_seconds, timeout)
    try:
        return _check(_Context(address, sender, helo or "unknown", budget), domain, depth=0)
    except PermError:
        return "permerror"
    except TempError:
        return "temperror"


def _check(ctx: _Context, domain: str, depth: int) -> str:
    if not _valid_domain(domain):
        return "none"
    records = [r for r in ctx.budget.query(domain, "TXT") if _is_spf(r)]
    if not records:
        return "none"
    if len(records) > 1:
        raise PermError(f"{domain} has more than one SPF record")
    terms = records[0][:MAX_RECORD].split()[1:]
    redirect: str | None = None
    directives: list[tuple[str, str, str]] = []
    for term in terms:
        name, sep, value = term.partition("=")
        if sep and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_.-]*", name):
            if name.lower() == "redirect":
                if redirect is not None:
                    raise PermError("redirect given twice")
                redirect = value
            continue  # exp= and unknown modifiers do not change the result
        qualifier = "+"
        if term[:1] in QUALIFIERS:
            qualifier, term = term[0], term[1:]
        mechanism, _, argument = _split(term)
        if mechanism.lower() not in MECHANISMS:
            raise PermError(f"unknown mechanism {mechanism!r}")
        directives.append((qualifier, mechanism.lower(), argument))
    for qualifier, mechanism, argument in directives:
        if _matches(ctx, domain, mechanism, argument, depth):
            return QUALIFIERS[qualifier]
    if redirect is not None and not any(m == "all" for _, m, _ in directives):
        ctx.budget.count()
        target = _expand(ctx, domain, redirect)
        result = _check(ctx, target, depth + 1)
        if result == "none":
            raise PermError(f"redirect to {target}, which has no SPF record")
        return result
    return "neutral"


def _split(term: str) -> tuple[str, str, str]:
    """``a:example.org/24`` as (mechanism, separator, argument)."""
    for i, char in enumerate(term):
        if char in ":/":
            return term[:i], char, term[i:] if char == "/" else term[i + 1:]
    return term, "", ""


def _matches(ctx: _Context, domain: str, mechanism: str, argument: str, depth: int) -> bool:
    if mechanism == "all":
        if argument:
            raise PermError("all takes no argument")
        return True
    if mechanism in ("ip4", "ip6"):
        return _in_network(ctx.ip, argument, mechanism)
    if mechanism in LOOKUP_TERMS:
        ctx.budget.count()
    spec, cidr4, cidr6 = _domain_and_cidr(argument, mechanism)
    target = _expand(ctx, domain, spec) if spec else domain
    if mechanism == "include":
        if not spec:
            raise PermError("include without a domain")
        result = _check(ctx, target, depth + 1)
        if result in ("temperror",):
            raise TempError(f"include:{target} failed temporarily")
        if result in ("permerror", "none"):
            raise PermError(f"include:{target} gave {result}")
        return result == "pass"
    if mechanism == "exists":
        if not spec:
            raise PermError("exists without a domain")
        return bool(ctx.budget.query(target, "A"))
    if mechanism == "a":
        return _any_address(ctx, target, cidr4, cidr6)
    if mechanism == "mx":
        names = ctx.budget.query(target, "MX")
        if len(names) > MAX_NAMES:
            raise PermError(f"{target} has more than {MAX_NAMES} MX records")
        return any(_any_address(ctx, name, cidr4, cidr6) for name in names)
    # ptr (RFC 7208 §5.5, discouraged but still valid): a validated name of the peer under target.
    return any(name == target or name.endswith("." + target) for name in _validated_names(ctx))


def _any_address(ctx: _Context, name: str, cidr4: int, cidr6: int) -> bool:
    if not _valid_domain(name):
        return False
    rdtype, prefix = ("A", cidr4) if ctx.ip.version == 4 else ("AAAA", cidr6)
    for text in ctx.budget.query(name, rdtype):
        try:
            network = ipaddress.ip_network(f"{text}/{prefix}", strict=False)
        except ValueError:
            continue
        if ctx.ip in network:
            return True
    return False


def _validated_names(ctx: _Context) -> list[str]:
    """The peer's PTR names whose own addresses include the peer (at most ``MAX_NAMES``)."""
    names = ctx.budget.query(ctx.ip.reverse_pointer, "PTR")
    valid: list[str] = []
    for name in names[:MAX_NAMES]:
        name = name.rstrip(".").lower()
        try:
            if _any_address(ctx, name, 32, 128):
                valid.append(name)
        except TempError:
            continue  # §5.5: a DNS error here skips that name
    return valid


def _domain_and_cidr(argument: str, mechanism: str) -> tuple[str, int, int]:
    """``example.org/24//64`` as (domain-spec, IPv4 prefix, IPv6 prefix)."""
    spec, cidr4, cidr6 = argument, 32, 128
    if "//" in spec:
        spec, _, six = spec.partition("//")
        cidr6 = _prefix(six, 128)
    if "/" in spec and mechanism in ("a", "mx"):
        spec, _, four = spec.rpartition("/")
        cidr4 = _prefix(four, 32)
    elif "/" in spec or (cidr6 != 128 and mechanism not in ("a", "mx")):
        raise PermError(f"{mechanism} takes no prefix length")
    return spec, cidr4, cidr6


def _prefix(text: str, most: int) -> int:
    if not text.isdigit() or int(text) > most or (len(text) > 1 and text.startswith("0")):
        raise PermError(f"bad prefix length {text!r}")
    return int(text)


def _in_network(ip: IPAddress, argument: str, mechanism: str) -> bool:
    try:
        network = ipaddress.ip_network(argument, strict=False)
    except ValueError as err:
        raise PermError(f"bad {mechanism} network {argument!r}") from err
    if (network.version == 4) != (mechanism == "ip4"):
        raise PermError(f"bad {mechanism} network {argument!r}")
    return ip.version == network.version and ip in network


def _expand(ctx: _Context, domain: str, spec: str) -> str:
    """A domain-spec with its macros (§7) expanded, cut to 253 characters from the left (§7.3)."""
    local, _, sender_domain = ctx.sender.rpartition("@")
    values = {
        "s": ctx.sender, "l": local or "postmaster", "o": sender_domain, "d": domain, "h": ctx.helo,
        "i": _dotted(ctx.ip), "v": "in-addr" if ctx.ip.version == 4 else "ip6", "p": "unknown",
    }

    def one(match: re.Match[str]) -> str:
        letter, digits, reverse, delimiters = match.groups()
        if letter.lower() not in values:
            raise PermError(f"macro %{{{letter}}} is only for explanations")
        parts = re.split("[" + re.escape(delimiters or ".") + "]", values[letter.lower()])
        if reverse:
            parts.reverse()
        if digits:
            if int(digits) == 0:
                raise PermError("macro with zero parts")
            parts = parts[-int(digits):]
        return ".".join(parts)

    out: list[str] = []
    i = 0
    while i < len(spec):
        char = spec[i]
        if char != "%":
            out.append(char)
            i += 1
            continue
        nxt = spec[i + 1:i + 2]
        if nxt in ("%", "_", "-"):
            out.append({"%": "%", "_": " ", "-": "%20"}[nxt])
            i += 2
            continue
        match = _MACRO.match(spec, i)
        if match is None:
            raise PermError(f"bad macro in {spec!r}")
        out.append(one(match))
        i = match.end()
    expanded = "".join(out).rstrip(".").lower()
    while len(expanded) > MAX_DOMAIN and "." in expanded:
        expanded = expanded.split(".", 1)[1]
    return expanded


def _dotted(ip: IPAddress) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def _is_spf(record: str) -> bool:
    lowered = record.lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def _valid_domain(domain: str) -> bool:
    if not domain or len(domain) > MAX_DOMAIN or "." not in domain:
        return False
    return all(_LABEL.match(label) for label in domain.split("."))
