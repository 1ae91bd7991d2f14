"""The clerk's day: what the review pages got wrong, each checked on real pipeline output."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Case, Message, Submission
from intake.pipeline.run import process_message
from intake.review import queries
from intake.review.duplicates import diff
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from tests.builders import make_email
from tests.consultation import forwarded
from tests.web_support import Seeded, _ingest, submission

AUTO_REPLY = make_email(
    sender="Per Hansen <per@legemiddelverket.no>",
    subject="Fraværsmelding: Høringssvar sak 22/414",
    body="Jeg er på ferie til 10. oktober.",
    headers={"Auto-Submitted": "auto-replied"},
)




def _case_id(rt: Runtime, number: str) -> int:
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
        assert case.id is not None
        return case.id


def _status(page: str) -> str:
    found = re.search(r"<dt>Status</dt><dd>(.*?)</dd>", page, re.S)
    assert found, page
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def _visible(page: str) -> str:
    """The page's text as a person reads it: without markup, scripts or attribute values."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page.replace("<wbr>", ""), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_both_duplicates_link_each_other_show_a_diff_and_let_staff_choose(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    first, second = seeded.first_duplicate, seeded.second_duplicate
    newer = client.get(f"/submissions/{second}").text
    earlier = client.get(f"/submissions/{first}").text
    # Each names the other with a link, and both texts are shown side by side with their differences.
    assert f'href="/submissions/{first}"' in newer and f'href="/submissions/{second}"' in earlier
    # The flag itself links the response it names.
    flags = newer.split('id="flags-h"')[1].split("</section>")[0]
    assert f'href="/submissions/{first}"' in flags
    for page in (newer, earlier):
        assert 'class="duplicate-compare"' in page and "<del" in page and "<ins" in page
        assert f'action="/submissions/{first}/duplicate"' in page or f'action="/submissions/{second}/duplicate"' in page
    # From the earlier response's page, staff choose that the newer one counts.
    response = client.post(f"/submissions/{first}/duplicate",
                           data={"csrf_token": csrf, "counts": str(second)})
    assert response.status_code == 200, response.text
    assert submission(rt, first).decision == "superseded"
    assert submission(rt, second).decision == "duplicate_kept"
    listing = client.get(f"/cases/{_case_id(rt, '22/414')}/publication").text.split('id="utelatt-h"')
    assert f'/submissions/{second}"' in listing[0] and f'/submissions/{first}"' not in listing[0]
    # Changing one's mind the other way, from the newer page.
    client.post(f"/submissions/{second}/duplicate", data={"csrf_token": csrf, "counts": str(first)})
    assert (submission(rt, first).decision, submission(rt, second).decision) == ("duplicate_kept", "superseded")
    # Only the two of the pair can be chosen.
    refused = client.post(f"/submissions/{second}/duplicate",
                          data={"csrf_token": csrf, "counts": str(seeded.on_time)})
    assert refused.status_code == 400


