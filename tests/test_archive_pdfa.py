"""The archive formats are real PDF/A: identified in their XMP, with an output intent and every font embedded.

Checked with pikepdf (qpdf), independently of the code that wrote them. The mail
text is drawn without fetching anything, even when the page asks for a remote
image and style sheet: a real HTTP server on loopback counts the requests.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pikepdf
import pytest

from intake.archive.convert import OfficeToPdfa, pdfa_level
from intake.archive.render import MailToPdfa, mail_html
from intake.extract import Limits, PoolExtractor, extract_one
from tests.archive_support import need_soffice
from tests.docx_builder import long_docx

FORMS = Path(__file__).resolve().parent / "fixtures" / "forms"
PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"


def _fonts(resources: Any, seen: set[tuple[int, int]]) -> Iterator[Any]:
    """Every font a page uses, in its own resources and in those of the forms (XObjects) it draws."""
    if resources is None:
        return
    yield from (resources.get("/Font") or {}).values()
    for xobject in (resources.get("/XObject") or {}).values():
        key = xobject.objgen
        if key not in seen and xobject.get("/Subtype") == "/Form":
            seen.add(key)
            yield from _fonts(xobject.get("/Resources"), seen)


def _embedded(font: Any) -> bool:
    if font.get("/Subtype") == "/Type3":
        return True  # glyphs drawn by the PDF itself
    descriptor = font.get("/FontDescriptor")
    if descriptor is None and "/DescendantFonts" in font:
        descriptor = font.DescendantFonts[0].get("/FontDescriptor")
    return descriptor is not None and any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def assert_pdfa(path: Path) -> None:
    """PDF/A-2B by its XMP, an output intent with an ICC profile, and every font embedded."""
    with pikepdf.open(path) as pdf:
        with pdf.open_metadata() as meta:
            assert (meta.get(f"{PDFAID}part"), meta.get(f"{PDFAID}conformance")) == ("2", "B")
        intents = pdf.Root.get("/OutputIntents")
        assert intents is not None and len(intents) >= 1
        assert intents[0].get("/S") == "/GTS_PDFA1" and "/DestOutputProfile" in intents[0]
        fonts = [font for page in pdf.pages for font in _fonts(page.get("/Resources"), set())]
        assert fonts, "a page with text uses at least one font"
        missing = [str(f.get("/BaseFont")) for f in fonts if not _embedded(f)]
        assert missing == []


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Counting.hits.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_mail_text_is_pdfa_2b_with_every_font_embedded_and_nothing_fetched(tmp_path: Path, server: str) -> None:
    page = mail_html(title="Høringssvar – æøå ÆØÅ", headers=[("Fra", "Kari <kari@example.org>")],
                     body="Hei på deg — «sitat» ✓\n\n" * 200, note="Gjengitt fra originalen.")
    # A page that asks for remote things (as a hostile HTML part might): nothing may be fetched.
    page = page.replace("</head>", f'<link rel="stylesheet" href="{server}/style.css"></head>').replace(
        "</body>", f'<img src="{server}/pixel.png" alt=""></body>')
    out = tmp_path / "epost.pdf"
    result = extract_one(MailToPdfa("epost.html", "text/html", page.encode(), out=str(out)), Limits())
    assert result.status == "ok", result.error
    assert result.pages is not None and result.pages > 1
    assert _Counting.hits == []
    assert_pdfa(out)
    assert pdfa_level(out.read_bytes()) == "PDF/A-2B"


def test_a_mail_longer_than_the_page_limit_is_refused_not_drawn(tmp_path: Path) -> None:
    page = mail_html(title="Lang", headers=[], body="linje\n" * 3000, note="")
    out = tmp_path / "lang.pdf"
    result = extract_one(MailToPdfa("epost.html", "text/html", page.encode(), out=str(out)), Limits(max_pages=5))
    assert result.status == "failed" and "grensen på 5" in (result.error or "")
    assert not out.exists()


def test_libreoffice_turns_a_docx_into_pdfa_2b(tmp_path: Path) -> None:
    need_soffice()
    out = tmp_path / "skjema.pdf"
    task = OfficeToPdfa("skjema.docx", "application/octet-stream", b"", path=str(FORMS / "skjema-ja.docx"),
                        out=str(out))
    result = extract_one(task, Limits())
    assert result.status == "ok", result.error
    assert result.text == "PDF/A-2B"
    assert_pdfa(out)


def test_a_plain_pdf_is_not_taken_for_pdfa() -> None:
    assert pdfa_level((FORMS / "skjema-ja.pdf").read_bytes()) is None
    assert pdfa_level(b"not a pdf at all") is None


def test_a_conversion_runs_in_a_worker_under_its_time_limit_and_leaves_no_libreoffice(tmp_path: Path) -> None:
    need_soffice()
    out = tmp_path / "skjema.pdf"
    # 300 pages take LibreOffice many seconds; the two-page form took it under the second on a quiet
    # machine. A 1.5 s limit stops it, and the worker lives on.
    long = tmp_path / "lang.docx"
    long.write_bytes(long_docx(300))
    task = OfficeToPdfa("lang.docx", "application/octet-stream", b"", path=str(long), out=str(out))
    with PoolExtractor(1, Limits(timeout_seconds=1.5)) as pool:
        (worker,) = pool.worker_pids()
        (result,) = pool.extract_many([task])
        assert result.status == "failed" and result.error == "LibreOffice ble stoppet etter 1 s"
        assert pool.worker_pids() == [worker]
        children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == worker]
        assert children == []
    assert not out.exists()


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
