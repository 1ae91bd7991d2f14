"""Mailbox health for staff: last successful poll, last error, messages today."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from intake.db.engine import session_scope
from intake.review import queue as data
from intake.runtime import Runtime
from intake.sources.health import mailbox_health
from intake.web.deps import AdminDep, RtDep, render

router = APIRouter(include_in_schema=False)


def _health(rt: Runtime) -> dict[tuple[str, str], dict[str, Any]]:
    """The mailbox sources' own verdict per (mailbox, folder)."""
    return {(h["name"], h["folder"]): h for h in mailbox_health(rt)}


@router.get("/mailboxes", response_class=HTMLResponse)
def mailboxes(request: Request, rt: RtDep, staff: AdminDep) -> Response:
    health = _health(rt)
    with session_scope(rt.engine) as session:
        rows = data.mailboxes(session, settings=rt.settings)
        return render(request, "mailboxes.html", rows=rows, health=health, title="Postkasser")
