"""The one catalogue of what staff read: how the pages and exports put into words what the machine
recorded (flag details, the rule log, the audit trail, failures, file types, sources, mailbox and
delivery errors) and the words of staff decisions, the outbox, threads, receipts and letters.

The rules and the pipeline record facts in their own terms (header names, exception types,
match places); staff read them here, in Norwegian written for a clerk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intake.review.responses import SubmissionRow

FLAG_LABELS = {
    "late": "For sent",
    "unmatched": "Uten saksnummer",
    "unknown_case": "Ukjent sak",
    "ambiguous_case": "Flere saker",
    "duplicate_organisation": "Dobbelt svar",
    "duplicate_message": "Samme e-post igjen",
    "auto_reply": "Autosvar",
    "extraction_failed": "Vedlegg uleselig",
    "suspicious_sender": "Mistenkelig avsender",
    "unreadable": "Uleselig e-post",
    "personal_data": "Fødselsnummer",
    "campaign": "Kampanje",
}

# Where the matcher looked for a case number.
MATCH_PLACES = {
    "subject": "emnefeltet",
    "body": "e-postteksten",
    "attachment": "vedleggene",
    "thread": "tidligere e-post i tråden",
    "manual": "satt manuelt",
    "meldingen": "meldingen",
}

SOURCE_LABELS = {
    "imap": "Postkasse (IMAP)",
    "smtp": "Direkte e-postmottak (SMTP)",
    "file": "Lest inn fra fil",
}

FILE_TYPES = {
    "application/pdf": "PDF-dokument",
    "application/msword": "Word-dokument",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word-dokument",
    "application/vnd.oasis.opendocument.text": "OpenDocument-tekst",
    "application/rtf": "RTF-dokument",
    "text/rtf": "RTF-dokument",
    "application/vnd.ms-excel": "Excel-regneark",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel-regneark",
    "application/vnd.ms-powerpoint": "PowerPoint-presentasjon",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint-presentasjon",
    "application/zip": "ZIP-arkiv",
    "application/ms-tnef": "Outlook-vedlegg (winmail.dat)",
    "application/vnd.ms-tnef": "Outlook-vedlegg (winmail.dat)",
    "message/rfc822": "Videresendt e-post",
    "message/global": "Videresendt e-post",
    "text/plain": "Tekstfil",
    "text/html": "Nettside (HTML)",
    "text/csv": "CSV-tabell",
    "text/calendar": "Kalenderinvitasjon",
}
FILE_FAMILIES = {"image": "Bilde", "audio": "Lydfil", "video": "Videofil", "text": "Tekstfil"}

EXTRACTION_LABELS = {
    "ok": "hentet ut",
    "failed": "kunne ikke hentes ut",
    "skipped": "ikke aktuelt",
    "pending": "venter",
}

# The audit trail's details, by key; a key not named here is bookkeeping and is not shown.
AUDIT_KEYS = {
    "case": "Sak",
    "flags": "Merknader",
    "match": "Saksnummer funnet i",
    "before": "Før",
    "after": "Etter",
    "late": "For sent",
    "resolved": "Løste merknader",
    "comment": "Kommentar",
    "reason": "Grunn",
    "to": "Til",
    "overrode": "Sendt forbi",
    "error": "Årsak",
    "attempts": "Forsøk",
    "source": "Kom inn via",
    "size": "Størrelse",
    "deadline": "Frist",
    "decision": "Avgjørelse",
    "left_out": "Dokumenter holdt tilbake",
    "campaign": "Kampanje",
    "version": "Versjon",
    "counts": "Regnes med",
    "superseded": "Erstattet",
}
DECISION_WORDS = {
    "withhold": "hele svaret holdes tilbake",
    "without_documents": "publiseres uten dokumentene med fødselsnummer",
    "not_identity_number": "ikke et fødselsnummer",
    "same": "samme brev som kampanjen",
    "different": "ikke del av kampanjen",
}

# Why a message could not be processed, by the kind of failure the pipeline recorded.
FAILURE_REASONS = (
    (("FileNotFoundError", "IsADirectoryError", "PermissionError", "OSError", "IOError", "StorageError"),
     "Den lagrede kopien av e-posten kunne ikke leses fra lageret. Kontakt driften; originalen kan lastes ned "
     "når lageret er i orden."),
    (("UnicodeDecodeError", "UnicodeError", "LookupError"),
     "Tegnsettet i e-posten kunne ikke leses."),
    (("MessageError", "HeaderParseError", "MessageParseError", "MimeError", "ParseError"),
     "E-posten er bygd opp på en måte som ikke kunne leses."),
    (("TimeoutError", "ExtractionTimeout"),
     "Behandlingen tok for lang tid og ble stoppet."),
    (("MemoryError", "RecursionError", "LimitExceeded", "TooLarge"),
     "E-posten er for stor eller for dypt nestet til å behandles."),
    (("OperationalError", "IntegrityError", "DatabaseError", "InterfaceError", "DatabaseUnavailable"),
     "Databasen svarte ikke da e-posten skulle lagres. Prøv å behandle den på nytt."),
)
FAILURE_FALLBACK = ("Behandlingen stoppet på en uventet feil. Prøv å behandle den på nytt; "
                    "feiler den igjen, kontakt driften.")


def flag_label(name: str) -> str:
    return FLAG_LABELS.get(name, name.replace("_", " "))


def places(text: str) -> str:
    """«subject, body, attachment» as «emnefeltet, e-postteksten eller vedleggene»."""
    words = [MATCH_PLACES.get(word.strip(), word.strip()) for word in text.split(",") if word.strip()]
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + " eller " + words[-1]


_AUTO_REPLY = (
    (re.compile(r"^Auto-Submitted: ", re.I), "E-posten er merket som automatisk sendt (fravær eller annet autosvar)."),
    (re.compile(r"^Precedence: ", re.I), "E-posten er merket som masseutsendelse eller listepost."),
    (re.compile(r"^header ", re.I), "E-posten har kjennetegn på listepost eller automatisk svar."),
    (re.compile(r"^delivery report", re.I), "Returmelding: e-posten kunne ikke leveres et sted."),
    (re.compile(r"^empty Return-Path", re.I), "Returmelding: e-posten har ingen returadresse."),
)


def flag_detail(name: str, detail: str | None) -> str:
    """A flag's recorded detail as a sentence for a clerk."""
    if not detail:
        return ""
    if name == "auto_reply":
        for pattern, words in _AUTO_REPLY:
            if pattern.match(detail):
                return words
        if detail.startswith("sender "):
            return f"Avsenderen er en maskinadresse ({detail[7:]})."
        if detail.startswith("subject: "):
            return f"Emnet ser ut som et automatisk svar: «{detail[9:]}»."
        return "E-posten ser ut til å være et automatisk svar."
    if name == "unmatched" and detail.startswith("fant ikke saksnummer i "):
        return f"Fant ikke saksnummer i {places(detail[len('fant ikke saksnummer i '):])}."
    # "(i subject)" at the end of the case rules' details.
    return re.sub(r"\(i (\w+)\)$", lambda m: f"(i {MATCH_PLACES.get(m.group(1), m.group(1))})", detail)


