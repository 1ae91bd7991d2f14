"""Submissions and cases as the JSON contract (CONTRACT.md) fixes them."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from intake.localtime import iso_oslo
from intake.models import Acknowledgement, Attachment, Case, Flag, Submission
from intake.web.overview import case_overview


def submission_json(session: Session, sub: Submission) -> dict[str, Any]:
    """One submission with the fields of ``submissions list --json``."""
    flags = session.exec(select(Flag.name).where(Flag.submission_id == sub.id).order_by(col(Flag.name))).all()
    attachments = session.exec(
        select(Attachment).where(Attachment.submission_id == sub.id).order_by(col(Attachment.position))
    ).all()
    ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == sub.id)).first()
    return {
        "id": sub.id,
        "message_id": sub.message_id,
        "mailbox": sub.mailbox,
        "sender": sub.sender,
        "sender_name": sub.sender_name,
        "subject": sub.subject,
        "received_at": iso_oslo(sub.received_at),
        "case": sub.case_number if sub.case_id is not None else None,
        "match_source": sub.match_source,
        "late": sub.late,
        "flags": list(flags),
        "organisation": sub.organisation,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "text_chars": a.text_chars,
            }
            for a in attachments
        ],
        "form": sub.form,
        "acknowledgement": (
            {"status": ack.status, "to": list(ack.recipients or []), "message_id": ack.message_id}
            if ack
            else None
        ),
    }


def case_json(session: Session, case: Case) -> dict[str, Any]:
    """One case with its counts, as ``cases list --json`` prints it."""
    view = case_overview(session, case)
    return {
        "case": case.number,
        "title": case.title,
        "deadline": case.deadline.isoformat(),
        "timezone": case.timezone,
        "language": case.language,
        "counts": {
            "received": view.received,
            "on_time": view.on_time,
            "late": view.late,
            "flagged": view.flagged,
            "invited": view.invited,
            "invited_responded": len(view.invited_responded),
            "invited_missing": len(view.invited_missing),
        },
    }
