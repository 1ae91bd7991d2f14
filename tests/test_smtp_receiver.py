"""The SMTP receiver over real SMTP on loopback: accept, refuse, size limit, and a crash after 250."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlmodel import Session, select

from intake.db.models import Message, Submission, utcnow
from intake.pipeline.run import process_message, process_pending
from intake.runtime import Runtime
from intake.sources.smtp import IntakeHandler, SmtpReceiver
from tests.builders import make_email
from tests.conftest import build_settings
from tests.ports import free_port

POSTMOTTAK = "postmottak@ehelse.no"


@pytest.fixture
def receiver_rt(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    settings = build_settings(database_url, tmp_path, [])
    receiver = settings.receiver.model_copy(
        update={"enabled": True, "port": free_port(), "recipients": [POSTMOTTAK], "max_message_bytes": 64 * 1024}
    )
    rt = Runtime.open(settings.model_copy(update={"receiver": receiver}), extract=False)
    yield rt
    rt.close()


@pytest.fixture
def receiver(receiver_rt: Runtime) -> Iterator[tuple[SmtpReceiver, list[int]]]:
    stored: list[int] = []
    server = SmtpReceiver(receiver_rt, on_stored=stored.append)
    server.start()
    yield server, stored
    server.stop()


def send(port: int, raw: bytes, to: str = POSTMOTTAK) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        return smtp.sendmail("post@legemiddelverket.no", [to], raw)


def test_accepted_mail_is_stored_before_250_and_processed(
    receiver: tuple[SmtpReceiver, list[int]], receiver_rt: Runtime
) -> None:
    server, stored = receiver
    before = utcnow()
    # On the wire every line ends in CRLF; what was sent is exactly what is kept.
    raw = make_email(message_id="<smtp1@legemiddelverket.no>").replace(b"\n", b"\r\n")
    assert send(server.port, raw) == {}
    # The 250 came back, so the row is already committed and the bytes are on disk.
    [pk] = stored
    with Session(receiver_rt.engine) as session:
        message = session.get(Message, pk)
    assert message is not None and message.source == "smtp" and message.mailbox == POSTMOTTAK
    assert receiver_rt.store.read(message.blob) == raw
    assert before <= message.received_at <= utcnow()

    assert process_message(receiver_rt, pk) is not None
    with Session(receiver_rt.engine) as session:
        submission = session.exec(select(Submission)).one()
    assert submission.received_at == message.received_at
    assert submission.case_number == "22/414"


def test_unknown_recipient_is_refused_with_550(receiver: tuple[SmtpReceiver, list[int]]) -> None:
    server, stored = receiver
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        send(server.port, make_email(), to="someone.else@ehelse.no")
    [(code, _)] = caught.value.recipients.values()
    assert code == 550
    assert stored == []


def test_too_large_mail_is_refused_with_552(receiver: tuple[SmtpReceiver, list[int]]) -> None:
    server, stored = receiver
    big = make_email(attachments=[("stor.pdf", "application/pdf", os.urandom(100 * 1024))]).replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and int(smtp.esmtp_features["size"]) == 64 * 1024
        # A client that ignores SIZE and sends anyway gets 552 at the end of DATA.
        smtp.mail("post@legemiddelverket.no")
        smtp.rcpt(POSTMOTTAK)
        code, _ = smtp.data(big)
        assert code == 552
        # A client that declares the size is refused before it sends anything.
        code, _ = smtp.mail("post@legemiddelverket.no", [f"SIZE={len(big)}"])
        assert code == 552
    assert stored == []


CHILD = """
import sys, time
from intake.config import load_settings
from intake.runtime import Runtime
from intake.sources.smtp import SmtpReceiver

