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


# The outbox's state, as a banner on every staff page while receipts cannot go out.
OUTBOX_BLOCKED = ("Kvitteringer blir ikke sendt: e-posttjeneren nekter å ta imot dem (krav om kryptert "
                  "forbindelse, innlogging eller videresending). Kvitteringene venter og sendes når "
                  "innstillingene er rettet.")
OUTBOX_DOWN = "Kvitteringer blir ikke sendt nå: e-posttjeneren svarer ikke. De sendes når den svarer igjen."
# A receipt handed to the mail server by a process that stopped before the server answered.
RECEIPT_UNCONFIRMED = "Sendt, ikke bekreftet"
RECEIPT_UNCONFIRMED_HELP = ("Kvitteringen ble levert til e-posttjeneren, men tjenesten stoppet før svaret kom. "
                            "Den sendes ikke på nytt av seg selv; send den igjen om avsenderen ikke har fått den.")
