"""Full-text search: whole words in mail and attachment text, ranked, highlighted, filtered, and safe."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from intake.db.engine import session_scope
from intake.review.search import full_text
from intake.runtime import Runtime
from tests.builders import make_email
from tests.pdf_builder import make_pdf, text_page
from tests.web_support import Seeded, _ingest

PDF = make_pdf([text_page(["Innspill til strategien", "Vi er bekymret for legemiddelmangel i kommunene."])])


@pytest.fixture
def staff_role() -> str:
    return "reviewer"


def _ids(rt: Runtime, q: str, **filters: object) -> list[int]:
    with session_scope(rt.engine) as session:
        return [h.row.submission.id or 0 for h in full_text(session, q=q, **filters).hits]  # type: ignore[arg-type]


def test_a_word_only_in_an_attached_pdf_is_found_and_highlighted(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    pdf = _ingest(rt, make_email(sender="Bergen kommune <post@bergen.kommune.no>", body="Se vedlegg.",
                                 attachments=[("Uttalelse.pdf", "application/pdf", PDF)]),
                  datetime(2022, 9, 29, 9, 0, tzinfo=UTC))
    page = client.get("/search", params={"q": "legemiddelmangel"}).text
    assert f'href="/submissions/{pdf}"' in page
    assert "Uttalelse.pdf:" in page and "<mark>legemiddelmangel</mark>" in page
    assert "Treff i teksten (1)" in page


def test_whole_words_ranked_and_filtered(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    dentists = _ingest(rt, make_email(sender="Tannlegeforeningen <post@tannlege.no>",
                                      body="Tannlegeforeningen støtter forslaget."),
                       datetime(2022, 9, 29, 9, 0, tzinfo=UTC))
    doctors = _ingest(rt, make_email(sender="Legeforeningen <post@legeforeningen.no>",
                                     body="Legeforeningen mener at legeforeningen bør høres. Legeforeningen."),
                      datetime(2022, 9, 30, 9, 0, tzinfo=UTC))
    once = _ingest(rt, make_email(sender="Ola <ola@example.org>", subject="Innspill",
                                  body="Jeg er enig med legeforeningen."),
                   datetime(2022, 9, 20, 9, 0, tzinfo=UTC))
    found = _ids(rt, "legeforeningen")
    assert dentists not in found and set(found) == {doctors, once}
    assert found[0] == doctors  # three times beats once
    assert _ids(rt, "legeforeningen", case="-") == [once]
    assert _ids(rt, "legeforeningen", case="22/414") == [doctors]
    assert _ids(rt, "legeforeningen", flag="unmatched") == [once]
    assert _ids(rt, "legeforeningen", since=datetime(2022, 9, 30).date()) == [doctors]
    assert _ids(rt, "legeforeningen", until=datetime(2022, 9, 29).date()) == [once]
    # Every word must be there.
    assert _ids(rt, "legeforeningen enig") == [once]


HOSTILE = ('"', 'legeforeningen" OR "x', "NOT AND OR NEAR(a b) * ^ : - ( )", "a" * 10_000,
           "' ; DROP TABLE submissions; --", "body:legeforeningen", "\x00\ue000<script>")


def test_a_hostile_query_never_breaks_or_slows_the_page(reviewer_client: TestClient) -> None:
    # A logged-in reviewer on an empty database: hostile queries need nothing to find.
    client = reviewer_client
    for query in HOSTILE:
        started = time.monotonic()
        response = client.get("/search", params={"q": query})
        assert response.status_code == 200 and time.monotonic() - started < 2, query
        assert "<script>" not in response.text
        # Paging and filters typed by hand are never an error page either.
        assert client.get("/search", params={"q": query, "page": query[:50], "since": query[:20]}).status_code == 200
        queue = client.get("/queue", params={"page": query[:50], "per_page": "-1", "sort": query[:50]})
        assert queue.status_code == 200
