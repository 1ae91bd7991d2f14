"""intake store check: every message and attachment the database names is read back and hashed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from intake.db.models import Attachment, MailboxState, Message
from intake.pipeline.run import ingest, process_message
from intake.runtime import Runtime
from intake.sources.batch_store import Fetched, store_batch
from intake.store.check import check_store
from intake.store.messages import Source
from tests.builders import make_email
from tests.test_cli import project, run  # noqa: F401  (the project fixture)

NOW = datetime(2022, 9, 28, 10, 15, tzinfo=UTC)


def test_a_sound_store_passes_and_a_damaged_or_missing_file_is_named(rt: Runtime) -> None:
    with Session(rt.engine) as session:
        session.add(MailboxState(mailbox="postmottak", folder="INBOX", uidvalidity=7, last_uid=0))
        session.commit()
    batch = [Fetched(uid, make_email(message_id=f"<b{uid}@a.no>"), NOW) for uid in (1, 2, 3)]
    source = Source(kind="imap", mailbox="postmottak", folder="INBOX", uidvalidity=7)
    for stored in store_batch(rt, source, 7, batch, 3):
        process_message(rt, stored.id)
    ingest(rt, make_email(message_id="<single@a.no>", attachments=[("svar.txt", "text/plain", b"Ja.\n")]),
           Source(kind="file"), NOW)

    report = check_store(rt)
    assert report.checked == 5 and report.problems == []

    with Session(rt.engine) as session:
        packed = session.exec(select(Message).where(Message.uid == 2)).one()
        attachment = session.exec(select(Attachment)).one()
    pack = rt.store.path_of(packed.blob)
    offset = int(packed.blob.split("#")[1].split("+")[0])
    data = bytearray(pack.read_bytes())
    data[offset + 10] ^= 0xFF
    pack.write_bytes(bytes(data))
    rt.store.path_of(attachment.blob).unlink()

    problems = check_store(rt).problems
    assert len(problems) == 2
    assert any(p.startswith(f"message {packed.id}: damaged") for p in problems)
    assert any(p.startswith(f"attachment {attachment.id}: missing") for p in problems)


def test_the_command_says_how_many_were_checked(project: Path, tmp_path: Path) -> None:  # noqa: F811
    assert run(project, "db", "upgrade").returncode == 0
    (tmp_path / "svar.eml").write_bytes(make_email())
    assert run(project, "ingest", str(tmp_path / "svar.eml")).returncode == 0
    checked = run(project, "store", "check")
    assert checked.returncode == 0, checked.stderr
    assert "1 files checked, 0 missing or damaged" in checked.stderr
