"""Submissions and cases as the JSON that CONTRACT.md fixes (CLI and API alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from intake.archive.status import archive_status
from intake.db.models import Submission
from intake.receipts.outbox_state import shown_status
from intake.review import queries

OSLO = ZoneInfo("Europe/Oslo")


def submissions_json(session: Session, submissions: Sequence[Submission]) -> list[dict[str, Any]]:
    ids = [s.id for s in submissions if s.id is not None]
    flags = queries.flags_by_submission(session, ids)
    attachments = queries.attachments_by_submission(session, ids)
    acks = queries.acknowledgements_by_submission(session, ids)
    numbers = queries.case_numbers(session)
    archive = archive_status(session, submissions)
    out = []
    for sub in submissions:
        assert sub.id is not None
        ack = acks.get(sub.id)
        out.append(
            {
                "id": sub.id,
                "message_id": sub.message_id,
                "mailbox": sub.mailbox,
                "sender": sub.sender,
                "sender_name": sub.sender_name,
                "subject": sub.subject,
                "received_at": sub.received_at.astimezone(OSLO).isoformat(),
                "case": numbers.get(sub.case_id) if sub.case_id is not None else None,
                "match_source": sub.match_source,
                "late": sub.late,
                "flags": [f.name for f in flags.get(sub.id, [])],
                "organisation": sub.organisation,
                "attachments": [
                    {
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.sha256,
                        "text_chars": a.text_chars,
                        "pages": a.pages,
                        "extraction": a.extraction_status,
                    }
                    for a in attachments.get(sub.id, [])
                ],
                "form": sub.form,
                # The response this one follows up (thread headers, or a clerk's confirmation).
                "follow_up_of": sub.follow_up_of,
                "acknowledgement": None
                if ack is None
                else {
                    # "sending" is the outbox's own short-lived state; outside it is still pending.
                    "status": "pending" if ack.status == "sending" else ack.status,
                    # Which receipt it is (intake.receipts.plan.KINDS): on_time, late, unmatched, ...
                    "kind": ack.kind,
                    # Handed to the mail server by a process that died before the answer (see the outbox).
                    "unconfirmed": shown_status(ack) == "unconfirmed",
                    "to": list(ack.recipients or []),
                    "message_id": ack.message_id,
                    "reason": ack.reason,
                    "sent_at": ack.sent_at.astimezone(OSLO).isoformat() if ack.sent_at else None,
                    "error": ack.last_error,
                },
                "receipt_ref": sub.receipt_ref,
                "archive": archive[sub.id],
            }
        )
    return out


def submission_json(session: Session, submission: Submission) -> dict[str, Any]:
    return submissions_json(session, [submission])[0]


def case_json(summary: queries.CaseSummary) -> dict[str, Any]:
    case = summary.case
    return {
        "case": case.number,
        "title": case.title,
        "deadline": case.deadline.isoformat(),
        "timezone": case.timezone,
        "language": case.language,
        "active": case.active,
        "has_form": bool(case.form),
        "counts": {
            "received": summary.received,
            "on_time": summary.on_time,
            "late": summary.late,
            "flagged": summary.flagged,
            "invited": summary.invited,
            "invited_responded": summary.invited_responded,
        },
    }
