"""Receipts delivered through a real SMTP server on loopback (aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from intake.config import SmtpSettings
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, AuditLog, Message
from intake.receipts.outbox import UNCONFIRMED, backoff, deliver_due
from intake.runtime import Runtime
from tests.builders import make_email
from tests.receipt_helpers import (  # noqa: F401  (fixtures)
    RuntimeFactory,
    ack_of,
    acks,
    due_receipts,
    ingest_one,
    make_rt,
    set_language,
    sink,
)
from tests.smtpsink import HANG_UP, Sink

OSLO = ZoneInfo("Europe/Oslo")
ON_TIME = datetime(2022, 9, 28, 10, 15, tzinfo=OSLO)
LATE = datetime(2022, 10, 2, 9, 5, tzinfo=OSLO)
PDF = ("Høringssvar Legemiddelverket.pdf", "application/pdf", b"%PDF-1.4\n" + b"x" * 48200)
EXPECTED_HEADERS = {"from", "to", "subject", "date", "message-id", "in-reply-to", "references", "auto-submitted",
                    "x-auto-response-suppress", "precedence", "mime-version", "content-type"}
PHRASES = {
    ("on_time", "nb"): ["Vi bekrefter at vi har mottatt høringssvaret deres", "innen fristen", "Med vennlig hilsen"],
    ("late", "nb"): ["etter høringsfristen, som var 01.10.2022", "vurdere"],
    ("unmatched", "nb"): ["Vi kunne ikke se hvilken høring", "saksnummeret"],
    ("on_time", "nn"): ["Vi stadfestar at vi har motteke høyringssvaret dykkar", "innan fristen", "Med venleg helsing"],
    ("late", "nn"): ["etter høyringsfristen, som var 01.10.2022", "vurdere"],
    ("unmatched", "nn"): ["Vi kunne ikkje sjå kva for høyring", "saksnummeret"],
    ("on_time", "en"): ["We confirm that we have received your consultation response", "within the deadline"],
    ("late", "en"): ["after the consultation deadline of 01.10.2022", "assess"],
    ("unmatched", "en"): ["We could not tell which consultation", "case number"],
}
# One date format in every language (dd.mm.yyyy).
RECEIVED = {"nb": "28.09.2022 kl. 10:15", "nn": "28.09.2022 kl. 10:15", "en": "28.09.2022 at 10:15"}
LATE_RECEIVED = {"nb": "02.10.2022 kl. 09:05", "nn": "02.10.2022 kl. 09:05", "en": "02.10.2022 at 09:05"}
SIZE = {"nb": "47,1 kB", "nn": "47,1 kB", "en": "47.1 kB"}


def _parts(delivered_message: object) -> tuple[str, str]:
    from email.message import EmailMessage

    assert isinstance(delivered_message, EmailMessage)
    text = delivered_message.get_body(("plain",))
    html = delivered_message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_each_kind_in_each_language_has_its_content_and_headers(
    make_rt: RuntimeFactory, sink: Sink, lang: str  # noqa: F811
) -> None:
    rt = make_rt(**sink.smtp_settings())
    set_language(rt, "22/414", lang)
    planned = {
        "on_time": ingest_one(rt, make_email(message_id="<svar-1@legemiddelverket.no>", attachments=[PDF]), ON_TIME),
        "late": ingest_one(rt, make_email(sender="Helsedirektoratet <post@helsedir.no>",
                                          message_id="<svar-2@helsedir.no>"), LATE),
        "unmatched": ingest_one(rt, make_email(subject="Innspill", body="Her er våre innspill.",
                                               sender="Kari <kari@firma.no>", message_id="<svar-3@firma.no>"),
                                ON_TIME),
    }
    assert {kind: ack.kind for kind, ack in planned.items()} == {k: k for k in planned}
    report = deliver_due(rt)
    assert report.sent == 3 and report.failed == 0, report
    assert len(sink.messages) == 3
    by_id = {d.message["Message-ID"]: d for d in sink.messages}
    for kind, ack in planned.items():
        # The Message-ID was generated and stored when the receipt was planned, before sending.
        delivered = by_id[ack.message_id]
        # Without a case there is no workflow language: unmatched receipts are in bokmål.
        language = lang if kind != "unmatched" else "nb"
        msg = delivered.message
        assert delivered.rcpt_tos == ack.recipients
        # The null envelope sender (RFC 3834 §3.3), which aiosmtpd records as "<>".
        assert delivered.mail_from == "<>"
        assert {k.lower() for k in msg} == EXPECTED_HEADERS
        assert str(msg["From"]) == "Direktoratet for e-helse <postmottak@ehelse.no>"
        assert str(msg["To"]) == ack.recipients[0]  # type: ignore[index]
        original = {"on_time": "<svar-1@legemiddelverket.no>", "late": "<svar-2@helsedir.no>",
                    "unmatched": "<svar-3@firma.no>"}[kind]
        assert msg["In-Reply-To"] == original and msg["References"] == original
        assert msg["Auto-Submitted"] == "auto-replied"
        assert msg["X-Auto-Response-Suppress"] == "All"
        assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
        assert msg["Subject"].startswith("Receipt: " if language == "en" else "Kvittering: ")
        text, html = _parts(msg)
        with Session(rt.engine) as session:
            ref = session.exec(select(Acknowledgement).where(Acknowledgement.id == ack.id)).one()
        for body in (text, re.sub(r"<[^>]+>", "", html)):
            assert (LATE_RECEIVED if kind == "late" else RECEIVED)[language] in body
            assert "postmottak@ehelse.no, telefon 21 49 50 70" in body
            assert "Direktoratet for e-helse" in body
            for phrase in PHRASES[(kind, language)]:
                assert phrase in body, (kind, language, phrase)
            if kind != "unmatched":
                assert "22/414" in body and "Nasjonal e-helsestrategi for helse- og omsorgssektoren" in body
                assert "01.10.2022" in body
        if kind == "on_time":
            assert f"Høringssvar Legemiddelverket.pdf ({SIZE[language]})" in text
            assert "Høringssvar Legemiddelverket.pdf" in html
        assert ref.status == "sent" and ref.sent_at is not None and ref.body_text == text.replace("\r\n", "\n")
    receipts = {a.kind: a for a in acks(rt)}
    for kind, ack in receipts.items():
        with Session(rt.engine) as session:
            from intake.db.models import Submission

            sub_row = session.get(Submission, ack.submission_id)
            assert sub_row is not None
        delivered_text, _ = _parts(by_id[ack.message_id].message)
        assert sub_row.receipt_ref in delivered_text, kind


def test_smtp_server_down_then_back_delivers_each_receipt_once(make_rt: RuntimeFactory) -> None:  # noqa: F811
    server = Sink().start()
    rt = make_rt(**server.smtp_settings())
    server.stop()
    for n in range(3):
        ingest_one(rt, make_email(sender=f"post@org{n}.no", subject=f"Høringssvar {n} sak 22/414"), ON_TIME)
    down = deliver_due(rt)
    assert down.error and down.sent == 0
    assert [(a.status, a.attempts) for a in acks(rt)] == [("pending", 0)] * 3  # untouched while the server is down
    again = Sink(port=server.port).start()
    try:
        assert deliver_due(rt).sent == 3
        assert deliver_due(rt).sent == 0
        assert sorted(d.rcpt_tos[0] for d in again.messages) == ["post@org0.no", "post@org1.no", "post@org2.no"]
        assert len({d.message["Message-ID"] for d in again.messages}) == 3
    finally:
        again.stop()


def test_temporary_refusal_is_retried_later_and_sent_once(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    sink.replies.append("451 4.3.0 try again later")
    rt = make_rt(**sink.smtp_settings(retry_base_seconds=60))
    ingest_one(rt, make_email(), ON_TIME)
    first = deliver_due(rt)
    assert first.retrying == 1 and not sink.messages
    (ack,) = acks(rt)
    assert ack.status == "pending" and ack.attempts == 1 and "451 4.3.0" in (ack.last_error or "")
    assert ack.next_attempt_at is not None and ack.next_attempt_at > datetime.now(UTC) + timedelta(seconds=50)
    assert deliver_due(rt).sent == 0  # not yet due
    with session_scope(rt.engine) as session:
        row = session.get(Acknowledgement, ack.id)
        assert row is not None
        row.next_attempt_at = datetime.now(UTC)
        session.add(row)
    assert deliver_due(rt).sent == 1
    assert len(sink.messages) == 1 and acks(rt)[0].status == "sent"


def test_permanent_refusal_marks_failed_with_the_reply(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    sink.replies.append("550 5.1.1 mailbox unavailable")
    rt = make_rt(**sink.smtp_settings())
    ack = ingest_one(rt, make_email(), ON_TIME)
    assert deliver_due(rt).failed == 1
    row = ack_of(rt, ack.submission_id)
    assert row.status == "failed" and "550 5.1.1 mailbox unavailable" in (row.last_error or "")
    assert deliver_due(rt).sent == 0 and not sink.messages
    with Session(rt.engine) as session:
        actions = session.exec(select(AuditLog.action).where(AuditLog.entity_id == ack.id)
                               .where(AuditLog.entity == "acknowledgement")).all()
    assert "ack.failed" in actions and "ack.sending" in actions


def test_attempts_run_out_after_max_attempts(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    sink.replies.extend(["452 4.2.2 mailbox full"] * 3)
    rt = make_rt(**sink.smtp_settings(retry_base_seconds=0, max_attempts=2))
    ingest_one(rt, make_email(), ON_TIME)
    deliver_due(rt)
    deliver_due(rt)
    (ack,) = acks(rt)
    assert ack.status == "failed" and ack.attempts == 2 and not sink.messages


def test_backoff_is_exponential_and_capped() -> None:
    smtp = SmtpSettings(retry_base_seconds=30, retry_max_seconds=3600)
    assert [backoff(n, smtp).total_seconds() for n in (1, 2, 3, 4, 8, 20)] == [30, 60, 120, 240, 3600, 3600]


def test_header_injection_through_encoded_subject_and_display_name(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    rt = make_rt(**sink.smtp_settings())
    raw = (
        b"Authentication-Results: mx.ehelse.no; dmarc=pass header.from=legemiddelverket.no\r\n"
        b"From: =?utf-8?q?Evil=0D=0ABcc=3A_victim=40evil=2Eexample=0D=0A?= <post@legemiddelverket.no>\r\n"
        b"To: postmottak@ehelse.no\r\n"
        b"Subject: =?utf-8?q?H=C3=B8ringssvar_sak_22/414=0D=0ABcc:_victim2@evil.example=0D=0A"
        b"X-Injected:_yes?= =?utf-8?b?DQpDYzogdmljdGltM0BldmlsLmV4YW1wbGU=?=\r\n"
        b"Message-ID: <evil-1@legemiddelverket.no>\r\n"
        b"Date: Wed, 28 Sep 2022 08:15:00 +0000\r\n"
        b"\r\n"
        b"Vedlagt.\r\n"
    )
    ack = ingest_one(rt, raw, ON_TIME)
    assert ack.recipients == ["post@legemiddelverket.no"]
    assert deliver_due(rt).sent == 1
    (delivered,) = sink.messages
    assert delivered.rcpt_tos == ["post@legemiddelverket.no"]
    msg = delivered.message
    assert {k.lower() for k in msg} == EXPECTED_HEADERS
    assert "victim" not in str(msg["To"]) and msg["Bcc"] is None and msg["Cc"] is None and msg["X-Injected"] is None
    header_block = delivered.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "\nBcc" not in header_block and "\nCc" not in header_block and "\nX-Injected" not in header_block
    subject = msg["Subject"]
    assert "\r" not in subject and "\n" not in subject and subject.startswith("Kvittering: Høringssvar sak 22/414")


def test_hostile_reply_to_with_several_addresses_gives_one_recipient(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    rt = make_rt(**sink.smtp_settings())
    raw = make_email(headers={"Reply-To": "svar@legemiddelverket.no, victim@evil.example"})
    ingest_one(rt, raw, ON_TIME)
    deliver_due(rt)
    (delivered,) = sink.messages
    assert delivered.rcpt_tos == ["svar@legemiddelverket.no"] and str(delivered.message["To"]) == delivered.rcpt_tos[0]


def test_without_smtp_host_receipts_are_written_as_eml_files(make_rt: RuntimeFactory, tmp_path: Path) -> None:  # noqa: F811
    rt = make_rt(host="")
    ack = ingest_one(rt, make_email(), ON_TIME)
    assert deliver_due(rt).sent == 1
    files = sorted(rt.settings.smtp.outbox_path.glob("*.eml"))
    assert len(files) == 1
    from email import message_from_bytes, policy

    msg = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert msg["Message-ID"] == ack.message_id and msg["To"] == "post@legemiddelverket.no"
    assert deliver_due(rt).sent == 0
    assert len(list(rt.settings.smtp.outbox_path.iterdir())) == 1  # no temporary files left behind


def test_two_senders_at_once_never_send_the_same_receipt(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    settings = sink.smtp_settings(batch_size=5)
    first, second = make_rt(**settings), make_rt(**settings)
    due_receipts(first, 40)
    reports = []

    def run(rt: object) -> None:
        reports.append(deliver_due(rt))  # type: ignore[arg-type]

    threads = [threading.Thread(target=run, args=(rt,)) for rt in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [d.message["Message-ID"] for d in sink.messages]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert sum(r.sent for r in reports) == 40
    assert all(a.status == "sent" for a in acks(first))


def test_receipt_handed_off_by_a_dead_process_is_never_sent_again(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    rt = make_rt(**sink.smtp_settings())
    (ack_id,) = due_receipts(rt, 1)
    past = datetime.now(UTC) - timedelta(minutes=1)
    with session_scope(rt.engine) as session:
        row = session.get(Acknowledgement, ack_id)
        assert row is not None
        row.status, row.handoff_at, row.claimed_until, row.claim_token = "sending", past, past, "dead"
        session.add(row)
    report = deliver_due(rt)
    assert report.unconfirmed == 1 and report.sent == 0 and not sink.messages
    (row,) = acks(rt)
    assert row.status == "sent" and row.last_error == UNCONFIRMED and row.sent_at == past
    with Session(rt.engine) as session:
        assert session.exec(select(AuditLog).where(col(AuditLog.action) == "ack.unconfirmed")).first() is not None


def test_a_server_that_hangs_up_after_the_data_gets_the_receipt_again_with_its_message_id(
    make_rt: RuntimeFactory, sink: Sink  # noqa: F811
) -> None:
    """No final reply means the server did not take the receipt (RFC 5321 §6.1): it is retried, not lost."""
    sink.replies.append(HANG_UP)
    rt = make_rt(**sink.smtp_settings(retry_base_seconds=0))
    planned = ingest_one(rt, make_email(), ON_TIME)
    first = deliver_due(rt)
    assert first.retrying == 1 and first.unconfirmed == 0 and not sink.messages, first
    (row,) = acks(rt)
    assert row.status == "pending" and row.attempts == 1 and row.handoff_at is None
    assert row.message_id == planned.message_id and "no reply after the end of data" in (row.last_error or "")
    second = deliver_due(rt)
    assert second.sent == 1, second
    (delivered,) = sink.messages
    assert delivered.message["Message-ID"] == planned.message_id
    (row,) = acks(rt)
    assert row.status == "sent" and row.last_error is None and row.attempts == 2
    with Session(rt.engine) as session:
        actions = session.exec(select(AuditLog.action).where(AuditLog.entity_id == row.id)
                               .where(AuditLog.entity == "acknowledgement").order_by(col(AuditLog.id))).all()
    assert actions[-4:] == ["ack.sending", "ack.retry", "ack.sending", "ack.sent"]


def test_auto_reply_bounce_and_list_get_no_receipt_at_all(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    rt = make_rt(**sink.smtp_settings())
    for raw in [
        make_email(subject="Out of Office", headers={"Auto-Submitted": "auto-replied"}, sender="b@b.no"),
        make_email(subject="Undeliverable: sak 22/414", sender="MAILER-DAEMON@mx.example.no"),
        make_email(subject="Nyhetsbrev sak 22/414", headers={"List-Id": "<news.example.no>"}, sender="c@c.no"),
        make_email(subject="sak 22/414", sender="noreply@system.example.no"),
    ]:
        ingest_one(rt, raw, ON_TIME)
    deliver_due(rt)
    assert not sink.messages
    assert [a.status for a in acks(rt)] == ["suppressed"] * 4
    assert all(a.reason for a in acks(rt))


def test_a_reply_to_a_delivered_receipt_is_matched_through_the_thread(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    rt = make_rt(**sink.smtp_settings())
    ingest_one(rt, make_email(), ON_TIME)
    deliver_due(rt)
    receipt_id = sink.messages[0].message["Message-ID"]
    reply = make_email(subject="SV: Kvittering", body="Takk for kvitteringen.", sender="post@legemiddelverket.no",
                       headers={"In-Reply-To": receipt_id, "References": receipt_id})
    ack = ingest_one(rt, reply, ON_TIME)
    with Session(rt.engine) as session:
        from intake.db.models import Submission

        sub = session.get(Submission, ack.submission_id)
        assert sub is not None
    assert sub.case_number == "22/414" and sub.match_source == "thread"


def test_a_row_planned_without_message_id_gets_one_stored_before_sending(
    make_rt: RuntimeFactory, sink: Sink  # noqa: F811
) -> None:
    rt = make_rt(**sink.smtp_settings())
    (ack_id,) = due_receipts(rt, 1)
    with session_scope(rt.engine) as session:
        row = session.get(Acknowledgement, ack_id)
        assert row is not None
        row.message_id = None
        session.add(row)
    assert deliver_due(rt).sent == 1
    (row,) = acks(rt)
    assert row.message_id is not None and row.message_id.endswith("@ehelse.no>")
    assert sink.messages[0].message["Message-ID"] == row.message_id


def test_a_connection_the_server_closed_between_receipts_is_reopened() -> None:
    from intake.receipts.compose import build_receipt
    from intake.receipts.transport import SmtpTransport

    first = Sink().start()
    transport = SmtpTransport(SmtpSettings(host="127.0.0.1", port=first.port, security="none", timeout_seconds=5))
    handed: list[str] = []

    def envelope(n: int) -> Any:
        return build_receipt(from_address="postmottak@ehelse.no", from_name="Postmottak", recipient="a@b.no",
                             message_id=f"<k{n}@ehelse.no>", in_reply_to=None, subject="Kvittering", text="t",
                             html="<p>t</p>", date=datetime.now(UTC))

    try:
        transport.send(envelope(1), lambda: handed.append("1"))
        first.stop()  # drops the kept connection
        second = Sink(port=first.port).start()
        try:
            transport.send(envelope(2), lambda: handed.append("2"))
            assert handed == ["1", "2"] and [d.message["Message-ID"] for d in second.messages] == ["<k2@ehelse.no>"]
        finally:
            transport.close()
            second.stop()
    finally:
        first.stop()


def test_a_sender_whose_lease_ran_out_cannot_hand_the_receipt_off(make_rt: RuntimeFactory, sink: Sink) -> None:  # noqa: F811
    from intake.receipts import outbox_state as state
    from intake.receipts.compose import build_receipt

    rt = make_rt(**sink.smtp_settings(claim_seconds=0.05))
    (ack_id,) = due_receipts(rt, 1)
    assert state.claim(rt.engine, [ack_id], "slow", rt.settings.smtp) == [ack_id]
    time.sleep(0.1)  # the slow sender stalls past its lease; another one takes the row and sends it
    assert deliver_due(rt).sent == 1
    envelope = build_receipt(from_address="postmottak@ehelse.no", from_name="P", recipient="a@b.no",
                             message_id="<k@ehelse.no>", in_reply_to=None, subject="K", text="t", html="t",
                             date=datetime.now(UTC))
    with pytest.raises(state.ClaimLost), state.steps(rt.engine) as steps:
        state.handoff(steps, ack_id, "slow", envelope, "K", "t", "t", rt.settings.smtp)
    assert len(sink.messages) == 1 and acks(rt)[0].status == "sent"


def test_a_long_run_asks_for_its_next_batch_with_a_query_of_the_same_size(make_rt: RuntimeFactory,  # noqa: F811
                                                                          sink: Sink) -> None:  # noqa: F811
    # Each batch of a run left out every receipt tried so far by id: at 10,000 receipts due at
    # once, the query for the last batch carried 10,000 parameters and the run slowed with its square.
    from sqlalchemy import event

    rt = make_rt(**sink.smtp_settings(batch_size=5, rate_limit_per_hour=0, domain_limit_per_hour=0,
                                      total_limit_per_hour=0))
    for n in range(40):
        ingest_one(rt, make_email(message_id=f"<svar{n}@legemiddelverket.no>", body=f"Svar {n}, sak 22/414"), ON_TIME)
    sizes: list[int] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "ORDER BY acknowledgements.next_attempt_at" in statement:  # the query for the next batch
            sizes.append(len(parameters))

    event.listen(rt.engine, "before_cursor_execute", count)
    assert deliver_due(rt).sent == 40
    assert len(sink.messages) == 40
    assert len(sizes) >= 8 and max(sizes) == min(sizes), sizes


def test_every_step_of_a_delivery_is_audited_and_the_connections_go_back_durable(make_rt: RuntimeFactory,  # noqa: F811
                                                                                   sink: Sink) -> None:  # noqa: F811
    # On PostgreSQL the hand-off and the finish are each one statement (the row's change and its
    # audit entry together), and hand-offs go on a connection that commits without waiting for
    # the disk: that setting must not stay on a connection the pool gives to the next user.
    rt = make_rt(**sink.smtp_settings())
    ids = due_receipts(rt, 3)
    assert deliver_due(rt).sent == 3
    with Session(rt.engine) as session:
        steps = session.exec(select(AuditLog.entity_id, AuditLog.action)
                             .where(AuditLog.entity == "acknowledgement", col(AuditLog.action).in_(
                                 ["ack.sending", "ack.sent"]))).all()
    assert sorted(steps) == sorted((i, a) for i in ids for a in ("ack.sending", "ack.sent"))
    # More connections than a delivery run holds, taken past the engine's events (SQLite's BEGIN).
    held = [rt.engine.raw_connection() for _ in range(4)]
    setting = "SHOW synchronous_commit" if rt.engine.dialect.name == "postgresql" else "PRAGMA synchronous"
    try:
        for conn in held:
            cursor = conn.cursor()
            cursor.execute(setting)
            assert cursor.fetchone()[0] in ("on", 2)  # 2: SQLite's FULL
    finally:
        for conn in held:
            conn.close()


def test_a_receipt_repeats_the_references_of_a_header_longer_than_the_first_read(rt: Runtime) -> None:
    from intake.receipts.outbox import FIRST_BYTES, original_references
    from intake.store.messages import Source, store_message

    chain = "<a@legemiddelverket.no> <b@ehelse.no>"
    short = make_email(headers={"References": chain})
    # Forty kilobytes of Received lines before the References: past the first read, within the second.
    received = {f"X-Trace-{n}": "x" * 900 for n in range(45)}
    long = make_email(headers={**received, "References": chain})
    assert long.index(b"References") > FIRST_BYTES
    for raw in (short, long):
        stored = store_message(rt, raw, Source(kind="file"), datetime.now(UTC))
        with Session(rt.engine) as session:
            blob = session.get(Message, stored.id).blob  # type: ignore[union-attr]
        assert original_references(rt, blob) == ["<a@legemiddelverket.no>", "<b@ehelse.no>"]
