"""A receipt left unconfirmed by our own crash is never resent, and staff and monitors can see it:
on the submission page, in the queue, on /metrics and in the JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, Submission
from intake.receipts.outbox import deliver_due
from intake.review.serialize import submissions_json
from intake.review.wording import RECEIPT_UNCONFIRMED, RECEIPT_UNCONFIRMED_HELP
from intake.web.app import create_app
from tests.builders import make_email
from tests.receipt_helpers import RuntimeFactory, ingest_one, make_rt, sink  # noqa: F401  (fixtures)
from tests.smtpsink import Sink
from tests.web_support import add_user, login

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


def test_an_unconfirmed_receipt_is_shown_on_the_page_in_the_queue_on_metrics_and_in_json(
    make_rt: RuntimeFactory, sink: Sink  # noqa: F811
) -> None:
    rt = make_rt(**sink.smtp_settings())
    # Late, so the submission is in the queue (an open flag).
    ack = ingest_one(rt, make_email(sender="post@helsedir.no", subject="Høringssvar sak 21/761"), ON_TIME)
    past = datetime.now(UTC) - timedelta(minutes=5)
    with session_scope(rt.engine) as session:
        row = session.get(Acknowledgement, ack.id)
        assert row is not None
        # What a sender killed after its hand-off leaves behind.
        row.status, row.handoff_at, row.claimed_until, row.claim_token = "sending", past, past, "dead"
        session.add(row)
    report = deliver_due(rt)
    assert report.unconfirmed == 1 and not sink.messages
    add_user(rt)
    with TestClient(create_app(rt)) as client:
        assert "intake_receipts_unconfirmed 1" in client.get("/metrics").text
        login(client)
        queue = client.get("/queue").text
        assert RECEIPT_UNCONFIRMED in queue
        page = client.get(f"/submissions/{ack.submission_id}").text
        assert RECEIPT_UNCONFIRMED in page and RECEIPT_UNCONFIRMED_HELP.split(";")[0] in page
    with Session(rt.engine) as session:
        (item,) = submissions_json(session, list(session.exec(select(Submission)).all()))
    assert item["acknowledgement"]["status"] == "sent" and item["acknowledgement"]["unconfirmed"] is True
    assert deliver_due(rt).sent == 0 and not sink.messages  # never resent by itself
