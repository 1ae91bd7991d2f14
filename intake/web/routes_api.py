"""The JSON API: submissions and cases with the fields of CONTRACT.md, for scripts and exports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Case, Submission
from intake.decide.matching import parse_case
from intake.review import queries
from intake.review.campaigns import ensure_grouped
from intake.review.serialize import case_json, submission_json, submissions_json
from intake.review.summary import case_summary as summary_of
from intake.review.summary import summary_json
from intake.web.deps import RowId, RtDep, StaffDep

router = APIRouter(prefix="/api", tags=["api"])


class AttachmentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    filename: str
    content_type: str
    size: int
    sha256: str
    text_chars: int


class AcknowledgementOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str
    to: list[str]
    message_id: str | None


class SubmissionOut(BaseModel):
    """A submission as ``intake submissions list --json`` prints it."""

    model_config = ConfigDict(extra="allow")
    id: int
    message_id: str | None
    mailbox: str | None
    sender: str | None
    sender_name: str | None
    subject: str | None
    received_at: str
    case: str | None
    match_source: str | None
    late: bool
    flags: list[str]
    organisation: str | None
    attachments: list[AttachmentOut]
    form: dict[str, Any] | None
    acknowledgement: AcknowledgementOut | None


class CaseOut(BaseModel):
    """A case with its counts, as ``intake cases list --json`` prints it."""

    model_config = ConfigDict(extra="allow")
    case: str
    title: str
    deadline: str
    counts: dict[str, int]


@router.get("/submissions", response_model=list[SubmissionOut])
def list_submissions(rt: RtDep, staff: StaffDep, case: str | None = None, flag: str | None = None) -> Any:
    """Every submission, oldest first; ``case`` and ``flag`` filter as in ``submissions list``."""
    with session_scope(rt.engine) as session:
        return submissions_json(session, queries.list_submissions(session, case=case, flag=flag))


@router.get("/submissions/{submission_id}", response_model=SubmissionOut)
def get_submission(submission_id: RowId, rt: RtDep, staff: StaffDep) -> Any:
    with session_scope(rt.engine) as session:
        sub = session.get(Submission, submission_id)
        if sub is None:
            raise HTTPException(404, "no such submission")
        return submission_json(session, sub)


@router.get("/cases", response_model=list[CaseOut])
def list_cases(rt: RtDep, staff: StaffDep) -> Any:
    """Every case with its counts, as ``cases list --json``."""
    with session_scope(rt.engine) as session:
        return [case_json(summary) for summary in queries.list_cases(session)]


class CaseSummaryOut(BaseModel):
    """A case's summary, as ``intake cases summary C --json`` prints it."""

    model_config = ConfigDict(extra="allow")
    case: str
    responses: int
    no_comments: int
    questions: dict[str, Any]
    campaigns: list[dict[str, Any]]


@router.get("/cases/{number:path}/summary", response_model=CaseSummaryOut)
def case_summary(number: str, rt: RtDep, staff: StaffDep) -> Any:
    """The case's summary (``22/414`` in the path as it is); campaigns grouped first when new responses came."""
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == (parse_case(number) or number))).first()
        if case is None:
            raise HTTPException(404, "no such case")
        ensure_grouped(session, case)
        return summary_json(summary_of(session, case))


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, staff: StaffDep) -> dict[str, Any]:
    """The schema, behind the login like everything else."""
    schema: dict[str, Any] = request.app.openapi()
    return schema
