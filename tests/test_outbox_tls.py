"""Receipts over TLS: implicit TLS (ssl), and STARTTLS with login, against aiosmtpd with its own certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from intake.receipts.outbox import deliver_due
from tests.builders import make_email
from tests.receipt_helpers import RuntimeFactory, acks, ingest_one, make_rt  # noqa: F401  (fixture)
from tests.smtpsink import Sink, self_signed, server_context

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


def _tls_sink(tmp_path: Path, *, implicit: bool) -> tuple[Sink, Path]:
    cert, key = self_signed(tmp_path)
    sink = Sink()
    context = server_context(cert, key)
    if implicit:
        # aiosmtpd offers AUTH only after STARTTLS, so login is tested there and not here.
        sink.options = {"ssl_context": context}
    else:
        sink.options = {"tls_context": context, "require_starttls": True, "authenticator": sink.authenticate,
                        "auth_required": True}
    return sink.start(), cert


def test_starttls_with_login(make_rt: RuntimeFactory, tmp_path: Path) -> None:  # noqa: F811
    sink, cert = _tls_sink(tmp_path, implicit=False)
    try:
        rt = make_rt(**sink.smtp_settings(security="starttls", username="kvittering", password="hemmelig",
                                          ca_file=str(cert)))
        ingest_one(rt, make_email(), ON_TIME)
        assert deliver_due(rt).sent == 1
        assert sink.logins == ["kvittering"] and len(sink.messages) == 1
    finally:
        sink.stop()


def test_implicit_tls(make_rt: RuntimeFactory, tmp_path: Path) -> None:  # noqa: F811
    sink, cert = _tls_sink(tmp_path, implicit=True)
    try:
        rt = make_rt(**sink.smtp_settings(security="ssl", ca_file=str(cert)))
        ingest_one(rt, make_email(), ON_TIME)
        assert deliver_due(rt).sent == 1 and len(sink.messages) == 1
    finally:
        sink.stop()


def test_wrong_password_or_untrusted_certificate_touches_no_receipt(
    make_rt: RuntimeFactory, tmp_path: Path  # noqa: F811
) -> None:
    sink, cert = _tls_sink(tmp_path, implicit=False)
    try:
        wrong = make_rt(**sink.smtp_settings(security="starttls", username="kvittering", password="feil",
                                             ca_file=str(cert)))
        ingest_one(wrong, make_email(), ON_TIME)
        report = deliver_due(wrong)
        assert report.sent == 0 and report.error and "535" in report.error
        untrusted = make_rt(**sink.smtp_settings(security="starttls", username="kvittering", password="hemmelig"))
        report = deliver_due(untrusted)
        assert report.sent == 0 and report.error and "CERTIFICATE_VERIFY_FAILED" in report.error
        assert [(a.status, a.attempts) for a in acks(wrong)] == [("pending", 0)]
        assert not sink.messages
    finally:
        sink.stop()
