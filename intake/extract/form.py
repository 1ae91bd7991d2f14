"""Answers of a consultation's response form, read from an attachment's text.

A question is found by its text (a case- and whitespace-insensitive prefix of the printed
question, which may carry a number such as ``1)``); its answer is what follows, up to the
next question found. A choice question's answer is the choice whose box is checked (☒);
the line of boxes itself is not part of the free text. Word's placeholder is no answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

CHECKED_GLYPHS = "☒☑✔✓■"
BOX_GLYPHS = CHECKED_GLYPHS + "☐□"
PLACEHOLDERS = (
    "Klikk eller trykk her for å skrive inn tekst.",
    "Klikk her for å skrive inn tekst.",
    "Klikk eller trykk for å skrive inn en dato.",
    "Click or tap here to enter text.",
    "Click here to enter text.",
)
_PLACEHOLDER = re.compile(
    "|".join(r"\s+".join(map(re.escape, p.split())) for p in PLACEHOLDERS), re.IGNORECASE
)
_BOX = re.compile(f"([{BOX_GLYPHS}])\\s*([^{BOX_GLYPHS}]*)")
# The printed question ends at a question mark or colon closing its line.
_QUESTION_END = re.compile(r"[?:][ \t]*(?:\n|$)")
_SPACES = re.compile(r"\s+")
_DROP_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\ufeff"))
# How far past its matched start a question's closing mark is looked for.
_QUESTION_REACH = 300
# At most this much (a number such as "12) ") may stand before a question on its line.
_NUMBER_ROOM = 6


def read_form(text: str, questions: Sequence[dict[str, Any]]) -> dict[str, dict[str, str]] | None:
    """Each found question's id to ``{"choice": …, "text": …}`` (empty keys left out); None if none found."""
    if not text or not questions:
        return None
    # Searched with one pattern per question over the text itself: a lower-cased copy with an
    # offset per character cost some 40 bytes per character (20 MB of text: over 1 GB).
    text = text.translate(_DROP_INVISIBLE)
    found: list[tuple[int, int, dict[str, Any]]] = []
    cursor = 0
    for question in questions:
        words = str(question.get("text", "")).split()
        if not words:
            continue
        needle = re.compile(r"\s+".join(map(re.escape, words)), re.IGNORECASE)
        # Questions are printed in order; looking after the previous one first keeps a
        # question quoted inside an earlier answer from being taken for the real one.
        hit = needle.search(text, cursor) or needle.search(text)
        if hit is None:
            continue
        cursor = hit.end()
        found.append((hit.start(), hit.end(), question))
    if not found:
        return None
    found.sort(key=lambda item: item[0])
    answers: dict[str, dict[str, str]] = {}
    for number, (_start, end, question) in enumerate(found):
        limit = _line_start(text, found[number + 1][0]) if number + 1 < len(found) else len(text)
        limit = max(limit, end)
        body = text[_question_end(text, end, limit) : limit]
        answers[str(question["id"])] = _answer(body, [str(c) for c in question.get("choices") or []])
    return answers


def _line_start(text: str, offset: int) -> int:
    """Where the next question's line starts, so its number belongs to it, not to the answer before."""
    start = text.rfind("\n", 0, offset) + 1
    return start if offset - start <= _NUMBER_ROOM else offset


def _question_end(text: str, end: int, limit: int) -> int:
    """The end of the printed question: its closing ?/: at a line end, else the end of its paragraph.

    Some PDF writers put a blank line after every line, so a question's closing mark is
    looked for a little past its paragraph too, but never past a line of checkboxes.
    """
    paragraph_end = text.find("\n\n", end, limit)
    if paragraph_end < 0:
        paragraph_end = limit
    reach = min(limit, end + _QUESTION_REACH)
    boxes = _BOX.search(text, end, reach)
    closing = _QUESTION_END.search(text, end, boxes.start() if boxes else reach)
    return closing.end() if closing else paragraph_end


def _answer(body: str, choices: list[str]) -> dict[str, str]:
    chosen: list[str] = []
    kept: list[str] = []
    for line in body.split("\n"):
        marks = _BOX.findall(line) if choices else []
        hits = [(glyph, choice) for glyph, label in marks if (choice := _which(label, choices))]
        if not hits:
            kept.append(line)
            continue
        chosen.extend(choice for glyph, choice in hits if glyph in CHECKED_GLYPHS and choice not in chosen)
    free = _PLACEHOLDER.sub("", "\n".join(kept))
    # A substitution rather than split and join: no list of every word of a long answer.
    paragraphs = (_SPACES.sub(" ", p).strip() for p in re.split(r"\n[ \t]*\n", free))
    answer: dict[str, str] = {}
    if chosen:
        answer["choice"] = ", ".join(chosen)
    text = "\n\n".join(p for p in paragraphs if p)
    if text:
        answer["text"] = text
    return answer


def _which(label: str, choices: list[str]) -> str | None:
    """The longest choice the label after a box starts with (``Vet ikke, utdyp gjerne`` is ``Vet ikke``)."""
    label = " ".join(label.lower().split())
    best: str | None = None
    for choice in choices:
        key = " ".join(choice.lower().split())
        # A label shorter than the choice ("Nei" against "Vet ikke") is simply not that choice.
        whole_word = label.startswith(key) and (len(label) == len(key) or not label[len(key)].isalnum())
        if whole_word and (best is None or len(key) > len(best)):
            best = choice
    return best
