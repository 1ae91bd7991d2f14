"""Organisational domains (RFC 7489 §3.2): which names under one registrable domain belong together.

``post.legemiddelverket.no`` and ``legemiddelverket.no`` are one organisation;
``fin.dep.no`` and ``kmd.dep.no`` are two, because ``dep.no`` is a public suffix.
The Public Suffix List is the copy the ``publicsuffixlist`` package ships, so
nothing is fetched at run time.
"""

from __future__ import annotations

from functools import cache

from publicsuffixlist import PublicSuffixList

# A DNS name is at most 253 characters; anything longer is no domain and is not looked up.
MAX_DOMAIN = 253


@cache
def _list() -> PublicSuffixList:
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """The registrable domain of ``domain`` (lower case), or the name itself when it has none."""
    name = domain.strip().strip(".").lower()
    if not name or len(name) > MAX_DOMAIN:
        return name
    return _list().privatesuffix(name) or name


def same_organisation(first: str | None, second: str | None) -> bool:
    """True when both domains have the same organisational domain (relaxed alignment)."""
    if not first or not second:
        return False
    return organisational_domain(first) == organisational_domain(second)
