"""What every route needs: the runtime, the logged-in staff member, CSRF checks and templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape

from intake.db.engine import session_scope
from intake.localtime import oslo, oslo_date
from intake.receipts.health import outbox_health
from intake.receipts.outbox_state import shown_status
from intake.review import wording
from intake.review.queries import COUNT_MEANINGS
from intake.review.wording import (
    DOCX_LABELS,
    FLAG_LABELS,
    LETTER_LABELS,
    OUTBOX_BLOCKED,
    OUTBOX_DOWN,
    RECEIPT_KIND_LABELS,
    RECEIPT_TEXT_LABELS,
    RECEIPT_UNCONFIRMED,
    RECEIPT_UNCONFIRMED_HELP,
    THREAD_LABELS,
    human_size,
)
from intake.runtime import Runtime
from intake.web.auth import Staff, cookie_name, csrf_ok, load_session

TEMPLATES = Path(__file__).parent / "templates"

ACTION_LABELS = {
    "message.stored": "Melding lagret",
    "message.failed": "Behandling feilet",
    "message.parked": "Satt til side etter gjentatte feil",
    "message.retry": "Behandlet på nytt",
    "submission.created": "Innsending registrert",
    "submission.set_case": "Sak endret",
    "submission.late_accepted": "For sent svar godtatt",
    "submission.late_rejected": "For sent svar avvist",
    "submission.superseded": "Markert som erstattet",
    "submission.duplicate_kept": "Dobbelt svar beholdt",
    "submission.reviewed": "Markert som gjennomgått",
    "submission.withheld": "Holdt tilbake fra publisering",
    "submission.published": "Tatt med i publisering igjen",
    "submission.personal_data": "Avgjort: fødselsnummer",
    "submission.late_redecided": "For sent vurdert på nytt etter endret frist",
    "submission.campaign": "Avgjort: kampanje",
    "case.extension_granted": "Utsatt frist gitt",
    "receipt.resend": "Kvittering lagt i kø på nytt",
    "receipt.resend_override": "Kvittering sendt til en adresse en administrator skrev inn",
    "receipt.sent": "Kvittering sendt",
    "archive.exported": "Eksportert til arkivet",
    "archive.failed": "Arkiveksport feilet",
}
RECEIPT_LABELS = {
    "pending": "Venter",
    "sending": "Sendes",
    "sent": "Sendt",
    "suppressed": "Ikke sendt",
    "failed": "Feilet",
    "unconfirmed": RECEIPT_UNCONFIRMED,
}


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, the API answers 401."""


class AdminRequired(Exception):
    """A reviewer asked for something only an admin may do: 403."""


class CsrfRejected(Exception):
    """A form was posted without the session's CSRF token."""


def get_rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.rt
    return rt


def client_address(request: Request) -> str | None:
    """The client's address (behind our proxy, the one it reports: see intake/web/server.py)."""
    return request.client.host if request.client is not None else None


def current_staff(request: Request) -> Staff:
    rt = get_rt(request)
    with session_scope(rt.engine) as session:
        staff = load_session(session, request.cookies.get(cookie_name(rt.settings.web)), rt.settings.web)
    if staff is None:
        raise LoginRequired()
    request.state.staff = staff
    # Read here, before the route opens its own session: SQLite lets one writer in at a time.
    request.state.outbox_alert = _outbox_alert(rt)
    return staff


def admin_staff(staff: Annotated[Staff, Depends(current_staff)]) -> Staff:
    """The logged-in staff member, who must be an admin."""
    if staff.role != "admin":
        raise AdminRequired()
    return staff


async def posting_admin(request: Request, staff: Annotated[Staff, Depends(admin_staff)]) -> Staff:
    """An admin's form post with the session's CSRF token."""
    return await posting_staff(request, staff)


async def posting_staff(request: Request, staff: Annotated[Staff, Depends(current_staff)]) -> Staff:
    """The staff member behind a form post whose CSRF token matches their session."""
    form = await request.form()
    token = form.get("csrf_token")
    if not csrf_ok(staff, token if isinstance(token, str) else None):
        raise CsrfRejected()
    return staff


