"""personal_data: an identity number is a flag until staff decide, and nothing flagged is published."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Attachment, AuditLog, Case, Flag, Submission
from intake.decide.pii import is_identity_number
from intake.review.actions import mark_reviewed
from intake.review.personal_data import decide_personal_data
from intake.review.publication import publication_list
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.consultation import respond
from tests.web_support import add_user, login

# Made-up numbers whose check digits and dates are valid: 1 January 1990, as fødselsnummer,
# D-number (first digit + 4) and H-number (third digit + 4).
FNR, DNR, HNR = "01019012057", "41019012393", "01419012382"


def test_d_and_h_numbers_are_identity_numbers_and_a_bad_date_is_not() -> None:
    assert all(is_identity_number(n) for n in (FNR, DNR, HNR))
    # Both check digits right, but 29 February 1990 never was.
    assert not is_identity_number("29029012324")
    # Both check digits right, but month 32 is neither a month nor an H-number's.
    assert not is_identity_number("01329012324")


def _flags(rt: Runtime, submission_id: int) -> dict[str, Flag]:
    with session_scope(rt.engine) as session:
        return {f.name: f for f in session.exec(select(Flag).where(Flag.submission_id == submission_id))}


def _published(rt: Runtime) -> dict[int, list[str]]:
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        return {e.submission_id: [d.filename for d in e.documents]
                for e in publication_list(session, case, rt.settings.publication)}


@pytest.fixture
def flagged(rt: Runtime) -> dict[str, int]:
    return {
        "body": respond(rt, sender="Kari <kari@example.org>", body=f"Mitt fødselsnummer er {FNR}."),
        "attachment": respond(rt, sender="Ola <ola@example.net>", body="Se vedlegg.",
                              attachments=[("svar.txt", "text/plain", f"D-nummer {DNR}".encode()),
                                           ("uttalelse.txt", "text/plain", b"Vi stotter strategien.")]),
        "hnumber": respond(rt, sender="Per <per@example.com>", body=f"Pasient med H-nummer {HNR} ble rammet."),
        "clean": respond(rt, sender="Statens legemiddelverk <post@legemiddelverket.no>", body="Vi støtter."),
    }


def test_the_rule_flags_text_and_attachments_and_publication_waits(rt: Runtime, flagged: dict[str, int]) -> None:
    for key in ("body", "attachment", "hnumber"):
        flag = _flags(rt, flagged[key])["personal_data"]
        assert flag.resolved_at is None and "*****" in (flag.detail or "")
    assert "svar.txt: 410190*****" in (_flags(rt, flagged["attachment"])["personal_data"].detail or "")
    assert "personal_data" not in _flags(rt, flagged["clean"])
    assert set(_published(rt)) == {flagged["clean"]}
    # Marking the response reviewed is no decision about the number.
    with session_scope(rt.engine) as session:
        mark_reviewed(session, flagged["body"], actor="kari", comment="Sett")
    assert _flags(rt, flagged["body"])["personal_data"].resolved_at is None
    assert flagged["body"] not in _published(rt)


def test_each_decision_clears_the_flag_and_is_audited(rt: Runtime, flagged: dict[str, int]) -> None:
    with session_scope(rt.engine) as session:
        decide_personal_data(session, flagged["body"], decision="withhold", actor="kari")
        decide_personal_data(session, flagged["attachment"], decision="without_documents", actor="kari")
        decide_personal_data(session, flagged["hnumber"], decision="not_identity_number", actor="kari",
                             comment="Et saksnummer hos dem")
    published = _published(rt)
    # Withheld: not published. Without that document: published with the other. Not a number: as it is.
    assert flagged["body"] not in published
    assert published[flagged["attachment"]] == ["uttalelse.txt"]
    assert published[flagged["hnumber"]] == ["E-post.txt"]
    for key, resolution in (("body", "holdt tilbake fra publisering"),
                            ("attachment", "publiseres uten dokumentene med fødselsnummer: svar.txt"),
                            ("hnumber", "ikke et fødselsnummer")):
        flag = _flags(rt, flagged[key])["personal_data"]
        assert (flag.resolved_by, flag.resolution) == ("kari", resolution)
    with session_scope(rt.engine) as session:
        audit = session.exec(select(AuditLog).where(AuditLog.action == "submission.personal_data")).all()
        assert sorted((a.entity_id, (a.detail or {})["decision"]) for a in audit) == sorted(
            [(flagged["body"], "withhold"), (flagged["attachment"], "without_documents"),
             (flagged["hnumber"], "not_identity_number")])
        assert session.exec(select(Attachment.withheld).where(Attachment.filename == "svar.txt")).one()
        assert session.get(Submission, flagged["body"]).withheld  # type: ignore[union-attr]


@pytest.fixture
def client(rt: Runtime, flagged: dict[str, int]) -> Iterator[TestClient]:
    add_user(rt)
    with TestClient(create_app(rt)) as c:
        yield c


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_staff_decide_on_the_submission_page(rt: Runtime, client: TestClient, flagged: dict[str, int]) -> None:
    csrf = login(client)
    page = client.get(f"/submissions/{flagged['attachment']}").text
    assert "Publiser uten dokumentene med fødselsnummer" in page and "410190*****" in page
    done = client.post(f"/submissions/{flagged['attachment']}/personal-data",
                       data={"csrf_token": csrf, "decision": "without_documents"})
    assert done.status_code == 200 and "Avgjørelsen om fødselsnummer er lagret." in done.text
    assert "publiseres ikke" in done.text
    again = client.post(f"/submissions/{flagged['attachment']}/personal-data",
                        data={"csrf_token": csrf, "decision": "withhold"})
    assert again.status_code == 400 and "ingen åpen merknad om fødselsnummer" in again.text
