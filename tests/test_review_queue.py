"""The queue worked through quickly: pages with totals, sorting, filters in the URL, bulk actions, «Neste»."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from intake.db.engine import session_scope
from intake.db.models import ReviewClaim, utcnow
from intake.runtime import Runtime
from intake.web.app import create_app
from tests.builders import make_email
from tests.web_support import Seeded, _ingest, add_user, login, submission

LATE = datetime(2022, 10, 3, 8, 0, tzinfo=UTC)


@pytest.fixture
def staff_role() -> str:
    return "reviewer"


def _late(rt: Runtime, count: int) -> list[int]:
    """``count`` late responses from different senders, a minute apart."""
    return [
        _ingest(rt, make_email(sender=f"Avsender {i:02d} <post{i:02d}@kommune{i:02d}.no>",
                               subject=f"Høringssvar {i:02d} sak 22/414"), LATE + timedelta(minutes=i))
        for i in range(count)
    ]


def _links(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-row-link href="/submissions/(\d+)\?', page)]


def test_pages_have_totals_and_sorting_keeps_the_filters(client: TestClient, csrf: str, rt: Runtime,
                                                          seeded: Seeded) -> None:
    late = _late(rt, 27)
    first = client.get("/queue", params={"flag": "late", "per_page": "25"}).text
    # 28 late in all (the seeded one too): a page of 25, and the total said, not cut off silently.
    assert "28 innsendinger til behandling, side 1 av 2" in first
    assert len(_links(first)) == 25
    second = client.get("/queue", params={"flag": "late", "per_page": "25", "page": "2"}).text
    assert len(_links(second)) == 3 and not set(_links(first)) & set(_links(second))
    # The column headers sort, and keep the filter in the URL.
    sort_link = re.search(r'<a href="(/queue\?[^"]*sort=sender[^"]*)"', first)
    assert sort_link and "flag=late" in sort_link.group(1)
    by_sender = client.get(sort_link.group(1).replace("&amp;", "&")).text
    assert 'aria-sort="ascending"' in by_sender
    # post00@… before post01@… before postkasse@datatilsynet.no
    assert _links(by_sender)[:3] == late[:3] and _links(by_sender)[-1] == seeded.late
    descending = client.get("/queue", params={"flag": "late", "sort": "-received"}).text
    assert _links(descending)[0] == late[-1]


def test_bulk_accept_of_late_responses(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    late = _late(rt, 3)
    response = client.post("/queue/bulk", data={"csrf_token": csrf, "action": "accept_late",
                                                "ids": [*late, seeded.on_time], "queue": "flag=late"},
                           follow_redirects=False)
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert parse_qs(target.query)["flag"] == ["late"]
    page = client.get(response.headers["location"]).text
    assert "3 innsendinger er endret; 1 hoppet over" in page
    assert all(submission(rt, i).decision == "late_accepted" for i in late)
    assert submission(rt, seeded.on_time).decision is None
    assert not set(late) & set(_links(page))
    assert client.post("/queue/bulk", data={"csrf_token": csrf, "action": "nope", "ids": late}).status_code == 400


def test_next_after_an_action_is_the_next_of_the_same_filtered_queue(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    late = _late(rt, 3)
    queue = client.get("/queue", params={"flag": "late"}).text
    link = re.search(rf'href="(/submissions/{late[0]}\?queue=[^"]+)"', queue)
    assert link
    page = client.get(link.group(1).replace("&amp;", "&")).text
    assert re.search(rf'href="/submissions/{late[1]}\?queue=[^"]*flag%3Dlate', page)
    done = client.post(f"/submissions/{late[0]}/late",
                       data={"csrf_token": csrf, "decision": "accept", "queue": "flag=late"})
    # Back on the same response, the confirmation on screen and «Neste» to the next late one.
    assert "Det for sene svaret er godtatt." in done.text
    assert re.search(rf'href="/submissions/{late[1]}\?queue=[^"]*"[^>]*>Neste', done.text) or \
        re.search(rf'data-shortcut="n" href="/submissions/{late[1]}\?', done.text)
    last = client.get(f"/submissions/{late[2]}", params={"queue": "flag=late"}).text
    assert "Ingen flere i listen." in last
    # Only the queue's own filters are carried; anything else in the parameter is dropped.
    odd = client.get(f"/submissions/{late[1]}", params={"queue": "flag=late&next=//evil.example&sort=x"}).text
    assert "evil.example" not in odd


def test_opening_takes_an_item_until_done_or_idle(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    add_user(rt, "ola", role="reviewer")
    client.get(f"/submissions/{seeded.late}")
    assert "tatt av kari" in client.get("/queue").text
    with TestClient(create_app(rt)) as other:
        login(other, "ola")
        page = other.get(f"/submissions/{seeded.late}").text
        assert "Tatt av kari" in page
        with session_scope(rt.engine) as session:
            claim = session.get(ReviewClaim, seeded.late)
            assert claim is not None and claim.staff == "kari"
            # Half an hour without kari looking at it: it is free, and ola's on opening.
            claim.seen_at = utcnow() - timedelta(minutes=31)
            session.add(claim)
        assert "Tatt av kari" not in other.get(f"/submissions/{seeded.late}").text
        assert "tatt av ola" in other.get("/queue").text
        # Opening another lets the first go: a clerk holds one at a time.
        other.get(f"/submissions/{seeded.unmatched}")
        queue = other.get("/queue").text
        assert queue.count("tatt av ola") == 1
    # Done (nothing left open): released.
    client.get(f"/submissions/{seeded.late}")
    client.post(f"/submissions/{seeded.late}/late", data={"csrf_token": csrf, "decision": "accept"})
    with session_scope(rt.engine) as session:
        assert session.get(ReviewClaim, seeded.late) is None
