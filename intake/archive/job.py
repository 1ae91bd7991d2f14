"""The daemon's drop folder: with ``[archive] path`` and a mode other than manual, packages are written unasked.

``immediately`` exports every response that has a case as soon as it has one;
``when_reviewed`` waits until no flag of it is open. Either way a response is
written again, as a new version, whenever its package would change. A drop folder
that is missing, read-only or full is an error in the log on every run and on
``/healthz`` until a package is written there again.
"""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from sqlmodel import Session, col, select

from intake.archive.export import Report, export_many, select_submissions
from intake.db.models import ArchiveExport
from intake.runtime import Runtime

log = logging.getLogger(__name__)
# Less room than this in the drop folder is a full drop folder: no package fits any more.
MIN_FREE_BYTES = 64 * 1024


def fill_drop_folder(rt: Runtime) -> Report | None:
    """Exports what the mode says is due; None when the daemon has no drop folder to fill."""
    settings = rt.settings.archive
    if settings.path is None or settings.mode == "manual":
        return None
    with Session(rt.engine) as session:
        ids, _ = select_submissions(session, reviewed_only=settings.mode == "when_reviewed")
    report = export_many(rt, ids, settings.path, actor="system")
    if report.count("written") or report.count("failed"):
        log.info("archive: %d package(s) written to %s, %d failed", report.count("written"), settings.path,
                 report.count("failed"))
    return report


def drop_folder_health(rt: Runtime) -> dict[str, Any] | None:
    """``ok``, ``path`` and the ``error`` of the drop folder; None when none is configured."""
    path = rt.settings.archive.path
    if path is None:
        return None
    error = None
    if not path.is_dir():
        error = "arkivmappen finnes ikke"
    elif not os.access(path, os.W_OK):
        error = "arkivmappen er skrivebeskyttet"
    elif shutil.disk_usage(path).free < MIN_FREE_BYTES:
        error = "arkivmappen er full"
    else:
        with Session(rt.engine) as session:
            last = session.exec(
                select(ArchiveExport).where(ArchiveExport.destination == str(path.resolve()),
                                            col(ArchiveExport.status).in_(["written", "failed"]))
                .order_by(col(ArchiveExport.created_at).desc(), col(ArchiveExport.id).desc())
            ).first()
        if last is not None and last.status == "failed":
            error = f"siste pakke kunne ikke skrives: {last.error}"
    return {"ok": error is None, "path": str(path), "mode": rt.settings.archive.mode, "error": error}
