"""The clerk's day in Chromium: keyboard through the queue with «Neste», bulk accept, the duplicate choice,
no resend for a bounce, search in an attached PDF; axe-core on every page at 1280 and 320 px."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Case, Message
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from tests.builders import make_email
from tests.docx_builder import DOCX_TYPE, form_docx
from tests.pdf_builder import make_pdf, text_page
from tests.test_resend import BOUNCE
from tests.test_summary_browser import axe_violations
from tests.test_web_browser import A11Y_CHECK, WIDER_THAN_THE_WINDOW, browser_page  # noqa: F401  (the fixture)
from tests.web_server import running_server
from tests.web_support import PASSWORD, _ingest, add_user, seed, submission

SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots" / "review"
PDF = make_pdf([text_page(["Uttalelse fra Bergen kommune", "Vi er bekymret for legemiddelmangel."])])
LATE = datetime(2022, 10, 3, 8, 0, tzinfo=UTC)


def checked(page: Any, name: str, counts: dict[str, int]) -> None:
    """axe-core (WCAG 2.1 A and AA) and our own check clean, no sideways scrolling, then a screenshot."""
    found = axe_violations(page)
    counts[name] = len(found)
    assert found == [], f"{name}: {found}"
    assert page.evaluate(A11Y_CHECK) == [], name
    wide = page.evaluate(WIDER_THAN_THE_WINDOW)
    assert wide == [], f"{name}: scrolls sideways because of {wide}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_clerks_day_by_keyboard_and_on_every_page(rt: Runtime, browser_page: Any) -> None:  # noqa: F811
    add_user(rt, role="admin")
    seeded = seed(rt)
    late = [_ingest(rt, make_email(sender=f"Kommune {i} <post@kommune{i}.no>", subject=f"Svar {i} sak 22/414"),
                    LATE + timedelta(minutes=i)) for i in range(5)]
    bounce = _ingest(rt, BOUNCE, datetime(2022, 9, 29, 9, 0, tzinfo=UTC))
    pdf = _ingest(rt, make_email(sender="Bergen kommune <post@bergen.kommune.no>", body="Se vedlegg.",
                                 attachments=[("Uttalelse.pdf", "application/pdf", PDF)]),
                  datetime(2022, 9, 29, 10, 0, tzinfo=UTC))
    word = _ingest(rt, make_email(sender="Legeforeningen <post@legeforeningen.no>", body="Skjemaet er vedlagt.",
                                  attachments=[("Skjema.docx", DOCX_TYPE, form_docx())]),
                   datetime(2022, 9, 29, 11, 0, tzinfo=UTC))
    broken = store_message(rt, make_email(subject="Ødelagt svar"), Source(kind="file"),
                           datetime(2022, 9, 30, 9, 0, tzinfo=UTC))
    with session_scope(rt.engine) as session:
        message = session.get(Message, broken.id)
        assert message is not None
        message.status, message.attempts, message.last_error = "parked", 3, "OSError: [Errno 5] I/O error"
        session.add(message)
        case_id = session.exec(select(Case.id).where(Case.number == "22/414")).one()
    counts: dict[str, int] = {}
    page = browser_page
    with running_server(rt) as base:
        page.goto(base + "/queue")
        page.get_by_label("Brukernavn").fill("kari")
        page.get_by_label("Passord").fill(PASSWORD)
        page.get_by_role("button", name="Logg inn").click()
        page.wait_for_url(base + "/queue")
        checked(page, "queue", counts)

        # Keyboard only: the late queue, j to the first row, Enter, a to accept, then «Neste» (n), three times.
        page.goto(base + "/queue?flag=late")
        page.keyboard.press("?")
        assert page.locator("#shortcuts").is_visible()
        page.keyboard.press("?")
        page.keyboard.press("j")
        page.keyboard.press("Enter")
        page.wait_for_url("**/submissions/*queue=*")
        first = int(page.url.split("/submissions/")[1].split("?")[0])
        # A shortcut typed in a text field is text, not an action.
        page.get_by_label("Begrunnelse (valgfritt)").focus()
        page.keyboard.type("a")
        assert page.get_by_label("Begrunnelse (valgfritt)").input_value() == "a"
        page.locator("body").focus()
        page.get_by_label("Begrunnelse (valgfritt)").fill("")
        page.evaluate("document.activeElement.blur()")
        worked = []
        for _ in range(3):
            current = int(page.url.split("/submissions/")[1].split("?")[0])
            page.keyboard.press("a")
            page.get_by_text("Det for sene svaret er godtatt.").wait_for()
            worked.append(current)
            if len(worked) == 1:
                checked(page, "submission-after-accept", counts)
                page.keyboard.press("?")
                assert page.locator("#shortcuts").is_visible()
                page.keyboard.press("?")
            page.keyboard.press("n")
            page.wait_for_url(lambda url, current=current: f"/submissions/{current}?" not in url)
        assert worked[0] == first and len(set(worked)) == 3
        assert all(submission(rt, i).decision == "late_accepted" for i in worked)

        # Bulk accept of the late ones left.
        page.goto(base + "/queue?flag=late")
        page.get_by_label("Velg alle på siden").check()
        page.get_by_label("Med de valgte").select_option("accept_late")
        page.get_by_role("button", name="Utfør på valgte").click()
        page.get_by_text("innsendinger er endret").wait_for()
        assert all(submission(rt, i).decision == "late_accepted" for i in [seeded.late, *late])
        checked(page, "queue-after-bulk", counts)

        # The duplicate choice, made from the earlier response's page.
        page.goto(base + f"/submissions/{seeded.first_duplicate}")
        assert page.locator(".duplicate-compare ins").count() > 0
        checked(page, "submission-duplicate", counts)
        page.get_by_role("button", name="Det nyere svaret regnes med").click()
        page.get_by_text("Valget er lagret").wait_for()
        assert submission(rt, seeded.first_duplicate).decision == "superseded"
        assert submission(rt, seeded.second_duplicate).decision == "duplicate_kept"

        # A bounce: no resend offered, and why.
        page.goto(base + f"/submissions/{bounce}")
        assert page.get_by_role("button", name="Send kvitteringen på nytt").count() == 0
        assert page.get_by_text("returmelding", exact=False).first.is_visible()
        checked(page, "submission-bounce", counts)

        # Search finds a word that is only in an attached PDF; the PDF is read as page images.
        page.goto(base + "/search")
        page.get_by_role("searchbox").fill("legemiddelmangel")
        page.keyboard.press("Enter")
        page.wait_for_url("**q=legemiddelmangel**")
        assert page.locator(f'.text-hits a[href="/submissions/{pdf}"]').count() == 1
        checked(page, "search", counts)
        page.goto(base + f"/submissions/{pdf}")
        page.locator(".pdf-pages img").first.scroll_into_view_if_needed()
        page.locator(".pdf-pages img").first.wait_for()
        for _ in range(100):
            if page.evaluate("() => document.querySelector('.pdf-pages img').naturalWidth") > 0:
                break
            page.wait_for_timeout(50)
        assert page.evaluate("() => document.querySelector('.pdf-pages img').naturalWidth") > 0
        checked(page, "submission-pdf", counts)

        others = {"cases": "/cases", "case": f"/cases/{case_id}", "failed": "/failed", "mailboxes": "/mailboxes",
                  "publication": f"/cases/{case_id}/publication",
                  "submission-unmatched": f"/submissions/{seeded.unmatched}", "submission-docx": f"/submissions/{word}"}
        for name, path in others.items():
            page.goto(base + path)
            checked(page, name, counts)
        page.set_viewport_size({"width": 320, "height": 800})
        narrow = {"queue": "/queue", "search": "/search?q=legemiddelmangel", "submission-duplicate":
                  f"/submissions/{seeded.second_duplicate}", "submission-bounce": f"/submissions/{bounce}",
                  "submission-pdf": f"/submissions/{pdf}", **others}
        for name, path in narrow.items():
            page.goto(base + path)
            checked(page, f"{name}-320", counts)
    (SHOTS / "axe-counts.json").write_text(json.dumps(counts, indent=1), encoding="utf-8")
