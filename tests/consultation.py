"""Builders for responses to case 22/414 that go through the real pipeline: letters, forms, forwards."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from intake.pipeline.run import ingest
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email

ON_TIME = datetime(2022, 9, 28, 10, 0, tzinfo=UTC)
Q1 = "1) Kan dere stille dere bak de fem strategiske målene?"
Q2 = "2) Har dere tilbakemelding på de fem strategiske målene med målindikatorer?"


def form_text(choice: str | None, q1: str = "", q2: str = "") -> str:
    """The text of a filled-in response form: the box of ``choice`` checked, free text under each question."""
    boxes = " ".join(("☒ " if c == choice else "☐ ") + c for c in ("Ja", "Nei", "Vet ikke"))
    return f"Høringssvar sak 22/414\n\n{Q1}\n{boxes}\n{q1}\n\n{Q2}\n{q2}\n"


def respond(
    rt: Runtime,
    *,
    sender: str,
    body: str = "Vedlagt følger vårt høringssvar.",
    subject: str = "Høringssvar sak 22/414",
    form: str | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
    when: datetime = ON_TIME,
) -> int:
    files = list(attachments or [])
    if form is not None:
        files.append(("Høringssvar.txt", "text/plain", form.encode("utf-8")))
    raw = make_email(sender=sender, subject=subject, body=body, attachments=files)
    result = ingest(rt, raw, Source(kind="file"), when)
    assert result.submission_id is not None
    return result.submission_id


def forwarded(outer_sender: str, inner_sender: str, inner_files: list[tuple[str, str, bytes]]) -> bytes:
    """A response as a secretariat forwards it: the original attached as ``message/rfc822`` with its files."""
    inner = EmailMessage()
    inner["From"] = inner_sender
    inner["To"] = "sekretariat@example.no"
    inner["Subject"] = "Høringssvar sak 22/414"
    inner["Message-ID"] = make_msgid(domain="test.example")
    inner.set_content("Vedlagt er høringssvaret.")
    for filename, content_type, data in inner_files:
        maintype, subtype = content_type.split("/", 1)
        inner.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    outer = EmailMessage()
    outer["From"] = outer_sender
    outer["To"] = "postmottak@ehelse.no"
    outer["Subject"] = "VS: Høringssvar sak 22/414"
    outer["Message-ID"] = make_msgid(domain="test.example")
    outer.set_content("Videresender svaret.")
    outer.add_attachment(inner, filename="Høringssvar.eml")
    return outer.as_bytes()
