"""Words for staff decisions, shared by the pages and the exports."""

from __future__ import annotations

from intake.review.responses import SubmissionRow

DECISION_LABELS = {
    "late_accepted": "for sent, godtatt",
    "late_rejected": "for sent, avvist",
    "superseded": "erstattet av nyere svar",
    "duplicate_kept": "dobbelt svar, beholdt",
}


def decisions(sub: SubmissionRow) -> str:
    """How staff decided on a response, in words (empty when nobody has yet)."""
    parts = [DECISION_LABELS.get(sub.decision or "", sub.decision or "")]
    if sub.withheld:
        parts.append("holdes tilbake fra publisering")
    if sub.body_withheld:
        parts.append("e-postteksten publiseres ikke")
    if sub.review_status == "reviewed":
        parts.append("gjennomgått")
    return "; ".join(p for p in parts if p)


def status_label(*, reviewed: bool, decision: str | None, open_flags: int) -> str:
    """Where a submission stands: open until decided, done when nothing is left to decide."""
    if reviewed:
        return "Gjennomgått"
    if open_flags == 0:
        return "Ferdig behandlet"
    if decision:
        left = "1 merknad" if open_flags == 1 else f"{open_flags} merknader"
        return f"Delvis behandlet ({left} igjen)"
    return "Åpen"
