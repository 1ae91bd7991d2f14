"""The IMAP cursor of a mailbox folder in the database (``MailboxState``) and its poll record.

The cursor only moves forward, and only to UIDs whose messages are already
stored and committed; the record of each poll (last poll, last success, last
error) is what health checks and the stale-mailbox alarm read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from intake.db.models import MailboxState, utcnow


@dataclass(frozen=True)
class Cursor:
    uidvalidity: int | None
    last_uid: int
    last_success_at: datetime | None
    resync_below: int | None = None


def load(bind: Engine | Connection, mailbox: str, folder: str) -> Cursor:
    """The folder's cursor; a folder never seen before starts at UID 0."""
    with Session(bind, expire_on_commit=False) as session:
        state = _row(session, mailbox, folder)
        if state is None:
            session.add(MailboxState(mailbox=mailbox, folder=folder))
            try:
                session.commit()
            except IntegrityError:
                # Another replica created it at the same moment; theirs is as good as ours.
                session.rollback()
            state = _row(session, mailbox, folder)
            assert state is not None
        return Cursor(state.uidvalidity, state.last_uid, state.last_success_at, state.resync_below)


def reset(bind: Engine | Connection, mailbox: str, folder: str, uidvalidity: int,
          resync_below: int | None = None) -> None:
    """Starts the folder over under a new UIDVALIDITY (its old UIDs mean nothing any more).

    ``resync_below``: the UIDs below it were in the folder when it was renumbered.
    """
    with Session(bind) as session:
        session.execute(
            update(MailboxState)
            .where(col(MailboxState.mailbox) == mailbox, col(MailboxState.folder) == folder)
            .values(uidvalidity=uidvalidity, last_uid=0, resync_below=resync_below)
        )
        session.commit()


# Moves the cursor to a UID (given twice), never backwards and never across a UIDVALIDITY change.
# Parameters: uid, mailbox, folder, uidvalidity, uid. It is SQL rather than a statement built
# here because storing a batch runs it inside its own statement on PostgreSQL
# (intake/sources/batch_store.py), in the same commit as the batch's rows.
ADVANCE = (
    "UPDATE mailbox_state SET last_uid = %s WHERE mailbox = %s AND folder = %s AND uidvalidity = %s AND last_uid < %s"
)


def record_poll(engine: Engine, mailbox: str, folder: str, error: str | None = None) -> None:
    """Notes that a poll ran, and whether it succeeded or why not."""
    now = utcnow()
    values: dict[str, object] = {"last_poll_at": now}
    if error is None:
        values["last_success_at"] = now
    else:
        values.update(last_error=error[:2000], last_error_at=now)
    with Session(engine) as session:
        done = session.execute(
            update(MailboxState)
            .where(col(MailboxState.mailbox) == mailbox, col(MailboxState.folder) == folder)
            .values(**values)
        )
        if done.rowcount == 0:  # type: ignore[attr-defined]
            session.add(MailboxState(mailbox=mailbox, folder=folder, **values))  # type: ignore[arg-type]
        try:
            session.commit()
        except IntegrityError:
            session.rollback()


def state_of(engine: Engine, mailbox: str, folder: str) -> MailboxState | None:
    with Session(engine, expire_on_commit=False) as session:
        return _row(session, mailbox, folder)


def _row(session: Session, mailbox: str, folder: str) -> MailboxState | None:
    return session.exec(
        select(MailboxState).where(MailboxState.mailbox == mailbox, MailboxState.folder == folder)
    ).first()
