"""Hands one receipt to the mail system: over SMTP, or as an .eml file when no server is configured.

The seam is the ``Transport`` protocol. Its one subtle duty is the hand-off
callback, which lets the outbox record "this receipt is being delivered now"
at the last moment before delivery becomes possible, and refuse it if another
process has taken the receipt over; see ``intake/receipts/outbox.py`` for why.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from intake.config import SmtpSettings
from intake.errors import (
    NoFinalReply,
    PermanentDeliveryError,
    RelayRefused,
    TemporaryDeliveryError,
    TransportUnavailable,
    UnconfirmedDelivery,
)
from intake.receipts.compose import Envelope
from intake.tls import tls_context

Handoff = Callable[[], None]


class Transport(Protocol):
    """Delivers envelopes, one at a time.

    ``connect()`` makes sure delivery is possible at all and raises
    TransportUnavailable if not. ``send()`` transmits everything except the step
    that makes the message deliverable, then calls ``handoff()`` exactly once, and
    only if ``handoff()`` returns takes that last step. It returns the server's
    reply. Before the hand-off it raises TemporaryDeliveryError (nothing was
    delivered; try again later) or PermanentDeliveryError (nothing was delivered;
    it never will be); if ``handoff()`` raises, nothing is delivered and the
    error propagates. After the hand-off it raises TemporaryDeliveryError or
    PermanentDeliveryError on a definite refusal, NoFinalReply (a temporary error)
    when the server closed the connection without a final reply, and
    UnconfirmedDelivery when the outcome is unknown on our own side. RelayRefused
    (a TransportUnavailable) at any step before the hand-off means the server will
    take no receipt at all until its settings or ours change.
    """

    def connect(self) -> None: ...

    def send(self, envelope: Envelope, handoff: Handoff) -> str: ...

    def close(self) -> None: ...


def make_transport(smtp: SmtpSettings) -> Transport:
    """SMTP when ``[smtp] host`` is set; otherwise .eml files in ``smtp.outbox_path`` (the shipped default)."""
    if smtp.host:
        return SmtpTransport(smtp)
    return FileTransport(smtp.outbox_path)


def smtp_data(data: bytes) -> bytes:
    """The message as SMTP DATA content without the final dot: CRLF line ends, leading dots doubled."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", data)


