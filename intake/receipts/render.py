"""Renders a receipt from its Jinja2 templates: a subject, a plain text and an HTML alternative.

The shipped templates live in ``intake/receipts/templates/`` as ``{kind}.{language}.txt.j2``
and ``{kind}.{language}.html.j2`` (kinds in ``intake.receipts.plan.KINDS``; languages nb,
nn, en); the text template sets the subject with ``{% set receipt_subject %}``. A kind
without an HTML template of its own shows its text in the shared layout. A person is
addressed «du», an organisation «dere» (``you`` in the context), and every date is
written dd.mm.yyyy. A workflow may
name its own templates in ``templates:`` (``{"on_time": "22-414/kvittering.txt.j2"}``
or ``{"on_time": {"text": ..., "html": ...}}``), relative to the workflows folder;
without an HTML template of its own, the text is shown in the shared layout.
Undefined names are errors (StrictUndefined) and only HTML is autoescaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlmodel import Session, col, select

from intake.config import SmtpSettings
from intake.db.models import Acknowledgement, Attachment, Case, Flag, Organisation, Submission, utcnow
from intake.decide.deadlines import deadline_for
from intake.decide.organisations import PUBLIC_PROVIDERS, domain_of
from intake.errors import TemplateError
from intake.receipts.compose import quoted_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
OSLO = ZoneInfo("Europe/Oslo")
# How a receipt addresses its reader: a person «du», an organisation «dere» (nn: «de»). The keys name
# the grammatical slot: ``your_n`` after a neuter noun (svaret ditt), ``your_m`` after the others
# (e-posten din), ``your_pl`` after a plural (vedlegga dine), ``obj`` the object form (kontakte deg).
PRONOUNS = {
    ("nb", False): {"you": "dere", "You": "Dere", "your_n": "deres", "your_m": "deres", "your_pl": "deres",
                    "obj": "dere"},
    ("nb", True): {"you": "du", "You": "Du", "your_n": "ditt", "your_m": "din", "your_pl": "dine", "obj": "deg"},
    ("nn", False): {"you": "de", "You": "De", "your_n": "dykkar", "your_m": "dykkar", "your_pl": "dykkar",
                    "obj": "dykk"},
    ("nn", True): {"you": "du", "You": "Du", "your_n": "ditt", "your_m": "di", "your_pl": "dine", "obj": "deg"},
    ("en", False): {"you": "you", "You": "You", "your_n": "your", "your_m": "your", "your_pl": "your",
                    "obj": "you"},
}
PRONOUNS[("en", True)] = PRONOUNS[("en", False)]
# "Re: SV: Fwd: Kvittering: …" as many times as a thread has gone back and forth (bounded).
_PREFIXES = re.compile(r"^(?:\s*(?:re|sv|vs|fw|fwd|aw|wg|antw|svar|kvittering|receipt)\s*(?:\[\d{1,4}\])?\s*:){1,20}",
                       re.IGNORECASE)
# How much of what the sender wrote a receipt repeats (none of it for an unmatched message).
MAX_QUOTED_SUBJECT = 100
MAX_QUOTED_NAME = 100
MAX_QUOTED_FILES = 10
# The kinds without a case: their receipt repeats nothing the sender wrote.
NO_CASE_KINDS = ("unmatched", "ambiguous", "unknown_case")


@dataclass(frozen=True)
class Known:
    """What a receipt's context needs that the caller may have at hand (None: read it)."""

    case: Case | None = None
    # The submission's own files: top level, not inline, by position.
    attachments: Sequence[Attachment] | None = None
    flags: Mapping[str, str | None] | None = None
    person: bool | None = None
    # The organisation's own deadline for the case.
    deadline: date | None = None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def format_date(day: date, language: str) -> str:
    """``01.10.2022`` in every language: one format, whatever the reader's."""
    return f"{day.day:02d}.{day.month:02d}.{day.year:04d}"


def format_time(moment: datetime, language: str) -> str:
    """An instant in Oslo time: ``28.09.2022 kl. 10:15`` / ``28.09.2022 at 10:15``."""
    local = moment.astimezone(OSLO)
    joiner = "at" if language == "en" else "kl."
    return f"{format_date(local.date(), language)} {joiner} {local:%H:%M}"


def human_size(size: int, language: str) -> str:
    """``812 byte``, ``47,1 kB``, ``2,3 MB`` (decimal point in English)."""
    if size < 1024:
        return f"{size} bytes" if language == "en" else f"{size} byte"
    value, unit = size / 1024, "kB"
    if value >= 1024:
        value, unit = value / 1024, "MB"
    text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{text if language == 'en' else text.replace('.', ',')} {unit}"


