"""Helpers for the archive tests: a runtime with a drop folder, ingesting real mail, and checking packages.

Every package a test makes is checked the same way: its ``arkivmelding.xml`` against
the published schema (read from ../shared/standards, never copied), every file it
names present and nothing else, and the sha256 of each file the same as the one
intake recorded (and, for originals, the stored original's).
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree
from sqlmodel import Session, select

from intake import workflows
from intake.db.engine import session_scope
from intake.db.models import Attachment, Message, Submission
from intake.pipeline.run import ingest
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.conftest import SHARED, need

XSD = SHARED / "standards" / "arkivmelding" / "arkivmelding.xsd"
NS = {"a": "http://www.arkivverket.no/standarder/noark5/arkivmelding", "i": "urn:x-intake:innsending:1"}
ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


@cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def open_rt(settings_factory: Any, tmp_path: Path, **archive: object) -> Runtime:
    """A Runtime with the shipped workflows and a drop folder of its own (``tmp_path/drop``)."""
    drop = tmp_path / "drop"
    drop.mkdir(exist_ok=True)
    settings = settings_factory(archive={"path": str(drop), **archive})
    rt = Runtime.open(settings)
    with session_scope(rt.engine) as session:
        workflows.sync(session, rt.settings.workflows.path)
    return rt


def received(rt: Runtime, raw: bytes, when: datetime = ON_TIME) -> int:
    result = ingest(rt, raw, Source(kind="imap", mailbox="postmottak", folder="INBOX"), when)
    assert result.submission_id is not None
    return result.submission_id


def need_soffice() -> None:
    if shutil.which("soffice") is None:
        need("LibreOffice", "soffice is not installed (Debian: libreoffice-writer-nogui)")


def check_package(rt: Runtime, folder: Path) -> etree._Element:
    """Validates a package and its files; returns the root of its arkivmelding."""
    tree = etree.parse(str(folder / "arkivmelding.xml"))
    schema().assertValid(tree)
    root = tree.getroot()
    named = {e.text for e in root.iterfind(".//a:referanseDokumentfil", NS)}
    assert {p.name for p in folder.iterdir()} == {*named, "arkivmelding.xml"}
    assert int(root.findtext("a:antallFiler", namespaces=NS) or -1) == len(
        root.findall(".//a:dokumentobjekt", NS))
    listed = {f.get("navn"): f for f in root.iterfind(".//i:filer/i:fil", NS)}
    assert set(listed) == named
    originals = stored_originals(rt)
    for name, entry in listed.items():
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert entry.get("sha256") == digest, name
        if entry.get("variantformat") == "Produksjonsformat" or digest in originals:
            assert digest in originals, f"{name} is not byte for byte a stored original"
    return root


def stored_originals(rt: Runtime) -> set[str]:
    """The sha256 of every stored message and attachment, each read back from the store and hashed."""
    with Session(rt.engine) as session:
        blobs = [m.blob for m in session.exec(select(Message))] + [a.blob for a in session.exec(select(Attachment))]
    return {hashlib.sha256(rt.store.read(blob)).hexdigest() for blob in blobs}


def documents(root: etree._Element) -> list[dict[str, Any]]:
    """Each dokumentbeskrivelse as a plain dict: role, title, variants (format → file) and notes."""
    out = []
    for described in root.iterfind(".//a:dokumentbeskrivelse", NS):
        out.append({
            "role": described.findtext("a:tilknyttetRegistreringSom", namespaces=NS),
            "title": described.findtext("a:tittel", namespaces=NS),
            "number": int(described.findtext("a:dokumentnummer", namespaces=NS) or 0),
            "origin": described.findtext("a:beskrivelse", namespaces=NS),
            "variants": {o.findtext("a:variantformat", namespaces=NS): o.findtext("a:referanseDokumentfil",
                                                                                 namespaces=NS)
                         for o in described.iterfind("a:dokumentobjekt", NS)},
            "notes": [n.findtext("a:merknadstekst", namespaces=NS) for n in described.iterfind("a:merknad", NS)],
        })
    return out


def journalpost(root: etree._Element) -> etree._Element:
    found = root.find(".//a:basisregistrering", NS)
    assert found is not None
    return found


def receipt_ref(rt: Runtime, submission_id: int) -> str:
    with Session(rt.engine) as session:
        return session.exec(select(Submission.receipt_ref).where(Submission.id == submission_id)).one()
