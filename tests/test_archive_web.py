"""The archive on the staff pages: the «Arkiv» panel, «Eksporter nå», a whole case with progress, «ikke arkivert».

Form posts through a logged-in client as a browser sends them, and once in real
Chromium with the accessibility check, on packages the real export writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Case
from intake.review import actions
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.archive_support import check_package, open_rt, receipt_ref, received
from tests.builders import make_email
from tests.test_web_browser import browser_page, shot  # noqa: F401 (the fixture is used by name)
from tests.web_server import running_server
from tests.web_support import PASSWORD, add_user, login


@pytest.fixture
def art(settings_factory: Any, tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_rt(settings_factory, tmp_path)
    add_user(runtime)
    yield runtime
    runtime.close()


@pytest.fixture
def client(art: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(art)) as c:
        yield c


def _case_id(rt: Runtime, number: str = "22/414") -> int:
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
        assert case.id is not None
        return case.id


def _panel(page: str) -> str:
    start = page.index('id="arkiv-h"')
    return page[start:page.index("</section>", start)]


def test_the_panel_says_not_exported_exported_and_changed_and_exports_now(art: Runtime, client: TestClient) -> None:
    csrf = login(client)
    sub_id = received(art, make_email())
    assert "Ikke eksportert" in _panel(client.get(f"/submissions/{sub_id}").text)
    response = client.post(f"/submissions/{sub_id}/archive", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and "ok=archived" in response.headers["location"]
    page = client.get(response.headers["location"]).text
    assert "Innsendingen er eksportert til arkivet." in page
    assert "Eksportert</span> som versjon 1 " in _panel(page)
    assert "Eksportert til arkivet" in page  # the audit log
    drop = art.settings.archive.path
    assert drop is not None
    check_package(art, drop / receipt_ref(art, sub_id))
    # Nothing changed: nothing written, and staff are told so.
    again = client.post(f"/submissions/{sub_id}/archive", data={"csrf_token": csrf})
    assert "Arkivet har allerede nyeste versjon" in again.text
    with session_scope(art.engine) as session:
        actions.set_withheld(session, sub_id, withheld=True, actor="kari")
    assert "Endret siden</span> versjon 1 ble eksportert" in _panel(client.get(f"/submissions/{sub_id}").text)
    client.post(f"/submissions/{sub_id}/archive", data={"csrf_token": csrf})
    assert "som versjon 2 " in _panel(client.get(f"/submissions/{sub_id}").text)


def test_export_now_refuses_in_norwegian_without_a_case_or_a_drop_folder(art: Runtime, client: TestClient,
                                                                          settings_factory: Any) -> None:
    csrf = login(client)
    sub_id = received(art, make_email(subject="Innspill", body="Uten saksnummer."))
    page = client.get(f"/submissions/{sub_id}").text
    assert "har ingen sak ennå" in _panel(page) and "Eksporter nå" not in _panel(page)
    refused = client.post(f"/submissions/{sub_id}/archive", data={"csrf_token": csrf})
    assert refused.status_code == 400 and "Innsendingen kan ikke arkiveres: den har ingen sak ennå." in refused.text
    without = Runtime.open(settings_factory(), extract=False)
    try:
        with TestClient(create_app(without)) as other:
            token = login(other)
            answer = other.post(f"/submissions/{sub_id}/archive", data={"csrf_token": token})
            assert answer.status_code == 400 and "Arkivmappen er ikke satt opp" in answer.text
    finally:
        without.close()


def _wait_done(client: TestClient, case_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        data: dict[str, Any] = client.get(f"/cases/{case_id}/archive.json").json()
        if data["export"] is not None and not data["export"]["running"]:
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.05)


def test_a_whole_case_is_exported_with_its_progress(art: Runtime, client: TestClient) -> None:
    csrf = login(client)
    ids = [received(art, make_email(sender=f"Org {n} <post@org{n}.no>")) for n in range(4)]
    case_id = _case_id(art)
    page = client.get(f"/cases/{case_id}").text
    assert "0 av 4 svar er i arkivet i nyeste versjon, 4 er ikke eksportert." in page
    response = client.post(f"/cases/{case_id}/archive", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{case_id}/archive"
    data = _wait_done(client, case_id)
    assert data["export"] == {"total": 4, "done": 4, "written": 4, "failed": 0, "running": False, "error": None}
    assert (data["exported"], data["not_exported"]) == (4, 0)
    progress = client.get(f"/cases/{case_id}/archive").text
    assert "Ferdig: 4 nye pakker skrevet av 4 svar." in progress
    drop = art.settings.archive.path
    assert drop is not None
    assert sorted(p.name for p in drop.iterdir() if not p.name.startswith(".")) == sorted(
        receipt_ref(art, i) for i in ids)


def test_the_queue_filter_ikke_arkivert_lists_what_the_archive_lacks(art: Runtime, client: TestClient) -> None:
    csrf = login(client)
    done = received(art, make_email(sender="Org A <post@a.no>"))
    waiting = received(art, make_email(sender="Org B <post@b.no>"))
    no_case = received(art, make_email(sender="Org C <post@c.no>", subject="Innspill", body="Uten sak."))
    client.post(f"/submissions/{done}/archive", data={"csrf_token": csrf})
    page = client.get("/queue?archive=not_archived").text
    assert "1 innsending som ikke er arkivert" in page
    assert f'href="/submissions/{waiting}?' in page
    assert f'href="/submissions/{done}?' not in page and f'href="/submissions/{no_case}?' not in page
    # The plain queue is still the flagged ones only.
    plain = client.get("/queue").text
    assert f'href="/submissions/{no_case}?' in plain and f'href="/submissions/{waiting}?' not in plain


def test_the_archive_in_the_browser(art: Runtime, browser_page: Any) -> None:  # noqa: F811
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    sub_id = received(art, make_email())
    for n in range(3):
        received(art, make_email(sender=f"Org {n} <post@org{n}.no>"))
    with running_server(art) as base:
        page.goto(f"{base}/submissions/{sub_id}")
        page.get_by_label("Brukernavn").fill("kari")
        page.get_by_label("Passord").fill(PASSWORD)
        page.get_by_role("button", name="Logg inn").click()
        page.wait_for_url(f"**/submissions/{sub_id}")
        shot(page, "archive-01-not-exported")
        page.get_by_role("button", name="Eksporter nå").click()
        page.get_by_text("Innsendingen er eksportert til arkivet.").wait_for()
        assert page.locator("#arkiv-h + p").inner_text().startswith("Eksportert som versjon 1")
        shot(page, "archive-02-exported")
        page.goto(f"{base}/cases/{_case_id(art)}")
        page.get_by_role("button", name="Eksporter alle til arkivet").click()
        page.wait_for_url("**/archive")
        page.get_by_text("Ferdig: 3 nye pakker skrevet av 4 svar.").wait_for()
        shot(page, "archive-03-case-done")
        page.goto(f"{base}/queue")
        page.get_by_label("Arkiv", exact=True).select_option("not_archived")
        page.get_by_role("button", name="Vis").click()
        page.wait_for_url("**archive=not_archived**")
        page.get_by_text("0 innsendinger som ikke er arkivert").wait_for()
        shot(page, "archive-04-queue")
