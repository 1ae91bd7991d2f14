"""Reads the Authentication-Results headers our own border mail server wrote (RFC 8601).

Anyone can put an ``Authentication-Results`` header in a message, so only those
our border prepended count: the topmost ones that carry our ``authserv-id``
(``[processing] authserv_id``). Once a header with another id appears, every
header below it may have come from the sender and is ignored, ours or not
(RFC 8601 §5). Exchange Online writes its header without an authserv-id
(``spf=pass (…) smtp.mailfrom=…;dmarc=pass action=none header.from=…;compauth=pass
reason=100``); that form is read too, and trusted in the same place only when
``[processing] trust_m365`` says the mailbox is behind Microsoft 365. From the
trusted results, ``sender_authentication`` tells whether the From domain
authenticated: a DMARC pass for it, or a DKIM or SPF pass for a domain aligned
with it (the same organisational domain).

The parser is a plain scanner over a value cut to ``MAX_VALUE`` characters,
with at most ``MAX_HEADERS`` headers read, so no sender decides its cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from intake.decide.domains import same_organisation

MAX_HEADERS = 20
MAX_VALUE = 8192
MAX_RESULTS = 50
PASS_METHODS = ("dmarc", "dkim", "spf")
FAILING = ("fail", "softfail", "permerror")
# Microsoft's composite authentication speaks of the From domain by definition; only its failure
# is used, since its pass may be a guess ("implicit" authentication without DMARC).
COMPAUTH = "compauth"
# The authserv-id of a header written without one (Exchange Online's form).
UNNAMED = ""


@dataclass(frozen=True)
class MethodResult:
    """One ``method=result`` with its properties, e.g. ``dkim=pass header.d=example.no``."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthResults:
    """One header: the server that wrote it and the results it states."""

    authserv_id: str
    results: tuple[MethodResult, ...]


@dataclass(frozen=True)
class SenderAuthentication:
    """Whether the From domain authenticated, by our border's word, and why (in Norwegian, for staff).

    ``status`` is ``pass`` (an aligned pass), ``fail`` (an aligned failure and no
    pass) or ``none`` (nothing trusted said either way). ``checked`` tells whether a
    check was made at all: a trusted header was there, or we verified the message
    ourselves. Mail that never passed our border (sent inside the agency) has none.
    """

    status: Literal["pass", "fail", "none"]
    detail: str
    checked: bool = True


NOT_CHECKED = SenderAuthentication("none", "ingen avsenderkontroll er satt opp (processing.authserv_id)", False)


def parse(value: str) -> AuthResults | None:
    """One header value, or None when it is empty.

    A value whose first word is already a ``method=result`` has no authserv-id (an authserv-id
    never holds ``=``): its ``authserv_id`` is ``UNNAMED`` and every part is a result.
    """
    text = _strip_comments(value[:MAX_VALUE])
    parts = _split(text, ";")
    head = parts[0].split()
    if not head:
        return None
    if "=" in head[0] or (len(head) > 1 and head[1].startswith("=")):
        authserv_id, results_from = UNNAMED, 0
    else:
        authserv_id, results_from = head[0].lower(), 1
    results: list[MethodResult] = []
    for part in parts[results_from:results_from + MAX_RESULTS]:
        found = _result(part)
        if found is not None:
            results.append(found)
    return AuthResults(authserv_id=authserv_id, results=tuple(results))


def trusted(values: Sequence[str], authserv_id: str, *, m365: bool = False) -> list[AuthResults]:
    """The headers our border wrote: the topmost run carrying our authserv-id, in the order given (top first).

    With ``m365`` a header without an authserv-id counts as ours too: Exchange Online prepends one
    to every message it receives from outside, so the topmost such header is Microsoft's, and any
    below it (forged by the sender, or written by a server before ours) is not read.
    """
    ours = {authserv_id.strip().lower()} - {UNNAMED}
    if m365:
        ours.add(UNNAMED)
    if not ours:
        return []
    out: list[AuthResults] = []
    for value in values[:MAX_HEADERS]:
        parsed = parse(value)
        if parsed is None or parsed.authserv_id not in ours:
            break
        out.append(parsed)
        # Exchange Online writes one header; a second unnamed one below it is the sender's.
        if parsed.authserv_id == UNNAMED:
            break
    return out


