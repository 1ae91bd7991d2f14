"""Writing to the sender from the submission page: a template, edited, through the outbox, threaded and
audited, with the answer coming back into the same thread; the receipt panel's exact text; and the
corrected receipt a case changed by hand offers, shown before it is sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, AuditLog, Letter, Submission
from intake.pipeline.run import ingest
from intake.receipts.letters import TEMPLATES
from intake.receipts.outbox import deliver_due
from intake.receipts.plan import LANGUAGES
from intake.receipts.render import render
from intake.runtime import Runtime
from intake.store.messages import Source
from intake.web.app import create_app
from tests.builders import make_email
from tests.conftest import build_settings
from tests.smtpsink import Sink
from tests.test_receipts import context
from tests.web_support import add_user, login

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


@pytest.fixture
def rt(database_url: str, tmp_path: Path, sink: Sink) -> Iterator[Runtime]:
    settings = build_settings(database_url, tmp_path, [])
    smtp = settings.smtp.model_copy(update={**sink.smtp_settings(), "from_address": "postmottak@ehelse.no",
                                            "rate_limit_per_hour": 0, "domain_limit_per_hour": 0,
                                            "total_limit_per_hour": 0})
    runtime = Runtime.open(settings.model_copy(update={"smtp": smtp}), extract=False)
    with session_scope(runtime.engine) as session:
        workflows.sync(session, runtime.settings.workflows.path)
    add_user(runtime)
    yield runtime
    runtime.close()


def _ingest(rt: Runtime, raw: bytes) -> int:
    result = ingest(rt, raw, Source(kind="file"), ON_TIME)
    assert result.submission_id is not None
    return result.submission_id


def _text(page: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", page))


def test_a_letter_from_a_template_is_edited_sent_threaded_audited_and_answered_in_the_same_thread(
    rt: Runtime, sink: Sink
) -> None:
    sub_id = _ingest(rt, make_email(sender="Kari Nordmann <kari.nordmann@gmail.com>", subject="Innspill",
                                    body="Her er innspillet mitt.", message_id="<innspill@gmail.com>"))
    assert deliver_due(rt).sent == 1
    with TestClient(create_app(rt)) as client:
        token = login(client)
        page = client.get(f"/submissions/{sub_id}")
        text = _text(page.text)
        # The receipt panel shows the exact text that went out.
        with Session(rt.engine) as session:
            ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == sub_id)).one()
        assert ack.body_text and ack.body_text.splitlines()[0] in text and "Teksten som ble sendt" in text
        # Three templates, each a draft addressed to a person («du»).
        assert "Be om en lesbar fil" in text and "Be om saksnummer" in text and "Bekreft at svaret er trukket" in text
        assert "Kan du svare på denne e-posten med saksnummeret fra høringsbrevet?" in text
        edited = ("Hei,\n\nTakk for e-posten din. Gjelder den høringen om e-helsestrategien (sak 22/414)? "
                  "Svar på denne e-posten.\n\nMed vennlig hilsen\nPostmottak")
        done = client.post(f"/submissions/{sub_id}/letter", follow_redirects=False, data={
            "csrf_token": token, "template": "case_number", "subject": "Hvilken høring gjelder e-posten?",
            "body": edited})
        assert done.status_code == 303, done.text
    report = deliver_due(rt)
    assert report.letters == 1, report
    letter_mail = sink.messages[-1]
    msg = message_from_bytes(letter_mail.data, policy=policy.strict)
    assert letter_mail.rcpt_tos == ["kari.nordmann@gmail.com"]
    assert msg["Subject"] == "Hvilken høring gjelder e-posten?"
    assert msg["In-Reply-To"] == "<innspill@gmail.com>"
    assert msg["References"] == f"{ack.message_id} <innspill@gmail.com>"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == edited  # type: ignore[union-attr]
    with Session(rt.engine) as session:
        letter = session.exec(select(Letter)).one()
        actions = list(session.exec(select(AuditLog.action).where(AuditLog.entity == "submission",
                                                                  AuditLog.entity_id == sub_id)
                                    .order_by(col(AuditLog.id))))
    assert letter.status == "sent" and letter.created_by == "kari" and letter.message_id == msg["Message-ID"]
    assert actions[-2:] == ["letter.queued", "letter.sent"]
    assert deliver_due(rt).letters == 0  # sent once
    # The answer to the letter comes back into the same thread.
    answer = _ingest(rt, make_email(sender="kari.nordmann@gmail.com", subject=f"Re: {msg['Subject']}",
                                    body="Ja, sak 22/414.", message_id="<svar-paa-brev@gmail.com>",
                                    headers={"In-Reply-To": msg["Message-ID"]}))
    with Session(rt.engine) as session:
        reply = session.get(Submission, answer)
        assert reply is not None and reply.follow_up_of == sub_id


def test_a_case_changed_by_hand_offers_the_corrected_receipt_and_shows_its_text_first(
    rt: Runtime, sink: Sink
) -> None:
    sub_id = _ingest(rt, make_email(subject="Innspill", body="Her er våre innspill.",
                                    message_id="<uten-sak@legemiddelverket.no>"))
    assert deliver_due(rt).sent == 1
    with TestClient(create_app(rt)) as client:
        token = login(client)
        assert "Saken er endret etter at kvitteringen ble sendt" not in client.get(f"/submissions/{sub_id}").text
        client.post(f"/submissions/{sub_id}/case", data={"csrf_token": token, "case": "22/414"},
                    follow_redirects=False)
        text = _text(client.get(f"/submissions/{sub_id}").text)
        assert "Saken er endret etter at kvitteringen ble sendt" in text
        start = text.index("Dette er kvitteringen som passer nå:")
        preview = text[start:]
        assert "Vi bekrefter at vi har mottatt høringssvaret deres i sak 22/414" in preview
        done = client.post(f"/submissions/{sub_id}/resend", data={"csrf_token": token}, follow_redirects=False)
        assert done.status_code == 303
    assert deliver_due(rt).sent == 1
    corrected = message_from_bytes(sink.messages[-1].data, policy=policy.strict)
    body = corrected.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert body.startswith("Vi bekrefter at vi har mottatt høringssvaret deres i sak 22/414")
    # What the page showed is what was sent, paragraph for paragraph.
    for paragraph in body.strip().split("\n\n"):
        assert paragraph.strip() in preview, paragraph


@pytest.mark.parametrize("person", [False, True])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_letter_template_renders_in_every_language(name: str, language: str, person: bool) -> None:
    rendered = render(context(language, case=name != "case_number", kind=f"letter_{name}", person=person),
                      f"letter_{name}", language)
    assert rendered.subject and "{{" not in rendered.text and "K-0123456789" in rendered.text
    assert re.search(r"\n\n(Referanse|Reference): K-0123456789\n\n", rendered.text), rendered.text
    if language != "en":
        padded = f" {rendered.text} "
        assert (" du " in padded or " deg" in padded or " din" in padded or " ditt" in padded) is person, rendered.text