def pronouns(language: str, person: bool) -> dict[str, str]:
    """The words a receipt addresses its reader with (see PRONOUNS)."""
    return PRONOUNS.get((language, person), PRONOUNS[("nb", person)])


def is_person(session: Session, submission: Submission) -> bool:
    """Whether the sender is a private person (the organisation rules say so: a public mail provider)."""
    if submission.organisation_id is not None:
        organisation = session.get(Organisation, submission.organisation_id)
        if organisation is not None:
            return organisation.kind == "person"
    return domain_of(submission.sender) in PUBLIC_PROVIDERS


def bare_subject(subject: str | None) -> str:
    """The subject without its chain of ``Re:``, ``SV:``, ``VS:``, ``Fwd:`` and our own ``Kvittering:``."""
    return _PREFIXES.sub("", subject or "", count=1).strip()


_CASE_NUMBER = re.compile(r"\b\d{2}(?:\d{2})?/\d{1,6}\b")


def _case_numbers(detail: str | None) -> list[str]:
    """The case numbers the matcher put in its flag's detail (our own text, built from what it found)."""
    found: list[str] = []
    for number in _CASE_NUMBER.findall(detail or "")[:10]:
        if number not in found:
            found.append(number)
    return found


def _known_cases(session: Session, numbers: list[str]) -> list[dict[str, str]]:
    if not numbers:
        return []
    cases = {c.number: c for c in session.exec(select(Case).where(col(Case.number).in_(numbers))).all()}
    return [{"number": n, "title": cases[n].title if n in cases else ""} for n in numbers]


def _open_cases(session: Session, language: str) -> list[dict[str, str]]:
    today = utcnow().astimezone(OSLO).date()
    cases = session.exec(
        select(Case).where(col(Case.active).is_(True)).where(col(Case.deadline) >= today).order_by(col(Case.number))
    ).all()
    return [{"number": c.number, "title": c.title, "deadline": format_date(c.deadline, language)} for c in cases[:20]]


def receipt_context(
    session: Session,
    ack: Acknowledgement,
    submission: Submission,
    smtp: SmtpSettings,
    known: Known | None = None,
) -> dict[str, Any]:
    """Everything a receipt template may use, already formatted for the receipt's language.

    ``known`` is what the caller has at hand already (the pipeline, deciding the message);
    whatever it leaves out is read from the database.
    """
    known = known or Known()
    language = ack.language
    case = known.case
    if case is None and submission.case_id is not None:
        case = session.get(Case, submission.case_id)
    attachments = known.attachments if known.attachments is not None else session.exec(
        select(Attachment)
        .where(Attachment.submission_id == submission.id)
        .where(col(Attachment.parent_id).is_(None))
        .where(col(Attachment.inline).is_(False))
        .order_by(col(Attachment.position))
    ).all()
    # A receipt for a message that matched no case repeats nothing the sender wrote: that is the
    # receipt a spammer gets, and it must carry none of the spam. The others repeat a little of it.
    repeat = ack.kind not in NO_CASE_KINDS
    names = [a for a in attachments if repeat]
    flags = known.flags if known.flags is not None else {
        f.name: f.detail for f in session.exec(select(Flag).where(Flag.submission_id == submission.id))}
    person = known.person if known.person is not None else is_person(session, submission)
    deadline = None
    if case is not None:
        deadline = known.deadline or deadline_for(session, case, submission.organisation_id)
    return {
        "language": language,
        "kind": ack.kind,
        "person": person,
        "late": submission.late,
        "you": pronouns(language, person),
        # Our own case numbers and titles: safe to name even to a stranger.
        "cases_found": _known_cases(session, _case_numbers(flags.get("ambiguous_case"))),
        "numbers_unknown": _case_numbers(flags.get("unknown_case")),
        "open_cases": _open_cases(session, language) if ack.kind in (*NO_CASE_KINDS, "letter_case_number") else [],
        "unreadable": [quoted_text(a.filename, MAX_QUOTED_NAME) for a in attachments
                       if a.extraction_status == "failed"][:MAX_QUOTED_FILES] if repeat else [],
        "case": None if case is None else {
            "number": case.number,
            "title": case.title,
            # The organisation's own deadline, when it was granted a later one.
            "deadline": format_date(deadline or case.deadline, language),
        },
        "received": format_time(submission.received_at, language),
        "subject": quoted_text(bare_subject(submission.subject), MAX_QUOTED_SUBJECT) if repeat else "",
        "sender_name": quoted_text(submission.sender_name, MAX_QUOTED_NAME) or None,
        "attachments": [{"name": quoted_text(a.filename, MAX_QUOTED_NAME), "size": human_size(a.size, language)}
                        for a in names[:MAX_QUOTED_FILES]],
        "more_attachments": max(len(names) - MAX_QUOTED_FILES, 0),
        "attachment_count": len(attachments),
        "receipt_ref": submission.receipt_ref,
        "agency": {"name": smtp.from_name, "address": smtp.from_address, "contact": smtp.contact or smtp.from_address},
    }