def sender_authentication(
    values: Sequence[str], authserv_id: str, from_domain: str | None, *, m365: bool = False
) -> SenderAuthentication:
    """What our border said about the From domain of a message whose Authentication-Results are ``values``."""
    if not authserv_id.strip() and not m365:
        return NOT_CHECKED
    if not from_domain:
        return SenderAuthentication("none", "ingen avsenderadresse å kontrollere")
    passes: list[str] = []
    failures: list[str] = []
    headers = trusted(values, authserv_id, m365=m365)
    if not headers:
        return SenderAuthentication("none", f"vår e-posttjener har ikke kontrollert avsenderdomenet {from_domain}",
                                    False)
    for header in headers:
        for item in header.results:
            if item.method == COMPAUTH and item.result == "fail":
                failures.append(f"{item.method}={item.result}")
                continue
            if item.method not in PASS_METHODS or not _aligned(item, from_domain):
                continue
            if item.result == "pass":
                passes.append(f"{item.method}=pass")
            elif item.result in FAILING:
                failures.append(f"{item.method}={item.result}")
    # A trusted header that says fail outweighs one that says pass: two of "ours" that disagree
    # mean one of them was not written by our border.
    if failures:
        return SenderAuthentication("fail", f"avsenderkontroll feilet for {from_domain}: {', '.join(failures)}")
    if passes:
        return SenderAuthentication("pass", f"avsender bekreftet for {from_domain}: {', '.join(passes)}")
    return SenderAuthentication("none", f"vår e-posttjener bekreftet ikke avsenderdomenet {from_domain}")


def _aligned(item: MethodResult, from_domain: str) -> bool:
    """Whether a result speaks of the From domain: DMARC of that very domain (or of no named one),
    DKIM and SPF of a domain with the same organisational domain."""
    domain = _checked_domain(item)
    if item.method == "dmarc":
        return domain is None or domain == from_domain.lower()
    return domain is not None and same_organisation(domain, from_domain)


def _checked_domain(item: MethodResult) -> str | None:
    """The domain a result speaks of: header.from (DMARC), header.d or header.i (DKIM), the envelope (SPF)."""
    props = item.properties
    if item.method == "dmarc":
        value = props.get("header.from")
    elif item.method == "dkim":
        value = props.get("header.d") or props.get("header.i")
    elif item.method == "spf":
        value = props.get("smtp.mailfrom") or props.get("smtp.helo")
    else:
        value = None
    if not value:
        return None
    return value.rsplit("@", 1)[-1].strip().strip(".").lower() or None


def _result(part: str) -> MethodResult | None:
    """``method[/version]=result [reason=…] [ptype.property=value …]`` with any spaces around the ``=``."""
    pairs = _pairs(part)
    if not pairs:
        return None
    method, result = pairs[0]
    method = method.split("/", 1)[0].lower()
    if not method or not result:
        return None
    properties = {key.lower(): value for key, value in pairs[1:] if key}
    return MethodResult(method=method, result=result.lower(), properties=properties)


def _pairs(part: str) -> list[tuple[str, str]]:
    """The ``key=value`` pairs of one result, in order; quoted values keep their spaces."""
    tokens = _tokens(part)
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "=" and pairs and pairs[-1][1] == "" and i + 1 < len(tokens):
            pairs[-1] = (pairs[-1][0], tokens[i + 1])
            i += 2
            continue
        if "=" in token and token != "=":
            key, _, value = token.partition("=")
            if value == "" and i + 1 < len(tokens) and tokens[i + 1] != "=":
                value = tokens[i + 1]
                i += 1
            pairs.append((key, value))
        elif i + 1 < len(tokens) and tokens[i + 1] == "=":
            pairs.append((token, ""))
        i += 1
    return pairs


def _tokens(text: str) -> list[str]:
    """Words split at white space, with ``=`` kept as its own token when it stands apart."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if quoted:
            if ch == '"':
                quoted = False
            else:
                current.append(ch)
        elif ch == '"':
            quoted = True
        elif ch.isspace():
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        tokens.append("".join(current))
    # "spf = pass" and "spf =pass" become "spf", "=", "pass".
    out: list[str] = []
    for token in tokens:
        if token.startswith("=") and token != "=":
            out.extend(["=", token[1:]])
        elif token.endswith("=") and token != "=" and token.count("=") == 1:
            out.extend([token[:-1], "="])
        else:
            out.append(token)
    return out


def _split(text: str, separator: str) -> list[str]:
    """Splits at ``separator`` outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _strip_comments(text: str) -> str:
    """Removes RFC 5322 comments ``(…)``, nested ones too, outside quoted strings."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if depth == 0 and ch == '"':
            quoted = not quoted
            out.append(ch)
        elif not quoted and ch == "(":
            if depth == 0:
                out.append(" ")
            depth += 1
        elif not quoted and ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)
