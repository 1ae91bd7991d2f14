"""Search by sender, organisation, subject or receipt reference."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from intake.db.engine import session_scope
from intake.review import queue as data
from intake.web.deps import RtDep, StaffDep, render

router = APIRouter(include_in_schema=False)


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, rt: RtDep, staff: StaffDep, q: str = "") -> Response:
    with session_scope(rt.engine) as session:
        rows = data.search(session, q=q[:200])
        return render(request, "search.html", rows=rows, q=q, title="Søk")
