"""Follow-ups: a reply to a response or to its receipt joins that response, through a real Dovecot.

Thread headers decide on their own; a message that only *says* it corrects an
earlier one is suggested, and a clerk confirms it in one click. A thread is
counted once in the summary, published as one response with all its documents
and archived as one package; a bare «takk» gets no receipt, a follow-up a short
«tillegg mottatt».
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from intake import workflows
from intake.archive.facts import load_facts
from intake.config import PublicationSettings
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, Attachment, Case, Flag, Submission
from intake.pipeline.run import ingest
from intake.receipts.outbox import deliver_due
from intake.review.publication import publication_list
from intake.review.serialize import submissions_json
from intake.review.summary import case_summary, summary_json
from intake.runtime import Runtime
from intake.sources.imap import poll_mailbox
from intake.store.messages import Source
from intake.web.app import create_app
from tests.builders import make_email
from tests.conftest import build_settings
from tests.dovecot import Dovecot
from tests.smtpsink import Sink
from tests.web_support import add_user, login

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)
PDF = ("Høringssvar Legemiddelverket.pdf", "application/pdf", b"%PDF-1.4\n" + b"x" * 2000)
FIXED = ("Høringssvar Legemiddelverket - korrigert.pdf", "application/pdf", b"%PDF-1.4\n" + b"y" * 2100)
APPENDIX = ("Vedlegg 2 Kostnader.pdf", "application/pdf", b"%PDF-1.4\n" + b"z" * 1500)


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


def _runtime(database_url: str, tmp_path: Path, sink: Sink, boxes: list[dict[str, Any]]) -> Runtime:
    settings = build_settings(database_url, tmp_path, boxes)
    smtp = settings.smtp.model_copy(update={**sink.smtp_settings(), "from_address": "postmottak@ehelse.no",
                                            "rate_limit_per_hour": 0, "domain_limit_per_hour": 0,
                                            "total_limit_per_hour": 0})
    rt = Runtime.open(settings.model_copy(update={"smtp": smtp}), extract=False)
    with session_scope(rt.engine) as session:
        workflows.sync(session, rt.settings.workflows.path)
    return rt


def _sub(rt: Runtime, message_id: str) -> Submission:
    with Session(rt.engine) as session:
        return session.exec(select(Submission).where(Submission.message_id == message_id)).one()


def _ack(rt: Runtime, submission_id: int | None) -> Acknowledgement:
    with Session(rt.engine) as session:
        return session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == submission_id)).one()


def _thread(rt: Runtime, sink: Sink, dovecot: Dovecot, user: str) -> tuple[int, int, int, int]:
    """A response, a reply to our receipt with a corrected file, a reply to the response with one more
    file, and a bare «takk»: all through Dovecot. Returns the four submission ids."""
    box = rt.settings.mailboxes[0]
    dovecot.append(make_email(message_id="<svar@legemiddelverket.no>", attachments=[PDF]), user=user, when=ON_TIME)
    poll_mailbox(rt, box)
    assert deliver_due(rt).sent == 1
    (receipt,) = sink.messages
    receipt_id = receipt.message["Message-ID"]
    assert receipt_id == _ack(rt, _sub(rt, "<svar@legemiddelverket.no>").id).message_id
    later = datetime(2022, 9, 29, 9, 0, tzinfo=UTC)
    dovecot.append(make_email(
        subject=f"SV: {receipt.message['Subject']}", message_id="<rettet@legemiddelverket.no>",
        body="Vedlagt korrigert versjon.\n\n> Vi bekrefter at vi har mottatt høringssvaret deres",
        headers={"In-Reply-To": receipt_id, "References": f"<svar@legemiddelverket.no> {receipt_id}"},
        attachments=[FIXED]), user=user, when=later)
    dovecot.append(make_email(
        subject="Re: Høringssvar - Nasjonal e-helsestrategi - sak 22/414", message_id="<glemte@legemiddelverket.no>",
        body="Vi glemte vedlegget om kostnader.",
        headers={"In-Reply-To": "<svar@legemiddelverket.no>", "References": "<svar@legemiddelverket.no>"},
        attachments=[APPENDIX]), user=user, when=later)
    dovecot.append(make_email(
        subject=f"SV: {receipt.message['Subject']}", message_id="<takk@legemiddelverket.no>",
        body="Takk!\n\nMed vennlig hilsen\nKari", headers={"In-Reply-To": receipt_id}), user=user, when=later)
    poll_mailbox(rt, box)
    ids = [_sub(rt, m).id for m in ("<svar@legemiddelverket.no>", "<rettet@legemiddelverket.no>",
                                    "<glemte@legemiddelverket.no>", "<takk@legemiddelverket.no>")]
    assert all(i is not None for i in ids)
    return ids[0], ids[1], ids[2], ids[3]  # type: ignore[return-value]


def test_replies_to_a_response_or_its_receipt_are_one_thread_counted_published_and_archived_once(
    dovecot: Dovecot, imap_user: str, database_url: str, tmp_path: Path, sink: Sink
) -> None:
    rt = _runtime(database_url, tmp_path, sink, [dovecot.mailbox_settings(imap_user)])
    try:
        first, fixed, forgot, thanks = _thread(rt, sink, dovecot, imap_user)
        with Session(rt.engine) as session:
            subs = list(session.exec(select(Submission).order_by(Submission.id)))  # type: ignore[arg-type]
            listed = {item["id"]: item for item in submissions_json(session, subs)}
            flags = {f.name for f in session.exec(select(Flag).where(Flag.submission_id == fixed))}
            case = session.exec(select(Case).where(Case.number == "22/414")).one()
            summary = summary_json(case_summary(session, case))
            published = publication_list(session, case, PublicationSettings())
            facts = load_facts(session, subs)
        assert [listed[i]["follow_up_of"] for i in (first, fixed, forgot, thanks)] == [None, first, first, first]
        assert all(listed[i]["case"] == "22/414" for i in (fixed, forgot, thanks))
        assert "duplicate_organisation" not in flags  # an addition, not a second response
        assert summary["responses"] == 1
        (response,) = published
        assert response.submission_id == first
        assert [d.filename for d in response.documents] == [PDF[0], FIXED[0], APPENDIX[0]]
        assert set(facts) == {first} and [m.submission_id for m in facts[first].members] == [
            first, fixed, forgot, thanks]

        report = deliver_due(rt)
        assert report.sent == 2, report  # two short receipts; the bare «takk» gets none
        assert _ack(rt, thanks).status == "suppressed" and "takk" in (_ack(rt, thanks).reason or "")
        for pk in (fixed, forgot):
            ack = _ack(rt, pk)
            assert ack.kind == "follow_up" and ack.status == "sent"
            delivered = next(d for d in sink.messages if d.message["Message-ID"] == ack.message_id)
            msg = message_from_bytes(delivered.data, policy=policy.strict)
            text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            assert text.startswith("Tillegg mottatt. Vi har lagt e-posten deres til høringssvaret deres i sak 22/414")
            assert not re.match(r"Kvittering: (SV|Re|Kvittering)", msg["Subject"]), msg["Subject"]
        assert listed[fixed]["acknowledgement"]["kind"] == "follow_up"

        # Staff choose which version of the corrected document counts, on the thread.
        with Session(rt.engine) as session:
            original = session.exec(select(Attachment).where(Attachment.submission_id == first)).one()
        add_user(rt)
        with TestClient(create_app(rt)) as client:
            token = login(client)
            page = client.get(f"/submissions/{fixed}").text
            assert "Dokumenter i tråden" in page and FIXED[0] in page and PDF[0] in page
            done = client.post(f"/submissions/{fixed}/documents/{original.id}/version",
                               data={"csrf_token": token, "counts": "no"}, follow_redirects=False)
            assert done.status_code == 303, done.text
        with Session(rt.engine) as session:
            case = session.exec(select(Case).where(Case.number == "22/414")).one()
            (response,) = publication_list(session, case, PublicationSettings())
            facts = load_facts(session, list(session.exec(select(Submission))))
        assert [d.filename for d in response.documents] == [FIXED[0], APPENDIX[0]]
        # The archive keeps every version.
        assert [f.filename for m in facts[first].members for f in m.files] == [PDF[0], FIXED[0], APPENDIX[0]]
    finally:
        rt.close()


def test_a_message_that_says_it_corrects_an_earlier_one_is_only_suggested_until_a_clerk_confirms(
    database_url: str, tmp_path: Path, sink: Sink
) -> None:
    rt = _runtime(database_url, tmp_path, sink, [])
    try:
        first = ingest(rt, make_email(message_id="<a@legemiddelverket.no>", attachments=[PDF]), Source(kind="file"),
                       ON_TIME).submission_id
        second = ingest(rt, make_email(subject="Høringssvar sak 22/414 - korrigert versjon",
                                       message_id="<b@legemiddelverket.no>", body="Vedlagt korrigert versjon.",
                                       attachments=[FIXED]), Source(kind="file"), ON_TIME).submission_id
        other = ingest(rt, make_email(sender="post@helsedir.no", subject="Høringssvar sak 22/414 - korrigert",
                                      message_id="<c@helsedir.no>"), Source(kind="file"), ON_TIME).submission_id
        sub = _sub(rt, "<b@legemiddelverket.no>")
        # The content alone links nothing: it only suggests.
        assert sub.follow_up_of is None and sub.follow_up_suggested == first
        assert _sub(rt, "<c@helsedir.no>").follow_up_suggested is None  # another organisation
        add_user(rt)
        with TestClient(create_app(rt)) as client:
            token = login(client)
            page = client.get(f"/submissions/{second}")
            assert "Er den et tillegg til svaret under?" in page.text and f'href="/submissions/{first}"' in page.text
            done = client.post(f"/submissions/{second}/follow-up", data={"decision": "confirm", "csrf_token": token},
                               follow_redirects=False)
            assert done.status_code == 303, done.text
            root = client.get(f"/submissions/{first}")
            assert "Tillegg" in root.text and f'href="/submissions/{second}"' in root.text
        sub = _sub(rt, "<b@legemiddelverket.no>")
        assert sub.follow_up_of == first and sub.follow_up_suggested is None
        with Session(rt.engine) as session:
            flag = session.exec(select(Flag).where(Flag.submission_id == second,
                                                   Flag.name == "duplicate_organisation")).one()
            case = session.exec(select(Case).where(Case.number == "22/414")).one()
            assert flag.resolved_at is not None and flag.resolved_by == "kari"
            assert summary_json(case_summary(session, case))["responses"] == 2  # the first and helsedir's
        assert other is not None
    finally:
        rt.close()
