"""``/healthz`` tells an outsider only what is healthy; the details need a login or the health token."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from intake.config import MailboxSettings
from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, MailboxState, utcnow
from intake.receipts.caps import WAITING
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.receipt_helpers import due_receipts
from tests.web_support import add_user, login

SECRET_REPLY = "imap.etaten.example: LOGIN failed for postmottak@etaten.example (AUTHENTICATIONFAILED)"
TOKEN = "helse-token-som-er-langt-nok"
BOX = {"name": "postmottak", "host": "imap.etaten.example", "username": "postmottak@etaten.example",
       "password": "hemmelig", "poll_interval_seconds": 60}


def _runtime(settings_factory, **web: object) -> Runtime:  # type: ignore[no-untyped-def]
    settings = settings_factory(web={"health_token": TOKEN, **web})
    settings = settings.model_copy(update={"mailboxes": [MailboxSettings(**BOX)]})  # type: ignore[arg-type]
    rt = Runtime.open(settings, extract=False)
    from intake import workflows

    with session_scope(rt.engine) as session:
        workflows.sync(session, rt.settings.workflows.path)
        session.add(MailboxState(mailbox="postmottak", folder="INBOX", last_poll_at=utcnow(),
                                 last_success_at=utcnow() - timedelta(hours=2), last_error=SECRET_REPLY,
                                 last_error_at=utcnow()))
    return rt


def _hold_one_receipt(rt: Runtime) -> None:
    (ack_id,) = due_receipts(rt, 1)
    with session_scope(rt.engine) as session:
        ack = session.get(Acknowledgement, ack_id)
        assert ack is not None
        ack.reason = f"{WAITING}200 kvitteringer i timen til alle mottakere til sammen er nådd"
        ack.next_attempt_at = utcnow() + timedelta(minutes=30)
        session.add(ack)


def test_without_a_login_only_healthy_or_not_per_part(settings_factory) -> None:  # type: ignore[no-untyped-def]
    rt = _runtime(settings_factory)
    try:
        _hold_one_receipt(rt)
        with TestClient(create_app(rt)) as anonymous:
            for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
                response = anonymous.get("/healthz", headers=headers)
                assert response.status_code == 503  # the mailbox has not been read for two hours
                assert response.json() == {
                    "ok": False,
                    "database": {"ok": True},
                    "mailboxes": [{"name": "postmottak", "folder": "INBOX", "healthy": False}],
                    "receipts": {"ok": False},
                    "outbox": {"ok": True},
                }
                for secret in ("etaten.example", "AUTHENTICATIONFAILED", "kvitteringer"):
                    assert secret not in response.text
    finally:
        rt.close()


def test_a_login_or_the_token_shows_the_details(settings_factory) -> None:  # type: ignore[no-untyped-def]
    rt = _runtime(settings_factory)
    try:
        _hold_one_receipt(rt)
        add_user(rt)
        with TestClient(create_app(rt)) as monitor, TestClient(create_app(rt)) as staff:
            by_token = monitor.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).json()
            login(staff)
            by_login = staff.get("/healthz").json()
        for body in (by_token, by_login):
            assert SECRET_REPLY in body["mailboxes"][0]["last_error"]
            # Receipts that wait make their part unhealthy, and say why, without failing the service.
            assert body["receipts"]["ok"] is False and body["receipts"]["waiting"] == 1
            assert "200 kvitteringer i timen" in body["receipts"]["reasons"][0]
    finally:
        rt.close()


def test_a_database_error_is_not_shown_to_an_outsider(settings_factory) -> None:  # type: ignore[no-untyped-def]
    url = "postgresql+psycopg://intake_login:pw@127.0.0.1:1/secret_db"
    rt = Runtime.open(settings_factory(database={"url": url}, web={"health_token": TOKEN}), extract=False)
    try:
        with TestClient(create_app(rt)) as c:
            anonymous = c.get("/healthz")
            assert anonymous.status_code == 503 and anonymous.json()["database"] == {"ok": False}
            assert "127.0.0.1" not in anonymous.text and "secret_db" not in anonymous.text
            detailed = c.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).json()
            assert detailed["database"]["ok"] is False and detailed["database"]["error"]
    finally:
        rt.close()
