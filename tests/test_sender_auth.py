"""Who really sent it: Microsoft 365's and RFC 8601's headers, our own DKIM and DMARC check on mail
handed to our SMTP receiver, and suspicious_sender with its reason, never a rejection."""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator
from datetime import datetime
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Flag, Message, Submission
from intake.decide.authres import sender_authentication
from intake.decide.resolver import DnsTrouble, Resolver
from intake.decide.sender_check import Envelope, check_sender
from intake.decide.spf import check_host
from intake.pipeline.run import ingest, process_message
from intake.runtime import Runtime
from intake.sources.smtp import SmtpReceiver
from intake.store.messages import Source
from intake.web.app import create_app
from tests.builders import BORDER, make_email
from tests.ports import free_port
from tests.web_support import add_user, login

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

OSLO = ZoneInfo("Europe/Oslo")
ON_TIME = datetime(2022, 9, 28, 10, 15, tzinfo=OSLO)
POSTMOTTAK = "postmottak@ehelse.no"
SLV = "Statens legemiddelverk <post@legemiddelverket.no>"
# What Exchange Online writes, without an authserv-id.
M365_PASS = ("spf=pass (sender IP is 51.105.1.2) smtp.mailfrom=legemiddelverket.no; dkim=pass (signature was "
             "verified) header.d=legemiddelverket.no;dmarc=pass action=none header.from=legemiddelverket.no;"
             "compauth=pass reason=100")
M365_FAIL = ("spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=legemiddelverket.no; dkim=none (message not "
             "signed) header.d=none;dmarc=fail action=oreject header.from=legemiddelverket.no;"
             "compauth=fail reason=000")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class StubDns(Resolver):
    """A small world of DNS records, TXT and others, for DKIM, DMARC and SPF; counts the lookups."""

    def __init__(self, records: dict[str, bytes], other: dict[tuple[str, str], list[str]] | None = None) -> None:
        self.records = records
        self.other = other or {}
        self.asked: list[str] = []

    def query(self, name: str, rdtype: str, timeout: float) -> list[str]:
        key = name.rstrip(".").lower()
        self.asked.append(f"{key} {rdtype}")
        if rdtype == "TXT" and key in self.records:
            return [self.records[key].decode()]
        return list(self.other.get((key, rdtype), []))


class DeadDns(Resolver):
    def query(self, name: str, rdtype: str, timeout: float) -> list[str]:
        raise DnsTrouble("no answer")


def world(key: rsa.RSAPrivateKey, dmarc: dict[str, str] | None = None, spf: dict[str, str] | None = None,
          other: dict[tuple[str, str], list[str]] | None = None) -> StubDns:
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    records = {"sel1._domainkey.legemiddelverket.no": b"v=DKIM1; k=rsa; p=" + base64.b64encode(public),
               "sel1._domainkey.spammer.example": b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)}
    for domain, record in (dmarc if dmarc is not None else {"legemiddelverket.no": "v=DMARC1; p=reject"}).items():
        records[f"_dmarc.{domain}"] = record.encode()
    for domain, record in (spf or {}).items():
        records[domain] = record.encode()
    return StubDns(records, other)


def signed(key: rsa.RSAPrivateKey, raw: bytes, domain: str = "legemiddelverket.no") -> bytes:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    signature = dkim.sign(raw, b"sel1", domain.encode(), pem, include_headers=[b"from", b"subject", b"date"])
    return signature + raw


def unsigned(sender: str = SLV, **kwargs: Any) -> bytes:
    return make_email(sender=sender, authenticated=False, **kwargs)


# --- Our own DKIM and DMARC check -------------------------------------------------------------

def test_a_signed_message_passes_and_a_tampered_one_fails_dmarc(key: rsa.RSAPrivateKey) -> None:
    dns = world(key)
    good = signed(key, unsigned())
    assert check_sender(good, "legemiddelverket.no", resolver=dns).status == "pass"
    tampered = good.replace(b"Vedlagt", b"Vedlegg")
    assert tampered != good
    verdict = check_sender(tampered, "legemiddelverket.no", resolver=dns)
    assert verdict.status == "fail"
    assert verdict.detail == ("avsenderkontroll feilet for legemiddelverket.no: dmarc=fail (DKIM-signaturen "
                              "stemmer ikke; SPF ikke kontrollert (avsenderserveren er ukjent); p=reject)")


