"""One staff action on many selected submissions at once, from the queue.

Each row is changed by the same function as on its own page (``intake.review.actions``), in a
savepoint of one transaction, so a row the action does not apply to (not late, say) is counted
as skipped and the others are still done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import Session

from intake.db.engine import session_scope
from intake.review import actions
from intake.review.claims import release_if_done

# The actions the queue offers on selected rows, with the words on their button.
BULK_ACTIONS = {
    "accept_late": "Godta for sene svar",
    "reviewed": "Marker som gjennomgått",
    "withhold": "Hold tilbake fra publisering",
    "set_case": "Sett sak",
}


def _change(action: str, actor: str, case: str, reason: str) -> Callable[[Session, int], object]:
    if action == "accept_late":
        return lambda s, i: actions.decide_late(s, i, accept=True, actor=actor)
    if action == "reviewed":
        return lambda s, i: actions.mark_reviewed(s, i, actor=actor, comment=reason)
    if action == "withhold":
        return lambda s, i: actions.set_withheld(s, i, withheld=True, actor=actor, reason=reason)
    if action == "set_case":
        return lambda s, i: actions.set_case(s, i, case, actor=actor)
    raise actions.ReviewError("velg en handling for de valgte innsendingene")


def apply_bulk(engine: Engine, ids: Sequence[int], *, action: str, actor: str, case: str = "",
               reason: str = "") -> tuple[int, int]:
    """Applies ``action`` to each submission; returns how many were changed and how many skipped."""
    change = _change(action, actor, case, reason)
    done = skipped = 0
    with session_scope(engine) as session:
        for submission_id in dict.fromkeys(ids):
            try:
                with session.begin_nested():
                    change(session, submission_id)
                    release_if_done(session, submission_id)
                done += 1
            except actions.ReviewError:
                skipped += 1
    return done, skipped
