"""Attachments read in the page: a PDF's pages as server-rendered PNG, cached in the store; other files as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from intake.runtime import Runtime
from tests.builders import make_email
from tests.pdf_builder import make_pdf, text_page
from tests.web_support import _ingest

PDF = make_pdf([text_page([f"Side {n} av høringssvaret"]) for n in range(1, 6)])


def test_pdf_pages_are_images_rendered_lazily_and_cached(reviewer_client: TestClient, rt: Runtime) -> None:
    sub = _ingest(rt, make_email(attachments=[("Svar.pdf", "application/pdf", PDF),
                                              ("Notat.txt", "text/plain", b"Et notat.")]),
                  datetime(2022, 9, 28, 8, 15, tzinfo=UTC))
    page = reviewer_client.get(f"/submissions/{sub}").text
    images = re.findall(rf'src="(/submissions/{sub}/attachments/(\d+)/pages/(\d+)\.png)"', page)
    # A few pages at a time, each named for a screen reader; the rest on request.
    assert [n for _, _, n in images] == ["1", "2", "3"]
    assert 'alt="Side 1 av 5 i Svar.pdf"' in page and 'loading="lazy"' in page
    assert "Vis flere sider (3 av 5 vises)" in page
    more = reviewer_client.get(f"/submissions/{sub}", params={"pages": "6"}).text
    assert len(re.findall(r'/pages/\d+\.png"', more)) == 5
    # The text of other files is shown in the page.
    assert "Et notat." in page and 'application/pdf"' not in page
    url, attachment_id, _ = images[0]
    # Nothing is rendered until a page is looked at.
    assert not (rt.store.root / "previews").exists()
    first = reviewer_client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.content.startswith(b"\x89PNG\r\n\x1a\n")
    cached = list((rt.store.root / "previews").rglob("*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == first.content
    assert reviewer_client.get(url).content == first.content
    assert reviewer_client.get(f"/submissions/{sub}/attachments/{attachment_id}/pages/6.png").status_code == 404
    text_id = re.search(rf'/submissions/{sub}/attachments/(\d+)" download>Last ned <span [^>]+>Notat', page)
    assert text_id
    assert reviewer_client.get(f"/submissions/{sub}/attachments/{text_id.group(1)}/pages/1.png").status_code == 404


def test_a_broken_pdf_gives_no_image_and_no_error_page(reviewer_client: TestClient, rt: Runtime) -> None:
    sub = _ingest(rt, make_email(attachments=[("Ødelagt.pdf", "application/pdf", b"%PDF-1.4 not really")]),
                  datetime(2022, 9, 28, 8, 15, tzinfo=UTC))
    page = reviewer_client.get(f"/submissions/{sub}")
    assert page.status_code == 200
    attachment_id = re.search(rf'/submissions/{sub}/attachments/(\d+)"', page.text)
    assert attachment_id
    page_url = f"/submissions/{sub}/attachments/{attachment_id.group(1)}/pages/1.png"
    assert reviewer_client.get(page_url).status_code == 404
