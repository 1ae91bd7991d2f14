"""Office files to PDF/A with LibreOffice, and telling whether a PDF already is PDF/A; in an extraction worker.

Each conversion gets a LibreOffice profile folder of its own (``-env:UserInstallation``),
so conversions in parallel workers never share one, and a profile a crashed run left
behind is never used again. Making a profile costs LibreOffice more than the
conversion itself, so a worker makes one on its first conversion and copies it for
each one after. ``soffice`` runs in a process group of its own, inherits the worker's
memory limit, is stopped a little before the worker's own time limit runs out and
is killed with its whole group then, so that no LibreOffice outlives its task.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from intake.extract.base import Extraction, WorkerTask
from intake.extract.limits import Limits

OFFICE_KINDS = ("docx", "odt", "rtf", "doc")
# LibreOffice's PDF export, version 2 being PDF/A-2b.
PDFA_FILTER = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'
_PDFAID = re.compile(rb"pdfaid:part\s*(?:=\s*[\"'](\d)|>\s*(\d))")
_CONFORMANCE = re.compile(rb"pdfaid:conformance\s*(?:=\s*[\"']([ABUabu])|>\s*([ABUabu]))")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")
_TEMPLATE: dict[str, Path] = {}


def soffice_path(program: str) -> str | None:
    """The LibreOffice program to run, or None when it is not installed."""
    return shutil.which(program)


@dataclass(frozen=True)
class OfficeToPdfa(WorkerTask):
    """Converts the file at ``path`` (a DOCX, ODT, RTF or DOC) to PDF/A-2b at ``out``."""

    out: str = ""
    soffice: str = "soffice"

    def run(self, limits: Limits) -> Extraction:
        source = Path(self.path or "")
        with tempfile.TemporaryDirectory(prefix="intake-soffice-") as work:
            folder = Path(work)
            # LibreOffice names its output after its input, so the input gets a plain name of our choosing.
            suffix = Path(self.filename).suffix.lower()
            inbox = folder / ("dokument" + (suffix if _SUFFIX.fullmatch(suffix) else ".docx"))
            os.symlink(source, inbox)
            profile = _profile(folder / "profile")
            command = [self.soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                       "--nologo", "--nolockcheck", "--convert-to", PDFA_FILTER, "--outdir", str(folder / "out"),
                       str(inbox)]
            # The worker's own limit would kill the worker; stopping LibreOffice first keeps the worker.
            budget = max(1.0, limits.timeout_seconds * 0.9 - 1.0)
            error = _run(command, budget, folder)
            produced = folder / "out" / "dokument.pdf"
            if error is not None:
                return Extraction.failed(error)
            if not produced.is_file():
                return Extraction.failed("LibreOffice laget ingen PDF (filen kan være skadet eller passordbeskyttet)")
            level = pdfa_level(produced.read_bytes())
            if level is None:
                return Extraction.failed("LibreOffice laget en PDF som ikke er PDF/A")
            if _TEMPLATE.get("profile") is None:
                _keep_template(profile)
            shutil.move(produced, self.out)
            return Extraction(status="ok", text=level)


def _keep_template(profile: Path) -> None:
    """Keeps a used profile as this worker's template, and removes those of workers that are gone."""
    base = Path(tempfile.gettempdir())
    for old in base.glob("intake-soffice-template-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    keep = base / f"intake-soffice-template-{os.getpid()}"
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(profile, keep, symlinks=True)
    _TEMPLATE["profile"] = keep


def _profile(target: Path) -> Path:
    """A fresh profile folder: a copy of this worker's first one, or an empty folder LibreOffice fills."""
    template = _TEMPLATE.get("profile")
    if template is not None and template.is_dir():
        shutil.copytree(template, target, symlinks=True)
    else:
        target.mkdir()
    return target


def _run(command: list[str], budget: float, cwd: Path) -> str | None:
    """Runs LibreOffice to the end or to ``budget`` seconds; None when it exited 0, else the reason."""
    env = {**os.environ, "HOME": str(cwd), "SAL_USE_VCLPLUGIN": "svp"}
    try:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as err:
        return f"LibreOffice kunne ikke startes: {err.strerror or err}"
    try:
        output, _ = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return f"LibreOffice ble stoppet etter {budget:.0f} s"
    if process.returncode != 0:
        last = (output or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return f"LibreOffice avsluttet med kode {process.returncode}" + (f": {last[0][:160]}" if last[0] else "")
    return None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # soffice starts soffice.bin as a child of its own; the group holds both. Called only before
    # the leader is reaped, so the group id cannot belong to anyone else yet.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def pdfa_level(data: bytes) -> str | None:
    """``PDF/A-2B`` and the like when the PDF's XMP metadata (its catalog's /Metadata) says it is PDF/A.

    The claim is read, not verified against the standard: a file that says it is PDF/A is taken at its word.
    """
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import PDFStream, resolve1

    if b"%PDF-" not in data[:1024]:
        return None
    catalog = PDFDocument(PDFParser(io.BytesIO(data))).catalog
    metadata = resolve1(catalog.get("Metadata"))
    if not isinstance(metadata, PDFStream):
        return None
    xmp = metadata.get_data()
    part = _PDFAID.search(xmp)
    if part is None:
        return None
    conformance = _CONFORMANCE.search(xmp)
    level = (part.group(1) or part.group(2)).decode()
    letter = (conformance.group(1) or conformance.group(2)).decode().upper() if conformance else ""
    return f"PDF/A-{level}{letter}"


@dataclass(frozen=True)
class PdfaCheck(WorkerTask):
    """Tells whether the PDF at ``path`` is PDF/A: ``skipped`` with the level in ``text`` when it is."""

    def run(self, limits: Limits) -> Extraction:
        level = pdfa_level(self.loaded().data)
        if level is None:
            return Extraction.failed("PDF-filen er ikke PDF/A")
        return Extraction(status="skipped", text=level)
