"""What happens to a message on the server once it is processed: nothing, ``\\Seen``, or a move.

The work list comes from the database (processed messages of this folder and
UIDVALIDITY whose action is not yet done), not from the poll that fetched
them, so an action lost to a dropped connection or a message processed later
(after a retry) is still done on a later poll.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from imapclient import IMAPClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from intake.config import MailboxSettings
from intake.db.models import Message, utcnow
from intake.sources.imap_connect import imap_errors

log = logging.getLogger(__name__)
SEEN = b"\\Seen"
DELETED = b"\\Deleted"


def apply_pending(engine: Engine, box: MailboxSettings, client: IMAPClient, uidvalidity: int,
                  extra_uids: Sequence[int] = ()) -> int:
    """Does the mailbox's after_processing action on every processed message still waiting for it.

    ``extra_uids`` are further copies on the server of messages already known by
    their bytes; they get the same treatment. Returns how many UIDs were touched.
    """
    if box.after_processing == "none":
        return 0
    with Session(engine) as session:
        rows = session.exec(
            select(Message.id, Message.uid).where(
                Message.mailbox == box.name,
                Message.folder == box.folder,
                Message.uidvalidity == uidvalidity,
                Message.status == "processed",
                col(Message.imap_done_at).is_(None),
                col(Message.uid).is_not(None),
            )
        ).all()
    ids = [pk for pk, _ in rows if pk is not None]
    uids = sorted({uid for _, uid in rows if uid is not None} | set(extra_uids))
    if not uids:
        return 0
    if box.after_processing == "seen":
        with imap_errors(box, "marking messages seen"):
            client.add_flags(uids, [SEEN], silent=True)
    else:
        move(client, box, uids)
    if ids:
        with Session(engine) as session:
            session.execute(update(Message).where(col(Message.id).in_(ids)).values(imap_done_at=utcnow()))
            session.commit()
    log.info("mailbox %s: %s %d message(s)", box.name,
             "marked seen" if box.after_processing == "seen" else f"moved to {box.move_to}:", len(uids))
    return len(uids)


def move_target(client: IMAPClient, box: MailboxSettings) -> str:
    """``move_to`` as this server names it: under the personal namespace's prefix when it has one.

    Cyrus with Debian's defaults and Courier keep personal folders under ``INBOX.``, so a
    top-level «Behandlet» cannot be created there; ``INBOX.Behandlet`` can. A name already
    under the prefix is left as it is.
    """
    target = box.move_to
    if b"NAMESPACE" not in client.capabilities():
        return target
    with imap_errors(box, "reading the server's NAMESPACE"):
        personal = client.namespace().personal
    if not personal:
        return target
    prefix = str(personal[0][0] or "")
    if prefix and not target.startswith(prefix) and target.upper() != "INBOX":
        target = prefix + target
    return target


def ensure_move_target(client: IMAPClient, box: MailboxSettings) -> str:
    """The folder processed mail is moved to, created when missing; fails the poll at once when it cannot be."""
    target = move_target(client, box)
    with imap_errors(box, f"creating folder {target}"):
        if not client.folder_exists(target):
            client.create_folder(target)
    return target


def move(client: IMAPClient, box: MailboxSettings, uids: Sequence[int]) -> None:
    """Moves ``uids`` from the selected folder to ``box.move_to``, creating that folder when missing."""
    target = ensure_move_target(client, box)
    capabilities = client.capabilities()
    with imap_errors(box, f"moving messages to {target}"):
        if b"MOVE" in capabilities:
            client.move(uids, target)
            return
        client.copy(uids, target)
        client.add_flags(uids, [DELETED], silent=True)
        if b"UIDPLUS" in capabilities:
            client.uid_expunge(uids)
        else:
            # Without UIDPLUS only a folder-wide EXPUNGE exists; it also removes what other clients
            # marked deleted, which is what they asked for anyway.
            client.expunge()
