"""Receipts that fit their reader: every kind in every language, «du» to a person and «dere» to an
organisation, one date format, subjects without reply chains, and the whole References chain.

Each receipt is rendered, built as a message and parsed back with the strict e-mail
policy (any defect is an error); the pipeline cases go through a real SMTP server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, select

from intake import workflows
from intake.config import Settings
from intake.db.engine import session_scope
from intake.db.models import Case
from intake.pipeline.run import ingest
from intake.receipts.compose import build_receipt
from intake.receipts.outbox import deliver_due
from intake.receipts.plan import KINDS, LANGUAGES
from intake.receipts.render import NO_CASE_KINDS, bare_subject, render
from intake.review.serialize import submissions_json
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email
from tests.receipt_helpers import set_language, sink  # noqa: F401  (fixture)
from tests.smtpsink import Sink
from tests.test_receipts import context

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)
BROKEN_PDF = b"%PDF-1.7\n%\xe2\xe3 broken"
# A date written out ("1. oktober 2022", "1 October 2022"), which the receipts no longer use.
MONTHS = re.compile(r"\b\d{1,2}\.?\s+(januar|februar|mars|april|mai|juni|juli|august|september|oktober|"
                    r"november|desember|January|February|March|April|May|June|July|August|September|October|November|December)\b",
                    re.IGNORECASE)
# The words for "you" an organisation must never get, and those a person must never get.
ORGANISATION_WORDS = {"nb": (" dere ", " deres", "Dere "), "nn": (" de ", " dykkar", " dykk ")}
PERSON_WORDS = {"nb": (" du ", " ditt", " din", " deg"), "nn": (" du ", " ditt", " di", " deg")}


def strict(data: bytes) -> tuple[EmailMessage, str, str]:
    """Parses a receipt with the strict policy; returns it, its text and its HTML."""
    msg = message_from_bytes(data, policy=policy.strict)
    assert isinstance(msg, EmailMessage) and not msg.defects
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None and not text.defects and not html.defects
    return msg, text.get_content(), html.get_content()  # type: ignore[attr-defined]


def _dates_are_one_format(body: str) -> None:
    assert not MONTHS.search(body), MONTHS.search(body)
    assert re.findall(r"\b\d{2}\.\d{2}\.\d{4}\b", body)


@pytest.mark.parametrize("person", [False, True])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_in_every_language_renders_and_parses_strictly(kind: str, language: str, person: bool) -> None:
    has_case = kind not in NO_CASE_KINDS
    rendered = render(context(language, case=has_case, attachments=has_case, kind=kind, person=person),
                      kind, language)
    envelope = build_receipt(
        from_address="postmottak@ehelse.no", from_name="Direktoratet for e-helse", recipient="kari@firma.no",
        message_id="<kvittering.1@ehelse.no>", in_reply_to="<svar-3@firma.no>", subject=rendered.subject,
        text=rendered.text, html=rendered.html, date=ON_TIME, references=["<svar-1@firma.no>", "<k-2@ehelse.no>"],
    )
    msg, text, html = strict(envelope.data)
    assert msg["References"] == "<svar-1@firma.no> <k-2@ehelse.no> <svar-3@firma.no>"
    assert "{{" not in text and "{%" not in text and "{{" not in html
    # Paragraphs stay paragraphs: the closing is one of its own, after a blank line.
    assert re.search(r"\n\n(Dette er (en|ei) automatisk|This is an automatic)", text.replace("\r\n", "\n")), text
    _dates_are_one_format(text)
    padded = f" {text} "
    if language in ORGANISATION_WORDS:
        wrong = ORGANISATION_WORDS[language] if person else PERSON_WORDS[language]
        assert not [w for w in wrong if w in padded], (kind, language, person, [w for w in wrong if w in padded])
    # A receipt that asks for something asks for it as a reply, never as a new message.
    reply = {"nb": "som svar på denne e-posten", "nn": "som svar på denne e-posten", "en": "as a reply to this email"}
    asks = {"nb": "svare på denne e-posten", "nn": "svare på denne e-posten", "en": "reply to this email"}
    if kind == "unreadable":
        assert reply[language] in text and "svar <b>.pdf" in text
    if kind in ("unmatched", "unknown_case"):
        assert asks[language] in text
        assert {"nb": "Send den ikke på nytt som en ny e-post", "nn": "Send han ikkje på nytt som ein ny e-post",
                "en": "do not send it again as a new email"}[language] in text
        assert "22/414 Nasjonal e-helsestrategi for helse- og omsorgssektoren" in text  # an open consultation
    if kind == "unknown_case":
        assert "23/999" in text
    if kind == "ambiguous":
        assert "22/414 Nasjonal e-helsestrategi" in text and "21/761 Nasjonal styringsmodell for e-helse" in text
        assert {"nb": "trenger ikke å sende den på nytt", "nn": "treng ikkje sende han på nytt",
                "en": "no need to send it again"}[language] in text


@pytest.mark.parametrize(("subject", "bare"), [
    ("Re: Kvittering: Høringssvar sak 22/414", "Høringssvar sak 22/414"),
    ("SV: VS: Fwd: RE: sv: Høringssvar", "Høringssvar"),
    ("AW: Re[2]: Receipt: Consultation response", "Consultation response"),
    ("Svar på høring 22/414", "Svar på høring 22/414"),
    ("Re:" * 500 + " x", "Re:" * 480 + " x"),
])
def test_the_subject_drops_reply_chains(subject: str, bare: str) -> None:
    assert bare_subject(subject) == bare


@pytest.fixture
def kinds_rt(settings_factory, sink: Sink) -> Iterator[Runtime]:  # type: ignore[no-untyped-def]  # noqa: F811
    settings: Settings = settings_factory(smtp={**sink.smtp_settings(), "rate_limit_per_hour": 0,
                                                "domain_limit_per_hour": 0, "total_limit_per_hour": 0,
                                                "contact": "postmottak@ehelse.no"})
    rt = Runtime.open(settings, extract=True)
    with session_scope(rt.engine) as session:
        workflows.sync(session, rt.settings.workflows.path)
        # 22/414 is open (its deadline ahead), so the receipts without a case can list it.
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        case.deadline = date.today() + timedelta(days=30)
        session.add(case)
    yield rt
    rt.close()


def _ingest(rt: Runtime, raw: bytes) -> int:
    result = ingest(rt, raw, Source(kind="file"), ON_TIME)
    assert result.submission_id is not None
    return result.submission_id


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pipeline_picks_the_kind_that_fits_and_the_receipt_says_it(
    kinds_rt: Runtime, sink: Sink, language: str  # noqa: F811
) -> None:
    rt = kinds_rt
    for number in ("22/414", "21/761"):
        set_language(rt, number, language)
    sent = {
        "on_time": make_email(subject="SV: Re: Høringssvar sak 22/414", message_id="<a1@legemiddelverket.no>",
                              headers={"References": "<tidligere-1@legemiddelverket.no> <kvittering-0@ehelse.no>"}),
        "person": make_email(sender="Kari Nordmann <kari.nordmann@gmail.com>", message_id="<p1@gmail.com>",
                             subject="Mitt høringssvar sak 22/414"),
        "late": make_email(sender="post@helsedir.no", subject="Høringssvar sak 21/761", message_id="<l1@helsedir.no>"),
        "unmatched": make_email(sender="post@firma.no", subject="Innspill", body="Her er innspillene våre.",
                                message_id="<u1@firma.no>"),
        "ambiguous": make_email(sender="post@kommune.no", subject="Høringssvar sak 22/414 og 21/761",
                                message_id="<m1@kommune.no>"),
        "unknown_case": make_email(sender="post@nhn.no", subject="Høringssvar sak 23/999", message_id="<x1@nhn.no>"),
        "unreadable": make_email(sender="post@ks.no", subject="Høringssvar sak 22/414", message_id="<r1@ks.no>",
                                 attachments=[("Høringssvar KS.pdf", "application/pdf", BROKEN_PDF)]),
    }
    ids = {name: _ingest(rt, raw) for name, raw in sent.items()}
    report = deliver_due(rt)
    assert report.sent == len(sent) and not report.failed, report
    with Session(rt.engine) as session:
        from intake.db.models import Submission

        listed = {item["id"]: item for item in submissions_json(
            session, list(session.exec(select(Submission)).all()))}
    kinds = {name: listed[pk]["acknowledgement"]["kind"] for name, pk in ids.items()}
    assert kinds == {"on_time": "on_time", "person": "on_time", "late": "late", "unmatched": "unmatched",
                     "ambiguous": "ambiguous", "unknown_case": "unknown_case", "unreadable": "unreadable"}
    by_reply = {d.message["In-Reply-To"]: d for d in sink.messages}
    for name, raw in sent.items():
        original = message_from_bytes(raw, policy=policy.default)["Message-ID"]
        msg, text, _ = strict(by_reply[original].data)
        _dates_are_one_format(text)
        assert not msg["Subject"].startswith(("Kvittering: SV", "Kvittering: Re", "Receipt: SV"))
        # Receipts without a case are in bokmål: there is no workflow to take a language from.
        lang = "nb" if name in NO_CASE_KINDS else language
        if lang in ORGANISATION_WORDS:
            padded = f" {text} "
            wrong = ORGANISATION_WORDS[lang] if name == "person" else PERSON_WORDS[lang]
            assert not [w for w in wrong if w in padded], (name, lang)
    on_time, _, _ = strict(by_reply["<a1@legemiddelverket.no>"].data)
    assert on_time["References"] == ("<tidligere-1@legemiddelverket.no> <kvittering-0@ehelse.no> "
                                     "<a1@legemiddelverket.no>")
    assert on_time["Subject"] == ("Receipt: " if language == "en" else "Kvittering: ") + "Høringssvar sak 22/414"
    _, unreadable, _ = strict(by_reply["<r1@ks.no>"].data)
    assert "Høringssvar KS.pdf" in unreadable
    _, unknown, _ = strict(by_reply["<x1@nhn.no>"].data)
    assert "23/999" in unknown and "22/414 Nasjonal e-helsestrategi for helse- og omsorgssektoren" in unknown
    _, ambiguous, _ = strict(by_reply["<m1@kommune.no>"].data)
    assert "21/761 Nasjonal styringsmodell for e-helse" in ambiguous


def test_kinds_are_documented(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "receipts.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert f"`{kind}`" in docs, kind
