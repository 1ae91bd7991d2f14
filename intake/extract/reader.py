"""Recognises a file's type by its bytes, name and declared type, and reads it in this process."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from intake.errors import ExtractionFailed
from intake.extract.base import Extraction, FileInput, WorkerTask
from intake.extract.containers import OLE_MAGIC, TNEF_MAGIC, unpack_msg, unpack_rfc822, unpack_tnef
from intake.extract.docx import extract_docx
from intake.extract.limits import Limits, cap_text
from intake.extract.pdf import extract_pdf
from intake.extract.text import extract_html, extract_odt, extract_plain, extract_rtf

DOCX_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    "application/vnd.ms-word.document.macroenabled.12",
}
DOCX_EXTENSIONS = (".docx", ".docm", ".dotx")
ODT_TYPE = "application/vnd.oasis.opendocument.text"


def kind_of(file: FileInput) -> str:
    """One of pdf, docx, odt, rtf, tnef, msg, rfc822, html, text, or other (not read).

    The leading bytes decide first, because mail clients often send documents as
    application/octet-stream and with names that do not fit.
    """
    data = file.data
    ext = os.path.splitext(file.filename.lower())[1]
    ctype = file.content_type.lower().split(";")[0].strip()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"{\\rtf"):
        return "rtf"
    if data.startswith(TNEF_MAGIC):
        return "tnef"
    if data.startswith(OLE_MAGIC):
        # Word 97 (.doc) and Excel files are compound files too; only Outlook messages are read.
        return "msg" if ext == ".msg" or ctype == "application/vnd.ms-outlook" else "other"
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data, ext, ctype)
    if ctype == "message/rfc822" or ext == ".eml":
        return "rfc822"
    # Some writers put junk before the header; a PDF reader accepts it within the first kilobyte.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if ctype == "text/html" or ext in (".html", ".htm"):
        return "html"
    if ctype.startswith("text/") or ext in (".txt", ".csv", ".md"):
        return "text"
    # Named as a readable type but without its header: the reader says why it is broken.
    if ext == ".pdf" or ctype == "application/pdf":
        return "pdf"
    if ext in DOCX_EXTENSIONS or ctype in DOCX_TYPES:
        return "docx"
    if ext == ".odt" or ctype == ODT_TYPE:
        return "odt"
    return "other"


def _zip_kind(data: bytes, ext: str, ctype: str) -> str:
    if ext in DOCX_EXTENSIONS or ctype in DOCX_TYPES:
        return "docx"
    if ext == ".odt" or ctype == ODT_TYPE:
        return "odt"
    # A zip without a telling name: look at the member names, which costs no decompression.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "other"
    if "word/document.xml" in names:
        return "docx"
    if "content.xml" in names and "mimetype" in names:
        return "odt"
    return "other"


def extract_one(file: FileInput, limits: Limits, depth: int = 0) -> Extraction:
    """Reads one file in this process; never raises for a bad file.

    Time and memory are not bounded here: the pool's worker processes do that.
    """
    if isinstance(file, WorkerTask):
        task = file
        return _guarded("task", lambda: task.run(limits))
    if depth > limits.max_depth:
        return Extraction.failed(f"nested too deep: {depth} > {limits.max_depth}")
    if file.path is not None and not file.data:
        # A large PDF handed over by path is read by PDFium from its file, never whole in memory.
        try:
            with open(file.path, "rb") as handle:
                head = handle.read(1024)
        except OSError as err:
            return Extraction.failed(f"cannot read the stored file: {err.strerror or err}")
        if kind_of(replace(file, data=head)) == "pdf":
            path = Path(file.path)
            return _guarded("pdf", lambda: extract_pdf(path, limits))
    try:
        file = file.loaded()
    except OSError as err:
        return Extraction.failed(f"cannot read the stored file: {err.strerror or err}")
    kind = kind_of(file)
    # Cut in the worker, so that no more than the cap is sent back to the daemon.
    return cap_text(_guarded(kind, lambda: _READERS[kind](file, limits, depth)), limits.max_text_chars)


def _guarded(kind: str, read: Callable[[], Extraction]) -> Extraction:
    """``read()``, with every way a parser of hostile input can fail turned into a failed Extraction."""
    try:
        return read()
    except ExtractionFailed as err:
        return Extraction.failed(str(err))
    except MemoryError:
        return Extraction.failed("out of memory")
    except RecursionError:
        return Extraction.failed(f"broken {kind.upper()}: nested too deep")
    # Parsers of hostile input fail in ways no list of exception types covers; one bad
    # file must end as a failed extraction with its reason, never as a crash of the caller.
    except Exception as err:
        if _out_of_memory(err):
            return Extraction.failed("out of memory")
        detail = str(err).splitlines()[0][:120] if str(err).strip() else ""
        return Extraction.failed(
            f"broken {kind.upper()}: {type(err).__name__}" + (f": {detail}" if detail else "")
        )


def _out_of_memory(err: BaseException) -> bool:
    """Whether a wrapped error was, underneath, an allocation refused by the worker's memory cap."""
    seen: set[int] = set()
    pending: list[object] = [err]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        # zlib reports a refused allocation as zlib.error("... allocate ... buffer"), not MemoryError.
        if isinstance(item, MemoryError) or "unable to allocate" in str(item).lower():
            return True
        pending.extend([item.__cause__, item.__context__, *item.args])
    return False


def _container(
    unpack: Callable[[bytes], tuple[str, list[FileInput]]],
) -> Callable[[FileInput, Limits, int], Extraction]:
    def read(file: FileInput, limits: Limits, depth: int) -> Extraction:
        text, inner = unpack(file.data)
        children = [(child, extract_one(child, limits, depth + 1)) for child in inner]
        return Extraction(status="ok", text=text, children=children)

    return read


_READERS: dict[str, Callable[[FileInput, Limits, int], Extraction]] = {
    "pdf": lambda f, limits, _d: extract_pdf(f.data, limits),
    "docx": lambda f, limits, _d: extract_docx(f.data, limits),
    "odt": lambda f, limits, _d: extract_odt(f.data, limits),
    "rtf": lambda f, _limits, _d: extract_rtf(f.data),
    "html": lambda f, _limits, _d: extract_html(f.data, f.content_type),
    "text": lambda f, _limits, _d: extract_plain(f.data, f.content_type),
    "tnef": _container(unpack_tnef),
    "msg": _container(unpack_msg),
    "rfc822": _container(unpack_rfc822),
    "other": lambda _f, _limits, _d: Extraction.skipped(),
}
