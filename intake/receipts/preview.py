"""The corrected receipt a clerk is offered after changing a case by hand, rendered before it is sent.

The receipt that went out named the case (or the lack of one) as the pipeline saw
it. When a clerk sets the case, the receipt that fits now may say something else;
it is rendered here exactly as the outbox would render it, so the page can show
its text before the clerk sends it (with «Send kvitteringen på nytt»).
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, col, select

from intake.config import SmtpSettings
from intake.db.models import Acknowledgement, Case, Flag, Submission
from intake.errors import TemplateError
from intake.receipts.plan import LANGUAGES, receipt_kind
from intake.receipts.render import Rendered, render_receipt


def corrected_receipt(
    session: Session, sub: Submission, ack: Acknowledgement | None, smtp: SmtpSettings, workflows_path: Path
) -> Rendered | None:
    """The receipt that fits the submission now, when its case was set by hand and the one sent differs."""
    if ack is None or sub.match_source != "manual" or ack.status not in ("sent", "failed") or not ack.body_text:
        return None
    open_flags = set(session.exec(
        select(Flag.name).where(Flag.submission_id == sub.id).where(col(Flag.resolved_at).is_(None))
    ).all())
    case = session.get(Case, sub.case_id) if sub.case_id is not None else None
    language = case.language if case is not None and case.language in LANGUAGES else "nb"
    # A copy that is never added to the session: rendering reads the row, it writes nothing.
    draft = Acknowledgement(submission_id=ack.submission_id, kind=receipt_kind(sub, open_flags), language=language)
    try:
        rendered = render_receipt(session, draft, sub, smtp, workflows_path)
    except TemplateError:
        return None
    return None if rendered.text.strip() == ack.body_text.strip() else rendered
