"""Monitoring, open without a login like any health check: ``/healthz`` (200 or 503 with JSON) and
``/metrics`` (Prometheus text). Both hold only counts, states and mailbox names, never a person's data.

Without a login, ``/healthz`` says only whether each part is healthy. The details
(server replies, login names, database errors, why receipts wait) are for a
logged-in staff member or a monitor that sends ``Authorization: Bearer`` with
``web.health_token``: they tell an outsider how the service is built.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from intake import metrics
from intake.archive.job import drop_folder_health
from intake.db.engine import check_connection
from intake.db.models import utcnow
from intake.errors import IntakeError
from intake.receipts.caps import waiting
from intake.receipts.health import outbox_health
from intake.runtime import Runtime
from intake.sources.health import mailbox_health
from intake.web.auth import cookie_name, load_session
from intake.web.deps import RtDep

router = APIRouter(include_in_schema=False)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _mailboxes(rt: Runtime) -> tuple[bool, list[dict[str, Any]]]:
    """Each mailbox folder's health, and whether all of them are healthy."""
    report = _plain(mailbox_health(rt))
    return all(item.get("healthy", True) is not False for item in report), report


@router.get("/metrics")
def metrics_page(rt: RtDep) -> PlainTextResponse:
    with Session(rt.engine) as session:
        body = metrics.render(session)
    return PlainTextResponse(
        body, media_type="text/plain; version=0.0.4; charset=utf-8", headers={"Cache-Control": "no-store"}
    )


def _receipts(rt: Runtime) -> dict[str, Any]:
    """Receipts waiting for an hourly cap, and why. Waiting is the caps doing their job, so it makes
    this part unhealthy, for a person to look, but not the service (no 503)."""
    try:
        with Session(rt.engine) as session:
            held = waiting(session, utcnow())
    except SQLAlchemyError:
        return {"ok": False, "waiting": None, "reasons": ["databasen svarer ikke"]}
    return {"ok": held.count == 0, "waiting": held.count, "reasons": held.reasons}


def _may_see_details(request: Request, rt: Runtime) -> bool:
    token = rt.settings.web.health_token
    given = request.headers.get("authorization", "")
    if token and given.lower().startswith("bearer ") and hmac.compare_digest(given[7:].strip(), token):
        return True
    try:
        with Session(rt.engine) as session:
            cookie = request.cookies.get(cookie_name(rt.settings.web))
            return load_session(session, cookie, rt.settings.web) is not None
    except SQLAlchemyError:
        return False


@router.get("/healthz")
def healthz(request: Request, rt: RtDep) -> JSONResponse:
    body: dict[str, Any] = {}
    try:
        check_connection(rt.engine)
        body["database"] = {"ok": True}
    except IntakeError as err:
        body["database"] = {"ok": False, "error": str(err)}
    mail_ok, body["mailboxes"] = _mailboxes(rt)
    body["receipts"] = _receipts(rt)
    # The mail server refusing or unreachable: receipts cannot go out, which the service must report.
    body["outbox"] = outbox_health(rt.engine)
    archive_ok = True
    if body["database"]["ok"]:
        drop = drop_folder_health(rt)
        if drop is not None:
            body["archive"] = drop
            archive_ok = bool(drop["ok"])
    body["ok"] = bool(body["database"]["ok"]) and mail_ok and archive_ok and bool(body["outbox"]["ok"])
    if not _may_see_details(request, rt):
        body = {
            "ok": body["ok"],
            "database": {"ok": body["database"]["ok"]},
            "mailboxes": [{"name": m.get("name"), "folder": m.get("folder"), "healthy": m.get("healthy", True)}
                          for m in body["mailboxes"]],
            "receipts": {"ok": body["receipts"]["ok"]},
            "outbox": {"ok": body["outbox"]["ok"]},
            **({"archive": {"ok": body["archive"]["ok"]}} if "archive" in body else {}),
        }
    return JSONResponse(body, status_code=200 if body["ok"] else 503, headers={"Cache-Control": "no-store"})
