"""Search: by sender, organisation, subject or receipt reference, and in the text of mail and attachments."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review import queue as data
from intake.review.search import MAX_QUERY, full_text
from intake.review.wording import FLAG_LABELS
from intake.web.deps import RtDep, StaffDep, number, render

router = APIRouter(include_in_schema=False)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10]) if value else None
    except ValueError:
        return None


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, rt: RtDep, staff: StaffDep, q: str = "", case: str = "", flag: str = "",
           since: str = "", until: str = "", page: str = "1") -> Response:
    # Control and private-use characters are no search words, and PostgreSQL refuses NUL outright.
    q = "".join(ch for ch in q[:MAX_QUERY] if ch.isprintable())
    with session_scope(rt.engine) as session:
        rows = data.search(session, q=q[:200]) if q.strip() else []
        found = full_text(session, q=q, case=case, flag=flag, since=_day(since), until=_day(until),
                          page=number(page, 1))
        cases = session.exec(select(Case).order_by(col(Case.number))).all()
        selected = {"case": case[:64], "flag": flag[:64], "since": since[:10], "until": until[:10]}
        return render(request, "search.html", rows=rows, found=found, q=q, title="Søk", cases=cases,
                      selected=selected,
                      page_url=lambda n: "/search?" + urlencode({"q": q, **selected, "page": n}),
                      flag_options=sorted(FLAG_LABELS, key=lambda n: FLAG_LABELS[n]))
