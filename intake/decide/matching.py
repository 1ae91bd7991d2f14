"""Match: finds the case (saksnummer) a message belongs to.

Noark case numbers are ``YY/N…`` or ``YYYY/N…`` with an optional document
suffix ``-N``; ``22/414``, ``2022/414``, ``22/00414`` and ``22/414-12`` all mean
case ``22/414``. The sources are tried in order (thread, subject, body,
attachments) and the first that names a case decides.

A number counts when a case word stands just before it (sak, saksnr.,
saksnummer, ref, deres ref, høring…) or when it is a case we run. A bare
``22/10`` is far more often a date than a case, and a respondent's own
reference ("vår ref 2022/5678") is not ours, so neither counts on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

# Words that announce a case number; the respondent's own reference ("vår ref")
# is recognised separately because it names *their* case, not ours.
_KEYWORDS = (
    r"saks?\s*(?:nr|nummer|no)?\.?|saksnr\.?|arkivsak(?:snr)?\.?|journalpost(?:nr)?\.?|"
    r"deres\s+ref(?:eranse)?\.?|your\s+ref(?:erence)?\.?|ref(?:eranse)?\.?|case(?:\s+(?:no|number))?\.?|"
    r"h[øo]ring(?:ssvar|suttalelse|snotat)?|innspill|merket\s+med"
)
_OWN_REF = r"v[åa]r\s+ref(?:eranse)?\.?|our\s+ref(?:erence)?\.?"
_NUMBER = r"(?P<year>\d{4}|\d{2})\s?/\s?(?P<seq>\d{1,6})(?:\s?-\s?(?P<doc>\d{1,4}))?"
_CANDIDATE = re.compile(
    r"(?<![\w/.,:\-+])" + _NUMBER + r"(?![\w/]|[.,]\d|\s?-\s?\d|\s\d{2,})",
    re.IGNORECASE,
)
_CONTEXT_BEFORE = 40
_KEYWORD_NEAR = re.compile(r"(?:" + _KEYWORDS + r")[\s:.#«\"'(\-–]*(?:nr\.?\s*)?$", re.IGNORECASE)
_OWN_NEAR = re.compile(r"(?:" + _OWN_REF + r")[\s:.#«\"'(\-–]*(?:nr\.?\s*)?$", re.IGNORECASE)
# Links and addresses are found per whitespace-separated word with plain string searches: a
# pattern such as ``\S+@\S+\.\w+`` backtracks quadratically over one long word (40,000
# characters took 3 s), holding the interpreter and the decision's transaction meanwhile.
_WORD = re.compile(r"\S+")
_LINK_START = re.compile(r"https?://|ftp://|www\.", re.IGNORECASE)
_ADDRESS_END = re.compile(r"\.\w")
# One character class after the phone word (no ``\s*`` before it overlapping the class), so a
# failed match costs one pass over the run, not one per split of it.
_PHONE = re.compile(r"(?:\+|00)\d[\d\s/().-]{6,}\d|\b(?:tlf|tel|telefon|mob|mobil|fax|faks)\.?:?[\d\s/+().-]{6,}\d",
                    re.IGNORECASE)
# The most of one text (a subject, the body, one attachment) that is searched for case numbers:
# a case number is written near the top, and every pattern then sees a bounded text.
MAX_TEXT = 100_000

SOURCES = ("thread", "subject", "body", "attachment")


def normalise_case(year: str, seq: str) -> str | None:
    """``2022``/``00414`` -> ``22/414``; None for what cannot be a case number."""
    if len(year) == 4:
        if not 1990 <= int(year) <= 2099:
            return None
        year = year[2:]
    number = int(seq)
    if number == 0:
        return None
    return f"{year}/{number}"


def parse_case(text: str) -> str | None:
    """Normalises one written case number (``2022/414-3`` -> ``22/414``), or None."""
    found = re.fullmatch(r"\s*" + _NUMBER + r"\s*", text)
    return normalise_case(found["year"], found["seq"]) if found else None


@dataclass(frozen=True)
class Candidate:
    case: str
    written: str
    keyword: bool
    own_reference: bool


def candidates(text: str) -> list[Candidate]:
    """Every plausible case number in ``text``, with whether a case word announced it."""
    if not text:
        return []
    masked = _mask_links(text[:MAX_TEXT])
    masked = _mask(masked, _PHONE)
    found: list[Candidate] = []
    for match in _CANDIDATE.finditer(masked):
        case = normalise_case(match["year"], match["seq"])
        if case is None:
            continue
        before = masked[max(0, match.start() - _CONTEXT_BEFORE) : match.start()]
        own = bool(_OWN_NEAR.search(before))
        keyword = not own and bool(_KEYWORD_NEAR.search(before))
        found.append(Candidate(case=case, written=match.group(0), keyword=keyword, own_reference=own))
    return found


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _mask_links(text: str) -> str:
    """Blanks web links (from ``http://``, ``ftp://`` or ``www.`` on) and whole mail-address words.

    Linear in the text: each word is looked at once, with searches for fixed strings.
    """
    pieces: list[str] = []
    done = 0
    for word in _WORD.finditer(text):
        value = word.group(0)
        at = value.find("@", 1)
        if at > 0 and _ADDRESS_END.search(value, at + 2):
            start = 0
        else:
            link = _LINK_START.search(value)
            if link is None:
                continue
            start = link.start()
        pieces.append(text[done : word.start() + start])
        pieces.append(" " * (len(value) - start))
        done = word.end()
    pieces.append(text[done:])
    return "".join(pieces)


@dataclass
class MatchResult:
    """The outcome of matching: a case, or the reason there is none."""

    case: str | None = None
    source: str | None = None
    outcome: str = "unmatched"  # matched | unmatched | unknown_case | ambiguous_case
    found: list[str] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)

    @property
    def flag(self) -> str | None:
        return None if self.outcome == "matched" else self.outcome


def decide(cands: Iterable[Candidate], known: Callable[[str], bool]) -> tuple[str, list[str]] | None:
    """Reduces one source's candidates to an outcome, or None when the source says nothing.

    Known cases win over unknown ones; an unknown number counts only when a case
    word announced it; the sender's own reference never counts.
    """
    cands = list(cands)
    known_cases = _unique(c.case for c in cands if known(c.case) and not c.own_reference)
    if len(known_cases) == 1:
        return "matched", known_cases
    if len(known_cases) > 1:
        return "ambiguous_case", known_cases
    unknown = _unique(c.case for c in cands if c.keyword and not c.own_reference)
    if unknown:
        return "unknown_case", unknown
    return None


def match(
    sources: Sequence[tuple[str, Sequence[str]]],
    known: Callable[[str], bool],
    thread_case: str | None = None,
) -> MatchResult:
    """Tries thread, then each (source name, texts) in order; the first with an outcome decides.

    An unknown case found early does not stop the search: a later source naming a
    case we run is the better answer (a respondent may quote their own archive's
    number in the subject and ours in the form).
    """
    result = MatchResult()
    if thread_case is not None:
        result.tried.append("thread")
        return MatchResult(case=thread_case, source="thread", outcome="matched", found=[thread_case],
                           tried=["thread"])
    fallback: MatchResult | None = None
    for name, texts in sources:
        result.tried.append(name)
        outcome = decide((c for text in texts for c in candidates(text)), known)
        if outcome is None:
            continue
        kind, cases = outcome
        if kind == "matched":
            return MatchResult(case=cases[0], source=name, outcome=kind, found=cases, tried=list(result.tried))
        if kind == "ambiguous_case":
            return MatchResult(case=None, source=name, outcome=kind, found=cases, tried=list(result.tried))
        if fallback is None:
            fallback = MatchResult(case=None, source=name, outcome=kind, found=cases)
    if fallback is not None:
        fallback.tried = list(result.tried)
        return fallback
    return result


def _unique(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
