"""Monitoring, open without a login like any health check: ``/healthz`` (200 or 503 with JSON) and
``/metrics`` (Prometheus text). Both hold only counts, states and mailbox names, never a person's data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlmodel import Session

from intake import metrics
from intake.archive.job import drop_folder_health
from intake.db.engine import check_connection
from intake.errors import IntakeError
from intake.runtime import Runtime
from intake.sources.health import mailbox_health
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


@router.get("/healthz")
def healthz(rt: RtDep) -> JSONResponse:
    body: dict[str, Any] = {}
    try:
        check_connection(rt.engine)
        body["database"] = {"ok": True}
    except IntakeError as err:
        body["database"] = {"ok": False, "error": str(err)}
    mail_ok, body["mailboxes"] = _mailboxes(rt)
    archive_ok = True
    if body["database"]["ok"]:
        drop = drop_folder_health(rt)
        if drop is not None:
            body["archive"] = drop
            archive_ok = bool(drop["ok"])
    body["ok"] = bool(body["database"]["ok"]) and mail_ok and archive_ok
    return JSONResponse(body, status_code=200 if body["ok"] else 503, headers={"Cache-Control": "no-store"})
