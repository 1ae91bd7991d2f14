"""``intake serve`` as operators run it: real processes, a real Dovecot, PostgreSQL, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from intake.db.engine import make_engine
from intake.db.models import AuditLog, MailboxState, Message, Submission
from tests.builders import make_email
from tests.conftest import REPO, _empty
from tests.dovecot import Dovecot
from tests.ports import free_port

INTAKE = Path(sys.executable).parent / "intake"


def toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def write_config(path: Path, database_url: str, boxes: list[dict[str, Any]], **sections: dict[str, Any]) -> Path:
    """A config file like an operator's, for a process of its own."""
    lines = [
        f"[database]\nurl = {toml_value(database_url)}",
        f"[storage]\npath = {toml_value(str(path.parent / 'store'))}",
        f"[workflows]\npath = {toml_value(str(REPO / 'workflows'))}",
        "[extract]\nworkers = 0",
    ]
    sections.setdefault("web", {"port": free_port()})
    for name, values in sections.items():
        lines.append(f"[{name}]\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items()))
    for box in boxes:
        lines.append("[[mailboxes]]\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in box.items()))
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([str(INTAKE), "--config", str(config), "serve"], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {log.name}: {log.read_text(errors='replace')[-3000:]}")


def stop_serve(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def deliver(dovecot: Dovecot, user: str, numbers: range) -> None:
    for start in range(numbers.start, numbers.stop, 5):
        dovecot.append_many([make_email(message_id=f"<two{i}@a.no>") for i in range(start, start + 5)], user=user)
        time.sleep(0.3)


def wait_until_processed(engine: Engine, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            if session.exec(select(func.count()).select_from(Submission)).one() >= count:
                return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} submissions after {timeout} s")


def wait_until_moved(engine: Engine, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session(engine) as session:
            done = select(func.count()).select_from(Message).where(col(Message.imap_done_at).is_not(None))
            if session.exec(done).one() >= count:
                return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} messages moved after {timeout} s")


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    engine = make_engine(pg_database)
    _empty(engine)
    engine.dispose()
    yield pg_database


def test_two_serve_processes_on_one_postgresql_process_every_message_once(
    dovecot: Dovecot, imap_user: str, pg_url: str, tmp_path: Path
) -> None:
    total = 40
    box = dovecot.mailbox_settings(imap_user, after_processing="move", batch_size=4)
    logs = [tmp_path / "serve-a.log", tmp_path / "serve-b.log"]
    processes = []
    for i, log in enumerate(logs):
        processes.append(start_serve(write_config(tmp_path / f"intake-{i}.toml", pg_url, [box]), log))
        # Start-up syncs the workflows into the database; the replicas come up one after the other.
        wait_for(log, "intake serving")
    engine = make_engine(pg_url)
    try:
        # Mail keeps arriving while both replicas run, in small bursts like a real inbox.
        deliver(dovecot, imap_user, range(0, total // 2))
        wait_until_processed(engine, total // 2)
        # One replica dies without a word (its advisory lock dies with its connection); the
        # other carries on with the rest.
        busy = max((0, 1), key=lambda i: logs[i].read_text(errors="replace").count(" processed message="))
        processes[busy].kill()
        processes[busy].wait()
        survivor = 1 - busy
        deliver(dovecot, imap_user, range(total // 2, total))
        wait_until_processed(engine, total)
        # The move to Behandlet follows processing, on the mailbox's next turn: wait for it too
        # (what is left at a stop is moved at the next start; here the folder is checked at once).
        wait_until_moved(engine, total)
        code = stop_serve(processes[survivor])
        output = [log.read_text(errors="replace") for log in logs]
        assert code == 0, output[survivor]
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Message)).one() == total
            assert session.exec(select(func.count()).select_from(Submission)).one() == total
            created = session.exec(select(func.count()).select_from(AuditLog)
                                   .where(AuditLog.action == "submission.created")).one()
            assert created == total
            assert session.exec(select(MailboxState.last_uid)).one() == total
        # Each message was processed by exactly one of the two processes, and only once.
        assert sum(text.count(" processed message=") for text in output) == total
        assert not any("Traceback" in text for text in output), output
        assert "intake stopped" in output[survivor]
        assert output[survivor].count(" processed message=") >= total // 2
        assert dovecot.uids(imap_user) == {}
        assert len(dovecot.uids(imap_user, "Behandlet")) == total
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
        engine.dispose()


def test_poll_once_exits_non_zero_with_one_line_when_the_mailbox_is_unreachable(
    database_url: str, tmp_path: Path
) -> None:
    box = {"name": "postmottak", "host": "127.0.0.1", "port": free_port(), "security": "none",
           "username": "x", "password": "y"}
    config = write_config(tmp_path / "intake.toml", database_url, [box])
    done = subprocess.run([str(INTAKE), "--config", str(config), "poll", "--once"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: mailbox postmottak: cannot connect to 127.0.0.1:"), done.stderr


def test_poll_once_takes_new_mail(dovecot: Dovecot, imap_user: str, database_url: str, tmp_path: Path) -> None:
    dovecot.append(make_email(), user=imap_user)
    config = write_config(tmp_path / "intake.toml", database_url, [dovecot.mailbox_settings(imap_user)])
    done = subprocess.run([str(INTAKE), "--config", str(config), "poll", "--once"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "postmottak/INBOX: 1 new, 1 stored" in done.stderr


def test_the_service_does_not_hold_numpy_and_scipy_until_staff_ask_for_what_needs_them() -> None:
    """Campaign grouping (datasketch) and spreadsheets (openpyxl) bring numpy and scipy, some 40 MB
    that a service holds for good once imported: they are imported when first used, not at start."""
    script = ("import sys; import intake.cli.main, intake.scheduler, intake.web.app; "
              "print(sorted(m for m in ('numpy', 'scipy', 'datasketch', 'openpyxl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
