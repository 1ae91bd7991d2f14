"""Mailbox health for staff: last successful poll, last error, messages today."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from intake.db import session_scope
from intake.web import data
from intake.web.deps import RtDep, StaffDep, render

router = APIRouter(include_in_schema=False)


@router.get("/mailboxes", response_class=HTMLResponse)
def mailboxes(request: Request, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        rows = data.mailboxes(session, settings=rt.settings)
        return render(request, "mailboxes.html", rows=rows, title="Postkasser")
