"""The daemon's side of a mailbox: IDLE, reconnecting after a server restart, the stale alarm, locks."""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, func, select

from intake.db.locks import mailbox_lock, named_lock
from intake.db.models import MailboxState, Submission, utcnow
from intake.runtime import Runtime
from intake.scheduler import Daemon
from intake.sources.backoff import Backoff
from intake.sources.health import mailbox_health
from intake.sources.imap import poll_all
from intake.sources.worker import MailboxWorker
from tests.builders import make_email
from tests.dovecot import Dovecot
from tests.ports import free_port
from tests.test_imap import MakeRt, counts, message_ids


def wait_for_submissions(rt: Runtime, count: int, timeout: float = 20) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with Session(rt.engine) as session:
            if session.exec(select(func.count()).select_from(Submission)).one() >= count:
                return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} submissions after {timeout} s")


def test_idle_picks_up_new_mail_long_before_the_next_poll(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt
) -> None:
    rt = make_rt(dovecot.mailbox_settings(imap_user, idle=True, poll_interval_seconds=30))
    stop = threading.Event()
    worker = MailboxWorker(rt, rt.settings.mailboxes[0], stop)
    turn = threading.Thread(target=worker.run)
    turn.start()
    try:
        time.sleep(0.5)  # the first poll finds nothing and the worker settles into IDLE
        dovecot.append(make_email(message_id="<idle@a.no>"), user=imap_user)
        assert wait_for_submissions(rt, 1) < 5
    finally:
        stop.set()
        turn.join(10)
        worker.close()
    assert not turn.is_alive(), "the worker did not leave IDLE when told to stop"


def test_daemon_reconnects_with_backoff_after_a_server_restart(
    own_dovecot: Dovecot, make_rt: MakeRt, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rt = make_rt(own_dovecot.mailbox_settings("restart", poll_interval_seconds=1))
    own_dovecot.append_many([make_email(message_id=f"<before{i}@a.no>") for i in range(3)], user="restart")
    stop = threading.Event()
    daemon = Daemon(rt, stop)
    daemon.start()
    try:
        wait_for_submissions(rt, 3)
        own_dovecot.stop()
        deadline = time.monotonic() + 20
        while "retrying in" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        own_dovecot.start()
        own_dovecot.append_many([make_email(message_id=f"<after{i}@a.no>") for i in range(3)], user="restart")
        wait_for_submissions(rt, 6)
    finally:
        daemon.shutdown()
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert retries and all(r.levelno == logging.WARNING for r in retries)
    # The kept connection breaks first; reconnecting fails until the server is back.
    assert retries[0].getMessage().startswith("mailbox postmottak: opening folder INBOX failed: ")
    assert any("polling again after" in r.getMessage() for r in caplog.records)
    assert counts(rt) == (6, 6)
    assert len(set(message_ids(rt))) == 6


def test_a_stale_mailbox_logs_an_error_every_turn_and_is_unhealthy(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_rt(dovecot.mailbox_settings(imap_user, poll_interval_seconds=60))
    poll_all(rt)
    [health] = mailbox_health(rt)
    assert health["healthy"] and health["name"] == "postmottak" and health["last_error"] is None
    assert health["last_success_at"].endswith(("+01:00", "+02:00"))  # Oslo time for people

    # The server moved and nobody told us; the last success was four intervals ago.
    moved = make_rt(dovecot.mailbox_settings(imap_user, poll_interval_seconds=60, port=free_port()))
    with Session(moved.engine) as session:
        session.execute(update(MailboxState).values(last_success_at=utcnow() - timedelta(minutes=4)))
        session.commit()
    stop = threading.Event()
    # A backoff longer than the interval: each turn tries at most once, as it would after a while.
    worker = MailboxWorker(moved, moved.settings.mailboxes[0], stop, backoff=Backoff(base=120, cap=300))
    with caplog.at_level(logging.WARNING):
        worker.run()
        worker.run()  # still waiting out the backoff: no new attempt, but the alarm again
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert errors[0].startswith("mailbox postmottak: no successful poll of INBOX since ")
    assert "(Oslo time); last error: mailbox postmottak: cannot connect" in errors[0]
    [health] = mailbox_health(moved)
    assert not health["healthy"] and "cannot connect" in health["last_error"]


def test_a_failing_token_is_unhealthy_at_once(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    rt = make_rt(dovecot.mailbox_settings(imap_user, auth="xoauth2", password="",
                                          oauth2_token_file=str(tmp_path / "missing-token")))
    worker = MailboxWorker(rt, rt.settings.mailboxes[0], threading.Event())
    worker.run()
    assert any(r.levelno == logging.ERROR and "cannot read XOAUTH2 token file" in r.getMessage()
               for r in caplog.records)
    [health] = mailbox_health(rt, started_at=utcnow())
    assert not health["healthy"] and "XOAUTH2 token" in health["problem"]


def test_one_poller_per_mailbox(engine_rt: Runtime) -> None:
    first = mailbox_lock(engine_rt.engine, engine_rt.settings.storage.path, "postmottak")
    second = mailbox_lock(engine_rt.engine, engine_rt.settings.storage.path, "postmottak")
    other = mailbox_lock(engine_rt.engine, engine_rt.settings.storage.path, "arkiv")
    assert first.acquire()
    assert not second.acquire()
    assert other.acquire()
    first.release()
    assert second.acquire()
    second.release()
    other.release()
    outbox = named_lock(engine_rt.engine, engine_rt.settings.storage.path, "outbox")
    assert outbox.acquire()
    outbox.release()


@pytest.fixture
def engine_rt(make_rt: MakeRt) -> Runtime:
    return make_rt()


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base=1, cap=60, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    for n, delay in enumerate(delays):
        step = min(60, 2**n)
        assert step / 2 <= delay <= step
    backoff.reset()
    assert backoff.next_delay() <= 1


def test_health_answers_without_the_database(tmp_path: Path) -> None:
    from tests.conftest import build_settings

    rt = Runtime.open(build_settings("postgresql+psycopg://nobody@127.0.0.1:1/none", tmp_path,
                                     [{"name": "postmottak", "host": "127.0.0.1", "password": "x"}]), extract=False)
    try:
        [health] = mailbox_health(rt)
    finally:
        rt.close()
    assert not health["healthy"] and health["problem"].startswith("database unreachable: ")


def test_mail_that_came_during_a_poll_is_fetched_in_the_same_turn(
    dovecot: Dovecot, imap_user: str, make_rt: MakeRt, monkeypatch: pytest.MonkeyPatch
) -> None:
    import intake.sources.worker as worker_module

    rt = make_rt(dovecot.mailbox_settings(imap_user, poll_interval_seconds=30))
    dovecot.append(make_email(message_id="<first@a.no>"), user=imap_user)
    real = worker_module.poll_connected
    polls = []

    def arriving(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        polls.append(result.new)
        if len(polls) == 1:  # a second message arrives while the first poll is at work
            dovecot.append(make_email(message_id="<second@a.no>"), user=imap_user)
        return result

    monkeypatch.setattr(worker_module, "poll_connected", arriving)
    worker = MailboxWorker(rt, rt.settings.mailboxes[0], threading.Event())
    try:
        worker.run()  # one turn: not the next one, thirty seconds later
    finally:
        worker.close()
    assert polls == [1, 1, 0]
    assert wait_for_submissions(rt, 2, timeout=1) < 1
