"""«Send kvitteringen på nytt» obeys every suppression; only an admin overrides, to a typed address."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, AuditLog
from intake.pipeline.run import ingest
from intake.receipts.resend import resend_refusal
from intake.runtime import Runtime
from intake.store.messages import Source
from intake.web.app import create_app
from tests.builders import BORDER, make_email
from tests.web_support import add_user, login

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)
BOUNCE = make_email(
    sender="Mail Delivery System <MAILER-DAEMON@mx.legemiddelverket.no>",
    subject="Undelivered Mail Returned to Sender: sak 22/414",
    headers={"Auto-Submitted": "auto-replied", "Content-Description": "Delivery report"},
)
# Each message that must get no receipt, and what the refusal must say.
SUPPRESSED = {
    "bounce": (BOUNCE, "returmelding"),
    "own": (make_email(sender="Postmottak <postmottak@ehelse.no>"), "vår egen adresse"),
    "robot": (make_email(sender="Varsel <no-reply@legemiddelverket.no>"), "maskinadresse"),
    "spoofed": (make_email(authenticated=False, headers={
        "Authentication-Results": f"{BORDER}; spf=fail smtp.mailfrom=legemiddelverket.no; "
                                  "dmarc=fail header.from=legemiddelverket.no"}), "avsenderkontroll feilet"),
}


def _submit(rt: Runtime, raw: bytes) -> int:
    result = ingest(rt, raw, Source(kind="file"), ON_TIME)
    assert result.submission_id is not None
    return result.submission_id


def _ack(rt: Runtime, submission_id: int) -> Acknowledgement:
    with Session(rt.engine) as session:
        return session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == submission_id)).one()


@pytest.fixture
def admin(rt: Runtime) -> Iterator[tuple[TestClient, str]]:
    add_user(rt, "kari", role="admin")
    with TestClient(create_app(rt)) as client:
        yield client, login(client, "kari")


def test_a_resend_obeys_every_suppression_and_says_why(rt: Runtime, admin: tuple[TestClient, str]) -> None:
    client, csrf = admin
    for case, (raw, reason) in SUPPRESSED.items():
        submission_id = _submit(rt, raw)
        before = _ack(rt, submission_id)
        assert before.status == "suppressed", case
        with Session(rt.engine) as session:
            refusal = resend_refusal(session, submission_id, own_addresses=rt.own_addresses)
        assert refusal is not None and reason in refusal and "administrator" in refusal, case
        page = client.get(f"/submissions/{submission_id}").text
        assert reason in page and f'action="/submissions/{submission_id}/resend"' not in page, case
        response = client.post(f"/submissions/{submission_id}/resend", data={"csrf_token": csrf})
        assert response.status_code == 400 and reason in response.text, case
        after = _ack(rt, submission_id)
        assert (after.status, after.recipient, after.message_id) == (before.status, before.recipient,
                                                                     before.message_id), case


def test_a_resend_of_a_plain_receipt_is_allowed(rt: Runtime, admin: tuple[TestClient, str]) -> None:
    submission_id = _submit(rt, make_email())
    with Session(rt.engine) as session:
        assert resend_refusal(session, submission_id, own_addresses=rt.own_addresses) is None
    client, csrf = admin
    assert client.post(f"/submissions/{submission_id}/resend", data={"csrf_token": csrf}).status_code == 200
    assert _ack(rt, submission_id).status == "pending"


def test_an_admin_overrides_only_with_a_typed_address_and_it_is_audited(
    rt: Runtime, admin: tuple[TestClient, str]
) -> None:
    submission_id = _submit(rt, SUPPRESSED["spoofed"][0])
    client, csrf = admin
    for typed, why in (("", "ikke en e-postadresse"), ("Kari <kari@x.no>", "ikke en e-postadresse"),
                       ("postmottak@ehelse.no", "vår egen adresse")):
        refused = client.post(f"/submissions/{submission_id}/resend-to", data={"csrf_token": csrf, "to": typed})
        assert refused.status_code == 400 and why in refused.text, typed
        assert _ack(rt, submission_id).status == "suppressed"
    done = client.post(f"/submissions/{submission_id}/resend-to",
                       data={"csrf_token": csrf, "to": " Post@Legemiddelverket.no "})
    assert done.status_code == 200
    ack = _ack(rt, submission_id)
    assert (ack.status, ack.recipient, ack.recipients) == ("pending", "post@legemiddelverket.no",
                                                            ["post@legemiddelverket.no"])
    with session_scope(rt.engine) as session:
        entry = session.exec(select(AuditLog).where(AuditLog.action == "receipt.resend_override")).one()
        assert entry.actor == "kari" and entry.detail is not None
        assert entry.detail["to"] == "post@legemiddelverket.no"
        assert "avsenderkontroll feilet" in entry.detail["overrode"]
