"""Which documents a package holds: the main document (Hoveddokument), the attachments (Vedlegg), and the e-mail.

The response itself is the main document: the attachment the form answers were read
from, else the first attachment that is a document (PDF, Word, ODT, RTF, text), else
the e-mail. The e-mail is always a document of its own, its original ``.eml`` the
production format. Files that came inside a forward, a winmail.dat or an Outlook
.msg are attachments like any other; the container itself is not a document (its
bytes are in the original e-mail), and neither are images shown in the mail text
(logos, signatures). Whatever is left out is listed with the reason, never dropped
without a word.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from intake.archive.facts import FileFacts, MemberFacts, PackageFacts

HOVED = "Hoveddokument"
VEDLEGG = "Vedlegg"
CONTAINER_TYPES = {"message/rfc822", "message/global", "application/ms-tnef", "application/vnd.ms-tnef",
                   "application/vnd.ms-outlook"}
CONTAINER_EXTENSIONS = (".eml", ".msg")
DOCUMENT_EXTENSIONS = (".pdf", ".docx", ".docm", ".odt", ".rtf", ".doc", ".txt")
DOCUMENT_TYPES = {
    "application/pdf", "application/msword", "application/rtf", "text/rtf", "text/plain",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


@dataclass(frozen=True)
class Document:
    """One dokumentbeskrivelse: the e-mail (``file`` None) or a stored file of ``member``."""

    number: int
    role: str
    title: str
    member: MemberFacts
    file: FileFacts | None = None
    origin: str | None = None  # the container the file came out of


@dataclass(frozen=True)
class LeftOut:
    filename: str
    reason: str


def is_container(file: FileFacts, has_children: bool) -> bool:
    name = file.filename.lower()
    return (has_children or file.content_type.lower() in CONTAINER_TYPES or name.endswith(CONTAINER_EXTENSIONS)
            or name == "winmail.dat")


def is_document(file: FileFacts) -> bool:
    return file.filename.lower().endswith(DOCUMENT_EXTENSIONS) or file.content_type.lower() in DOCUMENT_TYPES


def plan(facts: PackageFacts, gives_form: Callable[[FileFacts], bool]) -> tuple[list[Document], list[LeftOut]]:
    """The documents of a package in order (the main document is number 1), and what was left out.

    ``gives_form`` tells whether the response form was read from a file; it is only
    asked when the response has form answers.
    """
    documents: list[Document] = []
    left_out: list[LeftOut] = []

    def add(role: str, title: str, member: MemberFacts, file: FileFacts | None = None,
            origin: str | None = None) -> None:
        documents.append(Document(len(documents) + 1, role, title, member, file, origin))

    for member in facts.members:
        kept, dropped = _files_of(member)
        left_out += dropped
        main = None
        if member is facts.response:
            if member.form:
                main = next((f for f, _ in kept if gives_form(f)), None)
            main = main or next((f for f, _ in kept if is_document(f)), None)
            if main is not None:
                add(HOVED, _stem(main.filename), member, main, dict(kept).get(main))
        add(VEDLEGG if documents else HOVED, _mail_title(member), member)
        for file, origin in kept:
            if file is not main:
                add(VEDLEGG, _stem(file.filename), member, file, origin)
    return documents, left_out


def _files_of(member: MemberFacts) -> tuple[list[tuple[FileFacts, str | None]], list[LeftOut]]:
    by_id = {f.attachment_id: f for f in member.files}
    parents = {f.parent_id for f in member.files if f.parent_id is not None}
    kept: list[tuple[FileFacts, str | None]] = []
    left_out: list[LeftOut] = []
    seen: set[str] = set()
    for file in member.files:
        if is_container(file, file.attachment_id in parents):
            inside = "filene i den er egne vedlegg" if file.attachment_id in parents else "teksten står i e-posten"
            left_out.append(LeftOut(file.filename, f"{_container_name(file)}; {inside}, og selve filen ligger i "
                                                   "den originale e-posten"))
            continue
        if file.inline and file.content_type.lower().startswith("image/"):
            left_out.append(LeftOut(file.filename, "bilde i e-postteksten (for eksempel en logo); det ligger i den "
                                                   "originale e-posten"))
            continue
        # A file read both from the mail and from the forward it came in is one document.
        if file.sha256 in seen:
            continue
        seen.add(file.sha256)
        parent = by_id.get(file.parent_id) if file.parent_id is not None else None
        kept.append((file, parent.filename if parent is not None else None))
    return kept, left_out


def _container_name(file: FileFacts) -> str:
    name = file.filename.lower()
    if name == "winmail.dat" or "tnef" in file.content_type.lower():
        return "Outlook-beholder (winmail.dat)"
    if name.endswith(".msg") or file.content_type.lower() == "application/vnd.ms-outlook":
        return "Outlook-melding (.msg)"
    return "videresendt e-post"


def _stem(filename: str) -> str:
    stem = os.path.splitext(filename)[0]
    return stem.strip() or filename


def _mail_title(member: MemberFacts) -> str:
    return f"E-post: {member.subject}" if member.subject else "E-post (uten emne)"
