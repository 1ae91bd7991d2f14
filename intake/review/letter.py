"""A response's own words: the letter without greetings, signatures, quoted replies and disclaimers.

What the campaign grouping compares and the no-comment check reads. Every step works line by
line with anchored patterns over a bounded text, so a hostile message costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A letter longer than this is compared on its beginning; no campaign letter is that long.
MAX_CHARS = 100_000
# A greeting is a short first line; a longer one is already the letter.
_GREETING = re.compile(
    r"^\s*(hei|hallo|god\s+dag|goddag|til\s+(?:den\s+det\s+måtte\s+angå|\S+)|kjære\s+\S+|dear\s+\S+|hello|hi)\b"
    r"[^\n]{0,60}$",
    re.IGNORECASE,
)
# The closing formula starts the signature: everything from it on is the sender's name and title.
_CLOSING = re.compile(
    r"^\s*(med\s+(?:vennlig|venleg)\s+helsing|med\s+vennlig\s+hilsen|vennlig\s+hilsen|venleg\s+helsing|"
    r"beste\s+hilsen|hilsen|helsing|mvh\.?|kind\s+regards|best\s+regards|regards|sincerely|yours\s+sincerely)"
    r"\b[^\n]{0,60}$",
    re.IGNORECASE,
)
_SIGNATURE_MARK = re.compile(r"^-- ?$")
# The header of a quoted message in a reply or forward; the rest is someone else's text.
_QUOTE_START = re.compile(
    r"^\s*(-{2,}\s*(original message|opprinnelig melding|videresendt melding|forwarded message)\s*-{2,}|"
    r"(fra|from)\s*:\s*\S.{0,200}$|"
    r"(on|den|på)\s.{1,200}\s(wrote|skrev)\s*:\s*$)",
    re.IGNORECASE,
)
# Lines of a mail disclaimer or footer, left out wherever they stand: plain phrases of the
# lower-cased line, one search for all of them (a pattern with optional words per line of every
# letter cost more than the rest of the work together).
_DISCLAIMER = re.compile("|".join(map(re.escape, (
    "denne e-posten", "denne eposten", "this e-mail", "this email", "konfidensiell", "confidential",
    "tenk miljø", "consider the environment", "sendt fra min", "sent from my", "e-posten er skannet",
    "scanned for viruses",
))))
_WORD = re.compile(r"\w+")


def own_words(text: str | None) -> str:
    """The body of the letter: greeting, quoted replies, signature and disclaimer lines removed."""
    if not text:
        return ""
    lines = text[:MAX_CHARS].replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _QUOTE_START.match(stripped) or _SIGNATURE_MARK.match(line.rstrip()):
            break
        if _CLOSING.match(stripped) and kept:
            break
        if stripped.startswith(">") or _DISCLAIMER.search(stripped.lower()):
            continue
        if not kept and (not stripped or (index < 3 and _GREETING.match(stripped))):
            continue
        kept.append(stripped)
    return "\n".join(kept).strip()


def response_text(body: str | None, documents: Sequence[str | None]) -> str:
    """A response's own words: the e-mail text, and each document's text after it."""
    parts = [own_words(body), *(own_words(text) for text in documents)]
    return "\n\n".join(p for p in parts if p)


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``, punctuation and layout left out."""
    return _WORD.findall(text.lower())
