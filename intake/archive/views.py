"""What the staff pages show of the archive: a submission's panel, a case's counts and its export in progress."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from intake.archive import records
from intake.archive.export import ArchiveError, export_many, select_submissions
from intake.archive.status import archive_status
from intake.db.models import ArchiveExport, Case, Submission
from intake.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class Panel:
    """The «Arkiv» panel of one submission."""

    status: str
    version: int | None
    exported_at: datetime | None
    history: list[ArchiveExport]
    has_case: bool
    can_export: bool


def panel(session: Session, rt: Runtime, sub: Submission) -> Panel:
    assert sub.id is not None
    state = archive_status(session, [sub])[sub.id]
    at = datetime.fromisoformat(state["exported_at"]) if state["exported_at"] else None
    return Panel(state["status"], state["version"], at, records.history(session, sub.id), sub.case_id is not None,
                 rt.settings.archive.path is not None and sub.case_id is not None)


@dataclass
class CaseCounts:
    exported: int = 0
    changed: int = 0
    not_exported: int = 0
    waiting: int = 0  # cannot be exported yet (an auto-reply, or under review in when_reviewed)

    @property
    def total(self) -> int:
        return self.exported + self.changed + self.not_exported


def case_counts(session: Session, case: Case) -> CaseCounts:
    """How many of the case's responses the archive has in their newest version."""
    ids, skipped = select_submissions(session, case=case.number)
    subs = list(session.exec(select(Submission).where(col(Submission.id).in_(ids)))) if ids else []
    counts = CaseCounts(waiting=len(skipped))
    for state in archive_status(session, subs).values():
        setattr(counts, state["status"], getattr(counts, state["status"]) + 1)
    return counts


@dataclass
class Progress:
    """One export of a whole case running in this process, as its page follows it."""

    total: int = 0
    done: int = 0
    written: int = 0
    failed: list[str] = field(default_factory=list)
    running: bool = True
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "done": self.done, "written": self.written, "failed": len(self.failed),
                "running": self.running, "error": self.error}


_RUNNING: dict[int, Progress] = {}
_LOCK = threading.Lock()


def progress_of(case_id: int) -> Progress | None:
    with _LOCK:
        return _RUNNING.get(case_id)


def start_case_export(rt: Runtime, case: Case, *, actor: str) -> Progress:
    """Starts exporting every response of the case in a thread, unless one is running already."""
    assert case.id is not None
    case_id, number = case.id, case.number
    with _LOCK:
        current = _RUNNING.get(case_id)
        if current is not None and current.running:
            return current
        progress = _RUNNING[case_id] = Progress()
    threading.Thread(target=_run, args=(rt, case_id, number, actor, progress), name=f"archive-case-{case_id}",
                     daemon=True).start()
    return progress


def _run(rt: Runtime, case_id: int, number: str, actor: str, progress: Progress) -> None:
    try:
        path = rt.settings.archive.path
        if path is None:
            raise ArchiveError("arkivmappen er ikke satt opp")
        with Session(rt.engine) as session:
            ids, _ = select_submissions(session, case=number)
        progress.total = len(ids)

        def step(done: int, _total: int) -> None:
            progress.done = done

        report = export_many(rt, ids, path, actor=actor, progress=step)
        progress.written = report.count("written")
        progress.failed = [o.reason or "" for o in report.outcomes if o.status == "failed"]
    # The thread's boundary: whatever stops the export is shown on its page, never lost in a thread.
    except Exception as err:
        log.error("archive: export of case %s stopped: %s", number, err)
        progress.error = str(err) if isinstance(err, ArchiveError) else "eksporten stoppet på grunn av en feil"
    finally:
        progress.running = False