def rule_line(entry: Mapping[str, Any]) -> str:
    """One line of «Slik ble innsendingen vurdert»."""
    label = flag_label(str(entry.get("flag") or entry.get("rule") or ""))
    if not entry.get("hit"):
        return f"{label}: nei"
    detail = flag_detail(str(entry.get("flag") or ""), entry.get("detail"))
    return f"{label}: ja" + (f" – {detail}" if detail else "")


def audit_details(detail: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """An audit entry's details as (label, value) pairs a clerk can read; bookkeeping left out."""
    out: list[tuple[str, str]] = []
    for key, value in (detail or {}).items():
        if key not in AUDIT_KEYS or value in (None, [], ""):
            continue
        out.append((AUDIT_KEYS[key], _audit_value(key, value)))
    return out


def _audit_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nei"
    if key in ("flags", "resolved") and isinstance(value, list):
        return ", ".join(flag_label(str(v)) for v in value)
    if key == "match":
        return MATCH_PLACES.get(str(value), str(value))
    if key == "source":
        return source_label(str(value))
    if key == "size" and isinstance(value, int):
        return human_size(value)
    if key == "error":
        return failure_reason(str(value))
    if key == "decision":
        return DECISION_WORDS.get(str(value), str(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def failure_reason(error: str | None) -> str:
    """Why a message failed, in Norwegian, from the recorded ``Type: message``."""
    if not error:
        return "Ukjent årsak."
    kind = error.split(":", 1)[0].strip()
    for kinds, words in FAILURE_REASONS:
        if kind in kinds:
            return words
    return FAILURE_FALLBACK


def source_label(source: str | None) -> str:
    return SOURCE_LABELS.get(source or "", "ukjent")


def file_type(content_type: str | None) -> str:
    """«PDF-dokument» for application/pdf; the family («Bilde») where the exact type is not named."""
    value = (content_type or "").split(";", 1)[0].strip().lower()
    if value in FILE_TYPES:
        return FILE_TYPES[value]
    return FILE_FAMILIES.get(value.split("/", 1)[0], "Fil")


def pages(count: int | None) -> str:
    if not count:
        return ""
    return "1 side" if count == 1 else f"{count} sider"


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} kB".replace(".", ",")
    return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")


def mailbox_error(error: str | None) -> str:
    """Why a mailbox could not be read, for the mailboxes page (the technical text goes beside it)."""
    if not error:
        return ""
    lowered = error.lower()
    if "login" in lowered or "auth" in lowered:
        return "Postkassen avviste innloggingen. Sjekk brukernavn og passord i oppsettet."
    if "refused" in lowered or "timed out" in lowered or "unreachable" in lowered or "resolve" in lowered:
        return "Postkassens tjener svarte ikke. Det prøves igjen automatisk."
    return "Postkassen kunne ikke leses. Det prøves igjen automatisk."


def mailbox_problem(problem: str | None) -> str:
    """Why a mailbox counts as not working (the health check's line), for the mailboxes page."""
    if not problem:
        return ""
    lowered = problem.lower()
    if "microsoft 365" in lowered:
        what = "Sertifikatet" if "certificate" in lowered else "Klienthemmeligheten"
        day = re.search(r"(\d{4})-(\d{2})-(\d{2})", problem)
        when = f"{day.group(3)}.{day.group(2)}.{day.group(1)}" if day else ""
        if "cannot be read" in lowered:
            return f"{what} for innlogging i Microsoft 365 kan ikke leses. IT må sjekke filen i oppsettet."
        if "expired" in lowered:
            return f"{what} for innlogging i Microsoft 365 gikk ut {when}. IT må fornye den i Entra ID."
        return (f"{what} for innlogging i Microsoft 365 går ut {when}. IT må fornye den i Entra ID før det, "
                "ellers stopper innhentingen av e-post.")
    if "database unreachable" in lowered:
        return "Databasen svarer ikke, så det kan ikke sies om postkassen blir lest."
    if "no successful poll" in lowered:
        return "Postkassen er ikke lest på en stund. " + (mailbox_error(problem.split("last error:", 1)[1])
                                                          if "last error:" in lowered else "")
    return mailbox_error(problem)


def delivery_error(error: str | None) -> str:
    """Why a receipt was not delivered, from the mail server's reply."""
    if not error:
        return ""
    code = error.strip()[:1]
    if code == "5":
        return "Mottakerens e-posttjener avviste kvitteringen."
    if code == "4":
        return "Mottakerens e-posttjener ba oss vente; det prøves igjen."
    return "Kvitteringen kunne ikke leveres ennå; det prøves igjen."


# Staff decisions, the outbox, threads, receipts and letters (the pages and the exports).
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
