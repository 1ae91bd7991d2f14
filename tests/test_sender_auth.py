"""Who really sent it: Microsoft 365's and RFC 8601's headers, our own DKIM and DMARC check on mail
handed to our SMTP receiver, and suspicious_sender with its reason, never a rejection."""

from __future__ import annotations

import base64
import smtplib
import time
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

# A server outside the sender's SPF record (the stub world has none): SPF gives no pass, so DKIM decides.
OUTSIDE = Envelope("203.0.113.9", "mx.example.net", "post@legemiddelverket.no")

def test_a_signed_message_passes_and_a_tampered_one_fails_dmarc(key: rsa.RSAPrivateKey) -> None:
    dns = world(key)
    good = signed(key, unsigned())
    assert check_sender(good, "legemiddelverket.no", resolver=dns).status == "pass"
    tampered = good.replace(b"Vedlagt", b"Vedlegg")
    assert tampered != good
    verdict = check_sender(tampered, "legemiddelverket.no", resolver=dns, envelope=OUTSIDE)
    assert verdict.status == "fail"
    assert verdict.detail == ("avsenderkontroll feilet for legemiddelverket.no: dmarc=fail (DKIM-signaturen "
                              "stemmer ikke; spf=none: legemiddelverket.no har ingen SPF-oppføring; p=reject)")


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
    assert check_sender(raw, from_domain, resolver=world(key, dmarc), envelope=OUTSIDE).status == status


def test_without_the_envelope_a_missing_dkim_pass_is_no_dmarc_failure(key: rsa.RSAPrivateKey) -> None:
    # DMARC fails only when SPF fails too; mail handed on by our relay has no envelope of the sender's.
    verdict = check_sender(unsigned(), "legemiddelverket.no", resolver=world(key))
    assert verdict.status == "none" and "SPF ble ikke kontrollert" in verdict.detail


def test_dns_trouble_and_hostile_input_give_no_verdict(key: rsa.RSAPrivateKey) -> None:
    raw = signed(key, unsigned())
    dead = check_sender(raw, "legemiddelverket.no", resolver=DeadDns())
    assert dead.status == "none" and "DNS" in dead.detail
    assert check_sender(raw, None, resolver=world(key)).status == "none"
    assert check_sender(b"DKIM-Signature: v=1; d=\r\n\r\nx", "legemiddelverket.no", resolver=world(key),
                        envelope=OUTSIDE).status == "fail"
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


# --- SPF for the envelope our receiver stored ---------------------------------------------------

PEER = "192.0.2.25"
FROM_SLV = Envelope(PEER, "mx.legemiddelverket.no", "post@legemiddelverket.no")
SPF_SLV = {"legemiddelverket.no": f"v=spf1 ip4:{PEER}/32 -all"}


def test_an_aligned_spf_pass_without_dkim_passes_dmarc(key: rsa.RSAPrivateKey) -> None:
    verdict = check_sender(unsigned(), "legemiddelverket.no", resolver=world(key, spf=SPF_SLV), envelope=FROM_SLV)
    assert verdict.status == "pass"
    assert verdict.detail == ("avsender bekreftet for legemiddelverket.no: spf=pass "
                              "(smtp.mailfrom=legemiddelverket.no), dmarc=pass")


def test_an_spf_fail_without_dkim_fails_dmarc_with_the_reason(key: rsa.RSAPrivateKey) -> None:
    elsewhere = Envelope("203.0.113.9", "mx.spammer.example", "post@legemiddelverket.no")
    verdict = check_sender(unsigned(), "legemiddelverket.no", resolver=world(key, spf=SPF_SLV), envelope=elsewhere)
    assert verdict.status == "fail"
    assert verdict.detail == (
        "avsenderkontroll feilet for legemiddelverket.no: dmarc=fail (meldingen har ingen gyldig DKIM-signatur "
        "fra domenet; spf=fail: avsenderserveren har ikke lov å sende for legemiddelverket.no; p=reject)")
    assert "SPF ikke kontrollert" not in verdict.detail


def test_an_spf_pass_for_another_domain_and_a_failed_dkim_fail_dmarc(key: rsa.RSAPrivateKey) -> None:
    tampered = signed(key, unsigned()).replace(b"Vedlagt", b"Vedlegg")
    spammer = Envelope(PEER, "mx.spammer.example", "bounce@spammer.example")
    dns = world(key, spf={"spammer.example": f"v=spf1 ip4:{PEER} -all"})
    verdict = check_sender(tampered, "legemiddelverket.no", resolver=dns, envelope=spammer)
    assert verdict.status == "fail"
    assert ("DKIM-signaturen stemmer ikke; spf=pass for smtp.mailfrom=spammer.example, som ikke samsvarer med "
            "avsenderdomenet legemiddelverket.no") in verdict.detail


@pytest.mark.parametrize(
    ("dmarc", "status"),
    [("v=DMARC1; p=reject", "pass"), ("v=DMARC1; p=reject; aspf=s", "fail")],
)
def test_spf_alignment_is_relaxed_unless_aspf_is_strict(key: rsa.RSAPrivateKey, dmarc: str, status: str) -> None:
    bounce = Envelope(PEER, "mx.legemiddelverket.no", "retur@bounce.legemiddelverket.no")
    dns = world(key, {"legemiddelverket.no": dmarc}, spf={"bounce.legemiddelverket.no": f"v=spf1 ip4:{PEER} -all"})
    assert check_sender(unsigned(), "legemiddelverket.no", resolver=dns, envelope=bounce).status == status


def test_the_null_reverse_path_has_spf_judge_the_helo_name(key: rsa.RSAPrivateKey) -> None:
    bounce = Envelope(PEER, "mx.legemiddelverket.no", "")
    dns = world(key, spf={"mx.legemiddelverket.no": "v=spf1 a -all"}, other={("mx.legemiddelverket.no", "A"): [PEER]})
    verdict = check_sender(unsigned(), "legemiddelverket.no", resolver=dns, envelope=bounce)
    assert verdict.status == "pass" and "smtp.helo=mx.legemiddelverket.no" in verdict.detail


def test_spf_trouble_in_dns_gives_no_verdict_never_a_flag(key: rsa.RSAPrivateKey) -> None:
    class SpfDead(StubDns):
        def query(self, name: str, rdtype: str, timeout: float) -> list[str]:
            if name.rstrip(".") == "legemiddelverket.no":
                raise DnsTrouble("SERVFAIL")
            return super().query(name, rdtype, timeout)

    records = world(key)
    verdict = check_sender(unsigned(), "legemiddelverket.no", resolver=SpfDead(records.records), envelope=FROM_SLV)
    assert verdict.status == "none" and "DNS svarte ikke" in verdict.detail
    assert check_host(PEER, "legemiddelverket.no", "post@legemiddelverket.no", "", SpfDead(records.records)) \
        == "temperror"


def _chain(count: int, last: str) -> dict[str, str]:
    """legemiddelverket.no includes s1, which includes s2, … ; the last one says ``last``."""
    records = {"legemiddelverket.no": "v=spf1 include:s1.spf.example -all"}
    for n in range(1, count):
        records[f"s{n}.spf.example"] = f"v=spf1 include:s{n + 1}.spf.example -all"
    records[f"s{count}.spf.example"] = last
    return records


def _spf(records: dict[str, str], ip: str = PEER, other: dict[tuple[str, str], list[str]] | None = None,
         **kwargs: Any) -> str:
    dns = StubDns({k: v.encode() for k, v in records.items()}, other)
    return check_host(ip, "legemiddelverket.no", "post@legemiddelverket.no", "mx.legemiddelverket.no", dns,
                      **kwargs)


@pytest.mark.parametrize(
    ("records", "ip", "result"),
    [
        # include passes only on the included record's pass; its fail is no match, so -all decides.
        (_chain(1, f"v=spf1 ip4:{PEER} -all"), PEER, "pass"),
        (_chain(1, "v=spf1 ip4:198.51.100.0/24 -all"), PEER, "fail"),
        (_chain(1, "v=spf1 -all"), PEER, "fail"),
        # An include with no record there is a permanent error, not a quiet no.
        ({"legemiddelverket.no": "v=spf1 include:nowhere.example -all"}, PEER, "permerror"),
        # redirect when nothing matched; the target's result is the result.
        ({"legemiddelverket.no": "v=spf1 redirect=_spf.legemiddelverket.no",
          "_spf.legemiddelverket.no": "v=spf1 ip4:192.0.2.0/24 ~all"}, PEER, "pass"),
        ({"legemiddelverket.no": "v=spf1 redirect=_spf.legemiddelverket.no",
          "_spf.legemiddelverket.no": "v=spf1 ip4:198.51.100.0/24 ~all"}, PEER, "softfail"),
        # redirect is not followed once all is there.
        ({"legemiddelverket.no": "v=spf1 ?all redirect=_spf.legemiddelverket.no",
          "_spf.legemiddelverket.no": "v=spf1 ip4:192.0.2.0/24 -all"}, PEER, "neutral"),
        ({"legemiddelverket.no": "v=spf1 redirect=nowhere.example"}, PEER, "permerror"),
        # IPv6, and an IPv4-mapped peer judged as IPv4.
        ({"legemiddelverket.no": "v=spf1 ip6:2001:db8::/32 -all"}, "2001:db8::25", "pass"),
        ({"legemiddelverket.no": f"v=spf1 ip4:{PEER} -all"}, f"::ffff:{PEER}", "pass"),
        # No record, two records, an unknown mechanism; nothing matched and no all: neutral.
        ({}, PEER, "none"),
        ({"legemiddelverket.no": "v=spf1 +all x=1"}, PEER, "pass"),
        ({"legemiddelverket.no": "v=spf1 foo:bar -all"}, PEER, "permerror"),
        ({"legemiddelverket.no": "v=spf1 ip4:198.51.100.1"}, PEER, "neutral"),
    ],
)
def test_spf_include_redirect_and_the_plain_mechanisms(records: dict[str, str], ip: str, result: str) -> None:
    assert _spf(records, ip) == result


def test_spf_a_mx_exists_ptr_and_macros() -> None:
    other = {("legemiddelverket.no", "MX"): ["mx1.legemiddelverket.no"],
             ("mx1.legemiddelverket.no", "A"): ["192.0.2.200"],
             ("25.2.0.192.in-addr.arpa", "PTR"): ["smtp.legemiddelverket.no"],
             ("smtp.legemiddelverket.no", "A"): [PEER],
             (f"{PEER}.post._spf.legemiddelverket.no", "A"): ["127.0.0.2"]}
    assert _spf({"legemiddelverket.no": "v=spf1 mx -all"}, other=other) == "fail"
    assert _spf({"legemiddelverket.no": "v=spf1 mx/24 -all"}, other=other) == "pass"
    assert _spf({"legemiddelverket.no": "v=spf1 a:mx1.legemiddelverket.no/24 -all"}, other=other) == "pass"
    assert _spf({"legemiddelverket.no": "v=spf1 ptr -all"}, other=other) == "pass"
    assert _spf({"legemiddelverket.no": "v=spf1 exists:%{i}.%{l}._spf.%{d} -all"}, other=other) == "pass"
    assert _spf({"legemiddelverket.no": "v=spf1 exists:%{i}.annen._spf.%{d} -all"}, other=other) == "fail"


def test_spf_stops_at_ten_lookups_two_void_lookups_and_its_time_budget() -> None:
    # Ten lookups (the includes) are allowed, the eleventh is a permanent error.
    assert _spf(_chain(10, f"v=spf1 ip4:{PEER} -all")) == "pass"
    assert _spf(_chain(11, f"v=spf1 ip4:{PEER} -all")) == "permerror"
    # A loop ends at the limit too.
    assert _spf({"legemiddelverket.no": "v=spf1 include:legemiddelverket.no -all"}) == "permerror"
    assert _spf({"legemiddelverket.no": "v=spf1 a:x1.example a:x2.example ip4:192.0.2.0/24 -all"}) == "pass"
    assert _spf({"legemiddelverket.no": "v=spf1 a:x1.example a:x2.example a:x3.example ip4:192.0.2.0/24 -all"}) \
        == "permerror"

    class Slow(StubDns):
        def query(self, name: str, rdtype: str, timeout: float) -> list[str]:
            time.sleep(0.05)
            return super().query(name, rdtype, timeout)

    slow = Slow({k: v.encode() for k, v in _chain(8, f"v=spf1 ip4:{PEER} -all").items()})
    assert check_host(PEER, "legemiddelverket.no", "post@legemiddelverket.no", "", slow, budget_seconds=0.2) \
        == "temperror"
    assert len(slow.asked) <= 5


def test_an_spf_permerror_is_no_pass(key: rsa.RSAPrivateKey) -> None:
    # Eleven includes deep: the peer is listed at the end, but past the limit SPF is no pass.
    dns = world(key, spf=_chain(11, f"v=spf1 ip4:{PEER} -all"))
    verdict = check_sender(unsigned(), "legemiddelverket.no", resolver=dns, envelope=FROM_SLV)
    assert verdict.status == "fail" and "spf=permerror" in verdict.detail


def _send(rt: Runtime, raw: bytes, mail_from: str, helo: str) -> int:
    stored: list[int] = []
    server = SmtpReceiver(rt, on_stored=stored.append)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", server.port, local_hostname=helo, timeout=30) as smtp:
            smtp.sendmail(mail_from, [POSTMOTTAK], raw)
    finally:
        server.stop()
    [pk] = stored
    return pk


@SQLITE
def test_the_receiver_stores_the_envelope_and_an_aligned_spf_pass_raises_no_flag(receiver_rt: Runtime) -> None:
    assert isinstance(receiver_rt.dns, StubDns)
    receiver_rt.dns.records["legemiddelverket.no"] = b"v=spf1 ip4:127.0.0.0/8 -all"
    raw = unsigned(subject="Høringssvar sak 22/414 uten signatur")
    pk = _send(receiver_rt, raw, "post@legemiddelverket.no", "mx.legemiddelverket.no")
    with Session(receiver_rt.engine) as session:
        message = session.get(Message, pk)
        assert message is not None
        assert (message.peer_ip, message.helo, message.mail_from) == (
            "127.0.0.1", "mx.legemiddelverket.no", "post@legemiddelverket.no")
        # The bytes are what was sent (smtplib ends the data with a line break, no more).
        assert receiver_rt.store.read(message.blob).rstrip(b"\r\n") == raw.rstrip(b"\r\n")
    assert "suspicious_sender" not in _flags(receiver_rt, process_message(receiver_rt, pk))
    assert "legemiddelverket.no TXT" in receiver_rt.dns.asked


@SQLITE
def test_the_receiver_flags_an_spf_fail_and_judges_helo_for_the_null_reverse_path(receiver_rt: Runtime) -> None:
    assert isinstance(receiver_rt.dns, StubDns)
    receiver_rt.dns.records["legemiddelverket.no"] = b"v=spf1 ip4:192.0.2.0/24 -all"
    pk = _send(receiver_rt, unsigned(subject="Høringssvar sak 22/414 feil server"), "post@legemiddelverket.no",
               "mx.spammer.example")
    flag = _flags(receiver_rt, process_message(receiver_rt, pk))["suspicious_sender"] or ""
    assert "spf=fail: avsenderserveren har ikke lov å sende for legemiddelverket.no" in flag
    # A bounce (MAIL FROM:<>) from a server whose HELO name's SPF covers it.
    receiver_rt.dns.records["mx.legemiddelverket.no"] = b"v=spf1 ip4:127.0.0.1 -all"
    pk = _send(receiver_rt, unsigned(subject="Høringssvar sak 22/414 retur"), "", "mx.legemiddelverket.no")
    with Session(receiver_rt.engine) as session:
        message = session.get(Message, pk)
        assert message is not None and message.mail_from == ""
    assert "suspicious_sender" not in _flags(receiver_rt, process_message(receiver_rt, pk))


def test_envelope_facts_are_bounded_and_never_cut() -> None:
    from aiosmtpd.smtp import Envelope as SmtpEnvelope
    from aiosmtpd.smtp import Session as SmtpSession

    from intake.sources.smtp import envelope_facts

    session, envelope = SmtpSession(loop=None), SmtpEnvelope()  # type: ignore[arg-type]
    session.peer, session.host_name, envelope.mail_from = ("::ffff:127.0.0.1", 2525, 0, 0), "x" * 256, "a@b.no"
    assert envelope_facts(session, envelope) == ("127.0.0.1", None, "a@b.no")
    session.peer, session.host_name, envelope.mail_from = ("not an address", 1), "mx.b.no", "a@" + "b" * 320
    assert envelope_facts(session, envelope) == (None, "mx.b.no", None)
