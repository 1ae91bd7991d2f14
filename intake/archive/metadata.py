"""intake's own facts in a package, under the journalpost's ``virksomhetsspesifikkeMetadata``.

What a clerk would otherwise look up in intake: the receipt reference, how the
case was found, the flags and how they were resolved, the form answers, and every
file with its sha256. The schema lets anything stand there; a namespace of our
own keeps it apart from Noark's elements.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from lxml import etree

from intake.archive.documents import LeftOut
from intake.archive.facts import MemberFacts, PackageFacts
from intake.localtime import OSLO

if TYPE_CHECKING:
    from intake.archive.arkivmelding import Rendered

OWN = "urn:x-intake:innsending:1"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MATCH_LABELS = {"subject": "emnefeltet", "body": "e-postteksten", "attachment": "vedlegg",
                "thread": "tidligere e-post i tråden", "manual": "satt av saksbehandler"}


def when(value: datetime) -> str:
    """A moment as the schema's dateTime: Oslo time with its offset, to the second."""
    return value.astimezone(OSLO).replace(microsecond=0).isoformat()


def clean(text: str | None, limit: int = 100_000) -> str:
    """Text as XML 1.0 can hold it, and no longer than ``limit``."""
    return _NOT_XML.sub("", text or "")[:limit]


def own_metadata(parent: etree._Element, facts: PackageFacts, rendered: list[Rendered], left_out: list[LeftOut],
                 version: int, replaces: str | None) -> None:
    """intake's own facts: what a clerk would otherwise look up in intake."""
    root = etree.SubElement(parent, f"{{{OWN}}}innsending")
    _own(root, "pakkeversjon", str(version))
    if replaces:
        _own(root, "erstatterMeldingId", replaces)
    for member in facts.members:
        _member(root, member, facts)
    files = _own(root, "filer")
    for item in rendered:
        for variant in item.variants:
            etree.SubElement(files, f"{{{OWN}}}fil", navn=variant.filename, dokumentnummer=str(item.document.number),
                             variantformat=variant.variantformat, format=variant.format, sha256=variant.sha256,
                             bytes=str(variant.size))
    if left_out:
        dropped = _own(root, "utelatt")
        for left in left_out:
            etree.SubElement(dropped, f"{{{OWN}}}fil", navn=clean(left.filename, 300), grunn=left.reason)


def _member(root: etree._Element, member: MemberFacts, facts: PackageFacts) -> None:
    element = _own(root, "svar" if member is facts.response else "oppfoelging")
    _own(element, "kvitteringsreferanse", member.receipt_ref)
    _own(element, "innsendingId", str(member.submission_id))
    if member.message_id:
        _own(element, "messageId", clean(member.message_id, 998))
    if member.mailbox:
        _own(element, "postkasse", clean(member.mailbox, 200))
    _own(element, "mottatt", when(member.received_at))
    if member.subject:
        _own(element, "emne", clean(member.subject, 2000))
    _own(element, "sakFunnetVia", MATCH_LABELS.get(member.match_source or "", member.match_source or "ukjent"))
    _own(element, "forSent", "true" if member.late else "false")
    if member.decision:
        _own(element, "avgjoerelse", member.decision)
    _own(element, "gjennomgaatt", "true" if member.review_status == "reviewed" else "false")
    _own(element, "holdesTilbake", "true" if member.withheld else "false")
    _own(element, "privatperson", "true" if member.private_person else "false")
    if member.flags:
        flags = _own(element, "merknader")
        for flag in member.flags:
            entry = etree.SubElement(flags, f"{{{OWN}}}merknad", navn=flag.name, aapen="true" if flag.open else "false")
            if flag.detail:
                entry.set("detalj", clean(flag.detail, 2000))
            if flag.resolution:
                entry.set("loesning", clean(flag.resolution, 2000))
    if member.form:
        questions = dict(facts.form_questions)
        form = _own(element, "skjema")
        for qid, answer in member.form.items():
            entry = etree.SubElement(form, f"{{{OWN}}}svar", id=clean(str(qid), 100))
            if qid in questions:
                entry.set("spoersmaal", clean(questions[qid], 2000))
            if isinstance(answer, dict):
                if answer.get("choice"):
                    entry.set("valg", clean(str(answer["choice"]), 200))
                entry.text = clean(str(answer.get("text") or ""))
            else:
                entry.text = clean(str(answer))



def _own(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{OWN}}}{name}")
    if text is not None:
        element.text = text
    return element
