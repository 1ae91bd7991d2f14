"""Roles, enforced on the server, route by route: a reviewer is refused exactly the admin routes.

The table below names every route of the app. A route the table does not name
fails the test, so a new page or action cannot arrive without someone deciding
who may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from intake.runtime import Runtime
from intake.web.app import create_app
from tests.test_web_auth import _all_routes
from tests.web_support import Seeded, add_user, login, seed

OPEN, REVIEWER, ADMIN = "open", "reviewer", "admin"
# Who may use each route. Admin only: users, failed-message retry and park, mailboxes, case
# settings and publishing (and sending a receipt past its suppression). Reviewers: the rest.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/login"): OPEN,
    ("POST", "/login"): OPEN,
    ("GET", "/healthz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("POST", "/logout"): REVIEWER,
    ("GET", "/"): REVIEWER,
    ("GET", "/cases"): REVIEWER,
    ("GET", "/cases/{case_id}"): REVIEWER,
    ("GET", "/queue"): REVIEWER,
    ("POST", "/queue/bulk"): REVIEWER,
    ("GET", "/search"): REVIEWER,
    ("GET", "/submissions/{submission_id}"): REVIEWER,
    ("GET", "/submissions/{submission_id}/original.eml"): REVIEWER,
    ("GET", "/submissions/{submission_id}/attachments/{attachment_id}"): REVIEWER,
    ("GET", "/submissions/{submission_id}/attachments/{attachment_id}/pages/{page}.png"): REVIEWER,
    ("POST", "/submissions/{submission_id}/case"): REVIEWER,
    ("POST", "/submissions/{submission_id}/late"): REVIEWER,
    ("POST", "/submissions/{submission_id}/duplicate"): REVIEWER,
    ("POST", "/submissions/{submission_id}/reviewed"): REVIEWER,
    ("POST", "/submissions/{submission_id}/follow-up"): REVIEWER,
    ("POST", "/submissions/{submission_id}/letter"): REVIEWER,
    ("POST", "/submissions/{submission_id}/documents/{attachment_id}/version"): REVIEWER,
    ("POST", "/submissions/{submission_id}/resend"): REVIEWER,
    ("POST", "/submissions/{submission_id}/withhold"): REVIEWER,
    ("POST", "/submissions/{submission_id}/resend-to"): ADMIN,
    ("GET", "/failed"): REVIEWER,
    ("GET", "/failed/{message_pk}/original.eml"): REVIEWER,
    ("POST", "/failed/{message_pk}/retry"): ADMIN,
    ("GET", "/mailboxes"): ADMIN,
    ("GET", "/cases/{case_id}/publication"): ADMIN,
    ("GET", "/cases/{case_id}/publication.csv"): ADMIN,
    ("GET", "/cases/{case_id}/publication.zip"): ADMIN,
    ("POST", "/cases/{case_id}/extensions"): ADMIN,
    ("GET", "/cases/{case_id}/summary"): REVIEWER,
    ("GET", "/cases/{case_id}/summary.xlsx"): REVIEWER,
    ("GET", "/cases/{case_id}/summary.docx"): REVIEWER,
    ("POST", "/cases/{case_id}/campaigns/regroup"): REVIEWER,
    ("GET", "/cases/{case_id}/campaigns/{campaign_id}"): REVIEWER,
    ("POST", "/submissions/{submission_id}/personal-data"): REVIEWER,
    ("POST", "/submissions/{submission_id}/campaign"): REVIEWER,
    ("POST", "/submissions/{submission_id}/archive"): REVIEWER,
    ("POST", "/cases/{case_id}/archive"): REVIEWER,
    ("GET", "/cases/{case_id}/archive"): REVIEWER,
    ("GET", "/cases/{case_id}/archive.json"): REVIEWER,
    ("GET", "/api/cases/{number:path}/summary"): REVIEWER,
    ("GET", "/api/submissions"): REVIEWER,
    ("GET", "/api/submissions/{submission_id}"): REVIEWER,
    ("GET", "/api/cases"): REVIEWER,
    ("GET", "/api/openapi.json"): REVIEWER,
}


@pytest.fixture
def seeded(rt: Runtime) -> Seeded:
    add_user(rt, "ola", role="reviewer")
    add_user(rt, "kari", role="admin")
    return seed(rt)


@pytest.fixture
def app(rt: Runtime, seeded: Seeded) -> FastAPI:
    return create_app(rt)


@pytest.fixture
def reviewer(app: FastAPI) -> Iterator[tuple[TestClient, str]]:
    with TestClient(app) as client:
        yield client, login(client, "ola")


def _requests(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, route, path) for every route, with real ids in the path."""
    out = []
    for route, methods in _all_routes(app):
        for method in sorted(methods or ()):
            if method != "HEAD":
                out.append((method, route, re.sub(r"\{[^}]+\}", "1", route)))
    return out


def test_every_route_has_a_role(app: FastAPI) -> None:
    named = {(method, route) for method, route, _ in _requests(app)}
    assert named - set(ROUTES) == set(), "decide who may use these routes, in ROUTES"
    assert set(ROUTES) - named == set(), "these routes are gone; take them out of ROUTES"


def test_a_reviewer_is_refused_exactly_the_admin_routes(
    app: FastAPI, reviewer: tuple[TestClient, str], seeded: Seeded
) -> None:
    client, csrf = reviewer
    refused = set()
    for method, route, path in _requests(app):
        if route == "/logout":
            continue
        data = {"csrf_token": csrf, "to": "post@legemiddelverket.no"} if method == "POST" else None
        response = client.request(method, path, data=data, follow_redirects=False)
        if response.status_code == 403:
            refused.add((method, route))
            if not route.startswith("/api/"):
                assert "Bare for administratorer" in response.text
        else:
            assert response.status_code in (200, 303, 400, 404), (method, path, response.status_code)
    assert refused == {key for key, role in ROUTES.items() if role == ADMIN}
    # Nor does the reviewer see buttons or links for them.
    page = client.get(f"/submissions/{seeded.on_time}")
    assert page.status_code == 200 and "/resend" in page.text and "/resend-to" not in page.text
    queue = client.get("/queue").text
    assert 'href="/failed"' in queue and 'href="/mailboxes"' not in queue
    case_link = re.search(r'href="(/cases/\d+)"', client.get("/cases").text)
    assert case_link is not None
    case_page = client.get(case_link.group(1))
    assert case_page.status_code == 200 and "/publication" not in case_page.text


def test_an_admin_is_refused_nothing(app: FastAPI) -> None:
    with TestClient(app) as client:
        csrf = login(client, "kari")
        for method, route, path in _requests(app):
            if route == "/logout":
                continue
            data = {"csrf_token": csrf, "to": "post@legemiddelverket.no"} if method == "POST" else None
            response = client.request(method, path, data=data, follow_redirects=False)
            assert response.status_code != 403, (method, path)
