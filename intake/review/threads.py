"""A response and its follow-ups as one thread: what the submission page shows, and the clerk's one
click that confirms (or turns down) a follow-up the content only suggested."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from intake.db.models import Attachment, Submission
from intake.review.actions import ReviewError, _resolve, audit, get_submission, touch
from intake.review.documents import attachments_by_submission, documents


@dataclass
class Thread:
    """The first response of a thread, its follow-ups in the order received, and a suggested link."""

    root: Submission
    follow_ups: list[Submission] = field(default_factory=list)
    suggested: Submission | None = None

    @property
    def messages(self) -> list[Submission]:
        return [self.root, *self.follow_ups]


def thread_of(session: Session, sub: Submission) -> Thread:
    """The thread ``sub`` belongs to (its own, when it is the first of one)."""
    root = session.get(Submission, sub.follow_up_of) if sub.follow_up_of is not None else sub
    root = root or sub
    follow_ups = list(session.exec(
        select(Submission).where(Submission.follow_up_of == root.id)
        .order_by(col(Submission.received_at), col(Submission.id))
    ))
    suggested = None
    if sub.follow_up_of is None and sub.follow_up_suggested is not None:
        suggested = session.get(Submission, sub.follow_up_suggested)
    return Thread(root, follow_ups, suggested)


def decide_follow_up(session: Session, submission_id: int, *, confirm: bool, actor: str) -> Submission:
    """Confirms the suggested link (the submission becomes a follow-up, no longer a second response)
    or turns it down; either way the suggestion is gone and the decision is in the audit log."""
    sub = get_submission(session, submission_id)
    if sub.follow_up_suggested is None:
        raise ReviewError("innsendingen har ikke noe foreslått tidligere svar")
    parent = get_submission(session, sub.follow_up_suggested)
    if parent.follow_up_of == sub.id or parent.id == sub.id:
        raise ReviewError("et svar kan ikke være tillegg til seg selv")
    suggested = parent.id
    sub.follow_up_suggested = None
    resolved: list[str] = []
    if confirm:
        sub.follow_up_of = parent.follow_up_of or parent.id
        # It adds to the organisation's response: it is not a second one.
        resolved = _resolve(session, sub, ("duplicate_organisation",), actor, "tillegg til tidligere svar")
        # Its own follow-ups now belong to the thread it joined.
        for child in session.exec(select(Submission).where(Submission.follow_up_of == sub.id)):
            child.follow_up_of = sub.follow_up_of
            session.add(child)
    touch(session, sub)
    audit(session, actor, "submission.follow_up_confirmed" if confirm else "submission.follow_up_rejected",
          "submission", sub.id, of=suggested, resolved=resolved or None)
    return sub


def thread_documents(session: Session, thread: Thread) -> list[Attachment]:
    """Every document of the thread's messages, in the order they came (for choosing versions)."""
    ids = [m.id for m in thread.messages if m.id is not None]
    files = attachments_by_submission(session, ids)
    return [a for pk in ids for a in documents(files.get(pk, []))]


def choose_version(session: Session, submission_id: int, attachment_id: int, *, counts: bool, actor: str) -> None:
    """Marks a document of the thread as the version that counts, or as an earlier one that does not."""
    sub = get_submission(session, submission_id)
    thread = thread_of(session, sub)
    attachment = session.get(Attachment, attachment_id)
    if attachment is None or attachment.submission_id not in {m.id for m in thread.messages}:
        raise ReviewError("dokumentet hører ikke til denne tråden")
    attachment.superseded = not counts
    session.add(attachment)
    touch(session, thread.root)
    audit(session, actor, "document.counts" if counts else "document.superseded", "submission", thread.root.id,
          attachment=attachment_id, filename=attachment.filename)