def test_two_long_repetitive_duplicates_are_compared_in_bounded_time(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    # A sender decides both texts: the same paragraphs again and again, with changes spread through,
    # made the word diff take 30 s on every view of either page.
    paragraph = "Helsetjenesten trenger bedre samhandling mellom kommunene og sykehusene om pasientene. "
    earlier = "\n".join(paragraph for _ in range(300))
    newer = "\n".join(paragraph if i % 2 else paragraph.replace("bedre", "mye bedre") for i in range(300))
    with session_scope(rt.engine) as session:
        for pk, text in ((seeded.first_duplicate, earlier), (seeded.second_duplicate, newer)):
            row = session.get(Submission, pk)
            assert row is not None
            row.body_text = text
            session.add(row)
    started = time.monotonic()
    page = client.get(f"/submissions/{seeded.second_duplicate}").text
    assert time.monotonic() - started < 2
    assert 'class="duplicate-compare"' in page
    assert re.search(r"<ins[^>]*>[^<]*mye bedre", page)
    # The small change at the end of two otherwise equal texts is still found word by word.
    left, right = diff(paragraph * 100 + "slutt.", paragraph * 100 + "slutt, rettet.")
    assert [p.kind for p in left] == ["same", "del"] and [p.kind for p in right] == ["same", "ins"]
    assert right[-1].text == "slutt, rettet."


def test_a_rejected_late_response_leaves_the_publication_list(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    url = f"/cases/{_case_id(rt, '22/414')}/publication"
    assert f'/submissions/{seeded.late}"' in client.get(url).text.split('id="utelatt-h"')[0]
    client.post(f"/submissions/{seeded.late}/late", data={"csrf_token": csrf, "decision": "reject"})
    published, left_out = client.get(url).text.split('id="utelatt-h"')
    assert f'/submissions/{seeded.late}"' not in published
    assert "for sent, avvist" in left_out
    csv_text = client.get(url + ".csv").content.decode("utf-8-sig")
    assert "Datatilsynet" not in csv_text
    # It stays out when it is also a second response from its organisation: no duplicate decision
    # (the older «Behold» or the choice of which counts) brings it back.
    earlier = _ingest(rt, make_email(sender="Datatilsynet <postkasse@datatilsynet.no>",
                                     subject="Høringsuttalelse sak 22/414", body="Vårt første svar."),
                      datetime(2022, 9, 30, 9, 0, tzinfo=UTC))
    kept = client.post(f"/submissions/{seeded.late}/duplicate", data={"csrf_token": csrf, "decision": "keep"})
    chosen = client.post(f"/submissions/{earlier}/duplicate", data={"csrf_token": csrf, "counts": str(seeded.late)})
    assert kept.status_code == chosen.status_code == 400 and "avvist fordi det kom for sent" in chosen.text
    client.post(f"/submissions/{earlier}/duplicate", data={"csrf_token": csrf, "counts": str(earlier)})
    assert submission(rt, seeded.late).decision == "late_rejected"
    assert submission(rt, earlier).decision == "duplicate_kept"
    published = client.get(url).text.split('id="utelatt-h"')[0]
    assert f'/submissions/{seeded.late}"' not in published and f'/submissions/{earlier}"' in published


def test_status_follows_the_decision_and_the_confirmation_is_on_screen(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    assert _status(client.get(f"/submissions/{seeded.late}").text).startswith("Åpen")
    response = client.post(f"/submissions/{seeded.late}/late", data={"csrf_token": csrf, "decision": "accept"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert "#" not in response.headers["location"]
    page = client.get(response.headers["location"]).text
    assert not _status(page).startswith("Åpen") and "godtatt" in _status(page)
    # The confirmation comes first in the main content, before the page's own heading.
    assert page.index('role="status"') < page.index('class="subject-title"')
    client.post(f"/submissions/{seeded.unmatched}/case", data={"csrf_token": csrf, "case": "22/414"})
    assert not _status(client.get(f"/submissions/{seeded.unmatched}").text).startswith("Åpen")


def test_one_definition_of_the_counts_for_cli_api_and_pages(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    _ingest(rt, AUTO_REPLY, datetime(2022, 9, 29, 9, 0, tzinfo=UTC))
    with session_scope(rt.engine) as session:
        shared = {s.case.number: s for s in queries.list_cases(session)}["22/414"]
    api = next(c for c in client.get("/api/cases").json() if c["case"] == "22/414")["counts"]
    assert (api["received"], api["flagged"]) == (shared.received, shared.flagged)
    listing = client.get("/cases").text
    row = re.search(r'href="/cases/\d+">22/414</a></td>(.*?)</tr>', listing, re.S)
    assert row
    numbers = re.findall(r'<td class="num">(\d+)</td>', row.group(1))
    assert numbers[:4] == [str(shared.received), str(shared.on_time), str(shared.late), str(shared.flagged)]
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", client.get(f"/cases/{_case_id(rt, '22/414')}").text))
    assert stats["Mottatt"] == str(shared.received) == "5"
    # Each page says what its numbers count.
    assert "autosvar" in listing and "autosvar" in client.get(f"/cases/{_case_id(rt, '22/414')}").text


DEVELOPER_TEXT = ("flags: [", "hit: False", "detail: None", "subject, body", "Auto-Submitted:",
                  "OSError", "1 sider", "text/plain", "application/", "rule: ", "source: ")


def test_staff_see_norwegian_for_a_clerk(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    auto = _ingest(rt, AUTO_REPLY, datetime(2022, 9, 29, 9, 0, tzinfo=UTC))
    raw = make_email(sender="Ola <ola@example.org>", subject="Innspill", body="Hei")
    filed = store_message(rt, raw, Source(kind="file"), datetime(2022, 9, 29, 9, 0, tzinfo=UTC))
    broken = store_message(rt, make_email(subject="Ødelagt svar sak 22/414"), Source(kind="file"),
                           datetime(2022, 9, 29, 10, 0, tzinfo=UTC))
    with session_scope(rt.engine) as session:
        message = session.get(Message, broken.id)
        assert message is not None
        message.status, message.attempts = "failed", 1
        message.last_error = "OSError: [Errno 5] Input/output error: '/var/lib/intake/blobs/ab/cd'"
        session.add(message)
    filed_sub = process_message(rt, filed.id)
    assert filed_sub is not None
    pages = {
        "unmatched": client.get(f"/submissions/{seeded.unmatched}").text,
        "auto": client.get(f"/submissions/{auto}").text,
        "late": client.post(f"/submissions/{seeded.late}/reviewed", data={"csrf_token": csrf, "comment": ""}).text,
        "on_time": client.get(f"/submissions/{seeded.on_time}").text,
        "filed": client.get(f"/submissions/{filed_sub}").text,
        "failed": client.get("/failed").text,
    }
    for name, page in pages.items():
        text = _visible(page)
        for bad in DEVELOPER_TEXT:
            assert bad not in text, (name, bad, text[text.find(bad) - 200:text.find(bad) + 100])
    assert "Postkasse Fil" not in _visible(pages["filed"]) and " file " not in _visible(pages["filed"])
    assert "emnefeltet, e-postteksten eller vedleggene" in _visible(pages["unmatched"])
    assert "automatisk" in _visible(pages["auto"])
    assert "Tekstfil" in _visible(pages["on_time"])
    # A failed message says who sent it and what it was about, and why in Norwegian.
    failed = _visible(pages["failed"])
    assert "Ødelagt svar sak 22/414" in failed and "post@legemiddelverket.no" in failed
    assert "kunne ikke leses" in failed


def test_a_forward_lists_each_file_once_and_addresses_break_at_their_parts(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    raw = forwarded("Sekretariatet <sekretariat@legemiddelverket.no>", "Fagavdelingen <fag@legemiddelverket.no>",
                    [("Høringssvar-fag.txt", "text/plain", b"Vi har disse merknadene.")])
    forward = _ingest(rt, raw, datetime(2022, 9, 29, 9, 0, tzinfo=UTC))
    page = client.get(f"/submissions/{forward}").text
    assert page.count('<h3 class="filename">Høringssvar-fag.txt') == 1, page
    # An address breaks after its @ and its dots, never in the middle of a word.
    assert "sekretariat@<wbr>legemiddelverket.<wbr>no" in page
    # Every scrollable table region can be reached and named by keyboard users.
    for path in ("/queue", "/cases", "/failed", f"/cases/{_case_id(rt, '22/414')}", "/search?q=apotek"):
        html = client.get(path).text
        for region in re.findall(r'<div class="table-scroll"[^>]*>', html):
            assert 'tabindex="0"' in region and 'role="region"' in region and "aria-label" in region, (path, region)
