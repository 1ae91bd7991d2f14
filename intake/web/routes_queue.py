"""The review queue: flagged submissions with filters, paging, sorting and bulk actions."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review import queue as data
from intake.review.actions import ReviewError
from intake.review.bulk import BULK_ACTIONS, apply_bulk
from intake.review.queries import COUNT_MEANINGS
from intake.review.wording import FLAG_LABELS
from intake.web import queue_state
from intake.web.deps import PostDep, RtDep, StaffDep, number, refused, render

router = APIRouter(include_in_schema=False)


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    rt: RtDep,
    staff: StaffDep,
    flag: str = "",
    case: str = "",
    mailbox: str = "",
    sort: str = "received",
    archive: str = "",
    page: str = "1",
    per_page: str = "50",
    n: str = "0",
    skipped: str = "0",
) -> Response:
    filters = data.Filters(flag=flag[:64], case=case[:64], mailbox=mailbox[:64], archive=archive[:32], sort=sort[:32])
    with session_scope(rt.engine) as session:
        result = data.queue_page(session, filters, page=number(page, 1), per_page=number(per_page, 50))
        counts = data.flag_counts(session)
        total = data.open_total(session)
        cases = session.exec(select(Case).order_by(col(Case.number))).all()
        mailboxes = data.mailbox_names(session, rt.settings)
        return render(
            request,
            "queue.html",
            result=result,
            rows=result.rows,
            counts=counts,
            total=total,
            # Every flag the rules know, and any other a newer rule has raised since.
            flag_options=sorted(set(FLAG_LABELS) | set(counts), key=lambda name: FLAG_LABELS.get(name, name)),
            cases=cases,
            mailboxes=mailboxes,
            filters=filters,
            selected={"flag": flag, "case": case, "mailbox": mailbox, "sort": sort, "archive": archive},
            queue_param=queue_state.encode(filters),
            page_url=lambda **changes: "/queue?" + urlencode({**filters.params(), **changes}),
            bulk_actions=BULK_ACTIONS,
            bulk_done=(number(n, 0), number(skipped, 0)),
            count_meanings=COUNT_MEANINGS,
            title="Til behandling",
        )


@router.post("/queue/bulk")
def bulk(
    request: Request,
    rt: RtDep,
    staff: PostDep,
    ids: Annotated[list[int] | None, Form()] = None,
    action: Annotated[str, Form()] = "",
    case: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    queue: Annotated[str, Form()] = "",
) -> Response:
    """One action on the selected rows; rows it does not apply to are counted and left alone."""
    filters = queue_state.parse(queue) or data.Filters()
    try:
        done, skipped = apply_bulk(rt.engine, (ids or [])[:500], action=action, actor=staff.name, case=case,
                                   reason=reason)
    except ReviewError as err:
        return refused(request, err, "/queue?" + urlencode(filters.params()))
    params = {**filters.params(), "ok": "bulk", "n": str(done), "skipped": str(skipped)}
    return RedirectResponse("/queue?" + urlencode(params), status_code=303)