@pytest.mark.parametrize(
    ("sign_as", "from_domain", "dmarc", "status"),
    [
        # A valid signature of another domain proves nothing about the From domain.
        ("spammer.example", "legemiddelverket.no", None, "fail"),
        # Unsigned, with a DMARC record: fail; without one: no verdict.
        (None, "legemiddelverket.no", None, "fail"),
        (None, "legemiddelverket.no", {}, "none"),
        # Relaxed alignment: a subdomain's From is aligned with the organisation's signature,
        # its DMARC record found at the organisational domain.
        ("legemiddelverket.no", "post.legemiddelverket.no", None, "pass"),
        # Strict alignment (adkim=s) wants the very domain.
        ("legemiddelverket.no", "post.legemiddelverket.no", {"legemiddelverket.no": "v=DMARC1; p=none; adkim=s"},
         "fail"),
        # A TXT record that is not DMARC is no record.
        (None, "legemiddelverket.no", {"legemiddelverket.no": "v=spf1 -all"}, "none"),
    ],
)
def test_dmarc_alignment_of_the_from_domain(
    key: rsa.RSAPrivateKey, sign_as: str | None, from_domain: str, dmarc: dict[str, str] | None, status: str
) -> None:
    raw = unsigned(sender=f"Post <post@{from_domain}>")
    if sign_as:
        raw = signed(key, raw, sign_as)
    assert check_sender(raw, from_domain, resolver=world(key, dmarc)).status == status


def test_dns_trouble_and_hostile_input_give_no_verdict(key: rsa.RSAPrivateKey) -> None:
    raw = signed(key, unsigned())
    dead = check_sender(raw, "legemiddelverket.no", resolver=DeadDns())
    assert dead.status == "none" and "DNS" in dead.detail
    assert check_sender(raw, None, resolver=world(key)).status == "none"
    assert check_sender(b"DKIM-Signature: v=1; d=\r\n\r\nx", "legemiddelverket.no", resolver=world(key)).status \
        == "fail"
    # At most three signatures are verified, however many a sender puts on.
    dns = world(key)
    many = b"".join([dkim.sign(raw, b"sel9", b"legemiddelverket.no", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))] * 20) + raw
    check_sender(many, "legemiddelverket.no", resolver=dns)
    assert sum("_domainkey" in name for name in dns.asked) <= 3


# --- Microsoft 365's header, and forged ones ---------------------------------------------------

@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([M365_PASS], "pass"),
        ([M365_FAIL], "fail"),
        # compauth=fail alone (Microsoft's verdict on the From domain) is a failure.
        (["spf=none smtp.mailfrom=x.example; dmarc=none action=none header.from=legemiddelverket.no; "
          "compauth=fail reason=601"], "fail"),
        # A guess is no pass.
        (["spf=none; dmarc=bestguesspass action=none header.from=legemiddelverket.no;compauth=pass reason=109"],
         "none"),
        # The sender's own M365-style header below Microsoft's is never read, whatever it claims.
        ([M365_FAIL, M365_PASS], "fail"),
        # A header of another server on top: nothing below it is trusted, the forged pass least of all.
        (["mx.spammer.example; dmarc=pass header.from=legemiddelverket.no", M365_PASS], "none"),
        # An RFC 8601 header of ours works beside the trust in Microsoft's.
        ([f"{BORDER} 1; dmarc=pass header.from=legemiddelverket.no"], "pass"),
    ],
)
def test_microsoft_365_headers_are_read_tolerantly_where_trusted(headers: list[str], status: str) -> None:
    assert sender_authentication(headers, BORDER, "legemiddelverket.no", m365=True).status == status


def test_microsoft_365_headers_count_only_when_configured() -> None:
    assert sender_authentication([M365_PASS], BORDER, "legemiddelverket.no").status == "none"
    assert sender_authentication([M365_PASS], "", "legemiddelverket.no").status == "none"
    assert sender_authentication([M365_PASS], "", "legemiddelverket.no", m365=True).status == "pass"


# --- suspicious_sender through the pipeline ----------------------------------------------------

@pytest.fixture
def m365_rt(settings_factory: Any) -> Iterator[Runtime]:
    runtime = Runtime.open(settings_factory(processing={"trust_m365": True}), extract=False)
    with session_scope(runtime.engine) as session:
        workflows.sync(session, runtime.settings.workflows.path)
    yield runtime
    runtime.close()


def _flags(rt: Runtime, submission_id: int | None) -> dict[str, str | None]:
    assert submission_id is not None
    with Session(rt.engine) as session:
        return {f.name: f.detail for f in session.exec(select(Flag).where(Flag.submission_id == submission_id))}


def _ingest(rt: Runtime, raw: bytes) -> int | None:
    return ingest(rt, raw, Source(kind="imap", mailbox="postmottak", folder="INBOX"), ON_TIME).submission_id


@SQLITE
def test_an_invited_body_failing_dmarc_is_flagged_with_the_reason_and_still_processed(m365_rt: Runtime) -> None:
    sid = _ingest(m365_rt, unsigned(headers={"Authentication-Results": M365_FAIL}))
    flags = _flags(m365_rt, sid)
    assert flags["suspicious_sender"] == ("avsenderkontroll feilet for legemiddelverket.no: spf=fail, dmarc=fail, "
                                          "compauth=fail (domenet tilhører høringsinstansen Statens legemiddelverk)")
    with Session(m365_rt.engine) as session:
        sub = session.get(Submission, sid)
        assert sub is not None and sub.case_number == "22/414"
        assert session.exec(select(Message)).one().status == "processed"


