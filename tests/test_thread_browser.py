"""A response with two follow-ups as the clerk sees it in Chromium: checked for WCAG 2.1 AA by what a
machine can check, and saved as test-output/screenshots/thread-two-follow-ups.png."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from intake.pipeline.run import ingest
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email
from tests.pdf_builder import make_pdf, text_page
from tests.test_web_browser import browser_page, shot  # noqa: F401  (fixture)
from tests.web_server import running_server
from tests.web_support import PASSWORD, add_user

ON_TIME = datetime(2022, 9, 28, 8, 15, tzinfo=UTC)


def _pdf(line: str) -> bytes:
    return make_pdf([text_page([line])])


def _thread(rt: Runtime) -> tuple[int, int, int]:
    def one(raw: bytes, when: datetime) -> int:
        result = ingest(rt, raw, Source(kind="imap", mailbox="postmottak", folder="INBOX"), when)
        assert result.submission_id is not None
        return result.submission_id

    first = one(make_email(message_id="<svar@legemiddelverket.no>",
                           attachments=[("Høringssvar Legemiddelverket.pdf", "application/pdf", _pdf("Vi stotter."))]),
                ON_TIME)
    fixed = one(make_email(subject="SV: Høringssvar - Nasjonal e-helsestrategi - sak 22/414",
                           message_id="<rettet@legemiddelverket.no>", body="Vedlagt korrigert versjon.",
                           headers={"In-Reply-To": "<svar@legemiddelverket.no>"},
                           attachments=[("Høringssvar - korrigert.pdf", "application/pdf", _pdf("Korrigert."))]),
                datetime(2022, 9, 29, 7, 40, tzinfo=UTC))
    forgot = one(make_email(subject="Re: Høringssvar - Nasjonal e-helsestrategi - sak 22/414",
                            message_id="<glemte@legemiddelverket.no>", body="Vi glemte vedlegget om kostnader.",
                            headers={"In-Reply-To": "<rettet@legemiddelverket.no>",
                                     "References": "<svar@legemiddelverket.no> <rettet@legemiddelverket.no>"},
                            attachments=[("Vedlegg 2 Kostnader.pdf", "application/pdf", _pdf("Kostnader."))]),
                 datetime(2022, 9, 30, 12, 5, tzinfo=UTC))
    return first, fixed, forgot


def test_a_response_with_two_follow_ups_is_one_thread_on_its_page(rt: Runtime, browser_page: Any) -> None:  # noqa: F811
    first, fixed, forgot = _thread(rt)
    add_user(rt)
    page = browser_page
    with running_server(rt) as base:
        page.goto(f"{base}/submissions/{first}")
        page.get_by_label("Brukernavn").fill("kari")
        page.get_by_label("Passord").fill(PASSWORD)
        page.get_by_role("button", name="Logg inn").click()
        page.wait_for_url(f"{base}/submissions/{first}")
        thread = page.locator("section.thread")
        items = thread.locator("ol.thread-list > li")
        assert items.count() == 3
        assert items.nth(0).inner_text().startswith("Svaret")
        assert [items.nth(i).inner_text().split()[0] for i in (1, 2)] == ["Tillegg", "Tillegg"]
        assert thread.locator(f'a[href="/submissions/{fixed}"]').count() == 1
        assert thread.locator(f'a[href="/submissions/{forgot}"]').count() == 1
        # Every document of the thread, each with the choice of whether its version counts.
        assert thread.locator("ul.thread-docs > li").count() == 3
        shot(page, "thread-two-follow-ups")
        # From a follow-up, the same thread, with that one marked as the page's own.
        page.goto(f"{base}/submissions/{forgot}")
        assert page.locator('section.thread ol.thread-list li[aria-current="true"]').inner_text().startswith("Tillegg")
