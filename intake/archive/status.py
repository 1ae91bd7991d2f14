"""Where each submission stands with the archive: not exported, exported as version N, or changed since."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlmodel import Session

from intake.archive import records
from intake.archive.facts import fingerprint, load_facts
from intake.db.models import Submission


def archive_status(session: Session, submissions: Sequence[Submission], *,
                   destination: Path | None = None) -> dict[int, dict[str, Any]]:
    """The contract's ``archive`` object of each submission (in ``destination``, or in any folder)."""
    ids = [s.id for s in submissions if s.id is not None]
    facts = load_facts(session, submissions)
    exported = records.latest_written(session, ids, destination=destination)
    return {
        sub_id: records.status(exported.get(sub_id), fingerprint(facts[sub_id]) if sub_id in facts else None)
        for sub_id in ids
    }


def unexported(session: Session, submissions: Sequence[Submission]) -> list[Submission]:
    """Those of ``submissions`` with a case whose newest version the archive does not have."""
    states = archive_status(session, submissions)
    # A follow-up has no package of its own: it is a member of its response's.
    return [s for s in submissions if s.id is not None and s.case_id is not None and s.follow_up_of is None
            and states[s.id]["status"] != "exported"]
