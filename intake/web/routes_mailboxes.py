"""Mailbox health for staff: last successful poll, last error, messages today."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from intake.db import session_scope
from intake.runtime import Runtime
from intake.web import data
from intake.web.deps import RtDep, StaffDep, render

router = APIRouter(include_in_schema=False)


def _health(rt: Runtime) -> dict[tuple[str, str], dict[str, Any]]:
    """The mailbox sources' own verdict per (mailbox, folder), when this build has them."""
    try:
        module: Any = importlib.import_module("intake.sources.health")
    except ImportError:
        return {}
    report = module.mailbox_health(rt)
    return {(h["name"], h["folder"]): h for h in report if isinstance(h, dict) and "name" in h and "folder" in h}


@router.get("/mailboxes", response_class=HTMLResponse)
def mailboxes(request: Request, rt: RtDep, staff: StaffDep) -> Response:
    health = _health(rt)
    with session_scope(rt.engine) as session:
        rows = data.mailboxes(session, settings=rt.settings)
        return render(request, "mailboxes.html", rows=rows, health=health, title="Postkasser")