@lru_cache(maxsize=8)
def _environment(workflows_path: Path | None) -> jinja2.Environment:
    # The workflows folder comes first so a workflow's template can also extend the shared layout;
    # the shipped templates are named ``receipts/…`` wherever the package is installed.
    shipped = jinja2.PrefixLoader({"receipts": jinja2.FileSystemLoader(str(TEMPLATES))})
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(workflows_path))] if workflows_path else []
    # A sandbox: a workflow's template is a file anyone with access to the workflows folder can
    # write, and must not reach Python's internals (``cycler.__init__.__globals__.os``) from it.
    return ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader([*loaders, shipped]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False,
                                            default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_names(kind: str, language: str, override: Any = None) -> tuple[str, str | None]:
    """The text template and the HTML template (None: show the text in the layout)."""
    if isinstance(override, str):
        html = override[: -len(".txt.j2")] + ".html.j2" if override.endswith(".txt.j2") else None
        return override, html
    if isinstance(override, dict) and isinstance(override.get("text"), str):
        html_name = override.get("html")
        return override["text"], html_name if isinstance(html_name, str) else None
    # The shipped receipts have one text each; the HTML part shows it in the plain layout, so the
    # two can never say different things.
    return f"receipts/{kind}.{language}.txt.j2", None


def render(
    context: dict[str, Any], kind: str, language: str, *, override: Any = None, workflows_path: Path | None = None
) -> Rendered:
    """Renders one receipt; raises TemplateError naming the template when it cannot."""
    env = _environment(workflows_path if override else None)
    text_name, html_name = template_names(kind, language, override)
    try:
        module = env.get_template(text_name).make_module(context)
        text = str(module).strip() + "\n"
        subject = str(getattr(module, "receipt_subject", "")).strip()
        if not subject:
            raise TemplateError(f"receipt template {text_name}: sets no receipt_subject")
        html_context = {**context, "title": subject, "text": text}
        if html_name is not None and _exists(env, html_name):
            html = env.get_template(html_name).render(html_context)
        else:
            html = env.get_template("receipts/plain.html.j2").render(html_context)
    except jinja2.TemplateNotFound as err:
        raise TemplateError(f"receipt template not found: {err.name}") from err
    except jinja2.TemplateError as err:
        raise TemplateError(f"receipt template {text_name}: {err}") from err
    return Rendered(subject=subject, text=text, html=html)


def _exists(env: jinja2.Environment, name: str) -> bool:
    try:
        env.get_template(name)
    except jinja2.TemplateNotFound:
        return False
    return True


def render_receipt(
    session: Session, ack: Acknowledgement, submission: Submission, smtp: SmtpSettings, workflows_path: Path,
    known: Known | None = None,
) -> Rendered:
    """The receipt of one outbox row, with the case's own templates when the workflow names them."""
    case = known.case if known is not None and known.case is not None else (
        session.get(Case, submission.case_id) if submission.case_id is not None else None)
    override = (case.templates or {}).get(ack.kind) if case is not None else None
    context = receipt_context(session, ack, submission, smtp, replace(known or Known(), case=case))
    return render(context, ack.kind, ack.language, override=override, workflows_path=workflows_path)


def write_text(
    session: Session, ack: Acknowledgement, submission: Submission, smtp: SmtpSettings, workflows_path: Path,
    known: Known,
) -> None:
    """Writes a planned receipt's text onto its row, so that delivery only sends it.

    A template that fails leaves the row without text: the outbox renders it when it is
    due and records the error there, where staff see failed receipts.
    """
    try:
        rendered = render_receipt(session, ack, submission, smtp, workflows_path, known)
    except TemplateError:
        return
    ack.subject, ack.body_text, ack.body_html = rendered.subject, rendered.text, rendered.html
