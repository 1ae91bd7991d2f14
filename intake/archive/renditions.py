"""Each document's files in the package: the original (Produksjonsformat) and an archive format (Arkivformat).

The originals are copied from the store with their sha256 checked on the way, so a
package never carries a damaged copy. Then each document gets an archive-format
variant where one can be made, in the extraction workers, all of a package's at
once: the mail text drawn as PDF/A-2b; DOCX, ODT, RTF and DOC converted to PDF/A by
LibreOffice. A file that already is in an archive format (PDF/A, UTF-8 text, PNG,
JPEG, TIFF) is one file with the variant Arkivformat. Where no archive format could
be made the original stays, and the document carries a note saying why.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from intake.archive.arkivmelding import ARKIV, PRODUKSJON, Rendered, Variant
from intake.archive.convert import OfficeToPdfa, PdfaCheck, soffice_path
from intake.archive.documents import Document
from intake.archive.render import MAX_BODY_CHARS, MailToPdfa
from intake.errors import StorageError
from intake.extract.base import Extraction, Extractor, WorkerTask
from intake.extract.reader import DOCX_EXTENSIONS, DOCX_TYPES, ODT_TYPE
from intake.mail.charsets import decode_bytes

CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[^\w .,()+-]+")
_IMAGES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
KEPT = "Originalen ligger ved i produksjonsformat."


@dataclass(frozen=True)
class Sources:
    """Where a package's bytes are: each member's original message, each file's blob, and the mail pages."""

    read_message: Callable[[int], bytes]
    blob_path: Callable[[int], Path]
    mail_page: Callable[[Document], str]
    mail_chars: Callable[[Document], int]


