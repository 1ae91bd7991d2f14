"""Staff decisions on a submission, posted from its page; each calls one function in intake.review.actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from intake.db.engine import session_scope
from intake.receipts.letters import LetterError
from intake.receipts.letters import queue as queue_letter
from intake.review import actions as review
from intake.review.campaigns import decide_member
from intake.review.claims import release_if_done
from intake.review.duplicates import choose
from intake.review.personal_data import decide_personal_data
from intake.review.threads import choose_version, decide_follow_up
from intake.web import queue_state
from intake.web.deps import AdminPostDep, PostDep, RowId, RtDep, refused


async def _queue_of(request: Request) -> str:
    """The queue the clerk came from, as the submission page passed it on (empty when none)."""
    form = await request.form()
    filters = queue_state.parse(str(form.get("queue") or ""))
    return "&queue=" + quote(queue_state.encode(filters)) if filters is not None else ""


async def keep_queue(request: Request) -> None:
    request.state.queue = await _queue_of(request)


router = APIRouter(include_in_schema=False, dependencies=[Depends(keep_queue)])
Text = Annotated[str, Form()]


def _act(request: Request, rt: RtDep, submission_id: int, notice: str, change: Callable[[Session], object]) -> Response:
    queue = getattr(request.state, "queue", "")
    try:
        with session_scope(rt.engine) as session:
            change(session)
            release_if_done(session, submission_id)
    except review.ReviewError as err:
        return refused(request, err, f"/submissions/{submission_id}")
    # No fragment: the confirmation is at the top of the page, where the reader starts, beside «Neste».
    return RedirectResponse(f"/submissions/{submission_id}?ok={notice}{queue}", status_code=303)


@router.post("/submissions/{submission_id}/case")
def set_case(submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, case: Text = "") -> Response:
    return _act(
        request,
        rt,
        submission_id,
        "case",
        lambda s: review.set_case(s, submission_id, case, actor=staff.name),
    )


@router.post("/submissions/{submission_id}/late")
def late(
    submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, decision: Text = "", comment: Text = ""
) -> Response:
    accept = decision == "accept"
    return _act(
        request,
        rt,
        submission_id,
        "late_accepted" if accept else "late_rejected",
        lambda s: review.decide_late(s, submission_id, accept=accept, actor=staff.name, comment=comment),
    )


@router.post("/submissions/{submission_id}/duplicate")
def duplicate(
    submission_id: RowId,
    request: Request,
    rt: RtDep,
    staff: PostDep,
    decision: Text = "",
    comment: Text = "",
    counts: Text = "",
) -> Response:
    """Which of two responses from one organisation counts (``counts``: its id), chosen from either page.

    The older form's ``decision`` (keep / supersede this one) still works."""
    if counts:
        if not counts.isdigit() or len(counts) > 18:
            return refused(request, review.ReviewError("velg et av svarene"), f"/submissions/{submission_id}")
        return _act(request, rt, submission_id, "duplicate_chosen",
                    lambda s: choose(s, submission_id, counts=int(counts), actor=staff.name, comment=comment))
    keep = decision == "keep"
    return _act(
        request,
        rt,
        submission_id,
        "duplicate_kept" if keep else "superseded",
        lambda s: review.decide_duplicate(s, submission_id, keep=keep, actor=staff.name, comment=comment),
    )


@router.post("/submissions/{submission_id}/reviewed")
def reviewed(submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, comment: Text = "") -> Response:
    return _act(
        request,
        rt,
        submission_id,
        "reviewed",
        lambda s: review.mark_reviewed(s, submission_id, actor=staff.name, comment=comment),
    )


@router.post("/submissions/{submission_id}/follow-up")
def follow_up(submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, decision: Text = "") -> Response:
    """One click: this message adds to the earlier response it was matched to by content, or it does not."""
    confirm = decision == "confirm"
    return _act(
        request,
        rt,
        submission_id,
        "follow_up" if confirm else "follow_up_rejected",
        lambda s: decide_follow_up(s, submission_id, confirm=confirm, actor=staff.name),
    )


@router.post("/submissions/{submission_id}/documents/{attachment_id}/version")
def document_version(
    submission_id: RowId, attachment_id: RowId, request: Request, rt: RtDep, staff: PostDep, counts: Text = "yes"
) -> Response:
    """Which version of a corrected document counts: this one (``yes``) or not (``no``, an earlier one)."""
    return _act(
        request,
        rt,
        submission_id,
        "version",
        lambda s: choose_version(s, submission_id, attachment_id, counts=counts != "no", actor=staff.name),
    )


@router.post("/submissions/{submission_id}/letter")
def letter(
    submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, template: Text = "", subject: Text = "",
    body: Text = "",
) -> Response:
    """A clerk's edited letter to the sender, queued in the outbox and threaded to the submission."""

    def queue_it(session: Session) -> object:
        try:
            return queue_letter(session, review.get_submission(session, submission_id), template, subject, body,
                                actor=staff.name, smtp=rt.settings.smtp)
        except LetterError as err:
            raise review.ReviewError(str(err)) from err

    return _act(request, rt, submission_id, "letter", queue_it)


@router.post("/submissions/{submission_id}/resend")
def resend(submission_id: RowId, request: Request, rt: RtDep, staff: PostDep) -> Response:
    return _resend(request, rt, submission_id, staff.name, None)


@router.post("/submissions/{submission_id}/resend-to")
def resend_to(submission_id: RowId, request: Request, rt: RtDep, staff: AdminPostDep, to: Text = "") -> Response:
    """An admin's override: the receipt to a typed address, whatever kept it from being sent."""
    return _resend(request, rt, submission_id, staff.name, to)


def _resend(request: Request, rt: RtDep, submission_id: int, actor: str, to: str | None) -> Response:
    sender = rt.settings.smtp.from_address
    return _act(
        request,
        rt,
        submission_id,
        "resend",
        lambda s: review.resend_receipt(s, submission_id, actor=actor, from_address=sender,
                                        own_addresses=rt.own_addresses, to=to),
    )


@router.post("/submissions/{submission_id}/withhold")
def withhold(
    submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, withheld: Text = "yes", reason: Text = ""
) -> Response:
    hold = withheld == "yes"
    return _act(
        request,
        rt,
        submission_id,
        "withheld" if hold else "published",
        lambda s: review.set_withheld(s, submission_id, withheld=hold, actor=staff.name, reason=reason),
    )


@router.post("/submissions/{submission_id}/personal-data")
def personal_data(
    submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, decision: Text = "", comment: Text = ""
) -> Response:
    return _act(
        request,
        rt,
        submission_id,
        "personal_data",
        lambda s: decide_personal_data(s, submission_id, decision=decision, actor=staff.name, comment=comment),
    )


@router.post("/submissions/{submission_id}/campaign")
def campaign(submission_id: RowId, request: Request, rt: RtDep, staff: PostDep, decision: Text = "") -> Response:
    same = decision == "same"
    return _act(
        request,
        rt,
        submission_id,
        "campaign_same" if same else "campaign_different",
        lambda s: decide_member(s, submission_id, same=same, actor=staff.name),
    )
