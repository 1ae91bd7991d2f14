"""A Word attachment read in the page with its structure: headings, lists, tables, checkboxes; bounded and cached."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from intake.extract import Extraction, FileInput, Limits, extract_one
from intake.extract.outline import MAX_BLOCKS, DocxOutline
from intake.extract.pool import PoolExtractor
from intake.runtime import Runtime
from tests.builders import make_email
from tests.docx_builder import DOCX_TYPE, form_docx, huge_docx, nested_tables_docx
from tests.web_support import _ingest

WHEN = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


class SlowOutline(DocxOutline):
    """An outline that never ends in time: the worker must be stopped at the task's own limit."""

    seconds = 0.5

    def run(self, limits: Limits) -> Extraction:
        time.sleep(30)
        return super().run(limits)


def _attachment_html(page: str, filename: str) -> str:
    start = page.index(f'<h3 class="filename">{filename}')
    return page[start:page.index("</article>", start)]


def test_docx_shows_headings_lists_tables_and_boxes_and_is_cached(reviewer_client: TestClient, rt: Runtime) -> None:
    data = form_docx()
    before = extract_one(FileInput("Svar.docx", DOCX_TYPE, data), Limits()).text
    sub = _ingest(rt, make_email(attachments=[("Svar.docx", DOCX_TYPE, data)]), WHEN)
    response = reviewer_client.get(f"/submissions/{sub}")
    assert response.status_code == 200
    html = _attachment_html(response.text, "Svar.docx")
    # Headings under the attachment's own h3, in the document's order and levels.
    assert re.findall(r"<h(\d) class=\"docx-heading\">([^<]+)</h\d>", html) == [
        ("4", "Høringssvar fra Legeforeningen"), ("5", "Mål 1: Samhandling")]
    assert "<p>Vi viser til høringsbrevet.</p>" in html
    assert re.search(r"<ul><li>Bedre deling av journal</li><li>Felles &lt;script&gt;alert\(1\)&lt;/script&gt; "
                     r"løsninger</li></ul>", html)
    assert "<script>alert" not in response.text
    # The first row is the header row, as the table's style (Word's default) says.
    assert re.findall(r'<th scope="col"><p>([^<]+)</p>\s*</th>', html) == ["Tiltak", "Kostnad"]
    assert re.findall(r"<td><p>([^<]+)</p>\s*</td>", html) == ["Opplæring", "2 mill."]
    assert '<caption class="visually-hidden">Tabell i Svar.docx</caption>' in html
    assert 'role="region" tabindex="0" aria-label="Tabell i Svar.docx"' in html
    # A box is a visible mark and words for a screen reader, not a glyph alone.
    assert re.search(r'<span class="box" aria-hidden="true">☒</span><span class="visually-hidden"> '
                     r"\(krysset av\)</span> Ja, vi støtter forslaget", html)
    assert re.search(r'<span class="box" aria-hidden="true">☐</span><span class="visually-hidden"> '
                     r"\(ikke krysset av\)</span> Nei", html)
    # The extracted text that matching and forms use is the same as before, and still on the page.
    with rt.engine.connect() as conn:
        stored = conn.exec_driver_sql("select text from attachments").scalar_one()
    assert stored == before
    assert "Uthentet tekst" in html
    cached = list((rt.store.root / "previews").rglob("*-outline.json"))
    assert len(cached) == 1
    # The second look reads the store: the outline is not made again.
    cached[0].write_text(cached[0].read_text(encoding="utf-8").replace("Vi viser til", "Vi har lest"),
                         encoding="utf-8")
    assert "<p>Vi har lest høringsbrevet.</p>" in reviewer_client.get(f"/submissions/{sub}").text


def test_hostile_docx_gives_a_norwegian_message_fast(reviewer_client: TestClient, rt: Runtime) -> None:
    sub = _ingest(rt, make_email(attachments=[("Dypt.docx", DOCX_TYPE, nested_tables_docx(40)),
                                              ("Stort.docx", DOCX_TYPE, huge_docx(MAX_BLOCKS + 2000))]), WHEN)
    started = time.monotonic()
    page = reviewer_client.get(f"/submissions/{sub}")
    first = time.monotonic() - started
    assert page.status_code == 200
    deep = _attachment_html(page.text, "Dypt.docx")
    assert "Dokumentet har tabeller inni tabeller i for mange nivåer, så det vises bare som tekst." in deep
    assert "<table" not in deep and "Nivå 39" in deep
    big = _attachment_html(page.text, "Stort.docx")
    assert "Dokumentet er langt: bare begynnelsen vises her." in big
    assert big.count("<p>Avsnitt ") == MAX_BLOCKS
    started = time.monotonic()
    again = reviewer_client.get(f"/submissions/{sub}")
    cached = time.monotonic() - started
    assert again.status_code == 200 and "for mange nivåer" in again.text
    assert first < 10 and cached < 2, (first, cached)


def test_outline_in_a_worker_is_stopped_at_its_own_time_limit() -> None:
    with PoolExtractor(1, Limits(timeout_seconds=60)) as pool:
        started = time.monotonic()
        [result] = pool.extract_many([SlowOutline("a.docx", DOCX_TYPE, form_docx())])
        assert time.monotonic() - started < 5
    assert result.status == "failed" and (result.error or "").startswith("timeout after 0.5")