class PackageFiles:
    """Writes the files of one package into its folder and says what each is."""

    def __init__(self, folder: Path, extractor: Extractor, soffice: str) -> None:
        self.folder = folder
        self.extractor = extractor
        self.soffice = soffice_path(soffice)

    def render(self, documents: Sequence[Document], sources: Sources) -> list[Rendered]:
        rendered = [Rendered(document) for document in documents]
        tasks: list[tuple[Rendered, WorkerTask, Variant]] = []
        for item in rendered:
            job = self._original(item, sources)
            if job is not None:
                tasks.append(job)
        results = self.extractor.extract_many([task for _, task, _ in tasks]) if tasks else []
        for (item, task, planned), result in zip(tasks, results, strict=True):
            self._finish(item, task, planned, result)
        return rendered

    def _original(self, item: Rendered, sources: Sources) -> tuple[Rendered, WorkerTask, Variant] | None:
        """Copies the original; returns the worker task that makes its archive format, if one is needed."""
        document = item.document
        number = f"{document.number:02d}"
        if document.file is None:
            name = f"{number}-epost.eml"
            data = sources.read_message(document.member.submission_id)
            if hashlib.sha256(data).hexdigest() != document.member.message_sha256:
                raise StorageError(f"the stored message of {document.member.receipt_ref} is damaged")
            self._write(name, data)
            item.variants.append(Variant(PRODUKSJON, name, document.member.message_sha256, len(data), "EML"))
            chars = sources.mail_chars(document)
            if chars > MAX_BODY_CHARS:
                item.notes.append(f"Arkivformat mangler: e-postteksten er for lang til å gjøres om til PDF/A her "
                                  f"({chars} tegn). Den originale e-posten ligger ved i produksjonsformat.")
                return None
            out = f"{number}-epost.pdf"
            task: WorkerTask = MailToPdfa("epost.html", "text/html", sources.mail_page(document).encode("utf-8"),
                              out=str(self.folder / out))
            return item, task, Variant(ARKIV, out, "", 0, "PDF/A-2B")
        file = document.file
        stem, ext = os.path.splitext(file.filename)
        name = f"{number}-{safe_name(stem)}{safe_extension(ext)}"
        self._copy(sources.blob_path(file.attachment_id), name, file.sha256)
        original = Variant(PRODUKSJON, name, file.sha256, file.size, ext.lstrip(".").upper() or "ukjent")
        path = self.folder / name
        kind = file_kind(path, file.filename, file.content_type)
        if kind == "pdf":
            return item, PdfaCheck(file.filename, file.content_type, b"", path=str(path)), original
        if kind in ("docx", "odt", "rtf", "doc"):
            item.variants.append(original)
            if self.soffice is None:
                item.notes.append("Arkivformat mangler: LibreOffice (soffice) er ikke installert på serveren, så "
                                  f"dokumentet er ikke gjort om til PDF/A. {KEPT}")
                return None
            out = f"{number}-{safe_name(stem)}.pdf"
            task = OfficeToPdfa(file.filename, file.content_type, b"", path=str(path), out=str(self.folder / out),
                                soffice=self.soffice)
            return item, task, Variant(ARKIV, out, "", 0, "PDF/A-2B")
        if kind == "text":
            self._text(item, original, path, number, stem)
        elif kind in ("PNG", "JPEG", "TIFF"):
            item.variants.append(Variant(ARKIV, name, file.sha256, file.size, kind))
        else:
            item.variants.append(original)
            item.notes.append(f"Arkivformat mangler: filtypen ({file.content_type}) gjøres ikke om til et "
                              f"arkivformat her. {KEPT}")
        return None

    def _text(self, item: Rendered, original: Variant, path: Path, number: str, stem: str) -> None:
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            # Text in another charset stays as sent, beside a UTF-8 copy (ren tekst in an archive charset).
            item.variants.append(original)
            out = f"{number}-{safe_name(stem)}-utf8.txt"
            text = decode_bytes(data).encode("utf-8")
            self._write(out, text)
            item.variants.append(Variant(ARKIV, out, hashlib.sha256(text).hexdigest(), len(text), "TXT"))
            return
        item.variants.append(Variant(ARKIV, original.filename, original.sha256, original.size, "TXT"))

    def _finish(self, item: Rendered, task: WorkerTask, planned: Variant, result: Extraction) -> None:
        if isinstance(task, PdfaCheck):
            original = Variant(ARKIV if result.status == "skipped" else PRODUKSJON, planned.filename, planned.sha256,
                               planned.size, result.text or "PDF")
            item.variants.append(original)
            if result.status != "skipped":
                item.notes.append(f"Arkivformat mangler: PDF-filen er ikke merket som PDF/A, og vanlig PDF gjøres "
                                  f"ikke om til PDF/A her. {KEPT}")
            return
        out = self.folder / planned.filename
        if result.status == "ok" and out.is_file():
            digest, size = file_digest(out)
            item.variants.append(Variant(ARKIV, planned.filename, digest, size, result.text or planned.format))
            return
        out.unlink(missing_ok=True)
        what = "e-postteksten" if item.document.file is None else "dokumentet"
        kept = "Den originale e-posten ligger ved i produksjonsformat." if item.document.file is None else KEPT
        item.notes.append(f"Arkivformat mangler: {what} kunne ikke gjøres om til PDF/A ({norwegian(result.error)}). "
                          f"{kept}")

    def _write(self, name: str, data: bytes) -> None:
        with open(self.folder / name, "xb") as handle:
            handle.write(data)

    def _copy(self, source: Path, name: str, sha256: str) -> None:
        digest = hashlib.sha256()
        try:
            with source.open("rb") as reader, open(self.folder / name, "xb") as writer:
                while chunk := reader.read(CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
        except FileNotFoundError as err:
            raise StorageError(f"a stored attachment is missing: {source.name}") from err
        if digest.hexdigest() != sha256:
            raise StorageError(f"a stored attachment is damaged: {source.name}")


def file_kind(path: Path, filename: str, content_type: str) -> str:
    """pdf, docx, odt, rtf, doc, text, PNG, JPEG, TIFF or other: by the file's first bytes, then its name."""
    with path.open("rb") as handle:
        head = handle.read(1024)
    ext = os.path.splitext(filename.lower())[1]
    ctype = content_type.lower().split(";")[0].strip()
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    for magic, name in _IMAGES:
        if head.startswith(magic):
            return name
    if head.startswith(OLE_MAGIC):
        return "doc" if ext in (".doc", ".dot") or ctype == "application/msword" else "other"
    if head.startswith(b"PK\x03\x04"):
        # A zip named as a document that will not open is still that document, broken: LibreOffice says why.
        return _zip_kind(path) or ("docx" if ext in DOCX_EXTENSIONS or ctype in DOCX_TYPES else
                                   "odt" if ext == ".odt" or ctype == ODT_TYPE else "other")
    if ctype == "text/plain" or ext == ".txt":
        return "text"
    return "other"


def _zip_kind(path: Path) -> str | None:
    # The member names are in the central directory: read without decompressing anything.
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    if "word/document.xml" in names:
        return "docx"
    if "content.xml" in names and "mimetype" in names:
        return "odt"
    return "other"


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def safe_name(stem: str) -> str:
    """A file name stem any archive system's file share accepts: letters (æøå too), digits and a few signs."""
    text = _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip(" ._")
    return re.sub(r"\s+", " ", text)[:60].rstrip(" ._") or "dokument"


def safe_extension(ext: str) -> str:
    return ext.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", ext) else ".bin"


def norwegian(reason: str | None) -> str:
    """The extraction pool's reasons, said for a clerk."""
    text = (reason or "ukjent feil").strip()
    timeout = re.fullmatch(r"timeout after ([\d.]+) s", text)
    if timeout:
        return f"tidsgrensen på {timeout.group(1)} s ble nådd"
    if text == "out of memory":
        return "minnegrensen ble nådd"
    if text.startswith("worker crashed") or text == "worker stopped answering":
        return "arbeidsprosessen stoppet underveis"
    if text.startswith("broken TASK"):
        return "feil under omgjøringen: " + text.removeprefix("broken TASK: ")
    return text
