"""One submission: everything known about it, its audit trail, and downloads of its files."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, or_, select

from intake.archive.views import panel as archive_panel
from intake.db.engine import session_scope
from intake.db.models import (
    Acknowledgement,
    Attachment,
    AuditLog,
    CampaignMember,
    Case,
    Flag,
    Letter,
    Message,
    Submission,
)
from intake.decide.pii import find_identity_numbers
from intake.errors import TemplateError
from intake.receipts.letters import TEMPLATES, draft
from intake.receipts.preview import corrected_receipt
from intake.receipts.render import Rendered
from intake.receipts.resend import resend_refusal
from intake.review.claims import holder, take
from intake.review.docx_preview import docx_views
from intake.review.duplicates import comparisons
from intake.review.preview import MAX_PAGE, PAGES_AT_ONCE, PreviewError, cached_page, is_pdf, page_png
from intake.review.queue import next_in_queue
from intake.review.threads import thread_documents, thread_of
from intake.review.wording import DECISION_LABELS, status_label
from intake.runtime import Runtime
from intake.web import queue_state
from intake.web.deps import RowId, RtDep, StaffDep, number, render
from intake.web.downloads import download

router = APIRouter(include_in_schema=False)


def _get(session: Session, submission_id: int) -> Submission:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise HTTPException(404, "Innsendingen finnes ikke")
    return sub


def _stored_entry(message: Message | None, audit: Sequence[AuditLog]) -> list[AuditLog]:
    """The trail's first entry, read off the message row: its storing is not logged twice.

    (Messages stored by earlier versions have an audit row for it, which is shown instead.)"""
    if message is None or any(entry.action == "message.stored" for entry in audit):
        return []
    detail = {"source": message.source, "size": message.size}
    return [AuditLog(at=message.stored_at, actor="system", action="message.stored", entity="message",
                     entity_id=message.id, detail=detail)]


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: RowId, request: Request, rt: RtDep, staff: StaffDep, queue: str = "",
                    pages: str = "") -> Response:
    filters = queue_state.parse(queue)
    # Word attachments are outlined (by a worker, the first time) before the page's own transaction,
    # which takes the claim: no database lock is held while a worker reads a sender's file.
    with session_scope(rt.engine) as session:
        files = list(session.exec(select(Attachment).where(Attachment.submission_id == submission_id)).all())
        session.expunge_all()
    outlines = docx_views(rt.store, rt.extractor, files)
    with session_scope(rt.engine) as session:
        sub = _get(session, submission_id)
        following = next_in_queue(session, filters, sub) if filters is not None else None
        # Opening a submission with something left to decide takes it, unless another clerk has it.
        open_left = sub.review_status != "reviewed" and session.exec(
            select(Flag.id).where(Flag.submission_id == sub.id, col(Flag.resolved_at).is_(None)).limit(1)).first()
        claim = take(session, submission_id, staff.name) if open_left is not None else holder(session, submission_id)
        message = session.get(Message, sub.message_ref)
        case = session.get(Case, sub.case_id) if sub.case_id is not None else None
        flags = session.exec(select(Flag).where(Flag.submission_id == sub.id).order_by(col(Flag.created_at))).all()
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == sub.id)).first()
        attachments = session.exec(
            select(Attachment).where(Attachment.submission_id == sub.id).order_by(col(Attachment.position))
        ).all()
        audit = session.exec(
            select(AuditLog)
            .where(
                or_(
                    (col(AuditLog.entity) == "submission") & (col(AuditLog.entity_id) == sub.id),
                    (col(AuditLog.entity) == "message") & (col(AuditLog.entity_id) == sub.message_ref),
                )
            )
            .order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())
        ).all()
        audit = [*audit, *_stored_entry(message, audit)]
        cases = session.exec(select(Case).order_by(col(Case.number))).all()
        # Where an identity number appears, so staff can withhold or redact before publication.
        pii = [("E-postteksten", f.masked) for f in find_identity_numbers(sub.body_text)]
        pii += [(a.filename, f.masked) for a in attachments for f in find_identity_numbers(a.text)]
        pii += [("Emnefeltet", f.masked) for f in find_identity_numbers(sub.subject)]
        return render(
            request,
            "submission.html",
            sub=sub,
            message=message,
            case=case,
            flags=flags,
            ack=ack,
            attachments=attachments,
            audit=audit,
            cases=cases,
            pii=pii,
            pii_flag=next((f for f in flags if f.name == "personal_data"), None),
            campaign_member=session.exec(
                select(CampaignMember).where(CampaignMember.submission_id == sub.id)
            ).first(),
            decision_labels=DECISION_LABELS,
            queue_param=queue_state.encode(filters) if filters is not None else "",
            next_id=following,
            claim=claim,
            is_pdf=is_pdf,
            docx_views=outlines,
            pages_shown=min(max(number(pages, PAGES_AT_ONCE), PAGES_AT_ONCE), 500),
            pages_step=PAGES_AT_ONCE,
            duplicates=comparisons(session, sub),
            status=status_label(reviewed=sub.review_status == "reviewed", decision=sub.decision,
                                open_flags=sum(1 for f in flags if f.resolved_at is None)),
            form_questions=_questions(case),
            resend_refusal=resend_refusal(session, submission_id, own_addresses=rt.own_addresses),
            archive=archive_panel(session, rt, sub),
            thread=(thread := thread_of(session, sub)),
            thread_docs=thread_documents(session, thread) if thread.follow_ups else [],
            letter_drafts=letter_drafts(session, sub, rt),
            letters=session.exec(select(Letter).where(Letter.submission_id == sub.id)
                                 .order_by(col(Letter.created_at).desc())).all(),
            corrected=corrected_receipt(session, sub, ack, rt.settings.smtp, rt.settings.workflows.path),
            title=f"Innsending {sub.receipt_ref}",
        )


def letter_drafts(session: Session, sub: Submission, rt: Runtime) -> dict[str, Rendered]:
    """Each letter template's text for this submission, for the clerk to edit before sending."""
    out: dict[str, Rendered] = {}
    for name in TEMPLATES:
        try:
            out[name] = draft(session, sub, name, rt.settings.smtp, rt.settings.workflows.path)
        except TemplateError:
            continue
    return out


