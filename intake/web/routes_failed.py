"""Messages that could not be processed: the reason, a retry button and the original."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from intake.db.engine import session_scope
from intake.db.models import Message
from intake.pipeline import run as pipeline
from intake.review import actions as review
from intake.review.failed import failed_messages
from intake.web.deps import AdminPostDep, RowId, RtDep, StaffDep, refused, render
from intake.web.downloads import download

router = APIRouter(include_in_schema=False)


@router.get("/failed", response_class=HTMLResponse)
def failed(request: Request, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        rows = failed_messages(session, rt.store)
        return render(request, "failed.html", rows=rows, title="Feilede meldinger")


@router.get("/failed/{message_pk}/original.eml")
def failed_original(message_pk: RowId, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        message = session.get(Message, message_pk)
        if message is None:
            raise HTTPException(404, "Meldingen finnes ikke")
        blob = message.blob
    return download(rt.store.read(blob), filename=f"melding-{message_pk}.eml", content_type="message/rfc822")


@router.post("/failed/{message_pk}/retry")
def retry(message_pk: RowId, request: Request, rt: RtDep, staff: AdminPostDep) -> Response:
    try:
        with session_scope(rt.engine) as session:
            review.requeue_message(session, message_pk, actor=staff.name)
    except review.ReviewError as err:
        return refused(request, err, "/failed")
    # The person asked for it, so a parked message is tried even after its automatic attempts ran out.
    pipeline.process_message(rt, message_pk, force=True)
    with session_scope(rt.engine) as session:
        message = session.get(Message, message_pk)
        status = message.status if message else "failed"
    notice = "retry_failed" if status in ("failed", "parked") else "retry"
    return RedirectResponse(f"/failed?ok={notice}", status_code=303)
