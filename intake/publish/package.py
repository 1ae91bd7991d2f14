"""The publishing package: ``index.html`` (static, accessible, no script) and the documents.

Built from ``review.publication.publication_list``, so nothing withheld, rejected, superseded or
still flagged ``personal_data`` is in it, and no document staff left out. The folder is written
afresh (it must not exist or be empty), each file read back from the store and checked against
its SHA-256 before it is written, and the build is audited.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zipfile
from pathlib import Path

from sqlmodel import Session, col, select

from intake.db.audit import record
from intake.db.engine import session_scope
from intake.db.models import Case, Submission, utcnow
from intake.errors import IntakeError
from intake.publish.page import index_html
from intake.review.publication import PublishedResponse, publication_list
from intake.runtime import Runtime

DOCUMENTS = "dokumenter"


class PublishError(IntakeError):
    """The package cannot be built as asked; the message says why, for a person."""


def safe_name(name: str, *, limit: int = 120) -> str:
    """A file or folder name that every file system and web server takes: no separators or controls."""
    folded = unicodedata.normalize("NFC", name)
    folded = "".join(ch for ch in folded if unicodedata.category(ch)[0] != "C")
    folded = re.sub(r'[\\/:*?"<>|]+', "_", folded).strip(" .")
    if len(folded) > limit:
        stem, dot, ext = folded.rpartition(".")
        folded = (stem[: limit - len(ext) - 1] + "." + ext) if dot and len(ext) <= 8 else folded[:limit]
    return folded or "dokument"


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    stem, dot, ext = name.rpartition(".")
    while candidate.casefold() in used:
        candidate = f"{stem} ({n}).{ext}" if dot else f"{name} ({n})"
        n += 1
    used.add(candidate.casefold())
    return candidate


def build_package(rt: Runtime, case_number: str, out: Path, *, actor: str = "system") -> Path:
    """Writes the package of the case into ``out``; returns the path of its ``index.html``."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PublishError(f"mappen {out} finnes og er ikke tom; velg en ny mappe")
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == case_number)).first()
        if case is None:
            raise PublishError(f"saken {case_number} finnes ikke")
        entries = publication_list(session, case, rt.settings.publication)
        bodies = _bodies(session, entries)
        title, number, deadline = case.title, case.number, case.deadline
    out.mkdir(parents=True, exist_ok=True)
    links: dict[tuple[int, int], str] = {}
    for position, entry in enumerate(entries, start=1):
        folder_name = f"{position:04d} {safe_name(entry.name, limit=60)}"
        folder = out / DOCUMENTS / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        used: set[str] = set()
        for place, document in enumerate(entry.documents):
            name = _unique(safe_name(document.filename), used)
            if document.attachment is None:
                data = bodies[entry.submission_id].encode("utf-8")
            else:
                data = rt.store.read(document.attachment.blob)
                if hashlib.sha256(data).hexdigest() != document.attachment.sha256:
                    raise PublishError(
                        f"{document.filename} fra {entry.name} er skadet i lageret; kjør intake store check"
                    )
            (folder / name).write_bytes(data)
            links[(entry.submission_id, place)] = f"{DOCUMENTS}/{folder_name}/{name}"
    index = out / "index.html"
    index.write_text(index_html(title=title, number=number, deadline=deadline, entries=entries, links=links,
                                built=utcnow()), encoding="utf-8")
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == case_number)).one()
        record(session, "case.published", "case", case.id,
               {"responses": len(entries), "documents": len(links), "folder": str(out)}, actor=actor)
    return index


def _bodies(session: Session, entries: list[PublishedResponse]) -> dict[int, str]:
    wanted = [e.submission_id for e in entries if any(d.attachment is None for d in e.documents)]
    out: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        for sub in session.exec(select(Submission).where(col(Submission.id).in_(chunk))):
            assert sub.id is not None
            out[sub.id] = sub.body_text or ""
    return out


def zip_folder(folder: Path, target: Path) -> Path:
    """The package folder as one zip file (the download in the review pages)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target

