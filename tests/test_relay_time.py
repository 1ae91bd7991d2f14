"""Arrival time through the agency's relay: ``received_at`` from a trusted relay's Received header.

Mail that waited in the relay's queue while intake was down must keep the time
the relay took it; an on-time response must not turn late because we were down.
Tested against the real receiver, once behind a real Postfix that queues the
mail while the receiver is stopped.
"""

from __future__ import annotations

import smtplib
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Message, Submission, utcnow
from intake.pipeline.run import process_message
from intake.runtime import Runtime
from intake.sources.relay_time import received_fields, relay_received_at
from intake.sources.smtp import SmtpReceiver
from tests.builders import make_email
from tests.conftest import build_settings, need, start_or_need
from tests.ports import free_port
from tests.postfix import Postfix, unavailable

OSLO = ZoneInfo("Europe/Oslo")
POSTMOTTAK = "postmottak@ehelse.no"
RELAY = "relay.ehelse.no"
CASE = "26/900"


def _yesterday() -> datetime:
    """One minute before midnight in Oslo at the start of today: the last minute of yesterday."""
    today = datetime.now(OSLO).date()
    return datetime(today.year, today.month, today.day, tzinfo=OSLO) - timedelta(minutes=1)


def _runtime(database_url: str, tmp_path: Path, trusted: list[str]) -> Runtime:
    """A receiver for a consultation whose deadline was yesterday (Oslo)."""
    folder = tmp_path / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "26-900.yaml").write_text(
        f'case: "{CASE}"\ntitle: "Høring med frist i går"\ndeadline: {_yesterday().date().isoformat()}\n',
        encoding="utf-8")
    settings = build_settings(database_url, tmp_path, [])
    receiver = settings.receiver.model_copy(update={
        "enabled": True, "port": free_port(), "recipients": [POSTMOTTAK], "trusted_relays": trusted})
    wf = settings.workflows.model_copy(update={"path": folder})
    rt = Runtime.open(settings.model_copy(update={"receiver": receiver, "workflows": wf}), extract=False)
    with session_scope(rt.engine) as session:
        workflows.sync(session, folder)
    return rt


def _with_received(raw: bytes, *fields: str) -> bytes:
    return b"".join(f"Received: {f}\r\n".encode() for f in fields) + raw.replace(b"\n", b"\r\n")


def _stamp(by: str, when: datetime) -> str:
    return (f"from mx.example.no (mx.example.no [192.0.2.10]) by {by} (Postfix) with ESMTPS id 4Qx7Lm2zKz\r\n"
            f"\tfor <{POSTMOTTAK}>; {format_datetime(when.astimezone(UTC))}")


def _submission(rt: Runtime, pk: int) -> Submission:
    assert process_message(rt, pk) is not None
    with Session(rt.engine) as session:
        return session.exec(select(Submission).where(Submission.message_ref == pk)).one()


@pytest.fixture
def stored() -> list[int]:
    return []


def _receive(rt: Runtime, stored: list[int], raw: bytes) -> Submission:
    server = SmtpReceiver(rt, on_stored=stored.append)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
            smtp.sendmail("post@legemiddelverket.no", [POSTMOTTAK], raw)
    finally:
        server.stop()
    return _submission(rt, stored[-1])


def test_mail_the_trusted_relay_took_before_the_deadline_stays_on_time(
    database_url: str, tmp_path: Path, stored: list[int]
) -> None:
    took = _yesterday() + timedelta(seconds=30)

    def raw(message_id: str) -> bytes:
        return _with_received(make_email(subject=f"Høringssvar sak {CASE}", message_id=message_id),
                              _stamp(RELAY, took), _stamp("mx.example.no", took - timedelta(seconds=5)))

    trusting = _runtime(database_url, tmp_path / "a", [RELAY.upper()])
    try:
        sub = _receive(trusting, stored, raw("<sent-i-tide@lmv.no>"))
        assert sub.received_at == took.astimezone(UTC) and sub.late is False and sub.case_number == CASE
    finally:
        trusting.close()
    # Without the setting our own clock counts, and the same mail is late: what happened before.
    own_clock = _runtime(database_url, tmp_path / "b", [])
    try:
        sub = _receive(own_clock, stored, raw("<sent-i-tide-2@lmv.no>"))
        assert sub.received_at > utcnow() - timedelta(minutes=1) and sub.late is True
    finally:
        own_clock.close()


