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

# A response and its follow-ups, on the submission page (templates/_thread.html).
THREAD_LABELS = {
    "heading": "Tråd",
    "lead": "Svaret og tilleggene telles, publiseres og arkiveres som ett høringssvar.",
    "root": "Svaret",
    "follow_up": "Tillegg",
    "this": "denne",
    "no_subject": "(uten emne)",
    "files": "vedlegg",
    "suggested": ("Denne e-posten kommer fra samme avsender til samme sak og sier at den legger til eller "
                  "retter noe. Er den et tillegg til svaret under?"),
    "confirm": "Ja, legg til som tillegg",
    "documents": "Dokumenter i tråden",
    "documents_lead": "Er et dokument rettet i et tillegg, velg hvilken versjon som teller. Arkivet får alle.",
    "counts": "Teller",
    "superseded": "Teller ikke (eldre versjon)",
    "make_superseded": "Regn som eldre versjon",
    "make_counts": "La denne telle",
    "reject": "Nei, eget svar",
}

# Which receipt a submission got (intake.receipts.plan.KINDS), on its page.
RECEIPT_KIND_LABELS = {
    "on_time": "mottatt i tide",
    "late": "mottatt etter fristen",
    "unmatched": "uten sak",
    "ambiguous": "flere saker",
    "unknown_case": "ukjent sak",
    "unreadable": "vedlegg kunne ikke leses",
    "follow_up": "tillegg mottatt",
}

# The receipt's own words on the submission page (templates/_receipt_text.html).
RECEIPT_TEXT_LABELS = {
    "sent_text": "Teksten som ble sendt",
    "planned_text": "Teksten som sendes",
    "corrected": "Saken er endret etter at kvitteringen ble sendt. Dette er kvitteringen som passer nå:",
    "send_corrected": "Send den rettede kvitteringen",
}

# Writing to the sender from the submission page (templates/_compose.html).
LETTER_LABELS = {
    "heading": "Skriv til avsenderen",
    "lead": "Velg en mal, rett teksten og send. E-posten går gjennom utgående kø, i samme tråd som innsendingen.",
    "templates": {
        "readable_file": "Be om en lesbar fil",
        "case_number": "Be om saksnummer",
        "withdrawal": "Bekreft at svaret er trukket",
    },
    "subject": "Emne",
    "body": "Tekst",
    "send": "Send til avsenderen",
    "sent": "Sendt til avsenderen",
    "status": {"pending": "Venter", "sending": "Sendes", "sent": "Sendt", "failed": "Feilet"},
}


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

# A Word attachment shown with its structure on the submission page (templates/_docx.html).
DOCX_LABELS = {
    "checked": "(krysset av)",
    "unchecked": "(ikke krysset av)",
    "table": "Tabell i {name}",
    "text": "Uthentet tekst ({chars} tegn)",
    "cut": "Dokumentet er langt: bare begynnelsen vises her. Hele teksten står under «Uthentet tekst» "
           "og i filen du kan laste ned.",
    "fallback": "{reason}, så det vises bare som tekst.",
    # Why a document is shown only as its text.
    "too_deep": "Dokumentet har tabeller inni tabeller i for mange nivåer",
    "too_large": "Dokumentet er for stort til å vises med overskrifter og tabeller",
    "broken": "Filen er skadet eller er ikke et Word-dokument",
    "timed_out": "Det tok for lang tid å lese dokumentet",
    "unavailable": "Dokumentet kan ikke leses her nå",
}
