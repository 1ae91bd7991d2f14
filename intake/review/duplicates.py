"""Two responses from the same organisation to one case: shown side by side, staff choose which counts.

The pair is every submission of the case from that organisation that is a response (no
auto-reply). Staff choose from either page; the chosen one is kept, every other one of the
pair is superseded (``responses.exclusion`` leaves it out), and their duplicate flags close.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import exists
from sqlmodel import Session, col, select

from intake.db.models import Attachment, Flag, Submission
from intake.review.actions import (
    LATE_REJECTED,
    ReviewError,
    _resolve,
    audit,
    get_submission,
    refuse_keeping_rejected,
    touch,
)

# The texts compared are cut to this many characters each, and the diff to this many words:
# a sender decides both lengths, and difflib's time grows with them.
MAX_CHARS = 20_000
MAX_WORDS = 3_000
# difflib grows with the product of the two lengths, and far faster on repetitive text (two long
# letters of the same paragraphs took 30 s): what the texts share at their start and end is taken
# off first, in linear time, and a middle longer than this on either side is shown as changed whole.
MAX_MIDDLE = 400
# A page compares with this many other responses of the pair at most (the nearest in time).
MAX_COMPARED = 3
_WORDS = re.compile(r"\S+\s*|\s+")


@dataclass
class Piece:
    """A run of words of a compared text: unchanged ("same"), only on the left ("del") or right ("ins")."""

    kind: str
    text: str


@dataclass
class Comparison:
    """This submission and another of the pair, with both texts marked where they differ."""

    this: Submission
    other: Submission
    left: list[Piece]
    right: list[Piece]


def pair_of(session: Session, sub: Submission) -> list[Submission]:
    """The other responses from the same organisation to the same case, oldest first."""
    if sub.case_id is None or sub.organisation_id is None:
        return []
    auto_reply = exists().where(col(Flag.submission_id) == col(Submission.id), col(Flag.name) == "auto_reply")
    return list(
        session.exec(
            select(Submission)
            .where(Submission.case_id == sub.case_id, Submission.organisation_id == sub.organisation_id,
                   Submission.id != sub.id, ~auto_reply)
            .order_by(col(Submission.received_at), col(Submission.id))
        ).all()
    )


def _text(session: Session, sub: Submission) -> str:
    parts = [f"Emne: {sub.subject or ''}", sub.body_text or ""]
    texts = session.exec(
        select(Attachment.text).where(Attachment.submission_id == sub.id, col(Attachment.text).is_not(None))
        .order_by(col(Attachment.position), col(Attachment.id))
    ).all()
    parts.extend(t for t in texts if t)
    return "\n\n".join(parts)[:MAX_CHARS]


def diff(left: str, right: str) -> tuple[list[Piece], list[Piece]]:
    """Word by word: what only the left text has is "del", what only the right has is "ins"."""
    a = _WORDS.findall(left)[:MAX_WORDS]
    b = _WORDS.findall(right)[:MAX_WORDS]
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    mid_a, mid_b = a[head:len(a) - tail], b[head:len(b) - tail]
    out_a: list[Piece] = [Piece("same", "".join(a[:head]))] if head else []
    out_b: list[Piece] = [Piece("same", "".join(b[:head]))] if head else []
    opcodes: Sequence[tuple[str, int, int, int, int]]
    if len(mid_a) > MAX_MIDDLE or len(mid_b) > MAX_MIDDLE:
        opcodes = [("replace", 0, len(mid_a), 0, len(mid_b))]
    else:
        opcodes = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False).get_opcodes()
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            out_a.append(Piece("same", "".join(mid_a[i1:i2])))
            out_b.append(Piece("same", "".join(mid_b[j1:j2])))
            continue
        if i2 > i1:
            out_a.append(Piece("del", "".join(mid_a[i1:i2])))
        if j2 > j1:
            out_b.append(Piece("ins", "".join(mid_b[j1:j2])))
    if tail:
        out_a.append(Piece("same", "".join(a[len(a) - tail:])))
        out_b.append(Piece("same", "".join(b[len(b) - tail:])))
    return out_a, out_b


def comparisons(session: Session, sub: Submission) -> list[Comparison]:
    """This submission beside each other response of its pair, earlier text on the left."""
    out = []
    mine = _text(session, sub)
    others = pair_of(session, sub)
    # The nearest in time first; the rest are named in the flag, each a link of its own.
    nearest = sorted(others, key=lambda o: abs((o.received_at - sub.received_at).total_seconds()))[:MAX_COMPARED]
    for other in sorted(nearest, key=lambda o: (o.received_at, o.id or 0)):
        theirs = _text(session, other)
        earlier_first = (other.received_at, other.id or 0) < (sub.received_at, sub.id or 0)
        if earlier_first:
            left, right = diff(theirs, mine)
        else:
            left, right = diff(mine, theirs)
        out.append(Comparison(sub, other, left, right))
    return out


def choose(session: Session, submission_id: int, *, counts: int, actor: str, comment: str = "") -> Submission:
    """Keeps ``counts`` as the organisation's response; the others of the pair are superseded."""
    sub = get_submission(session, submission_id)
    group = [sub, *pair_of(session, sub)]
    chosen = next((s for s in group if s.id == counts), None)
    if chosen is None:
        raise ReviewError(f"innsending {counts} er ikke et av svarene fra samme organisasjon i saken")
    refuse_keeping_rejected(chosen, keep=True)
    for member in group:
        keep = member.id == chosen.id
        if member.decision != LATE_REJECTED:
            # A response rejected as late is out already, and keeps the reason.
            member.decision = "duplicate_kept" if keep else "superseded"
        _resolve(session, member, ("duplicate_organisation",), actor,
                 "regnes med" if keep else f"erstattet av innsending {chosen.id}")
        touch(session, member)
    audit(session, actor, "submission.duplicate_kept", "submission", chosen.id, comment=comment or None,
          superseded=[m.id for m in group if m.id != chosen.id])
    for member in group:
        if member.id != chosen.id:
            audit(session, actor, "submission.superseded", "submission", member.id, counts=chosen.id,
                  comment=comment or None)
    return chosen
