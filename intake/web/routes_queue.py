"""The review queue: flagged submissions with filters, and counts per flag."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review import queue as data
from intake.review.wording import FLAG_LABELS
from intake.web.deps import RtDep, StaffDep, render

router = APIRouter(include_in_schema=False)


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    rt: RtDep,
    staff: StaffDep,
    flag: str = "",
    case: str = "",
    mailbox: str = "",
    sort: str = "oldest",
    archive: str = "",
) -> Response:
    with session_scope(rt.engine) as session:
        rows = data.queue(
            session,
            flag=flag or None,
            case=case or None,
            mailbox=mailbox or None,
            newest_first=sort == "newest",
            not_archived=archive == "not_archived",
        )
        counts = data.flag_counts(session)
        total = data.open_total(session)
        cases = session.exec(select(Case).order_by(col(Case.number))).all()
        mailboxes = data.mailbox_names(session, rt.settings)
        return render(
            request,
            "queue.html",
            rows=rows,
            counts=counts,
            total=total,
            # Every flag the rules know, and any other a newer rule has raised since.
            flag_options=sorted(set(FLAG_LABELS) | set(counts), key=lambda name: FLAG_LABELS.get(name, name)),
            cases=cases,
            mailboxes=mailboxes,
            selected={"flag": flag, "case": case, "mailbox": mailbox, "sort": sort, "archive": archive},
            title="Til behandling",
        )