rt = Runtime.open(load_settings(sys.argv[1]), extract=False)
# No processing after 250: the crash test kills this process right after the answer.
SmtpReceiver(rt, on_stored=None).start()
print("ready", flush=True)
time.sleep(600)
"""


def test_mail_survives_a_crash_right_after_250(database_url: str, tmp_path: Path) -> None:
    from tests.test_serve import write_config

    port = free_port()
    config = write_config(tmp_path / "intake.toml", database_url, [],
                          receiver={"enabled": True, "port": port, "recipients": [POSTMOTTAK]})
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(config)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        assert send(port, make_email(message_id="<crash@legemiddelverket.no>")) == {}
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()

    # A new process on the same database and store finishes the message.
    from intake.config import load_settings

    restarted = Runtime.open(load_settings(config), extract=False)
    try:
        assert process_pending(restarted) == 1
        with Session(restarted.engine) as session:
            submission = session.exec(select(Submission)).one()
        assert submission.message_id == "<crash@legemiddelverket.no>"
        assert submission.mailbox == POSTMOTTAK
    finally:
        restarted.close()


def test_serve_runs_the_receiver_and_processes_what_it_stores(database_url: str, tmp_path: Path) -> None:
    from tests.test_serve import start_serve, stop_serve, wait_for, write_config

    port = free_port()
    config = write_config(tmp_path / "intake.toml", database_url, [],
                          receiver={"enabled": True, "port": port, "recipients": [POSTMOTTAK]})
    log = tmp_path / "serve.log"
    process = start_serve(config, log)
    try:
        wait_for(log, "intake serving")
        assert send(port, make_email(message_id="<served@legemiddelverket.no>")) == {}
        wait_for(log, " processed message=")
    finally:
        assert stop_serve(process) == 0, log.read_text()
    from intake.config import load_settings

    rt = Runtime.open(load_settings(config), extract=False)
    try:
        with Session(rt.engine) as session:
            assert session.exec(select(Submission.message_id)).one() == "<served@legemiddelverket.no>"
    finally:
        rt.close()


# The handler on its own, awaited as aiosmtpd awaits it: what it answers for each case.


def _envelope(raw: bytes, rcpt: str = POSTMOTTAK) -> Envelope:
    envelope = Envelope()
    envelope.mail_from = "post@legemiddelverket.no"
    envelope.rcpt_tos = [rcpt]
    envelope.original_content = raw
    envelope.content = raw
    return envelope


@pytest.mark.asyncio
async def test_handler_refuses_unknown_recipients_and_takes_known_ones(receiver_rt: Runtime) -> None:
    handler = IntakeHandler(receiver_rt, None)
    envelope = Envelope()
    session = SmtpSession(asyncio.get_running_loop())
    refused = await handler.handle_RCPT(None, session, envelope, "someone@ehelse.no", [])  # type: ignore[arg-type]
    assert refused.startswith("550 5.1.1") and envelope.rcpt_tos == []
    taken = await handler.handle_RCPT(None, session, envelope, POSTMOTTAK.upper(), [])  # type: ignore[arg-type]
    assert taken.startswith("250") and envelope.rcpt_tos == [POSTMOTTAK.upper()]


@pytest.mark.asyncio
async def test_handler_answers_250_only_once_stored_and_451_when_the_store_fails(
    receiver_rt: Runtime, tmp_path: Path
) -> None:
    stored: list[int] = []
    handler = IntakeHandler(receiver_rt, stored.append)
    session = SmtpSession(asyncio.get_running_loop())
    raw = make_email(message_id="<awaited@legemiddelverket.no>").replace(b"\n", b"\r\n")
    answer = await handler.handle_DATA(None, session, _envelope(raw))  # type: ignore[arg-type]
    assert answer.startswith("250 2.0.0") and len(stored) == 1
    with Session(receiver_rt.engine) as db:
        assert db.exec(select(Message.message_id)).all() == ["<awaited@legemiddelverket.no>"]
    # A store folder that cannot be written (here: a file where the folder should be) is a
    # temporary failure: the sender keeps the message and tries again.
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    broken = Runtime.open(receiver_rt.settings.model_copy(update={
        "storage": receiver_rt.settings.storage.model_copy(update={"path": blocked})}), extract=False)
    try:
        answer = await IntakeHandler(broken, None).handle_DATA(
            None, session, _envelope(make_email(message_id="<later@legemiddelverket.no>"))  # type: ignore[arg-type]
        )
    finally:
        broken.close()
    assert answer.startswith("451 4.3.0")
