"""Archive packages for every kind of response: each valid against the arkivmelding schema, each file the original.

Real mail through the real pipeline, exported with the real package code; the
schema is Digdir's, read from ../shared/standards.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from intake.archive.export import export_many
from intake.db.engine import session_scope
from intake.db.models import ArchiveExport, AuditLog, Submission, utcnow
from intake.localtime import oslo_day
from intake.review import actions
from intake.review.serialize import submission_json
from intake.runtime import Runtime
from tests.archive_support import (
    NS,
    check_package,
    documents,
    journalpost,
    need_soffice,
    open_rt,
    receipt_ref,
    received,
)
from tests.builders import make_email
from tests.fixtures.forms.make_forms import EXPECTED
from tests.test_extract_containers import make_tnef
from tests.web_support import IDENTITY_NUMBER

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"
CASE_TITLE = "Nasjonal e-helsestrategi for helse- og omsorgssektoren"


@pytest.fixture
def art(settings_factory: Any, tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_rt(settings_factory, tmp_path, administrativ_enhet="Avdeling for digitalisering",
                      saksansvarlig="Kari Saksbehandler")
    yield runtime
    runtime.close()


def export(rt: Runtime, submission_id: int) -> Path:
    """Exports one submission to the drop folder and returns its (checked) package folder."""
    assert rt.settings.archive.path is not None
    report = export_many(rt, [submission_id], rt.settings.archive.path, actor="kari")
    (outcome,) = report.outcomes
    assert outcome.status == "written", outcome
    assert outcome.path is not None
    return Path(outcome.path)


def test_a_plain_mail_is_one_document_the_eml_with_its_text_as_pdfa(art: Runtime) -> None:
    sub_id = received(art, make_email())
    folder = export(art, sub_id)
    assert folder.name == receipt_ref(art, sub_id)
    root = check_package(art, folder)
    (doc,) = documents(root)
    assert doc["role"] == "Hoveddokument" and doc["title"].startswith("E-post: Høringssvar")
    assert doc["variants"] == {"Produksjonsformat": "01-epost.eml", "Arkivformat": "01-epost.pdf"}
    post = journalpost(root)
    text = {name: post.findtext(f"a:{name}", namespaces=NS) for name in (
        "journalposttype", "journalstatus", "journaldato", "mottattDato", "dokumentetsDato", "tittel",
        "offentligTittel", "antallVedlegg")}
    assert text == {
        "journalposttype": "Inngående dokument",
        "journalstatus": "Journalført",
        "journaldato": oslo_day(utcnow()).isoformat(),
        # Our clock with its offset (the next test tells it apart from the sender's Date).
        "mottattDato": "2022-09-28T10:15:00+02:00",
        "dokumentetsDato": "2022-09-28",
        "tittel": f"Høringssvar fra Statens legemiddelverk – {CASE_TITLE}",
        "offentligTittel": f"Høringssvar fra Statens legemiddelverk – {CASE_TITLE}",
        "antallVedlegg": "0",
    }
    part = post.find("a:korrespondansepart", NS)
    assert part is not None
    assert [c.text for c in part] == ["Avsender", "Statens legemiddelverk", "post@legemiddelverket.no"]
    mappe = root.find("a:mappe", NS)
    assert mappe is not None
    assert mappe.findtext("a:mappeID", namespaces=NS) == "22/414"
    assert mappe.findtext("a:tittel", namespaces=NS) == CASE_TITLE
    assert mappe.findtext("a:administrativEnhet", namespaces=NS) == "Avdeling for digitalisering"
    assert mappe.findtext("a:saksansvarlig", namespaces=NS) == "Kari Saksbehandler"
    assert (mappe.findtext("a:saksaar", namespaces=NS), mappe.findtext("a:sakssekvensnummer", namespaces=NS)) == (
        "2022", "414")
    own = post.find("a:virksomhetsspesifikkeMetadata/i:innsending/i:svar", NS)
    assert own is not None
    assert own.findtext("i:kvitteringsreferanse", namespaces=NS) == folder.name
    assert own.findtext("i:sakFunnetVia", namespaces=NS) == "emnefeltet"


def test_mottatt_dato_is_our_clock_not_the_senders_date(art: Runtime) -> None:
    from datetime import UTC, datetime

    sub_id = received(art, make_email(), datetime(2022, 9, 30, 22, 5, tzinfo=UTC))
    post = journalpost(check_package(art, export(art, sub_id)))
    assert post.findtext("a:mottattDato", namespaces=NS) == "2022-10-01T00:05:00+02:00"
    assert post.findtext("a:dokumentetsDato", namespaces=NS) == "2022-09-28"


def test_a_pdf_form_is_the_main_document_and_its_answers_are_in_the_metadata(art: Runtime) -> None:
    pdf = (FORMS / "skjema-ja.pdf").read_bytes()
    sub_id = received(art, make_email(attachments=[
        ("Følgebrev.txt", "text/plain", b"Se vedlagte skjema."),
        ("Høringssvar Legemiddelverket.pdf", "application/pdf", pdf),
    ]))
    root = check_package(art, export(art, sub_id))
    docs = documents(root)
    assert [(d["role"], d["title"]) for d in docs] == [
        ("Hoveddokument", "Høringssvar Legemiddelverket"),
        ("Vedlegg", "E-post: Høringssvar - Nasjonal e-helsestrategi - sak 22/414"),
        ("Vedlegg", "Følgebrev"),
    ]
    # A plain PDF is no archive format, and nothing here makes one of it: said, not hidden.
    assert docs[0]["variants"] == {"Produksjonsformat": "01-Høringssvar Legemiddelverket.pdf"}
    assert "ikke merket som PDF/A" in docs[0]["notes"][0]
    # UTF-8 text is an archive format as it is.
    assert docs[2]["variants"] == {"Arkivformat": "03-Følgebrev.txt"}
    answers = {a.get("id"): (a.get("valg"), a.text) for a in root.iterfind(".//i:skjema/i:svar", NS)}
    assert answers["q1"] == ("Ja", EXPECTED["skjema-ja"]["q1"]["text"])
    assert journalpost(root).findtext("a:antallVedlegg", namespaces=NS) == "2"


def test_a_docx_form_gets_a_pdfa_beside_it(art: Runtime) -> None:
    need_soffice()
    docx = (FORMS / "skjema-ja.docx").read_bytes()
    sub_id = received(art, make_email(attachments=[
        ("Høringssvar.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx)]))
    folder = export(art, sub_id)
    root = check_package(art, folder)
    main = documents(root)[0]
    assert main["role"] == "Hoveddokument" and main["notes"] == []
    assert main["variants"] == {"Produksjonsformat": "01-Høringssvar.docx", "Arkivformat": "01-Høringssvar.pdf"}
    from tests.test_archive_pdfa import assert_pdfa

    assert_pdfa(folder / "01-Høringssvar.pdf")


def _forward(inner: bytes) -> bytes:
    outer = EmailMessage()
    outer["From"] = "Statens legemiddelverk <post@legemiddelverket.no>"
    outer["To"] = "postmottak@ehelse.no"
    outer["Subject"] = "VS: Høringssvar sak 22/414"
    outer["Message-ID"] = "<fwd-1@legemiddelverket.no>"
    outer["Date"] = "Wed, 28 Sep 2022 10:00:00 +0200"
    outer.set_content("Videresender svaret fra fagavdelingen.")
    outer.add_attachment(email.message_from_bytes(inner, policy=email.policy.default))
    return outer.as_bytes()


def test_a_forward_gives_the_files_inside_it_and_not_the_forward_alone(art: Runtime) -> None:
    pdf = (FORMS / "skjema-ja.pdf").read_bytes()
    inner = make_email(subject="Høringssvar 22/414", body="Se vedlegg.",
                       attachments=[("skjema.pdf", "application/pdf", pdf), ("notat.txt", "text/plain", b"Notat")])
    root = check_package(art, export(art, received(art, _forward(inner))))
    docs = documents(root)
    assert [(d["role"], d["title"], d["origin"]) for d in docs] == [
        ("Hoveddokument", "skjema", "Lå i Høringssvar 22_414.eml"),
        ("Vedlegg", "E-post: VS: Høringssvar sak 22/414", None),
        ("Vedlegg", "notat", "Lå i Høringssvar 22_414.eml"),
    ]
    notes = [n.text for n in journalpost(root).iterfind("a:merknad/a:merknadstekst", NS)]
    assert notes == ["Ikke tatt med som eget dokument: Høringssvar 22_414.eml – videresendt e-post; filene i den "
                     "er egne vedlegg, og selve filen ligger i den originale e-posten."]


def test_a_winmail_dat_gives_the_files_inside_it(art: Runtime) -> None:
    pdf = (FORMS / "skjema-ja.pdf").read_bytes()
    winmail = make_tnef("Vedlagt vårt svar.", [("svar.pdf", pdf)])
    root = check_package(art, export(art, received(art, make_email(
        attachments=[("winmail.dat", "application/ms-tnef", winmail)]))))
    docs = documents(root)
    assert [(d["role"], d["title"], d["origin"]) for d in docs] == [
        ("Hoveddokument", "svar", "Lå i winmail.dat"), ("Vedlegg", docs[1]["title"], None)]
    assert docs[1]["title"].startswith("E-post:")
    dropped = [f.get("navn") for f in root.iterfind(".//i:utelatt/i:fil", NS)]
    assert dropped == ["winmail.dat"]


def test_a_withheld_response_is_screened_with_the_configured_basis(art: Runtime) -> None:
    sub_id = received(art, make_email())
    with session_scope(art.engine) as session:
        actions.set_withheld(session, sub_id, withheld=True, actor="kari", reason="inneholder helseopplysninger")
    post = journalpost(check_package(art, export(art, sub_id)))
    screen = post.find("a:skjerming", NS)
    assert screen is not None
    assert [(c.tag.split("}")[1], c.text) for c in screen] == [
        ("tilgangsrestriksjon", "13"),
        ("skjermingshjemmel", "Offl. § 13 jf. fvl. § 13 første ledd nr. 1"),
        ("skjermingMetadata", "tittel"),
        ("skjermingDokument", "Skjerming av hele dokumentet"),
    ]
    notes = [n.text for n in post.iterfind("a:merknad/a:merknadstekst", NS)]
    assert "Skjermet: holdt tilbake av saksbehandler." in notes


def test_a_private_person_is_not_named_in_the_public_title(art: Runtime) -> None:
    sub_id = received(art, make_email(sender="Kari Nordmann <kari.nordmann@gmail.com>",
                                      subject="Innspill sak 22/414", body="Mine innspill."))
    post = journalpost(check_package(art, export(art, sub_id)))
    assert post.findtext("a:tittel", namespaces=NS) == f"Høringssvar fra Kari Nordmann – {CASE_TITLE}"
    assert post.findtext("a:offentligTittel", namespaces=NS) == f"Høringssvar fra privatperson – {CASE_TITLE}"
    assert post.find("a:skjerming", NS) is None
    assert post.findtext(".//i:privatperson", namespaces=NS) == "true"


def test_an_identity_number_screens_the_title_and_the_sender(art: Runtime) -> None:
    sub_id = received(art, make_email(sender="Kari Nordmann <kari.nordmann@gmail.com>", subject="Innspill sak 22/414",
                                      body=f"Mitt fødselsnummer er {IDENTITY_NUMBER}."))
    post = journalpost(check_package(art, export(art, sub_id)))
    screen = post.find("a:skjerming", NS)
    assert screen is not None
    assert [c.text for c in screen.iterfind("a:skjermingMetadata", NS)] == ["tittel", "korrespondansepart"]
    assert "Skjermet: inneholder noe som ser ut som et fødselsnummer." in [
        n.text for n in post.iterfind("a:merknad/a:merknadstekst", NS)]


def test_exporting_again_writes_nothing_and_a_change_writes_a_new_version(art: Runtime) -> None:
    drop = art.settings.archive.path
    assert drop is not None
    sub_id = received(art, make_email(subject="Høringssvar", body="Uten saksnummer."))
    with Session(art.engine) as session:
        sub = session.get(Submission, sub_id)
        assert sub is not None and submission_json(session, sub)["archive"] == {
            "status": "not_exported", "version": None, "exported_at": None}
    # Without a case there is no saksmappe to put it in: not exported, and said so.
    assert export_many(art, [sub_id], drop, actor="kari").outcomes[0].status == "skipped"
    with session_scope(art.engine) as session:
        actions.set_case(session, sub_id, "22/414", actor="kari")
    first = export(art, sub_id)
    first_id = check_package(art, first).findtext("a:meldingId", namespaces=NS)
    again = export_many(art, [sub_id], drop, actor="kari")
    assert [o.status for o in again.outcomes] == ["unchanged"]
    assert sorted(p.name for p in drop.iterdir() if not p.name.startswith(".")) == [first.name]
    with Session(art.engine) as session:
        sub = session.get(Submission, sub_id)
        assert sub is not None
        state = submission_json(session, sub)["archive"]
        assert (state["status"], state["version"]) == ("exported", 1)
    with session_scope(art.engine) as session:
        actions.set_case(session, sub_id, "21/761", actor="kari")
    with Session(art.engine) as session:
        sub = session.get(Submission, sub_id)
        assert sub is not None and submission_json(session, sub)["archive"]["status"] == "changed"
    second = export(art, sub_id)
    assert second.name == f"{first.name}-v2" and first.is_dir()
    root = check_package(art, second)
    assert root.findtext("a:meldingId", namespaces=NS) != first_id
    assert root.findtext(".//i:erstatterMeldingId", namespaces=NS) == first_id
    assert root.findtext("a:mappe/a:mappeID", namespaces=NS) == "21/761"
    with Session(art.engine) as session:
        rows = session.exec(select(ArchiveExport).where(ArchiveExport.submission_id == sub_id)).all()
        assert sorted((r.version, r.status) for r in rows) == [(1, "written"), (2, "written")]
        assert all(r.actor == "kari" and r.sha256 for r in rows)
        logged = session.exec(select(AuditLog.action).where(AuditLog.entity_id == sub_id,
                                                            AuditLog.action == "archive.exported")).all()
        assert len(logged) == 2


def test_a_document_that_cannot_be_converted_goes_as_it_is_with_the_reason(art: Runtime) -> None:
    need_soffice()
    broken = b"PK\x03\x04" + bytes(range(256)) * 8
    sub_id = received(art, make_email(attachments=[
        ("Høringssvar.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", broken),
        ("kart.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04xlsx")]))
    docs = documents(check_package(art, export(art, sub_id)))
    by_title = {d["title"]: d for d in docs}
    assert by_title["Høringssvar"]["variants"] == {"Produksjonsformat": "01-Høringssvar.docx"}
    assert by_title["Høringssvar"]["notes"] == [
        "Arkivformat mangler: dokumentet kunne ikke gjøres om til PDF/A (LibreOffice laget ingen PDF (filen kan "
        "være skadet eller passordbeskyttet)). Originalen ligger ved i produksjonsformat."]
    assert by_title["kart"]["variants"] == {"Produksjonsformat": "03-kart.xlsx"}
    assert "gjøres ikke om til et arkivformat" in by_title["kart"]["notes"][0]


def test_without_libreoffice_the_pdfa_is_left_out_and_the_package_says_why(settings_factory: Any,
                                                                           tmp_path: Path) -> None:
    rt = open_rt(settings_factory, tmp_path, soffice=str(tmp_path / "no-libreoffice" / "soffice"))
    try:
        docx = (FORMS / "skjema-ja.docx").read_bytes()
        sub_id = received(rt, make_email(attachments=[("svar.docx", "application/octet-stream", docx)]))
        main = documents(check_package(rt, export(rt, sub_id)))[0]
        assert main["variants"] == {"Produksjonsformat": "01-svar.docx"}
        assert main["notes"] == ["Arkivformat mangler: LibreOffice (soffice) er ikke installert på serveren, så "
                                 "dokumentet er ikke gjort om til PDF/A. Originalen ligger ved i produksjonsformat."]
    finally:
        rt.close()
