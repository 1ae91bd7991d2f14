"""The summary of a case after the deadline, its exports, and its campaigns' pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from intake.db.engine import session_scope
from intake.db.models import Campaign, CampaignMember, Case, Submission
from intake.review.campaigns import ensure_grouped, needs_grouping, regroup
from intake.review.documents import own_texts
from intake.review.draft import DOCX_TYPE, summary_docx
from intake.review.grouping import own_additions
from intake.review.summary import Answer, case_summary
from intake.web.chart import choices_chart
from intake.web.deps import PostDep, RowId, RtDep, StaffDep, render
from intake.web.downloads import download

router = APIRouter(include_in_schema=False)
# The answers shown at once; a filter narrows a longer list.
ANSWERS_SHOWN = 1000


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise HTTPException(404, "Saken finnes ikke")
    return case


def _filtered(answers: list[Answer], *, category: str, invited: str, choice: str, text: str) -> list[Answer]:
    needle = text.strip().casefold()
    return [
        a for a in answers
        if (not category or a.category == category)
        and (invited not in ("ja", "nei") or a.invited == (invited == "ja"))
        and (not choice or a.choice == choice)
        and (not needle or needle in a.text.casefold() or needle in a.organisation.casefold())
    ]


@router.get("/cases/{case_id}/summary", response_class=HTMLResponse)
def summary_page(
    case_id: RowId,
    request: Request,
    rt: RtDep,
    staff: StaffDep,
    sporsmal: Annotated[str, Query()] = "",
    kategori: Annotated[str, Query()] = "",
    invitert: Annotated[str, Query()] = "",
    valg: Annotated[str, Query()] = "",
    tekst: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    with session_scope(rt.engine) as session:
        case = _case(session, case_id)
        summary = case_summary(session, case)
        stale = needs_grouping(session, case)
        charts = {
            q.id: choices_chart([(c.choice, c.invited, c.others) for c in q.choices],
                                title=f"Svar på spørsmål {q.id}", key=f"chart-{q.id}")
            for q in summary.questions
        }
        readable = [*summary.questions, summary.letters] if summary.letters.answers else summary.questions
        question = next((q for q in readable if q.id == sporsmal), None) or (readable[0] if readable else None)
        answers = _filtered(question.answers, category=kategori, invited=invitert, choice=valg, text=tekst) \
            if question else []
        return render(
            request,
            "summary.html",
            case=case,
            summary=summary,
            charts=charts,
            question=question,
            readable=readable,
            answers=answers[:ANSWERS_SHOWN],
            answers_total=len(answers),
            filters={"kategori": kategori, "invitert": invitert, "valg": valg, "tekst": tekst},
            stale=stale,
            title=f"Oppsummering av sak {case.number}",
        )


@router.get("/cases/{case_id}/summary.xlsx")
def summary_spreadsheet(case_id: RowId, rt: RtDep, staff: StaffDep) -> Response:
    # Imported here: openpyxl brings numpy, which the service need not hold until a spreadsheet is asked for.
    from intake.review.spreadsheet import XLSX_TYPE, summary_xlsx

    with session_scope(rt.engine) as session:
        case = _case(session, case_id)
        ensure_grouped(session, case)
        data = summary_xlsx(session, case_summary(session, case), review_url=rt.settings.review_url())
        name = f"hoeringssvar-{case.number.replace('/', '-')}.xlsx"
    return download(data, filename=name, content_type=XLSX_TYPE)


@router.get("/cases/{case_id}/summary.docx")
def summary_draft(case_id: RowId, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        case = _case(session, case_id)
        ensure_grouped(session, case)
        data = summary_docx(case_summary(session, case))
        name = f"oppsummering-{case.number.replace('/', '-')}.docx"
    return download(data, filename=name, content_type=DOCX_TYPE)


@router.post("/cases/{case_id}/campaigns/regroup")
def campaigns_regroup(case_id: RowId, rt: RtDep, staff: PostDep) -> Response:
    with session_scope(rt.engine) as session:
        regroup(session, _case(session, case_id))
    return RedirectResponse(f"/cases/{case_id}/summary?ok=regrouped#kampanjer", status_code=303)


@router.get("/cases/{case_id}/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(case_id: RowId, campaign_id: RowId, request: Request, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        case = _case(session, case_id)
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.case_id != case.id:
            raise HTTPException(404, "Kampanjen finnes ikke")
        members = session.exec(
            select(CampaignMember, Submission)
            .join(Submission, col(Submission.id) == col(CampaignMember.submission_id))
            .where(CampaignMember.campaign_id == campaign.id)
            .order_by(col(CampaignMember.status), col(Submission.received_at), col(Submission.id))
        ).all()
        texts = own_texts(session, [sub for _, sub in members])
        template = texts.get(campaign.template_submission_id, "")
        rows = [
            (member, sub, [] if texts.get(sub.id or 0, "") == template else own_additions(template, texts[sub.id or 0]))
            for member, sub in members
        ]
        counted = sum(1 for member, _ in members if member.status in ("member", "confirmed"))
        return render(
            request,
            "campaign.html",
            case=case,
            campaign=campaign,
            template_text=template,
            rows=rows,
            counted=counted,
            title=f"Kampanje {campaign.id} i sak {case.number}",
        )