StaffDep = Annotated[Staff, Depends(current_staff)]
PostDep = Annotated[Staff, Depends(posting_staff)]
# Admin only: users, failed messages (retry and park), mailboxes, case settings and publishing.
AdminDep = Annotated[Staff, Depends(admin_staff)]
AdminPostDep = Annotated[Staff, Depends(posting_admin)]
RtDep = Annotated[Runtime, Depends(get_rt)]
# A row id in a page address: beyond what the database's integers hold (a 20-digit id) it is
# no page at all (404), not an overflow inside the database driver (500).
RowId = Annotated[int, PathParam(ge=0, le=2**63 - 1)]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["count_meanings"] = COUNT_MEANINGS
    env.filters["oslo"] = oslo
    env.filters["oslo_date"] = oslo_date
    env.filters["flag_label"] = wording.flag_label
    env.filters["flag_detail"] = lambda flag: wording.flag_detail(flag.name, flag.detail)
    env.filters["rule_line"] = wording.rule_line
    env.filters["audit_details"] = wording.audit_details
    env.filters["failure_reason"] = wording.failure_reason
    env.filters["source_label"] = wording.source_label
    env.filters["file_type"] = wording.file_type
    env.filters["pages"] = wording.pages
    env.filters["extraction_label"] = lambda status: wording.EXTRACTION_LABELS.get(status, status)
    env.filters["address"] = address_breaks
    env.filters["mailbox_error"] = wording.mailbox_error
    env.filters["mailbox_problem"] = wording.mailbox_problem
    env.filters["delivery_error"] = wording.delivery_error
    env.filters["match_place"] = lambda place: wording.MATCH_PLACES.get(place or "", "–")
    env.globals["thread_labels"] = THREAD_LABELS
    env.globals["receipt_text_labels"] = RECEIPT_TEXT_LABELS
    env.globals["letter_labels"] = LETTER_LABELS
    env.globals["docx_labels"] = DOCX_LABELS
    env.filters["receipt_kind"] = lambda kind: RECEIPT_KIND_LABELS.get(kind or "", kind or "–")
    env.filters["receipt_state"] = shown_status
    env.filters["receipt_label"] = lambda status: RECEIPT_LABELS.get(status or "", status or "–")
    env.filters["size"] = human_size
    env.filters["action_label"] = lambda action: ACTION_LABELS.get(action, action)
    return env


def number(value: str, default: int) -> int:
    """A whole number from the URL; anything else (typed or hostile) is the default, never an error page."""
    text = value.strip()[:9]
    return int(text) if text.isdigit() else default


def address_breaks(address: str | None) -> Markup:
    """An e-mail address that may wrap after its @ and its dots, never inside a word (WCAG 1.4.10)."""
    text = str(escape(address or ""))
    return Markup(text.replace("@", "@<wbr>").replace(".", ".<wbr>"))


ENV = _environment()


def render(request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Renders a page; the base layout gets the staff member, the CSRF token and the current path."""
    staff: Staff | None = getattr(request.state, "staff", None)
    page = ENV.get_template(template).render(
        outbox_alert=getattr(request.state, "outbox_alert", None) if staff else None,
        staff=staff,
        csrf_token=staff.csrf_token if staff else "",
        path=request.url.path,
        flag_labels=FLAG_LABELS,
        unconfirmed_help=RECEIPT_UNCONFIRMED_HELP,
        notice=NOTICES.get(request.query_params.get("ok", "")),
        **context,
    )
    return HTMLResponse(page, status_code=status_code)


def _outbox_alert(rt: Runtime) -> str | None:
    """The banner text while receipts cannot reach the mail server, else None."""
    health = outbox_health(rt.engine)
    if health["ok"]:
        return None
    return OUTBOX_BLOCKED if health["blocked"] else OUTBOX_DOWN


# Confirmation texts after an action, chosen by a short code so no free text is reflected from the URL.
NOTICES = {
    "case": "Saken er endret.",
    "late_accepted": "Det for sene svaret er godtatt.",
    "late_rejected": "Det for sene svaret er avvist.",
    "superseded": "Svaret er markert som erstattet.",
    "duplicate_kept": "Svaret er beholdt.",
    "duplicate_chosen": "Valget er lagret: svaret som regnes med er beholdt, det andre er erstattet.",
    "reviewed": "Innsendingen er markert som gjennomgått.",
    "follow_up": "Innsendingen er lagt til det tidligere svaret som et tillegg.",
    "letter": "E-posten til avsenderen er lagt i kø og sendes straks.",
    "version": "Valget av dokumentversjon er lagret.",
    "follow_up_rejected": "Innsendingen regnes som et eget svar.",
    "resend": "Kvitteringen er lagt i kø for ny sending.",
    "withheld": "Innsendingen er holdt tilbake fra publisering.",
    "published": "Innsendingen tas med i publiseringslisten igjen.",
    "retry": "Meldingen er behandlet på nytt.",
    "personal_data": "Avgjørelsen om fødselsnummer er lagret.",
    "campaign_same": "Svaret er regnet med i kampanjen.",
    "campaign_different": "Svaret er tatt ut av kampanjen.",
    "regrouped": "Kampanjene er gruppert på nytt.",
    "extension": "Den utsatte fristen er lagret.",
    "retry_failed": "Meldingen feilet igjen; se årsaken i listen.",
    "archived": "Innsendingen er eksportert til arkivet.",
    "archive_unchanged": "Arkivet har allerede nyeste versjon; ingen ny pakke er skrevet.",
}


def refused(request: Request, err: Exception, back: str) -> HTMLResponse:
    """The page for a staff action the rules refused, with the reason and the way back."""
    return render(request, "error.html", status_code=400, title="Kunne ikke utføres", message=str(err), back=back)