@SQLITE
def test_a_passing_m365_header_and_a_missing_header_raise_no_flag(m365_rt: Runtime) -> None:
    passed = _ingest(m365_rt, unsigned(headers={"Authentication-Results": M365_PASS}, subject="sak 22/414 a"))
    assert "suspicious_sender" not in _flags(m365_rt, passed)
    # A colleague's mail, which never passed our border: no header, no flag.
    colleague = _ingest(m365_rt, unsigned(sender="Kari <kari@ehelse.no>", subject="sak 22/414 b"))
    assert "suspicious_sender" not in _flags(m365_rt, colleague)


@SQLITE
def test_our_own_domain_from_outside_is_flagged(m365_rt: Runtime) -> None:
    header = "spf=fail smtp.mailfrom=ehelse.no; dkim=none header.d=none;dmarc=none action=none header.from=ehelse.no"
    sid = _ingest(m365_rt, unsigned(sender="Direktøren <direktor@ehelse.no>", headers={"Authentication-Results":
                                                                                      header}))
    assert _flags(m365_rt, sid)["suspicious_sender"] == (
        "avsenderen bruker vårt eget domene ehelse.no, men meldingen kom utenfra uten bekreftelse; "
        "avsenderkontroll feilet for ehelse.no: spf=fail")


@SQLITE
def test_the_reason_is_shown_in_norwegian_on_the_submission_page(m365_rt: Runtime) -> None:
    sid = _ingest(m365_rt, unsigned(headers={"Authentication-Results": M365_FAIL}))
    add_user(m365_rt)
    with TestClient(create_app(m365_rt)) as client:
        login(client)
        page = client.get(f"/submissions/{sid}").text
    assert "Mistenkelig avsender" in page
    assert "avsenderkontroll feilet for legemiddelverket.no: spf=fail, dmarc=fail" in page


# --- Our own check on mail handed to our SMTP receiver -----------------------------------------

@pytest.fixture
def receiver_rt(settings_factory: Any, key: rsa.RSAPrivateKey) -> Iterator[Runtime]:
    settings = settings_factory(receiver={"enabled": True, "port": free_port(), "recipients": [POSTMOTTAK],
                                          "verify_senders": True})
    runtime = Runtime.open(settings, extract=False)
    runtime.dns = world(key, {"legemiddelverket.no": "v=DMARC1; p=reject", "ehelse.no": "v=DMARC1; p=reject"})
    with session_scope(runtime.engine) as session:
        workflows.sync(session, runtime.settings.workflows.path)
    yield runtime
    runtime.close()


def _through_receiver(rt: Runtime, raw: bytes) -> int | None:
    stored: list[int] = []
    server = SmtpReceiver(rt, on_stored=stored.append)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as smtp:
            smtp.sendmail(parseaddr(SLV)[1], [POSTMOTTAK], raw)
    finally:
        server.stop()
    [pk] = stored
    return process_message(rt, pk)


@SQLITE
def test_signed_mail_to_our_receiver_passes_and_tampered_mail_is_flagged_not_refused(
    receiver_rt: Runtime, key: rsa.RSAPrivateKey
) -> None:
    good = signed(key, unsigned(subject="Høringssvar sak 22/414"))
    assert "suspicious_sender" not in _flags(receiver_rt, _through_receiver(receiver_rt, good))
    tampered = signed(key, unsigned(subject="Høringssvar sak 22/414 igjen")).replace(b"Vedlagt", b"Vedlegg")
    flags = _flags(receiver_rt, _through_receiver(receiver_rt, tampered))
    assert flags["suspicious_sender"] is not None
    assert flags["suspicious_sender"].startswith("avsenderkontroll feilet for legemiddelverket.no: dmarc=fail")
    assert flags["suspicious_sender"].endswith("(domenet tilhører høringsinstansen Statens legemiddelverk)")


@SQLITE
def test_a_trusted_border_header_wins_over_our_own_check(receiver_rt: Runtime) -> None:
    # Unsigned (our check would say dmarc=fail), but our border in front already said pass.
    raw = make_email(sender=SLV, subject="Høringssvar sak 22/414")
    assert "suspicious_sender" not in _flags(receiver_rt, _through_receiver(receiver_rt, raw))


@SQLITE
def test_a_microsoft_365_header_on_mail_to_our_receiver_proves_nothing(
    settings_factory: Any, key: rsa.RSAPrivateKey
) -> None:
    # Exchange Online never saw this message: its header (no id to check) was written by the sender.
    settings = settings_factory(receiver={"enabled": True, "port": free_port(), "recipients": [POSTMOTTAK],
                                          "verify_senders": True}, processing={"trust_m365": True})
    rt = Runtime.open(settings, extract=False)
    try:
        rt.dns = world(key)
        with session_scope(rt.engine) as session:
            workflows.sync(session, rt.settings.workflows.path)
        forged = unsigned(subject="Høringssvar sak 22/414", headers={"Authentication-Results": M365_PASS})
        flags = _flags(rt, _through_receiver(rt, forged))
    finally:
        rt.close()
    assert (flags["suspicious_sender"] or "").startswith("avsenderkontroll feilet for legemiddelverket.no: dmarc=fail")