def _questions(case: Case | None) -> dict[str, str]:
    if case is None or not case.form:
        return {}
    questions = case.form.get("questions") or []
    return {str(q.get("id")): str(q.get("text", "")) for q in questions if isinstance(q, dict)}


@router.get("/submissions/{submission_id}/original.eml")
def original(submission_id: RowId, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        sub = _get(session, submission_id)
        message = session.get(Message, sub.message_ref)
        if message is None:
            raise HTTPException(404, "Originalen finnes ikke")
        blob, ref = message.blob, sub.receipt_ref
    return download(rt.store.read(blob), filename=f"{ref}.eml", content_type="message/rfc822")


@router.get("/submissions/{submission_id}/attachments/{attachment_id}")
def attachment(submission_id: RowId, attachment_id: RowId, rt: RtDep, staff: StaffDep) -> Response:
    with session_scope(rt.engine) as session:
        att = session.get(Attachment, attachment_id)
        if att is None or att.submission_id != submission_id:
            raise HTTPException(404, "Vedlegget finnes ikke")
        blob, filename, content_type = att.blob, att.filename, att.content_type
    return download(rt.store.read(blob), filename=filename, content_type=content_type)


@router.get("/submissions/{submission_id}/attachments/{attachment_id}/pages/{page}.png")
def attachment_page(submission_id: int, attachment_id: int, page: int, rt: RtDep, staff: StaffDep) -> Response:
    """One page of a PDF attachment as an image, so it is read without the PDF reaching the browser."""
    headers = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
    cached = cached_page(rt.store, submission_id, attachment_id, page)
    if 1 <= page <= MAX_PAGE and cached.is_file():
        return Response(cached.read_bytes(), media_type="image/png", headers=headers)
    with session_scope(rt.engine) as session:
        att = session.get(Attachment, attachment_id)
        if att is None or att.submission_id != submission_id:
            raise HTTPException(404, "Vedlegget finnes ikke")
        session.expunge(att)
    try:
        png = page_png(rt.store, att, page)
    except PreviewError as err:
        raise HTTPException(404, str(err)) from err
    return Response(png, media_type="image/png", headers=headers)
