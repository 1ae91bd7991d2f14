"""Test data and helpers for the review interface: real mail through the real pipeline, real logins."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Submission, User
from intake.pipeline.run import IngestResult, ingest
from intake.runtime import Runtime
from intake.store.messages import Source
from intake.web.auth import hash_password
from tests.builders import make_email

PASSWORD = "korrekt-hest-batteri"
# A synthetic identity number whose two check digits are valid (not a real person).
IDENTITY_NUMBER = "01019012057"
XSS = '<script>alert("x")</script><img src=x onerror="alert(1)">'


@dataclass
class Seeded:
    """Submission ids of the seeded mail, by what each one is for."""

    on_time: int
    late: int
    unmatched: int
    first_duplicate: int
    second_duplicate: int
    identity: int


@functools.cache
def _hash(password: str) -> str:
    # Hashing is slow on purpose; the tests hash each password once (create_user is tested on its own).
    return hash_password(password)


def add_user(rt: Runtime, name: str = "kari", role: str = "reviewer", password: str = PASSWORD) -> None:
    with session_scope(rt.engine) as session:
        session.add(User(name=name, password_hash=_hash(password), role=role))


def _ingest(rt: Runtime, raw: bytes, when: datetime, mailbox: str = "postmottak") -> int:
    result: IngestResult = ingest(rt, raw, Source(kind="imap", mailbox=mailbox, folder="INBOX"), when)
    assert result.submission_id is not None, "the pipeline did not make a submission"
    return result.submission_id


def seed(rt: Runtime) -> Seeded:
    """Six responses to 22/414 (deadline 1 October 2022) covering what staff must decide."""
    on_time = _ingest(
        rt,
        make_email(attachments=[("Høringssvar Legemiddelverket.txt", "text/plain", "Vi støtter strategien.".encode())]),
        datetime(2022, 9, 28, 8, 15, tzinfo=UTC),
    )
    late = _ingest(
        rt,
        make_email(
            sender="Datatilsynet <postkasse@datatilsynet.no>",
            subject="Høringsuttalelse sak 22/414",
            body="Beklager sent svar. Se vedlagt.",
        ),
        # 2 October 00:30 in Oslo: the deadline day has ended.
        datetime(2022, 10, 1, 22, 30, tzinfo=UTC),
    )
    unmatched = _ingest(
        rt,
        make_email(sender="Ola Nordmann <ola@example.org>", subject="Innspill til strategien", body="Mine innspill."),
        datetime(2022, 9, 20, 9, 0, tzinfo=UTC),
    )
    first = _ingest(
        rt,
        make_email(sender="Apotekforeningen <post@apotek.no>", subject="Høringssvar sak 22/414"),
        datetime(2022, 9, 25, 9, 0, tzinfo=UTC),
    )
    second = _ingest(
        rt,
        make_email(sender="Apotekforeningen <post@apotek.no>", subject="Korrigert høringssvar sak 22/414"),
        datetime(2022, 9, 26, 9, 0, tzinfo=UTC),
    )
    identity = _ingest(
        rt,
        make_email(
            sender="Kari Privat <kari@example.org>",
            subject="Innspill sak 22/414",
            body=f"Mitt fødselsnummer er {IDENTITY_NUMBER}, ring meg gjerne.",
        ),
        datetime(2022, 9, 27, 12, 0, tzinfo=UTC),
    )
    return Seeded(on_time, late, unmatched, first, second, identity)


def seed_xss(rt: Runtime) -> int:
    """A response whose every sender-controlled field carries markup and event handlers."""
    return _ingest(
        rt,
        make_email(
            sender=f'"Evil {XSS}" <evil@example.org>',
            subject=f"Sak 22/414 {XSS}",
            body=f"Tekst {XSS}",
            html=f'<p onclick="alert(2)">Hei</p>{XSS}',
            attachments=[(f"svar{XSS}.txt", "text/plain", f"vedlegg {XSS}".encode())],
        ),
        datetime(2022, 9, 28, 9, 0, tzinfo=UTC),
    )


def login(client: TestClient, name: str = "kari", password: str = PASSWORD, next_path: str = "/") -> str:
    """Logs in through the form like a browser; returns the CSRF token of the new session."""
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token.group(1), "next": next_path},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/search")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return token.group(1)


def submission(rt: Runtime, submission_id: int) -> Submission:
    with session_scope(rt.engine) as session:
        sub = session.exec(select(Submission).where(Submission.id == submission_id)).one()
        return sub
