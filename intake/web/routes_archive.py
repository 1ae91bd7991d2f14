"""The archive on the staff pages: «Eksporter nå» on a submission, and exporting a whole case with its progress."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from intake.archive import views
from intake.archive.export import ArchiveError, export_many, select_submissions
from intake.db.engine import session_scope
from intake.db.models import Case, Submission
from intake.web.deps import PostDep, RowId, RtDep, StaffDep, refused, render

router = APIRouter(include_in_schema=False)
NOT_SET_UP = ("Arkivmappen er ikke satt opp. Be driftsansvarlig sette [archive] path i konfigurasjonen; til da "
              "kan pakkene lages med kommandoen «intake archive export».")


@router.post("/submissions/{submission_id}/archive")
def export_now(submission_id: RowId, request: Request, rt: RtDep, staff: PostDep) -> Response:
    back = f"/submissions/{submission_id}"
    path = rt.settings.archive.path
    if path is None:
        return refused(request, ArchiveError(NOT_SET_UP), back)
    with session_scope(rt.engine) as session:
        if session.get(Submission, submission_id) is None:
            raise HTTPException(404, "Innsendingen finnes ikke")
        ids, skipped = select_submissions(session, submission=submission_id)
    if skipped:
        return refused(request, ArchiveError(f"Innsendingen kan ikke arkiveres: den {skipped[0].reason}."), back)
    try:
        (outcome,) = export_many(rt, ids, path, actor=staff.name).outcomes
    except ArchiveError as err:
        return refused(request, ArchiveError(f"Eksporten kunne ikke starte: {err}."), back)
    if outcome.status == "failed":
        return refused(request, ArchiveError(f"Pakken kunne ikke skrives: {outcome.reason}."), back)
    if outcome.status == "busy":
        return refused(request, ArchiveError("Innsendingen eksporteres akkurat nå av en annen prosess. Last siden "
                                             "på nytt om litt."), back)
    notice = "archived" if outcome.status == "written" else "archive_unchanged"
    return RedirectResponse(f"{back}?ok={notice}#arkiv-h", status_code=303)


def _case(rt: RtDep, case_id: int) -> Case:
    with session_scope(rt.engine) as session:
        case = session.get(Case, case_id)
    if case is None:
        raise HTTPException(404, "Saken finnes ikke")
    return case


@router.post("/cases/{case_id}/archive")
def export_case(case_id: RowId, request: Request, rt: RtDep, staff: PostDep) -> Response:
    case = _case(rt, case_id)
    if rt.settings.archive.path is None:
        return refused(request, ArchiveError(NOT_SET_UP), f"/cases/{case_id}")
    views.start_case_export(rt, case, actor=staff.name)
    return RedirectResponse(f"/cases/{case_id}/archive", status_code=303)


@router.get("/cases/{case_id}/archive", response_class=HTMLResponse)
def case_progress(case_id: RowId, request: Request, rt: RtDep, staff: StaffDep) -> Response:
    case = _case(rt, case_id)
    with session_scope(rt.engine) as session:
        counts = views.case_counts(session, case)
    return render(request, "archive_case.html", case=case, counts=counts, progress=views.progress_of(case_id),
                  drop=rt.settings.archive.path, title=f"Arkiveksport for sak {case.number}")


@router.get("/cases/{case_id}/archive.json")
def case_progress_json(case_id: RowId, rt: RtDep, staff: StaffDep) -> JSONResponse:
    case = _case(rt, case_id)
    # The export's state is read before the counts: once it says finished, the counts include its
    # last package (read the other way round, a package written in between would be missing).
    progress = views.progress_of(case_id)
    export = progress.as_json() if progress is not None else None
    with session_scope(rt.engine) as session:
        counts = views.case_counts(session, case)
    return JSONResponse({
        "exported": counts.exported, "changed": counts.changed, "not_exported": counts.not_exported,
        "waiting": counts.waiting, "export": export,
    })
