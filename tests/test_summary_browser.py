"""The summary, campaign and publication pages in Chromium, checked by axe-core at 1280 and 320 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.publish.package import build_package
from intake.review.campaigns import regroup
from intake.runtime import Runtime
from tests.conftest import need
from tests.consultation import form_text, respond
from tests.test_campaigns import CAMPAIGN, OWN
from tests.test_web_browser import A11Y_CHECK, SHOTS, browser_page  # noqa: F401  (the browser fixture)
from tests.web_server import running_server
from tests.web_support import PASSWORD, add_user

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def axe_violations(page: Any) -> list[str]:
    """What axe-core finds against WCAG 2.1 A and AA on the page, one line per rule and element."""
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError as err:
        need("axe-core", str(err))
    page.evaluate(AXE_SCRIPT)
    result = page.evaluate("options => axe.run(document, options)", WCAG)
    return [f"{v['id']}: {', '.join(t for n in v['nodes'] for t in n['target'])}" for v in result["violations"]]


def checked(page: Any, name: str) -> None:
    """axe-core and our own check both clean, then a screenshot for people to look at."""
    assert axe_violations(page) == [], name
    assert page.evaluate(A11Y_CHECK) == [], name
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name}: scrolls sideways"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def consultation(rt: Runtime) -> int:
    add_user(rt, "anne", role="admin")
    respond(rt, sender="Statens legemiddelverk <post@legemiddelverket.no>",
            form=form_text("Ja", "Målene er gode, men indikatorene bør knyttes til tiltakene.", "Mål 2 er uklart."))
    respond(rt, sender="Datatilsynet <postkasse@datatilsynet.no>",
            form=form_text("Nei", "Personvernet er ikke tatt med i målene.", "Indikator 3.1 mangler."))
    respond(rt, sender="Bergen kommune <postmottak@bergen.kommune.no>", form=form_text("Ja", "Kommunen støtter."))
    respond(rt, sender="Den norske legeforening <post@legeforeningen.no>", form=form_text("Vet ikke"))
    respond(rt, sender="Helsedirektoratet <post@helsedir.no>", body="Helsedirektoratet har ingen merknader.")
    for number, name in enumerate(("Ola Nordmann", "Kari Hansen", "Per Olsen", "Anne Berg")):
        extra = f"{OWN}\n\n" if number == 1 else ""
        respond(rt, sender=f"{name} <{name.split()[0].lower()}@gmail.com>",
                body=f"Hei,\n\n{extra}{CAMPAIGN}\n\nHilsen\n{name}")
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == "22/414")).one()
        regroup(session, case)
        assert case.id is not None
        return case.id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_summary_pages_are_accessible_wide_and_narrow(
    rt: Runtime, consultation: int, browser_page: Any, tmp_path: Path  # noqa: F811
) -> None:
    page = browser_page
    with running_server(rt) as base:
        page.goto(base + f"/cases/{consultation}/summary")
        page.get_by_label("Brukernavn").fill("anne")
        page.get_by_label("Passord").fill(PASSWORD)
        page.get_by_role("button", name="Logg inn").click()
        page.wait_for_url(f"**/cases/{consultation}/summary")
        assert page.locator("svg.chart").first.is_visible()
        checked(page, "20-summary")
        # The numbers behind the chart, as a table for those who do not see it.
        page.get_by_text("Vis tallene for q1 som tabell").click()
        assert page.get_by_role("table", name="Svar på q1").is_visible()
        # Filtering the answers needs no script: a form that reloads the page.
        page.get_by_label("Kategori", exact=True).select_option("Statlige etater")
        page.get_by_role("button", name="Vis", exact=True).click()
        page.wait_for_url("**kategori=Statlige**")
        answers = page.locator("ol.answers").inner_text()
        assert "Statens legemiddelverk" in answers and "Bergen kommune" not in answers
        page.get_by_role("link", name="Kampanje 1", exact=True).click()
        page.get_by_role("heading", name="Kampanje 1: 4 like brev").wait_for()
        assert page.locator("p.diff ins").first.inner_text() == OWN
        checked(page, "21-campaign")
        page.goto(base + f"/cases/{consultation}/publication")
        checked(page, "22-publication")

        page.set_viewport_size({"width": 320, "height": 800})
        page.goto(base + f"/cases/{consultation}/summary")
        checked(page, "23-summary-narrow")
        page.goto(base + f"/cases/{consultation}/campaigns/1")
        checked(page, "24-campaign-narrow")

    index = build_package(rt, "22/414", tmp_path / "pakke")
    page.goto(index.as_uri())
    assert page.locator("script").count() == 0
    checked(page, "25-package-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(index.as_uri())
    checked(page, "26-package")
