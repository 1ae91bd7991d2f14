"""Groups letters that are copies of one letter: exact by hash, near by MinHash LSH, verified exactly.

Pure computation over the letters' own words (``letter.response_text``), so it is tested and
measured without a database. Letters are taken most-copied and shortest first, so that the plain
campaign letter becomes the template before the copies with the senders' own additions. Each
letter is compared with the templates the LSH index proposes, by the exact Jaccard similarity
of their word shingles and by how much of the template it contains; it joins the best template
it matches (Jaccard ≥ 0.8 or containment ≥ 0.9 by default), is put to a person when it falls in
the «maybe» band (Jaccard 0.5–0.8), and otherwise becomes a template itself. Two letters that
chose differently on the same question of the form are never one campaign.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from intake.review.letter import words


@dataclass(frozen=True)
class Letter:
    """One response as the grouping sees it: its own words and its form's choices."""

    submission_id: int
    text: str
    choices: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Thresholds:
    jaccard: float = 0.8
    containment: float = 0.9
    maybe: float = 0.5
    # Shorter letters («Vi støtter forslaget.») say too little to be told apart from a campaign.
    min_words: int = 20
    shingle: int = 3
    num_perm: int = 128
    # The LSH index proposes templates down to this Jaccard similarity, so that a copy with long
    # additions of its own (low Jaccard, high containment) is still compared.
    candidates: float = 0.3


@dataclass(frozen=True)
class Likeness:
    jaccard: float
    containment: float


@dataclass
class Group:
    """A campaign: its template letter, the copies (template included) and the maybes."""

    template: int
    members: dict[int, Likeness] = field(default_factory=dict)
    maybe: dict[int, Likeness] = field(default_factory=dict)


@dataclass
class _Text:
    ids: list[int]
    shingles: set[bytes]
    length: int
    choices: dict[str, str]


def shingles(text: str, size: int) -> set[bytes]:
    """The set of ``size``-word runs of the text (the whole text when it is shorter)."""
    ws = words(text)
    if len(ws) <= size:
        return {" ".join(ws).encode()} if ws else set()
    return {" ".join(ws[i : i + size]).encode() for i in range(len(ws) - size + 1)}


def likeness(member: set[bytes], template: set[bytes]) -> Likeness:
    shared = len(member & template)
    union = len(member) + len(template) - shared
    return Likeness(shared / union if union else 0.0, shared / len(template) if template else 0.0)


def _disagree(a: dict[str, str], b: dict[str, str]) -> bool:
    return any(a[q] != b[q] for q in a.keys() & b.keys())


def _texts(letters: Sequence[Letter], limits: Thresholds) -> list[_Text]:
    by_hash: dict[str, _Text] = {}
    for letter in letters:
        ws = words(letter.text)
        if len(ws) < limits.min_words:
            continue
        choices = dict(letter.choices)
        key = hashlib.sha256((" ".join(ws) + "\x00" + repr(sorted(choices.items()))).encode()).hexdigest()
        found = by_hash.get(key)
        if found is None:
            by_hash[key] = _Text([letter.submission_id], shingles(letter.text, limits.shingle), len(ws), choices)
        else:
            found.ids.append(letter.submission_id)
    texts = list(by_hash.values())
    texts.sort(key=lambda t: (-len(t.ids), t.length, min(t.ids)))
    return texts


def group_letters(letters: Sequence[Letter], limits: Thresholds | None = None) -> list[Group]:
    """The campaigns among ``letters``: groups of at least two copies, largest first."""
    limits = limits or Thresholds()
    texts = _texts(letters, limits)
    if not texts:
        return []
    # Imported here: datasketch brings numpy and scipy, some 60 MB that the service would
    # otherwise hold from its start whether or not anyone ever looks at a campaign.
    from datasketch import MinHash, MinHashLSH

    hashes = MinHash.bulk([sorted(t.shingles) for t in texts], num_perm=limits.num_perm)
    index = MinHashLSH(threshold=limits.candidates, num_perm=limits.num_perm)
    templates: dict[int, Group] = {}
    for number, (text, minhash) in enumerate(zip(texts, hashes, strict=True)):
        # The best template: a strong match before a maybe, then the higher Jaccard, then the older.
        best: tuple[bool, float, int] | None = None
        best_like = Likeness(0.0, 0.0)
        for key in sorted(index.query(minhash)):
            template = texts[key]
            if _disagree(text.choices, template.choices):
                continue
            like = likeness(text.shingles, template.shingles)
            strong = like.jaccard >= limits.jaccard or like.containment >= limits.containment
            if (strong or like.jaccard >= limits.maybe) and (best is None or (strong, like.jaccard) > best[:2]):
                best, best_like = (strong, like.jaccard, key), like
        if best is None:
            index.insert(number, minhash)
            group = templates[number] = Group(template=min(text.ids))
            group.members.update({i: Likeness(1.0, 1.0) for i in text.ids})
            continue
        target = templates[best[2]]
        (target.members if best[0] else target.maybe).update({i: best_like for i in text.ids})
    groups = [g for g in templates.values() if len(g.members) >= 2]
    groups.sort(key=lambda g: (-len(g.members), g.template))
    return groups


def own_additions(template: str, member: str) -> list[tuple[str, str]]:
    """The member's text as (kind, words) runs against the template: same, added or left out."""
    a, b = template.split(), member.split()
    runs: list[tuple[str, str]] = []
    matcher = SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("same", " ".join(b[j1:j2])))
            continue
        if i2 > i1:
            runs.append(("removed", " ".join(a[i1:i2])))
        if j2 > j1:
            runs.append(("added", " ".join(b[j1:j2])))
    return runs
