"""A made-up consultation's letters with planted campaigns, for the grouping's test and benchmark.

Individual letters are sentences of made-up words (each letter its own), so any two share no
more than chance allows. A campaign's copies are its letter with the sender's greeting and
signature around it, and, for some, a sentence or two of their own, a few words changed, or our
receipt quoted below; a few add a long text of their own (found by containment, not Jaccard).
And some letters of their own borrow half of a campaign's letter and then argue their own way:
they must stay out of it. Seeded, so every run sees the same letters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_SYLLABLES = ["ka", "ne", "ri", "so", "ta", "ve", "lo", "mi", "du", "sa", "fe", "gi", "ho", "ju", "bu", "ny",
              "ær", "øl", "ås", "tr", "sk", "st", "pl", "kr", "an", "en", "in", "on", "un", "ei"]
GREETINGS = ["Hei,", "Hei!", "Til Direktoratet for e-helse", "God dag,", ""]
CLOSINGS = ["Med vennlig hilsen", "Vennlig hilsen", "Mvh", "Hilsen"]
DISCLAIMER = "Denne e-posten kan inneholde konfidensiell informasjon og er bare ment for mottakeren."
QUOTED = "\n\n-----Original Message-----\nFrom: postmottak@ehelse.no\nSent: 28. september 2022\nVi har mottatt."


@dataclass(frozen=True)
class Planted:
    """One generated letter, and the campaign it was made from (None for a letter of its own)."""

    number: int
    body: str
    sender_name: str
    campaign: int | None


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def _sentence(rng: random.Random, vocabulary: list[str]) -> str:
    words = [rng.choice(vocabulary) for _ in range(rng.randint(8, 16))]
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def _letter(rng: random.Random, vocabulary: list[str], sentences: int) -> str:
    return " ".join(_sentence(rng, vocabulary) for _ in range(sentences))


def _change_words(rng: random.Random, text: str, vocabulary: list[str], count: int) -> str:
    words = text.split()
    for _ in range(count):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def _wrap(rng: random.Random, text: str, name: str) -> str:
    greeting = rng.choice(GREETINGS)
    closing = rng.choice(CLOSINGS)
    tail = "\n\n" + DISCLAIMER if rng.random() < 0.2 else ""
    return (greeting + "\n\n" if greeting else "") + text + f"\n\n{closing}\n{name}" + tail


def planted_letters(total: int, campaign_sizes: tuple[int, ...] = (900, 400, 150), seed: int = 17) -> list[Planted]:
    """``total`` letters, of which the campaigns take ``campaign_sizes``, in a shuffled order."""
    rng = random.Random(seed)
    vocabulary = sorted({_word(rng) for _ in range(6000)})
    templates = [_letter(rng, vocabulary, rng.randint(10, 16)) for _ in campaign_sizes]
    labels: list[int | None] = [c for c, size in enumerate(campaign_sizes) for _ in range(size)]
    labels += [None] * (total - len(labels))
    rng.shuffle(labels)
    letters: list[Planted] = []
    for number, label in enumerate(labels):
        name = f"{_word(rng).capitalize()} {_word(rng).capitalize()}sen"
        if label is None and rng.random() < 0.03:
            # Borrows the first half of a campaign's letter, then argues its own way.
            borrowed = rng.choice(templates).split(". ")
            text = ". ".join(borrowed[: len(borrowed) // 2]) + ". " + _letter(rng, vocabulary, len(borrowed) // 2 + 1)
        elif label is None:
            text = _letter(rng, vocabulary, rng.randint(3, 14))
        else:
            text = templates[label]
            roll = rng.random()
            if roll < 0.25:
                text = _letter(rng, vocabulary, rng.randint(1, 2)) + " " + text
            elif roll < 0.45:
                text = text + " " + _letter(rng, vocabulary, rng.randint(1, 3))
            elif roll < 0.6:
                text = _change_words(rng, text, vocabulary, rng.randint(1, 4))
            elif roll < 0.65:
                text = text + " " + _letter(rng, vocabulary, rng.randint(6, 10))
        body = _wrap(rng, text, name) + (QUOTED if rng.random() < 0.1 else "")
        letters.append(Planted(number, body, name, label))
    return letters


def precision_recall(found: dict[int, int], planted: dict[int, int | None]) -> tuple[float, float]:
    """Precision and recall of a grouping (letter → found group) against the planted campaigns.

    Each found group is matched to the planted campaign most of its letters came from; a letter
    is right when its group's campaign is its own.
    """
    from collections import Counter

    majority: dict[int, int | None] = {}
    for group in set(found.values()):
        votes = Counter(planted[n] for n, g in found.items() if g == group)
        majority[group] = votes.most_common(1)[0][0]
    right = sum(1 for n, g in found.items() if planted[n] is not None and majority[g] == planted[n])
    in_campaigns = sum(1 for label in planted.values() if label is not None)
    return (right / len(found) if found else 1.0), (right / in_campaigns if in_campaigns else 1.0)
