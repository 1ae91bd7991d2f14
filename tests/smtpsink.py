"""A real SMTP server on loopback (aiosmtpd) that keeps every message it accepts, for receipt tests."""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.ports import free_port


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


HANG_UP = "hang up"


@dataclass
class Sink:
    """Collects messages; ``replies`` are answers to the next DATA commands instead of 250.

    The reply ``HANG_UP`` closes the connection after the final dot without any reply
    and keeps nothing, as a server does that fails at that moment.
    """

    port: int = 0
    messages: list[Delivered] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    _controller: Controller | None = None
    _lock: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.replies:
                reply = self.replies.pop(0)
                if reply != HANG_UP:
                    return reply
                server.transport.close()
                # aiosmtpd writes this to the closed connection, where it goes nowhere.
                return "451 4.3.0 connection closed"
            self.messages.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
            self._lock.notify_all()
        return "250 2.0.0 accepted"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Delivered]:
        """Waits until at least ``count`` messages arrived (a relay passes them on in its own time)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def start(self) -> Sink:
        if not self.port:
            self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **self.options)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        """Accepts the one test account; used as aiosmtpd's ``authenticator``."""
        account = (b"kvittering", b"hemmelig")
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == account
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)

    def smtp_settings(self, **extra: object) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none", "timeout_seconds": 5, **extra}



def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written to ``folder``; the certificate is its own CA."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
