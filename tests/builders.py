"""Builders for test mail: real-looking messages as bytes, with sensible defaults."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

_counter = itertools.count(1)
# The authserv-id of the test border mail server: the tests' settings trust it (tests/conftest.py).
BORDER = "mx.ehelse.no"


def make_email(
    *,
    subject: str = "Høringssvar - Nasjonal e-helsestrategi - sak 22/414",
    sender: str = "Statens legemiddelverk <post@legemiddelverket.no>",
    to: str = "postmottak@ehelse.no",
    body: str = "Vedlagt følger vårt høringssvar.\n\nMed vennlig hilsen\nStatens legemiddelverk",
    html: str | None = None,
    attachments: Iterable[tuple[str, str, bytes]] = (),
    headers: Mapping[str, str] | None = None,
    message_id: str | None = None,
    date: datetime | None = None,
    authenticated: bool = True,
) -> bytes:
    """Returns the bytes of one message; attachments are (filename, content type, data).

    ``authenticated`` puts our border's Authentication-Results on top, saying the From
    domain passed DMARC, as a real border does for a real sender's mail.
    """
    msg = EmailMessage()
    if authenticated:
        domain = parseaddr(sender)[1].rpartition("@")[2] or "invalid"
        msg["Authentication-Results"] = f"{BORDER}; dmarc=pass header.from={domain}"
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime(2022, 9, 28, 8, 15, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(idstring=f"t{next(_counter)}", domain="test.example")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()
