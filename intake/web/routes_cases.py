"""The case overview pages: every consultation with its counts and its responses per day."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from intake.archive.views import case_counts
from intake.db.engine import session_scope
from intake.db.models import Case, Invitation, Organisation, Submission
from intake.decide.deadlines import extensions_of
from intake.review import queue as data
from intake.review.actions import ReviewError, grant_extension
from intake.review.overview import case_overview, case_overviews, day_series
from intake.web.chart import responses_chart
from intake.web.deps import AdminPostDep, RowId, RtDep, StaffDep, refused, render

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
def case_page(case_id: RowId, request: Request, rt: RtDep, staff: StaffDep) -> Response:
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
            extensions=extensions_of(session, case),
            organisations=_organisations(session, case),
            archive=case_counts(session, case),
            archive_drop=rt.settings.archive.path,
            title=f"Sak {case.number}",
        )


def _organisations(session: Session, case: Case) -> list[tuple[int, str]]:
    """Who may be granted a later deadline: the invited bodies and everyone who has written."""
    invited = select(Invitation.organisation_id).where(Invitation.case_id == case.id)
    wrote = select(Submission.organisation_id).where(Submission.case_id == case.id)
    rows = session.exec(
        select(Organisation.id, Organisation.name)
        .where(col(Organisation.id).in_(invited) | col(Organisation.id).in_(wrote))
        .order_by(col(Organisation.name))
    ).all()
    return [(org_id, name) for org_id, name in rows if org_id is not None]


@router.post("/cases/{case_id}/extensions")
def grant(
    case_id: RowId,
    request: Request,
    rt: RtDep,
    staff: AdminPostDep,
    organisation: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        day = date.fromisoformat(until)
        org_id = int(organisation)
    except ValueError:
        return refused(request, ReviewError("velg en organisasjon og en gyldig dato"), f"/cases/{case_id}")
    try:
        with session_scope(rt.engine) as session:
            case = session.get(Case, case_id)
            if case is None:
                raise HTTPException(404, "Saken finnes ikke")
            grant_extension(session, case, org_id, day, actor=staff.name, reason=reason)
    except ReviewError as err:
        return refused(request, err, f"/cases/{case_id}")
    return RedirectResponse(f"/cases/{case_id}?ok=extension#frist-h", status_code=303)
