"""Responses that only say there are no comments («ingen merknader»), counted apart in the summary.

Such a response names no comment phrase in passing: its own words are short, and one of the
phrases (bokmål, nynorsk or English) is there. A long letter that says «ingen merknader til
kapittel 3» and then argues about chapter 4 is a real response.
"""

from __future__ import annotations

import re

from intake.review.letter import words

# A no-comment letter says little else: who writes, the case, and that there are no comments.
MAX_WORDS = 40
_PHRASES = re.compile(
    r"\b("
    r"(ingen|ikke|ikkje|ikke\s+noen|ikkje\s+nokon|ingen\s+særskilte|ingen\s+spesielle)\s+"
    r"(merknad|merknader|merknadar|kommentar|kommentarer|kommentarar|innspill|innspel|bemerkninger|"
    r"innvendinger|innvendingar|tilbakemeldinger|tilbakemeldingar)|"
    r"(har|hev)\s+(ikke|ikkje)\s+(noe|noko)\s+å\s+(bemerke|merke|tilføye|legge\s+til|leggje\s+til)|"
    r"no\s+(further\s+)?(comments?|remarks|objections|input)|nothing\s+to\s+add|"
    r"(do|does)\s+not\s+have\s+any\s+comments"
    r")\b",
    re.IGNORECASE,
)


def is_no_comment(own_text: str) -> bool:
    """True when a response's own words (``letter.response_text``) only say there are no comments."""
    if not own_text:
        return False
    head = own_text[:2000]
    # Far more spaces than words allowed: a long letter, told without reading its words.
    if head.count(" ") + head.count("\n") > 3 * MAX_WORDS:
        return False
    return len(words(head)) <= MAX_WORDS and _PHRASES.search(head) is not None
