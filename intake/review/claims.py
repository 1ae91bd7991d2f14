"""Claims: opening a submission takes it («tatt av kari»), so two clerks do not work the same response.

A clerk holds one claim at a time: opening another submission lets the first go. A claim is
released when the submission is done (nothing left open), and is free again for anyone after
``IDLE`` without the holder looking at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from intake.db.models import Flag, ReviewClaim, utcnow

IDLE = timedelta(minutes=30)


def holder(session: Session, submission_id: int) -> ReviewClaim | None:
    """The live claim on a submission, if any."""
    claim = session.get(ReviewClaim, submission_id)
    if claim is None or claim.seen_at < utcnow() - IDLE:
        return None
    return claim


def take(session: Session, submission_id: int, staff: str) -> ReviewClaim:
    """Takes the submission for ``staff`` unless someone else holds it; returns the claim that holds."""
    now = utcnow()
    claim = session.get(ReviewClaim, submission_id)
    if claim is not None and claim.staff != staff and claim.seen_at >= now - IDLE:
        return claim
    session.exec(delete(ReviewClaim).where(col(ReviewClaim.staff) == staff,  # type: ignore[call-overload]
                                           col(ReviewClaim.submission_id) != submission_id))
    if claim is None:
        claim = ReviewClaim(submission_id=submission_id, staff=staff, claimed_at=now, seen_at=now)
        try:
            with session.begin_nested():
                session.add(claim)
        except IntegrityError:
            # Another clerk opened it in the same instant; theirs holds.
            return session.get(ReviewClaim, submission_id) or claim
        return claim
    if claim.staff != staff:
        claim.staff, claim.claimed_at = staff, now
    claim.seen_at = now
    session.add(claim)
    return claim


def release(session: Session, submission_id: int) -> None:
    session.exec(delete(ReviewClaim).where(col(ReviewClaim.submission_id) == submission_id))  # type: ignore[call-overload]


def claimed(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """Who holds each of these submissions now."""
    if not ids:
        return {}
    since = utcnow() - IDLE
    query = select(ReviewClaim).where(col(ReviewClaim.submission_id).in_(list(ids)), col(ReviewClaim.seen_at) >= since)
    return {c.submission_id: c.staff for c in session.exec(query)}


def release_if_done(session: Session, submission_id: int) -> None:
    """Lets a submission go once nothing on it is left open (every flag resolved)."""
    session.flush()
    left = session.exec(
        select(Flag.id).where(Flag.submission_id == submission_id, col(Flag.resolved_at).is_(None)).limit(1)
    ).first()
    if left is None:
        release(session, submission_id)
