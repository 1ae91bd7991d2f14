"""The publication list of a case, as a page and as CSV, and the publishing package to download."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.background import BackgroundTask

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.publish.package import build_package, zip_folder
from intake.review.publication import PublishedResponse, publication_list
from intake.review.responses import REASON_LABELS, case_submissions, exclusion
from intake.web.deps import AdminDep, RowId, RtDep, render
from intake.web.downloads import download

router = APIRouter(include_in_schema=False)


def _cell(value: str) -> str:
    """Neutralises text a spreadsheet would run as a formula (organisation names come from senders)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def publication_csv(entries: list[PublishedResponse]) -> bytes:
    """Semicolon-separated UTF-8 with a byte order mark, which Norwegian Excel opens correctly."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Kategori", "Organisasjon", "Mottatt", "Dokumenter"])
    for entry in entries:
        writer.writerow(
            [
                _cell(entry.category),
                _cell(entry.name),
                entry.received.strftime("%d.%m.%Y"),
                _cell(" | ".join(d.filename for d in entry.documents)),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _case(session_case: Case | None) -> Case:
    if session_case is None:
        raise HTTPException(404, "Saken finnes ikke")
    return session_case


@router.get("/cases/{case_id}/publication", response_class=HTMLResponse)
def publication_page(case_id: RowId, request: Request, rt: RtDep, staff: AdminDep) -> Response:
    with session_scope(rt.engine) as session:
        case = _case(session.get(Case, case_id))
        entries = publication_list(session, case, rt.settings.publication)
        # What is left out and why, so staff can see nothing went missing by mistake.
        left_out = [(r, REASON_LABELS[reason]) for r in case_submissions(session, case)
                    if (reason := exclusion(r, publishing=True)) is not None]
        return render(
            request,
            "publication.html",
            case=case,
            entries=entries,
            left_out=left_out,
            title=f"Publiseringsliste for sak {case.number}",
        )


@router.get("/cases/{case_id}/publication.csv")
def publication_export(case_id: RowId, rt: RtDep, staff: AdminDep) -> Response:
    with session_scope(rt.engine) as session:
        case = _case(session.get(Case, case_id))
        entries = publication_list(session, case, rt.settings.publication)
    filename = f"hoeringssvar-{case.number.replace('/', '-')}.csv"
    return download(publication_csv(entries), filename=filename, content_type="text/csv")


@router.get("/cases/{case_id}/publication.zip")
def publication_package(case_id: RowId, rt: RtDep, staff: AdminDep) -> Response:
    """The publishing package as a zip file: for admins, who publish."""
    with session_scope(rt.engine) as session:
        case = _case(session.get(Case, case_id))
        number = case.number
    work = Path(tempfile.mkdtemp(prefix="intake-publish-"))
    try:
        folder = work / "pakke"
        build_package(rt, number, folder, actor=staff.name)
        archive = zip_folder(folder, work / "pakke.zip")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    name = f"publisering-{number.replace('/', '-')}.zip"
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=name,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )
