"""Microsoft 365 sign-in built in: MSAL client credentials against a stand-in for Entra ID on loopback,
the XOAUTH2 login checked by a real Dovecot with its oauth2 passdb, the token cache, a refused token,
and the credential's expiry in the health answer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from intake.config import settings_from_dict
from intake.errors import ConfigError, SourceUnavailable, TokenUnavailable
from intake.runtime import Runtime
from intake.sources.health import mailbox_health
from intake.sources.imap import poll_mailbox
from intake.sources.imap_connect import connect, disconnect
from intake.web.app import create_app
from tests.conftest import need, start_or_need
from tests.dovecot import Dovecot, dovecot_binary
from tests.entra import Entra
from tests.ports import free_port
from tests.smtpsink import self_signed, server_context
from tests.web_support import add_user, login

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

OSLO = ZoneInfo("Europe/Oslo")
TENANT = "0c9a7e52-4b1d-4c5e-9d0a-2f6f4c3b1a11"
CLIENT = "5e8b1f0e-8d7c-4a55-b8a1-7c2d9e6f3b22"
USER = "postmottak"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("entra-tls"))


@pytest.fixture(scope="module")
def entra_server(tls: tuple[Path, Path]) -> Iterator[Entra]:
    server = Entra(tenant=TENANT, client_id=CLIENT, user=USER, context=server_context(*tls))
    yield server
    server.close()


@pytest.fixture
def entra(entra_server: Entra) -> Entra:
    entra_server.reset()
    return entra_server


@pytest.fixture(scope="module")
def imap(entra_server: Entra) -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        need("Dovecot", "dovecot or its IMAP server /usr/lib/dovecot/imap is missing (Debian: dovecot-imapd)")
    server = Dovecot(binary, oauth2_introspection=entra_server.introspection_url)
    start_or_need("Dovecot", server)
    yield server
    server.close()


@functools.cache
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(folder: Path, days: float) -> Path:
    """The app registration's certificate with its private key, in one PEM file, valid for ``days``."""
    key = app_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intake postmottak")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days)).sign(key, hashes.SHA256()))
    path = folder / f"app-{days}.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def box_for(imap: Dovecot, entra: Entra, tls: tuple[Path, Path], tmp_path: Path) -> Callable[..., dict[str, Any]]:
    def build(*, days: float = 365, secret: str | None = None, expires: date | None = None,
              name: str = "m365") -> dict[str, Any]:
        box: dict[str, Any] = {
            "name": name, "host": "127.0.0.1", "port": imap.port, "security": "none", "username": USER,
            "auth": "m365", "m365_tenant_id": TENANT, "m365_client_id": CLIENT,
            "m365_authority": entra.authority, "m365_ca_file": str(tls[0]), "timeout_seconds": 10,
            "poll_interval_seconds": 60, "credential_warning_days": 14,
        }
        if secret is None:
            pem = certificate_pem(tmp_path, days)
            entra.certificate = x509.load_pem_x509_certificate(pem.read_bytes())
            box["m365_certificate_file"] = str(pem)
        else:
            (tmp_path / "secret.txt").write_text(secret + "\n", encoding="utf-8")
            entra.secret = secret
            box.update(m365_client_secret_file=str(tmp_path / "secret.txt"), m365_secret_expires=expires)
        return box

    return build


@SQLITE
def test_a_certificate_signs_in_to_a_real_imap_server_and_the_token_is_cached(
    make_rt: Callable[..., Runtime], box_for: Callable[..., dict[str, Any]], entra: Entra
) -> None:
    rt = make_rt(box_for())
    box = rt.settings.mailboxes[0]
    client = connect(box)
    try:
        # Dovecot let us in only after the introspection URL vouched for the very token Entra issued.
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        disconnect(client)
    [request] = entra.token_requests
    assert request["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in request
    assert entra.introspected == list(entra.issued)
    # The next sign-ins reuse the cached token: no new request to Entra ID.
    for _ in range(2):
        disconnect(connect(box))
    assert len(entra.token_requests) == 1 and len(entra.issued) == 1


@SQLITE
def test_a_token_near_its_expiry_is_renewed_before_it_runs_out(
    make_rt: Callable[..., Runtime], box_for: Callable[..., dict[str, Any]], entra: Entra
) -> None:
    # Two minutes left is too little for a poll: MSAL asks for a new token each time.
    entra.expires_in = 120
    box = make_rt(box_for()).settings.mailboxes[0]
    disconnect(connect(box))
    disconnect(connect(box))
    assert len(entra.token_requests) == 2 and len(entra.issued) == 2


@SQLITE
def test_a_client_secret_from_a_file_signs_in(
    make_rt: Callable[..., Runtime], box_for: Callable[..., dict[str, Any]], entra: Entra
) -> None:
    rt = make_rt(box_for(secret="s3cr3t~value", expires=date(2099, 1, 31)))
    result = poll_mailbox(rt, rt.settings.mailboxes[0])
    assert result.new == 0
    assert entra.token_requests[0]["client_secret"] == "s3cr3t~value"
    [health] = mailbox_health(rt)
    assert health["healthy"] and health["credential"]["kind"] == "secret"
    assert health["credential"]["expires_at"] == "2099-01-31T00:00:00+01:00"


@SQLITE
def test_a_refused_token_makes_the_mailbox_unhealthy_at_once(
    make_rt: Callable[..., Runtime], box_for: Callable[..., dict[str, Any]], entra: Entra
) -> None:
    rt = make_rt(box_for(name="refused"))
    box = rt.settings.mailboxes[0]
    poll_mailbox(rt, box)
    assert mailbox_health(rt)[0]["healthy"]
    # The IMAP server refuses the token (here: revoked): unhealthy at once, not after three intervals.
    entra.revoked.update(entra.issued)
    with pytest.raises(TokenUnavailable, match="XOAUTH2 token not accepted"):
        poll_mailbox(rt, box)
    [health] = mailbox_health(rt)
    assert not health["healthy"] and "XOAUTH2 token not accepted" in health["problem"]
    # The refused token is not reused: the next sign-in asks Entra ID, which now refuses too.
    entra.refuse = "invalid_client"
    with pytest.raises(TokenUnavailable, match="Entra ID refused the XOAUTH2 token request: invalid_client: AADSTS"):
        poll_mailbox(rt, box)
    [health] = mailbox_health(rt)
    assert not health["healthy"] and "AADSTS7000222" in health["problem"]
    # Once the credential is mended, the next poll signs in with a new token and all is well.
    entra.refuse = None
    poll_mailbox(rt, box)
    assert mailbox_health(rt)[0]["healthy"]
    assert len(entra.issued) == 2


@SQLITE
def test_an_unreachable_entra_is_a_passing_outage_not_a_token_problem(
    make_rt: Callable[..., Runtime], box_for: Callable[..., dict[str, Any]], entra: Entra
) -> None:
    # Nothing listens where Entra ID should answer.
    box = make_rt({**box_for(name="outage"), "m365_authority": f"https://127.0.0.1:{free_port()}"}).settings.mailboxes[0]
    with pytest.raises(SourceUnavailable, match="cannot reach Microsoft Entra ID") as caught:
        connect(box)
    assert not isinstance(caught.value, TokenUnavailable)


@SQLITE
@pytest.mark.parametrize(("days", "healthy"), [(90, True), (10, False), (-1, False)])
def test_the_certificate_expiry_shows_and_warns_ahead(
    make_rt: Callable[..., Runtime], box_for: Callable[..., dict[str, Any]], days: int, healthy: bool
) -> None:
    rt = make_rt(box_for(days=days + 0.5, name=f"cert{days}"))
    if days > 0:
        poll_mailbox(rt, rt.settings.mailboxes[0])
    [health] = mailbox_health(rt)
    credential = health["credential"]
    assert credential["kind"] == "certificate" and credential["days_left"] in (days, days + 1)
    assert health["healthy"] is healthy
    if days < 0:
        assert "certificate expired on" in health["problem"]
    elif not healthy:
        assert f"certificate expires on {credential['expires_at'][:10]}" in health["problem"]


@SQLITE
def test_a_secret_expiring_in_five_days_turns_the_mailbox_unhealthy(
    make_rt: Callable[..., Runtime], box_for: Callable[..., dict[str, Any]]
) -> None:
    expires = datetime.now(OSLO).date() + timedelta(days=5)
    rt = make_rt(box_for(secret="s3cr3t", expires=expires, name="postmottak"))
    poll_mailbox(rt, rt.settings.mailboxes[0])
    [health] = mailbox_health(rt)
    # The start of that day in Oslo: +01:00 in winter, +02:00 in summer.
    start = datetime.combine(expires, datetime.min.time(), tzinfo=OSLO).isoformat()
    assert health["credential"] == {"kind": "secret", "expires_at": start,
                                    "days_left": 5, "warning_days": 14}
    assert health["healthy"] is False
    assert health["problem"] == (f"mailbox postmottak: the Microsoft 365 client secret expires on {expires} "
                                 "(in 5 days); renew it in Entra ID")
    # /healthz answers 503 with the same entry (details for a logged-in user).
    add_user(rt)
    with TestClient(create_app(rt)) as client:
        login(client)
        answer = client.get("/healthz")
    assert answer.status_code == 503
    [entry] = answer.json()["mailboxes"]
    assert entry["credential"] == health["credential"] and entry["problem"] == health["problem"]
    # The mailboxes page says it in Norwegian, for a clerk, with the technical line folded away.
    page = client_page(rt, "/mailboxes")
    assert f"Klienthemmeligheten for innlogging i Microsoft 365 går ut {expires:%d.%m.%Y}" in page
    assert "IT må fornye den i Entra ID" in page


def client_page(rt: Runtime, path: str) -> str:
    """A page as an admin sees it (the mailboxes page is theirs)."""
    add_user(rt, name="anne", role="admin")
    with TestClient(create_app(rt)) as client:
        login(client, "anne")
        answer = client.get(path)
    assert answer.status_code == 200
    return answer.text


@SQLITE
def test_an_unreadable_certificate_is_unhealthy_before_any_poll(
    make_rt: Callable[..., Runtime], tmp_path: Path
) -> None:
    (tmp_path / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    rt = make_rt({"name": "broken", "host": "127.0.0.1", "username": USER, "auth": "m365", "m365_tenant_id": TENANT,
                  "m365_client_id": CLIENT, "m365_certificate_file": str(tmp_path / "broken.pem")})
    [health] = mailbox_health(rt, started_at=datetime.now(UTC))
    assert health["credential"] == {"kind": "certificate", "expires_at": None, "days_left": None, "warning_days": 14}
    assert health["problem"] == "mailbox broken: the Microsoft 365 certificate cannot be read for its expiry date"
    assert "Sertifikatet for innlogging i Microsoft 365 kan ikke leses" in client_page(rt, "/mailboxes")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "needs one of m365_certificate_file or m365_client_secret_file"),
        ({"m365_client_secret_file": "s.txt"}, "needs m365_secret_expires"),
        ({"m365_client_secret_file": "s.txt", "m365_secret_expires": "2027-01-01", "m365_tenant_id": ""},
         "needs m365_tenant_id"),
        ({"m365_certificate_file": "a.pem", "m365_authority": "http://127.0.0.1"}, "must be an https:// address"),
    ],
)
def test_an_incomplete_m365_mailbox_is_a_config_error(tmp_path: Path, extra: dict[str, Any], message: str) -> None:
    (tmp_path / "s.txt").write_text("x")
    box = {"name": "m365", "host": "outlook.office365.com", "username": "postmottak@ehelse.no", "auth": "m365",
           "m365_tenant_id": TENANT, "m365_client_id": CLIENT, **extra}
    with pytest.raises(ConfigError, match=message):
        settings_from_dict({"mailboxes": [box]}, root=tmp_path)
