"""Receipts through a real Postfix on loopback that requires STARTTLS, and relays that refuse us.

A refusal that concerns the relay (TLS first, a login, relay access) must stop the
run with every receipt still due, make the outbox unhealthy on ``/healthz``, the
staff pages and ``/metrics``, and make ``intake poll --once`` exit non-zero with
one line; the right settings then deliver every receipt.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from intake.receipts.outbox import deliver_due
from intake.receipts.transport import relay_refusal
from intake.review.wording import OUTBOX_BLOCKED
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.builders import make_email
from tests.conftest import REPO, need, start_or_need
from tests.postfix import Postfix, unavailable
from tests.receipt_helpers import RuntimeFactory, acks, ingest_one, make_rt  # noqa: F401  (fixture)
from tests.smtpsink import Sink
from tests.web_support import add_user, login

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)
RECEIPTS = 5


@pytest.fixture(scope="module")
def tls_relay() -> Iterator[Postfix]:
    reason = unavailable()
    if reason is not None:
        need("Postfix", reason)
    server = Postfix(require_tls=True)
    start_or_need("Postfix", server)
    yield server
    server.close()


def _responses(rt: Runtime) -> None:
    for n in range(RECEIPTS):
        ingest_one(rt, make_email(sender=f"post@org{n}.no", message_id=f"<svar-{n}@org{n}.no>",
                                  subject=f"Høringssvar {n} sak 22/414"), ON_TIME)


def _poll_once(rt: Runtime, tmp_path: Path, **smtp: object) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config" / "intake.toml"
    config.parent.mkdir(exist_ok=True)
    lines = "".join(f'{k} = "{v}"\n' if isinstance(v, str) else f"{k} = {v}\n" for k, v in smtp.items())
    config.write_text(
        f'[database]\nurl = "{rt.settings.database.url}"\n[storage]\npath = "{rt.settings.storage.path}"\n'
        f'[workflows]\npath = "{REPO / "workflows"}"\n[extract]\nworkers = 0\n'
        f'[smtp]\nfrom_address = "postmottak@ehelse.no"\n{lines}'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTAKE_")}
    return subprocess.run([sys.executable, "-m", "intake", "--config", str(config), "poll", "--once"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=REPO)


def test_receipts_go_through_a_relay_that_requires_starttls_with_the_right_settings(
    make_rt: RuntimeFactory, tls_relay: Postfix  # noqa: F811
) -> None:
    tls_relay.sink.messages.clear()
    rt = make_rt(**tls_relay.smtp_settings(security="starttls", ca_file=str(tls_relay.ca_file)))
    _responses(rt)
    report = deliver_due(rt)
    assert report.sent == RECEIPTS and not report.error, report
    relayed = tls_relay.sink.wait_for(RECEIPTS)
    assert sorted(d.rcpt_tos[0] for d in relayed) == sorted(f"post@org{n}.no" for n in range(RECEIPTS))
    assert "TLS connection established from localhost[127.0.0.1]" in tls_relay.log()
    with TestClient(create_app(rt)) as client:
        health = client.get("/healthz")
    assert health.json()["outbox"] == {"ok": True}


def test_a_relay_refusing_plain_text_stops_the_run_leaves_receipts_due_and_turns_health_red(
    make_rt: RuntimeFactory, tls_relay: Postfix, tmp_path: Path  # noqa: F811
) -> None:
    tls_relay.sink.messages.clear()
    rt = make_rt(**tls_relay.smtp_settings())
    _responses(rt)
    for _ in range(2):
        report = deliver_due(rt)
        assert report.blocked and report.sent == report.failed == report.retrying == 0, report
        assert "530 5.7.0 Must issue a STARTTLS command first" in (report.error or "")
    # Every receipt is still due, untouched: no attempt counted, no error written on a receipt.
    assert [(a.status, a.attempts, a.last_error) for a in acks(rt)] == [("pending", 0, None)] * RECEIPTS

    add_user(rt)
    with TestClient(create_app(rt)) as anonymous, TestClient(create_app(rt)) as staff:
        red = anonymous.get("/healthz")
        assert red.status_code == 503 and red.json()["outbox"] == {"ok": False}
        login(staff)
        detail = staff.get("/healthz").json()["outbox"]
        assert detail["blocked"] is True and "STARTTLS" in detail["problem"]
        page = staff.get("/queue")
        assert OUTBOX_BLOCKED in page.text, page.text[:3000]
        metrics = anonymous.get("/metrics").text
        assert "intake_outbox_blocked 1" in metrics and "intake_outbox_error 1" in metrics

    done = _poll_once(rt, tmp_path, host="127.0.0.1", port=tls_relay.port, security="none", timeout_seconds=10)
    assert done.returncode != 0, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: SMTP 127.0.0.1:") and "Must issue a STARTTLS command first" in last, done.stderr
    assert all(a.status == "pending" and a.attempts == 0 for a in acks(rt))

    fixed = _poll_once(rt, tmp_path, host="127.0.0.1", port=tls_relay.port, security="starttls",
                       ca_file=str(tls_relay.ca_file), timeout_seconds=10)
    assert fixed.returncode == 0, fixed.stderr
    assert [a.status for a in acks(rt)] == ["sent"] * RECEIPTS
    assert len(tls_relay.sink.wait_for(RECEIPTS)) == RECEIPTS
    with TestClient(create_app(rt)) as anonymous:
        assert anonymous.get("/healthz").json()["outbox"] == {"ok": True}
        assert "intake_outbox_blocked 0" in anonymous.get("/metrics").text


# aiosmtpd warns, rightly, that a login without TLS is unsafe; here the login is never given.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_a_relay_that_wants_a_login_first_stops_the_run_too(make_rt: RuntimeFactory) -> None:  # noqa: F811
    sink = Sink()
    sink.options = {"authenticator": sink.authenticate, "auth_required": True, "auth_require_tls": False}
    sink.start()
    try:
        rt = make_rt(**sink.smtp_settings())
        _responses(rt)
        report = deliver_due(rt)
        assert report.blocked and "530 5.7.0 Authentication required" in (report.error or ""), report
        assert [(a.status, a.attempts) for a in acks(rt)] == [("pending", 0)] * RECEIPTS
    finally:
        sink.stop()


@pytest.mark.parametrize(("code", "text", "relay"), [
    (530, "530 5.7.0 Must issue a STARTTLS command first", True),
    (554, "554 5.7.1 <kari@firma.no>: Relay access denied", True),
    (550, "550 5.7.1 Unable to relay for kari@firma.no", True),
    (530, "530 5.7.0 Authentication required", True),
    (535, "535 5.7.8 Error: authentication failed", True),
    (554, "554 5.7.1 <unknown[10.0.0.5]>: Client host rejected: Access denied", True),
    (550, "550 5.7.1 <kari@firma.no>: Recipient address rejected: Access denied", False),
    (550, "550 5.1.1 <kari@firma.no>: Recipient address rejected: User unknown", False),
    (452, "452 4.2.2 mailbox full", False),
    (451, "451 4.7.1 Greylisted, try again later", False),
])
def test_which_refusals_concern_the_relay(code: int, text: str, relay: bool) -> None:
    assert relay_refusal(code, text) is relay