class SmtpTransport:
    """smtplib over ssl, starttls or plain, with optional login; one connection reused for a batch."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.settings = smtp
        self._conn: smtplib.SMTP | None = None

    def connect(self) -> None:
        if self._conn is not None:
            return
        s = self.settings
        try:
            context = tls_context(str(s.ca_file) if s.ca_file else None) if s.security != "none" else None
            if s.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            try:
                conn.ehlo_or_helo_if_needed()
                if s.security == "starttls":
                    conn.starttls(context=context)
                    conn.ehlo()
                if s.username:
                    conn.login(s.username, s.password)
            except BaseException:
                conn.close()
                raise
        except (smtplib.SMTPException, OSError) as err:
            raise TransportUnavailable(f"SMTP {s.host}:{s.port}: {_describe(err)}") from err
        # The final dot goes out as a small write of its own right after the message; without
        # TCP_NODELAY, Nagle's algorithm holds it until the server acknowledges the body.
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn

    def send(self, envelope: Envelope, handoff: Handoff) -> str:
        reused = self._conn is not None
        self.connect()
        conn = self._conn
        assert conn is not None
        try:
            try:
                answer = conn.mail(envelope.sender)
            except (smtplib.SMTPServerDisconnected, OSError):
                if not reused:
                    raise
                # The server closed a connection we kept from the previous receipt (idle timeout):
                # nothing of this receipt was sent yet, so a fresh connection costs it no attempt.
                self._drop()
                self.connect()
                conn = self._conn
                assert conn is not None
                answer = conn.mail(envelope.sender)
            self._expect(answer, (250,), "MAIL FROM")
            self._expect(conn.rcpt(envelope.recipient), (250, 251), "RCPT TO")
            self._expect(conn.docmd("DATA"), (354,), "DATA")
            conn.send(smtp_data(envelope.data))
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            self._drop()
            raise TemporaryDeliveryError(f"connection lost before the end of data: {_describe(err)}") from err
        except BaseException:
            self._drop()
            raise
        try:
            handoff()
        except BaseException:
            # Closing in the middle of DATA makes the server throw the unfinished message away.
            self._drop()
            raise
        try:
            conn.send(b".\r\n")
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            # No final reply, so the server has not taken the message (RFC 5321 §4.1.1.4, §6.1):
            # it is sent again with the same Message-ID. Only a crash of our own between the
            # hand-off and this point is left unconfirmed, where resending could duplicate it.
            self._drop()
            raise NoFinalReply(f"no reply after the end of data: {_describe(err)}") from err
        text = _reply(code, reply)
        if code == 250:
            return text
        self._refused(code, text, "end of data")
        raise AssertionError("unreachable")

    def _expect(self, answer: tuple[int, bytes], codes: tuple[int, ...], step: str) -> None:
        code, reply = answer
        if code not in codes:
            self._reset()
            self._refused(code, _reply(code, reply), step)

    def _refused(self, code: int, text: str, step: str) -> None:
        if code == 421 or code < 0:
            self._drop()
        if step != "end of data" and relay_refusal(code, text):
            self._drop()
            raise RelayRefused(f"SMTP {self.settings.host}:{self.settings.port}: {step} refused: {text}", reply=text)
        if 500 <= code < 600:
            raise PermanentDeliveryError(f"{step} refused: {text}", reply=text)
        raise TemporaryDeliveryError(f"{step} refused: {text}", reply=text)

    def _reset(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()


class FileTransport:
    """Writes each receipt as ``<outbox>/kvittering-<hash of Message-ID>.eml`` (tmp, fsync, rename).

    The name follows from the Message-ID, so writing the same receipt again can only
    replace the file with identical content, never add a second one.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def connect(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TransportUnavailable(f"outbox folder {self.path}: {err.strerror}") from err

    def send(self, envelope: Envelope, handoff: Handoff) -> str:
        self.connect()
        digest = hashlib.sha256(envelope.message_id.encode()).hexdigest()[:20]
        final = self.path / f"kvittering-{digest}.eml"
        tmp = self.path / f".kvittering-{digest}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(envelope.data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise TemporaryDeliveryError(f"cannot write {tmp}: {err.strerror}") from err
        try:
            handoff()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            os.replace(tmp, final)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise TemporaryDeliveryError(f"cannot move {tmp} to {final}: {err.strerror}") from err
        try:
            directory = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as err:
            raise UnconfirmedDelivery(f"{final} written but not synced: {err.strerror}") from err
        return f"written {final.name}"

    def close(self) -> None:
        return None


# What a relay says when it refuses the connection's sender rather than one receipt: TLS or a
# login is required first, or this client may not relay. Postfix, Exim and Exchange word them so.
RELAY_WORDS = ("starttls", "relay access denied", "relaying denied", "relay not permitted", "unable to relay",
               "authentication required", "must authenticate", "not authenticated", "client host rejected")


def relay_refusal(code: int, text: str) -> bool:
    """Whether an SMTP refusal concerns the relay (TLS, login, relay permission), not the receipt."""
    if code in (523, 530, 538):
        return True
    lowered = text.lower()
    if not 400 <= code < 600:
        return False
    enhanced = re.match(r"\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})", text)
    if enhanced and enhanced.group(2) == "7" and enhanced.group(3) in ("0", "8", "9", "11"):
        return True
    return any(words in lowered for words in RELAY_WORDS)


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"[:500]


def _describe(err: BaseException) -> str:
    if isinstance(err, smtplib.SMTPResponseException):
        return _reply(err.smtp_code, err.smtp_error)
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
