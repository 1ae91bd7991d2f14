"""The export rows: which version of a package went where, claimed before writing, marked after.

Every function here runs while the caller holds the submission's named lock
(``archive-<id>``, intake/db/locks.py), so a row in ``writing`` that it finds was
left by a process that died: either its package reached the drop folder (then it
is marked written now) or it did not (then it is failed, and written again).

Versions count per submission: a package whose fingerprint is that of the latest
version is that version again (in another folder, or nothing to do), a new
fingerprint is the next version, unless the latest version was never written
anywhere, in which case it is reused.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from intake.archive.package import melding_id_of, package_digest
from intake.db.audit import record
from intake.db.models import ArchiveExport, utcnow
from intake.localtime import iso_oslo


@dataclass(frozen=True)
class Claim:
    """A package this process is now writing."""

    row_id: int
    submission_id: int
    version: int
    melding_id: str
    name: str
    replaces: str | None


def folder_name(receipt_ref: str, version: int) -> str:
    return receipt_ref if version == 1 else f"{receipt_ref}-v{version}"


def claim(session: Session, *, submission_id: int, receipt_ref: str, destination: Path, fingerprint: str,
          actor: str) -> Claim | None:
    """The package to write for this fingerprint at ``destination``, or None when it is there already."""
    rows = list(session.exec(select(ArchiveExport).where(ArchiveExport.submission_id == submission_id)))
    for row in rows:
        if row.status == "writing":
            _settle(session, row)
    top = max((r.version for r in rows), default=0)
    # Every written row of one version has that version's fingerprint; a version written nowhere is free.
    top_written = [r for r in rows if r.version == top and r.status == "written"]
    if top == 0:
        version = 1
    elif top_written and top_written[0].fingerprint != fingerprint:
        version = top + 1
    else:
        version = top
    where = str(destination)
    found = next((r for r in rows if r.version == version and r.destination == where), None)
    if found is not None and found.status == "written" and found.fingerprint == fingerprint:
        return None
    name = folder_name(receipt_ref, version)
    row = found or ArchiveExport(submission_id=submission_id, version=version, melding_id="",
                                 fingerprint=fingerprint, destination=where, path=str(destination / name))
    # A fresh meldingId each time a package is (re)started: nothing with the old one reached the folder.
    row.melding_id = str(uuid.uuid4())
    row.fingerprint = fingerprint
    row.status = "writing"
    row.error = None
    row.actor = actor
    row.created_at = utcnow()
    session.add(row)
    # The version a clerk's archive got before this one, in the same folder.
    earlier = [r for r in rows if r.destination == where and r.status == "written" and r.version < version]
    replaces = max(earlier, key=lambda r: r.version).melding_id if earlier else None
    session.flush()
    assert row.id is not None
    return Claim(row.id, submission_id, version, row.melding_id, name, replaces)


def _settle(session: Session, row: ArchiveExport) -> None:
    folder = Path(row.path)
    if melding_id_of(folder) == row.melding_id:
        row.status = "written"
        row.sha256 = package_digest(folder)
        row.written_at = utcnow()
        record(session, "archive.exported", "submission", row.submission_id,
               {"version": row.version, "melding_id": row.melding_id, "path": row.path, "recovered": True},
               actor=row.actor)
    else:
        row.status = "failed"
        row.error = "eksporten ble avbrutt før pakken var på plass"
    session.add(row)


def written(session: Session, claim: Claim, *, sha256: str, actor: str) -> None:
    row = session.get(ArchiveExport, claim.row_id)
    assert row is not None
    row.status = "written"
    row.sha256 = sha256
    row.written_at = utcnow()
    session.add(row)
    record(session, "archive.exported", "submission", claim.submission_id,
           {"version": claim.version, "melding_id": claim.melding_id, "path": row.path}, actor=actor)


def failed(session: Session, claim: Claim, *, reason: str, actor: str) -> None:
    row = session.get(ArchiveExport, claim.row_id)
    assert row is not None
    row.status = "failed"
    row.error = reason[:2000]
    session.add(row)
    record(session, "archive.failed", "submission", claim.submission_id,
           {"version": claim.version, "path": row.path, "error": reason[:500]}, actor=actor)


@dataclass(frozen=True)
class Exported:
    """The newest written version of a submission's package."""

    version: int
    fingerprint: str
    at: datetime
    path: str


def latest_written(session: Session, ids: Sequence[int], *, destination: Path | None = None) -> dict[int, Exported]:
    """Each submission's newest written version (anywhere, or in ``destination``)."""
    out: dict[int, Exported] = {}
    if not ids:
        return out
    query = select(ArchiveExport).where(col(ArchiveExport.submission_id).in_(list(ids)),
                                        ArchiveExport.status == "written")
    if destination is not None:
        query = query.where(ArchiveExport.destination == str(destination))
    for row in session.exec(query.order_by(col(ArchiveExport.version), col(ArchiveExport.written_at))):
        assert row.written_at is not None
        out[row.submission_id] = Exported(row.version, row.fingerprint, row.written_at, row.path)
    return out


def status(exported: Exported | None, fingerprint: str | None) -> dict[str, Any]:
    """The ``archive`` object of a submission in the JSON contract."""
    if exported is None:
        return {"status": "not_exported", "version": None, "exported_at": None}
    state = "exported" if exported.fingerprint == fingerprint else "changed"
    return {"status": state, "version": exported.version, "exported_at": iso_oslo(exported.at),
            "path": exported.path}


def history(session: Session, submission_id: int) -> list[ArchiveExport]:
    """Every package row of a submission, newest first, for its page."""
    query = select(ArchiveExport).where(ArchiveExport.submission_id == submission_id)
    return list(session.exec(query.order_by(col(ArchiveExport.id).desc())))
