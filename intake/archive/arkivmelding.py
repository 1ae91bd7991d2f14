"""Writes ``arkivmelding.xml``: a saksmappe (the case) holding one journalpost (the response) and its documents.

The element order is the schema's (``../shared/standards/arkivmelding/arkivmelding.xsd``):
sequences in XSD are ordered, and an extension's elements come after its base's.
intake's own facts go under the journalpost's ``virksomhetsspesifikkeMetadata``
(intake/archive/metadata.py). Every text the sender controls is cleaned of the
characters XML 1.0 cannot hold.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree

from intake.archive.documents import HOVED, VEDLEGG, Document, LeftOut
from intake.archive.facts import MemberFacts, PackageFacts
from intake.archive.metadata import OWN, clean, own_metadata, when
from intake.localtime import oslo_day

NS = "http://www.arkivverket.no/standarder/noark5/arkivmelding"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SYSTEM_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:x-intake:arkiv")
PRODUKSJON = "Produksjonsformat"
ARKIV = "Arkivformat"


@dataclass(frozen=True)
class Variant:
    """One dokumentobjekt: a file of the package and what it is."""

    variantformat: str
    filename: str
    sha256: str
    size: int
    format: str


@dataclass
class Rendered:
    """A document with its files, and the notes (merknad) a clerk needs about it."""

    document: Document
    variants: list[Variant] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Agency:
    """What the saksmappe and journalpost say about the agency, from the config and the case's workflow."""

    system: str
    administrativ_enhet: str
    saksansvarlig: str
    journalenhet: str
    journalstatus: str
    tilgangsrestriksjon: str
    skjermingshjemmel: str
    saksdato: date
    case_created: datetime


@dataclass(frozen=True)
class Export:
    """What this one package is: its message id, version and moment."""

    melding_id: str
    version: int
    at: datetime
    replaces: str | None
    screened: tuple[str, ...]  # why the response is screened (skjermet); empty when it is not


def system_id(*parts: str) -> str:
    """A stable GUID for a thing, so every version of a package names the same case, journalpost and documents."""
    return str(uuid.uuid5(SYSTEM_IDS, ":".join(parts)))


def title_of(facts: PackageFacts, *, public: bool) -> str:
    """«Høringssvar fra Statens legemiddelverk – <case title>»; the public one names no private person."""
    member = facts.response
    if public and member.private_person:
        who = "privatperson"
    else:
        who = member.organisation or member.sender_name or member.sender or "ukjent avsender"
    return clean(f"Høringssvar fra {who} – {facts.case_title}", 500)


def build(facts: PackageFacts, rendered: list[Rendered], left_out: list[LeftOut], agency: Agency,
          export: Export) -> bytes:
    files = sum(len(r.variants) for r in rendered)
    root = etree.Element(f"{{{NS}}}arkivmelding", nsmap={None: NS, "xsi": XSI, "intake": OWN})
    _add(root, "system", agency.system)
    _add(root, "meldingId", export.melding_id)
    _add(root, "tidspunkt", when(export.at))
    _add(root, "antallFiler", str(files))
    _saksmappe(root, facts, rendered, left_out, agency, export)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _saksmappe(root: etree._Element, facts: PackageFacts, rendered: list[Rendered], left_out: list[LeftOut],
               agency: Agency, export: Export) -> None:
    mappe = _add(root, "mappe")
    mappe.set(f"{{{XSI}}}type", "saksmappe")
    mappe_id = system_id("sak", facts.case_number)
    _add(mappe, "systemID", mappe_id)
    _add(mappe, "mappeID", facts.case_number)
    _add(mappe, "tittel", clean(facts.case_title, 500))
    _add(mappe, "opprettetDato", when(agency.case_created))
    _add(mappe, "opprettetAv", agency.system)
    _journalpost(mappe, mappe_id, facts, rendered, left_out, agency, export)
    year, sequence = _case_parts(facts.case_number)
    if year is not None:
        _add(mappe, "saksaar", str(year))
        _add(mappe, "sakssekvensnummer", str(sequence))
    _add(mappe, "saksdato", agency.saksdato.isoformat())
    _add(mappe, "administrativEnhet", agency.administrativ_enhet)
    _add(mappe, "saksansvarlig", agency.saksansvarlig)
    if agency.journalenhet:
        _add(mappe, "journalenhet", agency.journalenhet)
    _add(mappe, "saksstatus", "Under behandling")


