"""The review pages, actions, downloads, publication list and API, on real pipeline output."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import select

from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, Attachment, AuditLog, Case, Flag, MailboxState, Message, Submission
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from intake.web.app import create_app
from tests.builders import make_email
from tests.web_support import IDENTITY_NUMBER, XSS, Seeded, seed_xss, submission


def _flags(rt: Runtime, submission_id: int, *, open_only: bool = True) -> set[str]:
    with session_scope(rt.engine) as session:
        query = select(Flag).where(Flag.submission_id == submission_id)
        return {f.name for f in session.exec(query) if not open_only or f.resolved_at is None}


def _case_id(rt: Runtime, number: str) -> int:
    with session_scope(rt.engine) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
        assert case.id is not None
        return case.id


def test_seeded_mail_got_the_flags_the_pages_rely_on(rt: Runtime, seeded: Seeded) -> None:
    assert "late" in _flags(rt, seeded.late)
    assert "unmatched" in _flags(rt, seeded.unmatched)
    assert "duplicate_organisation" in _flags(rt, seeded.second_duplicate)
    assert not _flags(rt, seeded.on_time)


def test_queue_lists_flagged_and_filters(client: TestClient, csrf: str, seeded: Seeded) -> None:
    page = client.get("/queue")
    assert page.status_code == 200
    assert f"/submissions/{seeded.late}" in page.text
    assert f"/submissions/{seeded.unmatched}" in page.text
    assert f'/submissions/{seeded.on_time}?' not in page.text
    late_only = client.get("/queue", params={"flag": "late"}).text
    assert f"/submissions/{seeded.late}" in late_only and f"/submissions/{seeded.unmatched}" not in late_only
    no_case = client.get("/queue", params={"case": "-"}).text
    assert f"/submissions/{seeded.unmatched}" in no_case and f"/submissions/{seeded.late}" not in no_case
    assert f"/submissions/{seeded.late}" not in client.get("/queue", params={"mailbox": "other"}).text
    newest = client.get("/queue", params={"sort": "newest"}).text
    assert newest.index(f"/submissions/{seeded.late}") < newest.index(f"/submissions/{seeded.unmatched}")
    # Counts per flag link to the filtered queue.
    assert re.search(r'href="/queue\?flag=late"[^>]*><span class="count">1</span>', page.text)


def test_case_overview_counts_and_chart(client: TestClient, csrf: str, rt: Runtime) -> None:
    listing = client.get("/cases")
    assert "22/414" in listing.text and "21/761" in listing.text
    page = client.get(f"/cases/{_case_id(rt, '22/414')}")
    assert page.status_code == 200
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", page.text))
    assert stats["Mottatt"] == "5"
    assert stats["For sent"] == "1"
    assert stats["I tide"] == "4"
    assert "<svg" in page.text and "Frist 01.10.2022" in page.text
    assert "Har ikke svart" in page.text and "Datatilsynet" in page.text


def test_submission_page_shows_oslo_time_match_and_receipt(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    with session_scope(rt.engine) as session:
        # The text the extraction stage would have written for this attachment.
        attachment = session.exec(select(Attachment).where(Attachment.submission_id == seeded.on_time)).one()
        attachment.text, attachment.text_chars, attachment.extraction_status = "Vi støtter strategien.", 22, "ok"
        session.add(attachment)
        sub = session.get(Submission, seeded.on_time)
        assert sub is not None
        sub.form = {"q1": {"choice": "Ja", "text": "Målene er gode."}, "q2": {"text": "Ingen merknader."}}
        session.add(sub)
    page = client.get(f"/submissions/{seeded.on_time}")
    assert page.status_code == 200
    assert "28.09.2022 10:15" in page.text  # 08:15 UTC is 10:15 in Oslo summer time
    assert "emnefeltet" in page.text
    assert "Høringssvar Legemiddelverket.txt" in page.text
    assert "Vi støtter strategien." in page.text
    # Form answers under the questions' own text.
    assert "Kan dere stille dere bak de fem strategiske målene" in page.text
    assert "<strong>Ja</strong>" in page.text and "Målene er gode." in page.text


def test_identity_number_warns_before_publication(client: TestClient, csrf: str, seeded: Seeded) -> None:
    page = client.get(f"/submissions/{seeded.identity}")
    assert "Mulig fødselsnummer" in page.text
    assert IDENTITY_NUMBER[:6] + "*****" in page.text
    assert "Mulig fødselsnummer" not in client.get(f"/submissions/{seeded.on_time}").text


def test_accept_and_reject_late(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    response = client.post(
        f"/submissions/{seeded.late}/late", data={"csrf_token": csrf, "decision": "accept", "comment": "Avtalt"}
    )
    assert response.status_code == 200 and "Det for sene svaret er godtatt." in response.text
    assert submission(rt, seeded.late).decision == "late_accepted"
    assert "late" not in _flags(rt, seeded.late)
    assert "kari" in response.text and "For sent svar godtatt" in response.text
    refused = client.post(f"/submissions/{seeded.on_time}/late", data={"csrf_token": csrf, "decision": "reject"})
    assert refused.status_code == 400


def test_set_case_resolves_unmatched_and_decides_lateness(
    client: TestClient, csrf: str, rt: Runtime, seeded: Seeded
) -> None:
    client.post(f"/submissions/{seeded.unmatched}/case", data={"csrf_token": csrf, "case": "22/414"})
    sub = submission(rt, seeded.unmatched)
    assert (sub.case_number, sub.match_source, sub.late) == ("22/414", "manual", False)
    assert "unmatched" not in _flags(rt, seeded.unmatched)
    # Moved to 21/761 (deadline 11 April 2022), the same mail is late.
    client.post(f"/submissions/{seeded.unmatched}/case", data={"csrf_token": csrf, "case": "21/761"})
    sub = submission(rt, seeded.unmatched)
    assert sub.case_number == "21/761" and sub.late
    assert "late" in _flags(rt, seeded.unmatched)
    with session_scope(rt.engine) as session:
        entries = session.exec(
            select(AuditLog).where(AuditLog.action == "submission.set_case", AuditLog.entity_id == seeded.unmatched)
        ).all()
        assert [(e.actor, (e.detail or {}).get("after")) for e in entries] == [("kari", "22/414"), ("kari", "21/761")]
    bad = client.post(f"/submissions/{seeded.unmatched}/case", data={"csrf_token": csrf, "case": "99/999"})
    assert bad.status_code == 400


def test_duplicate_superseded_leaves_publication(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    client.post(f"/submissions/{seeded.first_duplicate}/duplicate", data={"csrf_token": csrf, "decision": "supersede"})
    client.post(f"/submissions/{seeded.second_duplicate}/duplicate", data={"csrf_token": csrf, "decision": "keep"})
    assert submission(rt, seeded.first_duplicate).decision == "superseded"
    assert submission(rt, seeded.second_duplicate).decision == "duplicate_kept"
    assert "duplicate_organisation" not in _flags(rt, seeded.second_duplicate)
    page = client.get(f"/cases/{_case_id(rt, '22/414')}/publication").text
    published, left_out = page.split('id="utelatt-h"')
    assert f'/submissions/{seeded.first_duplicate}"' not in published
    assert f'/submissions/{seeded.second_duplicate}"' in published
    # What is left out is listed apart, with the reason.
    assert f'/submissions/{seeded.first_duplicate}">Apotekforeningen</a></td><td>erstattet av et nyere svar' in left_out


def test_mark_reviewed_with_comment(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    page = client.post(f"/submissions/{seeded.late}/reviewed", data={"csrf_token": csrf, "comment": "Sjekket."})
    assert "Sjekket." in page.text
    assert submission(rt, seeded.late).review_status == "reviewed"
    assert _flags(rt, seeded.late) == set()
    assert f'/submissions/{seeded.late}?' not in client.get("/queue").text


def test_resend_receipt_puts_it_back_in_the_outbox(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    with session_scope(rt.engine) as session:
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == seeded.on_time)).one()
        ack.status, ack.message_id, ack.attempts = "sent", "<old@ehelse.no>", 1
        session.add(ack)
    client.post(f"/submissions/{seeded.on_time}/resend", data={"csrf_token": csrf})
    with session_scope(rt.engine) as session:
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == seeded.on_time)).one()
        assert ack.status == "pending" and ack.attempts == 0 and ack.sent_at is None
        assert ack.message_id and ack.message_id != "<old@ehelse.no>" and ack.message_id.endswith("@ehelse.no>")
        # A receipt in the middle of being handed to the mail server is left alone.
        ack.status = "sending"
        session.add(ack)
    refused = client.post(f"/submissions/{seeded.on_time}/resend", data={"csrf_token": csrf})
    assert refused.status_code == 400 and "sendt akkurat nå" in refused.text


def test_withhold_and_publication_csv(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    listing = client.get(f"/cases/{_case_id(rt, '22/414')}/publication").text
    # A response with an identity number nobody has decided on is never in the list.
    assert "fødselsnummer som ikke er avgjort" in listing.split('id="utelatt-h"')[1]
    client.post(f"/submissions/{seeded.identity}/withhold", data={"csrf_token": csrf, "reason": "Fødselsnummer"})
    assert submission(rt, seeded.identity).withheld
    listing = client.get(f"/cases/{_case_id(rt, '22/414')}/publication").text
    assert "holdt tilbake fra publisering" in listing.split('id="utelatt-h"')[1]
    response = client.get(f"/cases/{_case_id(rt, '22/414')}/publication.csv")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="hoeringssvar-22-414.csv"')
    assert response.headers["x-content-type-options"] == "nosniff"
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Kategori", "Organisasjon", "Mottatt", "Dokumenter"]
    organisations = [r[1] for r in rows[1:]]
    assert "Statens legemiddelverk" in organisations
    assert not any("Kari" in o for o in organisations)
    legemiddelverket = next(r for r in rows if r[1] == "Statens legemiddelverk")
    assert legemiddelverket == ["Statlige etater", "Statens legemiddelverk", "28.09.2022",
                                "Høringssvar Legemiddelverket.txt"]
    # By category in the workflow's order, then alphabetical within it.
    categories = [r[0] for r in rows[1:]]
    assert categories == sorted(categories, key=categories.index)
    for category in set(categories):
        names = [r[1].casefold() for r in rows[1:] if r[0] == category]
        assert names == sorted(names)


def test_downloads_are_attachments(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    page = client.get(f"/submissions/{seeded.on_time}").text
    link = re.search(rf'href="(/submissions/{seeded.on_time}/attachments/\d+)"', page)
    assert link
    response = client.get(link.group(1))
    assert response.content == "Vi støtter strategien.".encode()
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''H%C3%B8ringssvar%20Legemiddelverket.txt" in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    original = client.get(f"/submissions/{seeded.on_time}/original.eml")
    assert original.headers["content-disposition"].startswith("attachment;")
    with session_scope(rt.engine) as session:
        sub = session.get(Submission, seeded.on_time)
        assert sub is not None
        message = session.get(Message, sub.message_ref)
        assert message is not None
        assert original.content == rt.store.read(message.blob)
    assert client.get(f"/submissions/{seeded.late}/attachments/{link.group(1).rsplit('/', 1)[1]}").status_code == 404


def test_search(client: TestClient, csrf: str, rt: Runtime, seeded: Seeded) -> None:
    assert f"/submissions/{seeded.late}" in client.get("/search", params={"q": "datatilsynet"}).text
    assert f"/submissions/{seeded.late}" not in client.get("/search", params={"q": "apotek"}).text
    ref = submission(rt, seeded.on_time).receipt_ref
    assert f"/submissions/{seeded.on_time}" in client.get("/search", params={"q": ref}).text
    assert "Ingen innsendinger." in client.get("/search", params={"q": "%_"}).text


def test_failed_message_listed_and_processed_again(client: TestClient, csrf: str, rt: Runtime) -> None:
    received = datetime(2022, 9, 29, 7, 0, tzinfo=UTC)
    with session_scope(rt.engine) as session:
        # A message the pipeline gave up on whose stored file is gone: it fails again.
        broken = Message(
            sha256="f" * 64,
            size=10,
            blob="missing/blob",
            source="file",
            mailbox="postmottak",
            received_at=received,
            status="parked",
            attempts=3,
            last_error="ValueError: broken",
        )
        session.add(broken)
        session.flush()
        broken_pk = broken.id
    # A good message that failed earlier (say the database went away mid-way): it goes through now.
    stored = store_message(rt, make_email(subject="Svar i sak 22/414"), Source(kind="file"), received)
    with session_scope(rt.engine) as session:
        message = session.get(Message, stored.id)
        assert message is not None
        message.status, message.attempts, message.last_error = "failed", 1, "DatabaseUnavailable: gone"
        session.add(message)
    page = client.get("/failed")
    # The reason in words for a clerk, never the exception.
    assert "ValueError" not in page.text and "uventet feil" in page.text and f"/failed/{broken_pk}/retry" in page.text
    assert "DatabaseUnavailable" not in page.text and "Databasen svarte ikke" in page.text
    original = client.get(f"/failed/{stored.id}/original.eml")
    assert original.headers["content-disposition"].startswith("attachment;") and b"22/414" in original.content

    again = client.post(f"/failed/{broken_pk}/retry", data={"csrf_token": csrf})
    assert again.status_code == 200 and "Meldingen feilet igjen" in again.text
    done = client.post(f"/failed/{stored.id}/retry", data={"csrf_token": csrf})
    assert "Meldingen er behandlet på nytt." in done.text
    assert "Databasen svarte ikke" not in done.text
    with session_scope(rt.engine) as session:
        assert session.exec(select(Submission).where(Submission.message_ref == stored.id)).one()
        retries = session.exec(select(AuditLog).where(AuditLog.action == "message.retry")).all()
        assert [r.actor for r in retries] == ["kari", "kari"]


def test_mailboxes_page(client: TestClient, csrf: str, rt: Runtime) -> None:
    with session_scope(rt.engine) as session:
        session.add(
            MailboxState(
                mailbox="postmottak",
                folder="INBOX",
                last_uid=7,
                last_success_at=datetime(2022, 9, 28, 8, 0, tzinfo=UTC),
                last_error="SourceUnavailable: connection refused",
                last_error_at=datetime(2022, 9, 28, 9, 0, tzinfo=UTC),
            )
        )
    page = client.get("/mailboxes")
    assert page.status_code == 200
    assert "postmottak" in page.text
    assert "28.09.2022 10:00" in page.text and "connection refused" in page.text


def test_api_matches_the_contract(client: TestClient, csrf: str, seeded: Seeded) -> None:
    subs = client.get("/api/submissions", params={"case": "22/414"}).json()
    assert {s["case"] for s in subs} == {"22/414"}
    one = client.get(f"/api/submissions/{seeded.on_time}").json()
    for key in (
        "id",
        "message_id",
        "mailbox",
        "sender",
        "sender_name",
        "subject",
        "received_at",
        "case",
        "match_source",
        "late",
        "flags",
        "organisation",
        "attachments",
        "form",
        "acknowledgement",
    ):
        assert key in one
    assert one["received_at"] == "2022-09-28T10:15:00+02:00"
    late = client.get("/api/submissions", params={"flag": "late"}).json()
    assert [s["id"] for s in late] == [seeded.late]
    cases = client.get("/api/cases").json()
    assert {c["case"] for c in cases} == {"22/414", "21/761"}
    schema = client.get("/api/openapi.json").json()
    assert {"/api/submissions", "/api/submissions/{submission_id}", "/api/cases"} <= set(schema["paths"])
    assert not any(not p.startswith("/api/") for p in schema["paths"])
    assert client.get("/api/submissions/99999").status_code == 404


def test_bad_addresses_are_not_found(client: TestClient, csrf: str) -> None:
    assert client.get("/submissions/abc").status_code == 404
    assert "Siden finnes ikke." in client.get("/cases/abc").text
    assert client.get("/submissions/99999").status_code == 404
    assert client.get("/api/submissions/abc").status_code == 422


def test_ids_too_large_for_the_database_are_not_found(client: TestClient, csrf: str) -> None:
    # Before: a 20-digit id overflowed inside the database driver and answered 500.
    for path in ["/submissions/{n}", "/submissions/{n}/original.eml", "/submissions/1/attachments/{n}",
                 "/cases/{n}", "/failed/{n}/original.eml"]:
        assert client.get(path.format(n="12345678901234567890")).status_code == 404, path
    assert client.get("/api/submissions/12345678901234567890").status_code == 422


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == {"ok": True}


def test_metrics_without_login(rt: Runtime, seeded: Seeded) -> None:
    with TestClient(create_app(rt)) as anonymous:
        response = anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'intake_flags{flag="late",open="true"} 1' in response.text
    # Counts only: no sender, subject or body of any submission.
    assert "datatilsynet" not in response.text.lower() and "22/414" not in response.text


def test_healthz_503_when_the_database_is_gone(settings_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime.open(settings_factory(database={"url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}), extract=False)
    try:
        with TestClient(create_app(rt)) as c:
            response = c.get("/healthz")
            assert response.status_code == 503
            assert response.json()["database"]["ok"] is False
    finally:
        rt.close()


def test_markup_from_mail_shows_only_as_text(client: TestClient, csrf: str, rt: Runtime) -> None:
    sid = seed_xss(rt)
    pages = [
        client.get(f"/submissions/{sid}").text,
        client.get("/queue").text,
        client.get("/search", params={"q": "evil"}).text,
        client.get(f"/search?q={XSS}").text,
        client.get(f"/cases/{_case_id(rt, '22/414')}/publication").text,
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert 'onerror="alert' not in page and "onclick=" not in page
    detail = pages[0]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in detail
    with session_scope(rt.engine) as session:
        sub = session.get(Submission, sid)
        assert sub is not None and "<script>" in (sub.subject or "")


def test_every_flag_a_rule_raises_has_a_norwegian_label() -> None:
    from intake.decide.rules import CHAIN
    from intake.review.wording import FLAG_LABELS

    assert {rule.flag for rule in CHAIN} <= set(FLAG_LABELS)
