"""The SMTP receiver (aiosmtpd): mail handed to us directly, stored before we say ``250``.

It accepts mail only for the configured recipient addresses (``550`` for any
other), refuses messages over ``max_message_bytes`` (``552``, announced with
SIZE), and answers ``250`` only once the raw bytes are on disk and their row is
committed; if storing fails the sender hears ``451`` and tries again later.
The envelope (peer address, HELO name, MAIL FROM) is stored beside the bytes,
which stay exactly as received, so the sender check can evaluate SPF.
Processing happens after the answer, through ``on_stored``; a crash in between
loses nothing, since ``process_pending`` finishes stored messages on restart.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import SQLAlchemyError

from intake.db.models import utcnow
from intake.errors import IntakeError, SourceUnavailable
from intake.runtime import Runtime
from intake.sources.relay_time import relay_received_at
from intake.store.messages import Source, store_message

log = logging.getLogger(__name__)
OnStored = Callable[[int], None]
MAX_HELO = 255  # the columns of messages.helo and messages.mail_from
MAX_MAIL_FROM = 320


class IntakeHandler:
    """aiosmtpd handler: checks recipients, stores the DATA, hands the stored message on."""

    def __init__(self, rt: Runtime, on_stored: OnStored | None) -> None:
        self.rt = rt
        self.on_stored = on_stored
        self.recipients = {a.strip().lower() for a in rt.settings.receiver.recipients if a.strip()}
        self.trusted_relays = {r.strip().lower() for r in rt.settings.receiver.trusted_relays if r.strip()}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.strip().lower() not in self.recipients:
            log.info("receiver: refused mail for %s from %s", address, envelope.mail_from)
            return f"550 5.1.1 <{address}>: no such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        arrived = utcnow()
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only with decode_data, which we never set; keeps mypy and readers sure
            raw = raw.encode("utf-8", "surrogateescape")
        peer_ip, helo, mail_from = envelope_facts(session, envelope)
        # Mail our relay queued while we were down arrived when the relay took it, not now.
        received_at = relay_received_at(raw, self.trusted_relays, arrived) or arrived
        source = Source(kind="smtp", mailbox=envelope.rcpt_tos[0].lower() if envelope.rcpt_tos else None,
                        peer_ip=peer_ip, helo=helo, mail_from=mail_from)
        loop = asyncio.get_running_loop()
        try:
            # Storing fsyncs and commits; off the event loop so other sessions keep talking.
            stored = await loop.run_in_executor(None, store_message, self.rt, raw, source, received_at)
        except (IntakeError, SQLAlchemyError, OSError) as err:
            log.error("receiver: could not store a message from %s: %s", envelope.mail_from, err)
            return "451 4.3.0 Temporary failure storing the message; please try again later"
        log.info("receiver: stored message %s (%d bytes) from %s for %s", stored.id, len(raw),
                 envelope.mail_from, ", ".join(envelope.rcpt_tos))
        if self.on_stored is not None and stored.created:
            try:
                self.on_stored(stored.id)
            except Exception as err:  # the message is safe; processing it later is process_pending's job
                log.warning("receiver: message %s stored, processing deferred: %s", stored.id, err)
        return f"250 2.0.0 OK stored as {stored.id}"


def envelope_facts(session: Session, envelope: Envelope) -> tuple[str | None, str | None, str | None]:
    """The peer's address, HELO name and MAIL FROM, each None when unknown or beyond its bound.

    A value too long for its column is dropped rather than cut, since a cut name would
    have SPF judge another domain. MAIL FROM is "" for the null reverse-path ``<>``.
    """
    peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else None
    ip: str | None = None
    if isinstance(peer, str):
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        ip = str(address) if address is not None else None
    mail_from = _bounded(envelope.mail_from, MAX_MAIL_FROM)
    if mail_from is not None:
        mail_from = mail_from.removeprefix("<").removesuffix(">")  # aiosmtpd keeps <> for the null path
    return ip, _bounded(session.host_name, MAX_HELO), mail_from


def _bounded(value: object, most: int) -> str | None:
    if not isinstance(value, str) or len(value) > most or any(c in value for c in "\r\n\x00"):
        return None
    return value.strip()


class SmtpReceiver:
    """Runs the receiver on its own thread and event loop (aiosmtpd's Controller)."""

    def __init__(self, rt: Runtime, *, on_stored: OnStored | None = None, port: int | None = None) -> None:
        settings = rt.settings.receiver
        self.host = settings.host
        self.port = settings.port if port is None else port
        self.handler = IntakeHandler(rt, on_stored)
        kwargs: dict[str, Any] = {"data_size_limit": settings.max_message_bytes, "ident": "intake"}
        self.controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)
        if not self.handler.recipients:
            log.warning("receiver: no [receiver] recipients configured; every message will be refused")

    def start(self) -> None:
        try:
            self.controller.start()
        except (OSError, RuntimeError) as err:
            raise SourceUnavailable(f"receiver: cannot listen on {self.host}:{self.port}: {err}") from err
        log.info("receiver: listening on %s:%s for %s", self.host, self.port,
                 ", ".join(sorted(self.handler.recipients)) or "nobody")

    def stop(self) -> None:
        self.controller.stop()
