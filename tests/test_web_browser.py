"""Staff work in a real browser: Debian's Chromium driven by Playwright against a real uvicorn server.

Each page is saved as a screenshot under test-output/screenshots/ so people can look at it.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from intake.db.engine import session_scope
from intake.db.models import MailboxState, Message, utcnow
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from tests.builders import make_email
from tests.conftest import REPO, need
from tests.web_server import running_server
from tests.web_support import PASSWORD, XSS, Seeded, add_user, seed, seed_xss, submission

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "test-output" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        need("Playwright", str(err))
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        need("Chromium", f"{CHROMIUM} not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nb-NO", accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        context.close()
        browser.close()


A11Y_CHECK = (Path(__file__).parent / "a11y.js").read_text(encoding="utf-8")
# The elements that reach past the window's right edge (outside a region that scrolls on its own).
WIDER_THAN_THE_WINDOW = """() => document.documentElement.scrollWidth <= window.innerWidth ? [] :
  [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
    && !e.closest(".table-scroll, .compare-text, pre")).slice(0, 5)
    .map(e => e.tagName + "." + e.className + "#" + e.id)"""


def shot(page: Any, name: str) -> None:
    """Saves the page for people to look at, after checking what a machine can check of WCAG 2.1 AA."""
    problems = page.evaluate(A11Y_CHECK)
    assert problems == [], f"{name}: {problems}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def data(rt: Runtime) -> tuple[Seeded, int]:
    # An admin's day: the publication list and the mailboxes are admin pages.
    add_user(rt, role="admin")
    return seed(rt), seed_xss(rt)


def _failed_message(rt: Runtime) -> int:
    """A stored message the pipeline gave up on, as the failed list shows it."""
    raw = make_email(
        subject="Høringssvar", body="Vedlagt.", attachments=[("svar.pdf", "application/pdf", b"%PDF-1.4 x")]
    )
    stored = store_message(
        rt,
        raw,
        Source(kind="imap", mailbox="postmottak", folder="INBOX", uid=4711),
        datetime(2022, 9, 30, 13, 5, tzinfo=UTC),
    )
    with session_scope(rt.engine) as session:
        message = session.get(Message, stored.id)
        assert message is not None
        message.status, message.attempts = "parked", 3
        message.last_error = "ExtractionError: svar.pdf: PDF-filen er skadet (fant ikke xref-tabellen)"
        session.add(message)
    return stored.id


def _mailbox_state(rt: Runtime) -> None:
    with session_scope(rt.engine) as session:
        session.add(
            MailboxState(
                mailbox="postmottak",
                folder="INBOX",
                uidvalidity=1,
                last_uid=4711,
                last_poll_at=utcnow(),
                last_success_at=utcnow(),
            )
        )
        session.add(
            MailboxState(
                mailbox="postmottak",
                folder="Høringer",
                last_uid=0,
                last_poll_at=utcnow(),
                last_error="SourceUnavailable: login refused",
                last_error_at=utcnow(),
            )
        )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_staff_day_in_the_browser(rt: Runtime, data: tuple[Seeded, int], browser_page: Any, tmp_path: Path) -> None:
    seeded, xss_id = data
    page = browser_page
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        # Our own "Er du sikker?" confirmation is accepted; any other dialog would be injected script.
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    with running_server(rt) as base:
        # Log in: an anonymous visit ends on the login form, and after login on the page asked for.
        page.goto(base + "/queue")
        assert "/login" in page.url
        shot(page, "01-login")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        # Focus is visible: the focused element gets an outline.
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
        page.get_by_label("Brukernavn").fill("kari")
        page.get_by_label("Passord").fill(PASSWORD)
        page.get_by_role("button", name="Logg inn").click()
        page.wait_for_url(base + "/queue")

        # The queue, with its counts per flag.
        assert page.get_by_role("heading", name="Til behandling").is_visible()
        shot(page, "02-queue")
        page.get_by_label("Merknad", exact=True).select_option("late")
        page.get_by_role("button", name="Vis").click()
        page.wait_for_url("**flag=late**")

        # Resolve a late submission.
        page.locator(f'a[href^="/submissions/{seeded.late}?queue="]').click()
        page.wait_for_url(f"**/submissions/{seeded.late}?**")
        shot(page, "03-submission-late")
        page.get_by_label("Begrunnelse (valgfritt)").fill("Avtalt forlenget frist")
        page.get_by_role("button", name="Godta").click()
        page.get_by_text("Det for sene svaret er godtatt.").wait_for()
        assert submission(rt, seeded.late).decision == "late_accepted"
        assert page.locator("ol.audit").get_by_text("For sent svar godtatt").is_visible()

        # Set the case of an unmatched submission.
        page.goto(f"{base}/submissions/{seeded.unmatched}")
        page.get_by_label("Sett sak").select_option("22/414")
        page.get_by_role("button", name="Lagre sak").click()
        page.get_by_text("Saken er endret.").wait_for()
        assert submission(rt, seeded.unmatched).case_number == "22/414"
        shot(page, "04-submission-case-set")

        # Download an attachment.
        page.goto(f"{base}/submissions/{seeded.on_time}")
        shot(page, "05-submission")
        with page.expect_download() as info:
            page.locator(f'a[href^="/submissions/{seeded.on_time}/attachments/"]').first.click()
        download = info.value
        assert download.suggested_filename == "Høringssvar Legemiddelverket.txt"
        saved = tmp_path / "vedlegg.txt"
        download.save_as(saved)
        assert saved.read_text(encoding="utf-8") == "Vi støtter strategien."

        # Cases, one case with its chart, and the publication list exported as CSV.
        page.get_by_role("link", name="Høringer", exact=True).click()
        page.wait_for_url(base + "/cases")
        shot(page, "06-cases")
        page.get_by_role("link", name="22/414", exact=True).click()
        assert page.locator("svg.chart").is_visible()
        shot(page, "07-case")
        page.get_by_role("link", name="Publiseringsliste", exact=True).click()
        shot(page, "08-publication")
        with page.expect_download() as info:
            page.get_by_role("link", name="Last ned som CSV").click()
        csv_path = tmp_path / "liste.csv"
        info.value.save_as(csv_path)
        rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig")), delimiter=";"))
        assert rows[0] == ["Kategori", "Organisasjon", "Mottatt", "Dokumenter"]
        assert ["Statlige etater", "Statens legemiddelverk", "28.09.2022", "Høringssvar Legemiddelverket.txt"] in rows

        # The other pages.
        page.goto(base + "/search?q=apotek")
        shot(page, "09-search")
        failed = _failed_message(rt)
        page.goto(base + "/failed")
        shot(page, "10-failed")
        with page.expect_download() as info:
            page.locator(f'a[href="/failed/{failed}/original.eml"]').click()
        assert info.value.suggested_filename == f"melding-{failed}.eml"
        _mailbox_state(rt)
        page.goto(base + "/mailboxes")
        shot(page, "11-mailboxes")

        # Markup from a hostile mail shows as text and runs nothing.
        page.goto(f"{base}/submissions/{xss_id}")
        shot(page, "12-submission-markup-as-text")
        assert XSS in page.locator("h1").inner_text()
        assert XSS in page.locator("pre.mail-body").first.inner_text()
        assert page.locator("main script, main img").count() == 0
        page.goto(base + "/queue")
        assert dialogs == []

        # Narrow screens (a phone, or 400 % zoom) get the same content without sideways scrolling of the page.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(base + "/queue")
        assert page.evaluate(WIDER_THAN_THE_WINDOW) == []
        shot(page, "13-queue-narrow")
        page.set_viewport_size({"width": 1280, "height": 900})

        # Log out: the queue is closed again.
        page.get_by_role("button", name="Logg ut").click()
        page.wait_for_url("**/login")
        page.goto(base + "/queue")
        assert "/login" in page.url


def test_the_accessibility_check_finds_what_it_looks_for(browser_page: Any) -> None:
    browser_page.set_content(
        "<html><body><h1>A</h1><h3>skipped</h3><p style='color:#aaa'>pale</p>"
        "<input name=q><table><tr><td>x</td></tr></table><button></button></body></html>"
    )
    problems = " | ".join(browser_page.evaluate(A11Y_CHECK))
    for expected in (
        "html without lang",
        "heading level skipped",
        "control without label: q",
        "table without caption",
        "contrast 2.32 for P",
        "control without text",
    ):
        assert expected in problems