def test_a_sender_cannot_set_its_own_arrival_time(database_url: str, tmp_path: Path, stored: list[int]) -> None:
    took = _yesterday() + timedelta(seconds=30)
    rt = _runtime(database_url, tmp_path, [RELAY])
    try:
        # A header naming our relay below one written by someone else is the sender's own text.
        forged = _with_received(make_email(subject=f"Høringssvar sak {CASE}", message_id="<forged@x.no>"),
                                _stamp("mx.example.no", utcnow()), _stamp(RELAY, took))
        assert _receive(rt, stored, forged).late is True
        # A trusted header from the future, or from longer ago than a relay keeps mail, is ignored.
        now = utcnow()
        for n, when in enumerate((now + timedelta(hours=1), now - timedelta(days=30))):
            raw = _with_received(make_email(subject=f"Høringssvar sak {CASE}", message_id=f"<odd-{n}@x.no>"),
                                 _stamp(RELAY, when))
            sub = _receive(rt, stored, raw)
            assert now - timedelta(seconds=5) <= sub.received_at <= utcnow()
    finally:
        rt.close()


def test_received_fields_are_bounded_and_unfolded() -> None:
    many = "".join(f"Received: from a{n} by b{n}; Tue, 1 Dec 2026 10:00:00 +0000\r\n" for n in range(500))
    raw = (many + "X-Long: " + "x" * 300_000 + "\r\n\r\nbody").encode()
    fields = received_fields(raw)
    assert len(fields) == 20 and fields[0] == "from a0 by b0; Tue, 1 Dec 2026 10:00:00 +0000"
    arrived = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    assert relay_received_at(raw, {"b0"}, arrived) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert relay_received_at(raw, set(), arrived) is None
    assert relay_received_at(b"Received: by b0; -0000 garbage\r\n\r\n", {"b0"}, arrived) is None


def test_behind_a_real_postfix_with_intake_stopped_the_relay_time_counts(
    database_url: str, tmp_path: Path, stored: list[int]
) -> None:
    reason = unavailable()
    if reason is not None:
        need("Postfix", reason)
    rt = _runtime(database_url, tmp_path, ["relay.test.example"])
    relay = Postfix(relay_port=rt.settings.receiver.port)
    start_or_need("Postfix", relay)
    server: SmtpReceiver | None = None
    try:
        before = utcnow().replace(microsecond=0)
        # intake is down: Postfix takes the mail and keeps it in its queue.
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as smtp:
            smtp.sendmail("post@legemiddelverket.no", [POSTMOTTAK],
                          make_email(subject="Høringssvar sak 22/414", message_id="<via-relay@lmv.no>"))
        deadline = time.monotonic() + 30
        while "status=deferred" not in relay.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "status=deferred" in relay.log(), relay.log()[-2000:]
        time.sleep(3)
        up = utcnow()
        server = SmtpReceiver(rt, on_stored=stored.append)
        server.start()
        relay.flush()
        deadline = time.monotonic() + 30
        while not stored and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored, relay.log()[-2000:]
        with Session(rt.engine) as session:
            message = session.get(Message, stored[0])
            assert message is not None
            raw = rt.store.read(message.blob)
        assert b"by relay.test.example (Postfix)" in raw
        # The time Postfix took the mail, to the second, long before intake was up again.
        assert before <= message.received_at <= up - timedelta(seconds=3), (message.received_at, up)
        assert _submission(rt, stored[0]).received_at == message.received_at
    finally:
        if server is not None:
            server.stop()
        relay.close()
        rt.close()
