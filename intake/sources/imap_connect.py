"""Opening an authenticated IMAP connection: ssl, starttls or none; LOGIN, XOAUTH2 or Microsoft 365.

Every failure comes out as ``SourceUnavailable`` with one line naming the
mailbox, so the poller, the daemon and ``intake poll --once`` can report it as is.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from intake.config import MailboxSettings
from intake.errors import SourceUnavailable, TokenUnavailable
from intake.sources.m365 import access_token, forget
from intake.tls import tls_context

# imaplib's errors (IMAPClientError is imaplib.IMAP4.error, its abort a subclass) and socket-level
# ones (timeouts, resets, TLS) are what a dropped or refusing server produces.
IMAP_ERRORS: tuple[type[BaseException], ...] = (IMAPClientError, OSError, EOFError)


def describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@contextmanager
def imap_errors(box: MailboxSettings, doing: str) -> Iterator[None]:
    """Turns a protocol or socket error inside the block into a one-line ``SourceUnavailable``."""
    try:
        yield
    except IMAP_ERRORS as err:
        raise SourceUnavailable(f"mailbox {box.name}: {doing} failed: {describe(err)}") from err


def read_token(box: MailboxSettings) -> str:
    """The current XOAUTH2 access token, from the command (preferred) or the file.

    The command is run each time, so whatever refreshes the token (an MSAL or
    gcloud helper, a cron job writing the file) stays outside this service. A
    file may hold the bare token or a JSON object with ``access_token``.
    """
    if box.oauth2_token_command:
        try:
            done = subprocess.run(
                shlex.split(box.oauth2_token_command), capture_output=True, text=True,
                timeout=box.timeout_seconds, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise TokenUnavailable(f"mailbox {box.name}: XOAUTH2 token command failed: {describe(err)}") from err
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise TokenUnavailable(f"mailbox {box.name}: XOAUTH2 token command failed: {reason}")
        return _token_text(box, done.stdout)
    if box.oauth2_token_file:
        try:
            return _token_text(box, box.oauth2_token_file.read_text(encoding="utf-8"))
        except OSError as err:
            raise TokenUnavailable(
                f"mailbox {box.name}: cannot read XOAUTH2 token file {box.oauth2_token_file}: {describe(err)}"
            ) from err
    raise TokenUnavailable(f"mailbox {box.name}: auth = xoauth2 needs oauth2_token_file or oauth2_token_command")


def _token_text(box: MailboxSettings, text: str) -> str:
    text = text.strip()
    if text.startswith("{"):
        try:
            text = str(json.loads(text).get("access_token", "")).strip()
        except (ValueError, AttributeError) as err:
            raise TokenUnavailable(f"mailbox {box.name}: XOAUTH2 token is not valid JSON") from err
    if not text:
        raise TokenUnavailable(f"mailbox {box.name}: XOAUTH2 token is empty")
    return text


def connect(box: MailboxSettings) -> IMAPClient:
    """A logged-in client whose INTERNALDATEs come back timezone-aware."""
    where = f"{box.host}:{box.port}"
    context = tls_context() if box.security != "none" else None
    try:
        client = IMAPClient(
            box.host, port=box.port, ssl=box.security == "ssl", ssl_context=context, timeout=box.timeout_seconds
        )
        quiet(client)
        if box.security == "starttls":
            client.starttls(context)
    except IMAP_ERRORS as err:
        raise SourceUnavailable(f"mailbox {box.name}: cannot connect to {where}: {describe(err)}") from err
    try:
        if _preauthenticated(client):
            pass
        elif box.auth == "m365":
            client.oauth2_login(box.username, access_token(box))
        elif box.auth == "xoauth2":
            client.oauth2_login(box.username, read_token(box))
        else:
            client.login(box.username, box.password)
    except LoginError as err:
        _quietly_close(client)
        refused = f"mailbox {box.name}: login to {where} as {box.username!r} refused"
        if box.auth == "m365":
            forget(box)
        if box.auth in ("xoauth2", "m365"):
            raise TokenUnavailable(f"{refused} (XOAUTH2 token not accepted): {describe(err)}") from err
        raise SourceUnavailable(f"{refused}: {describe(err)}") from err
    except SourceUnavailable:
        # TokenUnavailable, or Entra ID out of reach.
        _quietly_close(client)
        raise
    except IMAP_ERRORS as err:
        _quietly_close(client)
        raise SourceUnavailable(f"mailbox {box.name}: login to {where} failed: {describe(err)}") from err
    # Keep the server's offset on INTERNALDATE instead of imapclient's conversion to naive local time.
    client.normalise_times = False
    return client


def _preauthenticated(client: IMAPClient) -> bool:
    """Whether the server greeted us with PREAUTH (a server started for us, as with an inetd-run imap4d)."""
    # imaplib notes the greeting in its state; imapclient keeps it in its own connection object.
    return getattr(getattr(client, "_imap", None), "state", None) == "AUTH"


def quiet(client: IMAPClient) -> None:
    """Stops imaplib from writing every response into a debug string.

    imapclient turns imaplib's debugging on to route it to a logger, so every
    response is formatted with ``%r`` before the logger drops it: for a 68 MB
    message that is a 160 MB string, and for ordinary mail a good part of
    the CPU time of a fetch. Our own log lines say what a poll did.
    """
    imap = getattr(client, "_imap", None)
    if imap is not None:
        imap.debug = 0


def disconnect(client: IMAPClient | None) -> None:
    """Logs out if the connection still works, and closes the socket either way."""
    if client is None:
        return
    try:
        client.logout()
    except IMAP_ERRORS:
        _quietly_close(client)


def _quietly_close(client: IMAPClient) -> None:
    with suppress(*IMAP_ERRORS):
        client.shutdown()
