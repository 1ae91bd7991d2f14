"""The case overview pages: every consultation with its counts and its responses per day."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from intake.archive.views import case_counts
from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review import queue as data
from intake.review.overview import case_overview, case_overviews, day_series
from intake.web.chart import responses_chart
from intake.web.deps import RtDep, StaffDep, render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(staff: StaffDep) -> Response:
    return RedirectResponse("/queue", status_code=303)


@router.get("/cases", response_class=HTMLResponse)
def cases(request: Request, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        views = case_overviews(session)
        return render(request, "cases.html", views=views, title="Høringer")


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(case_id: int, request: Request, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        case = session.get(Case, case_id)
        if case is None:
            raise HTTPException(404, "Saken finnes ikke")
        view = case_overview(session, case)
        series = day_series(view.per_day, case.deadline)
        chart = responses_chart(series, case.deadline, title=f"Svar per dag i sak {case.number}")
        rows = data.case_submissions(session, case=case)
        return render(
            request,
            "case.html",
            view=view,
            case=case,
            chart=chart,
            series=series,
            rows=rows,
            archive=case_counts(session, case),
            archive_drop=rt.settings.archive.path,
            title=f"Sak {case.number}",
        )
