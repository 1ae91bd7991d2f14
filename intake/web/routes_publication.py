"""The publication list of a case, as a page and as CSV, the way consultation pages list responses."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review.overview import PublicationEntry, publication
from intake.web.deps import AdminDep, RtDep, render
from intake.web.downloads import download

router = APIRouter(include_in_schema=False)


def _cell(value: str) -> str:
    """Neutralises text a spreadsheet would run as a formula (organisation names come from senders)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def publication_csv(entries: list[PublicationEntry]) -> bytes:
    """Semicolon-separated UTF-8 with a byte order mark, which Norwegian Excel opens correctly."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Organisasjon", "Mottatt", "Vedlegg"])
    for entry in entries:
        writer.writerow(
            [
                _cell(entry.organisation),
                entry.received.strftime("%d.%m.%Y"),
                _cell(" | ".join(entry.attachments)),
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _case(rt: RtDep, case_id: int) -> tuple[Case, list[PublicationEntry]]:
    with session_scope(rt.engine) as session:
        case = session.get(Case, case_id)
        if case is None:
            raise HTTPException(404, "Saken finnes ikke")
        return case, publication(session, case)


@router.get("/cases/{case_id}/publication", response_class=HTMLResponse)
def publication_page(case_id: int, request: Request, rt: RtDep, staff: AdminDep) -> Response:
    case, entries = _case(rt, case_id)
    return render(
        request,
        "publication.html",
        case=case,
        entries=entries,
        title=f"Publiseringsliste for sak {case.number}",
    )


@router.get("/cases/{case_id}/publication.csv")
def publication_export(case_id: int, rt: RtDep, staff: AdminDep) -> Response:
    case, entries = _case(rt, case_id)
    filename = f"hoeringssvar-{case.number.replace('/', '-')}.csv"
    return download(publication_csv(entries), filename=filename, content_type="text/csv")