def _journalpost(mappe: etree._Element, mappe_id: str, facts: PackageFacts, rendered: list[Rendered],
                 left_out: list[LeftOut], agency: Agency, export: Export) -> None:
    member = facts.response
    post = _add(mappe, "basisregistrering")
    post.set(f"{{{XSI}}}type", "journalpost")
    _add(post, "systemID", system_id("journalpost", member.receipt_ref))
    _add(post, "opprettetDato", when(member.registered_at))
    _add(post, "opprettetAv", agency.system)
    _add(post, "referanseForelderMappe", mappe_id)
    if export.screened:
        _skjerming(post, agency, member, whole_document=True)
    for item in rendered:
        _dokumentbeskrivelse(post, item, agency, export)
    _add(post, "tittel", title_of(facts, public=False))
    _add(post, "offentligTittel", title_of(facts, public=True))
    own_metadata(_add(post, "virksomhetsspesifikkeMetadata"), facts, rendered, left_out, export.version,
                 export.replaces)
    for dropped in left_out:
        _merknad(post, f"Ikke tatt med som eget dokument: {clean(dropped.filename, 300)} – {dropped.reason}.",
                 agency, export)
    if export.screened:
        _merknad(post, "Skjermet: " + "; ".join(export.screened) + ".", agency, export)
    _add(post, "journalposttype", "Inngående dokument")
    _add(post, "journalstatus", agency.journalstatus)
    _add(post, "journaldato", oslo_day(export.at).isoformat())
    if member.sent_date is not None:
        # The sender's own Date header: the date of the document, never the date we received it.
        _add(post, "dokumentetsDato", oslo_day(member.sent_date).isoformat())
    _add(post, "mottattDato", when(member.received_at))
    _add(post, "antallVedlegg", str(sum(1 for r in rendered if r.document.role == VEDLEGG)))
    if agency.journalenhet:
        _add(post, "journalenhet", agency.journalenhet)
    part = _add(post, "korrespondansepart")
    _add(part, "korrespondanseparttype", "Avsender")
    _add(part, "korrespondansepartNavn", clean(member.organisation or member.sender_name or member.sender
                                                or "Ukjent avsender", 500))
    if member.sender:
        _add(part, "epostadresse", clean(member.sender, 320))
    if member.sender_name and member.sender_name != member.organisation:
        _add(part, "kontaktperson", clean(member.sender_name, 500))


def _skjerming(parent: etree._Element, agency: Agency, member: MemberFacts, *, whole_document: bool) -> None:
    screen = _add(parent, "skjerming")
    _add(screen, "tilgangsrestriksjon", agency.tilgangsrestriksjon)
    _add(screen, "skjermingshjemmel", agency.skjermingshjemmel)
    _add(screen, "skjermingMetadata", "tittel")
    if member.private_person:
        _add(screen, "skjermingMetadata", "korrespondansepart")
    if whole_document:
        _add(screen, "skjermingDokument", "Skjerming av hele dokumentet")


def _dokumentbeskrivelse(post: etree._Element, item: Rendered, agency: Agency, export: Export) -> None:
    document = item.document
    member = document.member
    described = _add(post, "dokumentbeskrivelse")
    key = document.file.sha256 if document.file is not None else "epost"
    _add(described, "systemID", system_id("dokument", member.receipt_ref, key))
    _add(described, "dokumenttype", "Høringssvar" if document.role == HOVED else
         ("E-post" if document.file is None else "Vedlegg"))
    _add(described, "dokumentstatus", "Dokumentet er ferdigstilt")
    _add(described, "tittel", clean(document.title, 500))
    if document.origin:
        _add(described, "beskrivelse", clean(f"Lå i {document.origin}", 500))
    _add(described, "opprettetDato", when(member.received_at))
    _add(described, "opprettetAv", agency.system)
    _add(described, "tilknyttetRegistreringSom", document.role)
    _add(described, "dokumentnummer", str(document.number))
    _add(described, "tilknyttetDato", when(export.at))
    _add(described, "tilknyttetAv", agency.system)
    for note in item.notes:
        _merknad(described, note, agency, export)
    for variant in item.variants:
        obj = _add(described, "dokumentobjekt")
        _add(obj, "versjonsnummer", "1")
        _add(obj, "variantformat", variant.variantformat)
        _add(obj, "opprettetDato", when(export.at))
        _add(obj, "opprettetAv", agency.system)
        _add(obj, "referanseDokumentfil", variant.filename)


def _merknad(parent: etree._Element, text: str, agency: Agency, export: Export) -> None:
    note = _add(parent, "merknad")
    _add(note, "merknadstekst", clean(text, 4000))
    _add(note, "merknadstype", "Merknad fra postmottaket")
    _add(note, "merknadsdato", when(export.at))
    _add(note, "merknadRegistrertAv", agency.system)


def _case_parts(number: str) -> tuple[int | None, int]:
    found = re.fullmatch(r"(\d{2}|\d{4})/(\d{1,7})", number)
    if found is None:
        return None, 0
    year = int(found.group(1))
    return (year + 2000 if year < 100 else year), int(found.group(2))


def _add(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        element.text = text
    return element

