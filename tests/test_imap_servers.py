"""What other IMAP servers do: personal folders under ``INBOX.`` (Cyrus with Debian's defaults,
Courier), and GNU Mailutils imap4d, which answers ``UID SEARCH UID N:*`` with nothing.

The first is a Dovecot of the test's own with that namespace; imap4d runs as inetd would run
it, one process per connection, pre-authenticated, on an mbox file of the test's own, behind a
loopback listener.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from intake.sources.imap import poll_all
from tests.builders import make_email
from tests.conftest import need
from tests.dovecot import Dovecot
from tests.ports import free_port


class Imap4d:
    """A loopback listener that hands each connection to a fresh ``imap4d --inetd --preauth``.

    ``blind_search``: every SEARCH answer is emptied on its way back, as a server whose search
    is broken beyond the ``N:*`` case would answer.
    """

    def __init__(self, mbox: Path, *, blind_search: bool = False) -> None:
        self.mbox, self.port, self.blind_search = mbox, free_port(), blind_search
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.children: list[subprocess.Popen[bytes]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            command = ["imap4d", "--inetd", "--preauth", "--no-config",
                       "--set", f"mailbox.mailbox-pattern=mbox://{self.mbox}"]
            if not self.blind_search:
                with conn:
                    self.children.append(subprocess.Popen(command, stdin=conn.fileno(), stdout=conn.fileno(),
                                                           stderr=subprocess.DEVNULL))
                continue
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.children.append(child)
            threading.Thread(target=self._requests, args=(conn, child), daemon=True).start()
            threading.Thread(target=self._answers, args=(conn, child), daemon=True).start()

    @staticmethod
    def _requests(conn: socket.socket, child: subprocess.Popen[bytes]) -> None:
        assert child.stdin is not None
        with contextlib.suppress(OSError):
            while data := conn.recv(65536):
                child.stdin.write(data)
                child.stdin.flush()
        with contextlib.suppress(OSError):
            child.stdin.close()

    @staticmethod
    def _answers(conn: socket.socket, child: subprocess.Popen[bytes]) -> None:
        assert child.stdout is not None
        with contextlib.suppress(OSError), conn:
            for line in child.stdout:
                conn.sendall(b"* SEARCH\r\n" if line.startswith(b"* SEARCH") else line)

    def append(self, raw: bytes) -> None:
        with self.mbox.open("ab") as out:
            out.write(b"From sender@example.no Mon Sep 26 10:00:00 2022\n" + raw.replace(b"\r\n", b"\n") + b"\n")

    def close(self) -> None:
        self.listener.close()
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()


@pytest.fixture
def imap4d(tmp_path: Path) -> Iterator[Imap4d]:
    if shutil.which("imap4d") is None:
        need("GNU Mailutils imap4d", "install mailutils-imap4d (make system-deps)")
    server = Imap4d(tmp_path / "mbox")
    yield server
    server.close()


def test_new_mail_on_imap4d_is_found(imap4d: Imap4d, make_rt: Callable[..., Any]) -> None:
    box = {"name": "postmottak", "host": "127.0.0.1", "port": imap4d.port, "security": "none",
           "username": "postmottak", "password": "-", "folder": "INBOX", "after_processing": "none"}
    imap4d.append(make_email(subject="Høringssvar sak 22/414", message_id="<en@kommune.no>"))
    rt = make_rt(box)
    (first,) = poll_all(rt)
    # Before: "UID SEARCH UID 1:*" came back empty from imap4d: «0 new» for ever, and healthy.
    assert (first.new, first.stored, first.processed) == (1, 1, 1), first
    imap4d.append(make_email(subject="Høringssvar sak 22/414 nummer to", message_id="<to@kommune.no>"))
    (second,) = poll_all(rt)
    # Read-only, imap4d gives an mbox a new UIDVALIDITY each session: the folder is read again
    # and the first message recognised by its Message-ID and bytes.
    assert (second.stored, second.processed, second.warning) == (1, 1, None), second


# Personal folders below the inbox, with "." between levels: Cyrus's and Courier's layout.
INBOX_PREFIX = """
namespace inbox {
  inbox = yes
  prefix = INBOX.
  separator = .
}
"""


@pytest.fixture
def prefixed_dovecot(dovecot: Dovecot) -> Iterator[Dovecot]:
    server = Dovecot(dovecot.binary, extra=INBOX_PREFIX)
    server.start()
    yield server
    server.close()


def test_move_to_lands_under_the_servers_personal_namespace(
    prefixed_dovecot: Dovecot, imap_user: str, make_rt: Callable[..., Any]
) -> None:
    server = prefixed_dovecot
    server.append_many([make_email(message_id=f"<ns{n}@kommune.no>") for n in range(2)], user=imap_user)
    box = server.mailbox_settings(imap_user, after_processing="move", move_to="Behandlet")
    rt = make_rt(box)
    # Before: creating the top-level folder «Behandlet» failed, poll --once exited 1 every time.
    (result,) = poll_all(rt)
    assert (result.processed, result.actioned) == (2, 2), result
    assert server.uids(imap_user) == {}
    assert len(server.uids(imap_user, "INBOX.Behandlet")) == 2


def test_a_search_that_misses_mail_past_the_cursor_is_warned_about(
    tmp_path: Path, make_rt: Callable[..., Any]
) -> None:
    if shutil.which("imap4d") is None:
        need("GNU Mailutils imap4d", "install mailutils-imap4d (make system-deps)")
    server = Imap4d(tmp_path / "mbox", blind_search=True)
    try:
        server.append(make_email(subject="Høringssvar sak 22/414", message_id="<blind@kommune.no>"))
        rt = make_rt({"name": "postmottak", "host": "127.0.0.1", "port": server.port, "security": "none",
                      "username": "postmottak", "password": "-", "folder": "INBOX", "after_processing": "none"})
        (result,) = poll_all(rt)
    finally:
        server.close()
    # Before: «0 new», and nothing said the search could not be trusted.
    assert result.new == 0
    assert result.warning is not None and "UID 1 past the cursor 0" in result.warning
