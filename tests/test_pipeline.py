"""The pipeline end to end on both databases: store first, one submission per message, flags."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from intake.db.engine import session_scope
from intake.db.models import Acknowledgement, AuditLog, Flag, Message, Submission
from intake.pipeline.run import ingest, process_message, process_pending
from intake.review import queries
from intake.review.serialize import submission_json
from intake.runtime import Runtime
from intake.store.messages import Source, store_message
from tests.builders import make_email

OSLO = ZoneInfo("Europe/Oslo")
ON_TIME = datetime(2022, 9, 28, 10, 15, tzinfo=OSLO)
FILE = Source(kind="file")


def submissions(rt: Runtime) -> list[dict[str, object]]:
    with Session(rt.engine) as session:
        return [submission_json(session, s) for s in queries.list_submissions(session)]


def only(rt: Runtime) -> dict[str, object]:
    subs = submissions(rt)
    assert len(subs) == 1
    return subs[0]


def test_on_time_response_is_matched_and_acknowledged(rt: Runtime) -> None:
    result = ingest(rt, make_email(), FILE, ON_TIME)
    assert result.submission_id is not None and not result.duplicate
    sub = only(rt)
    assert sub["case"] == "22/414"
    assert sub["match_source"] == "subject"
    assert sub["late"] is False
    assert sub["flags"] == []
    assert sub["organisation"] == "Statens legemiddelverk"
    assert sub["received_at"] == "2022-09-28T10:15:00+02:00"
    assert sub["acknowledgement"]["status"] == "pending"  # type: ignore[index]
    assert sub["acknowledgement"]["to"] == ["post@legemiddelverket.no"]  # type: ignore[index]


def test_raw_bytes_are_stored_before_processing_and_kept_exactly(rt: Runtime) -> None:
    raw = make_email(subject="Høringssvar sak 22/414 \u2013 æøå")
    stored = store_message(rt, raw, FILE, ON_TIME)
    with Session(rt.engine) as session:
        message = session.get(Message, stored.id)
        assert message is not None and message.status == "stored"
        assert session.exec(select(Submission)).all() == []
        assert rt.store.read(message.blob) == raw
    assert process_message(rt, stored.id) is not None


def test_received_at_is_ours_not_the_senders_date(rt: Runtime) -> None:
    # The sender's clock says 30 September; we received it on 2 October: late.
    raw = make_email(date=datetime(2022, 9, 30, 8, 0, tzinfo=UTC))
    ingest(rt, raw, FILE, datetime(2022, 10, 2, 0, 30, tzinfo=OSLO))
    sub = only(rt)
    assert sub["late"] is True and "late" in sub["flags"]  # type: ignore[operator]


def test_late_by_half_an_hour_in_summer_time(rt: Runtime) -> None:
    ingest(rt, make_email(subject="sak 22/414 a"), FILE, datetime(2022, 10, 1, 23, 30, tzinfo=OSLO))
    ingest(rt, make_email(subject="sak 22/414 b", sender="x@helsedir.no"), FILE,
           datetime(2022, 10, 2, 0, 30, tzinfo=OSLO))
    late = {s["subject"]: s["late"] for s in submissions(rt)}
    assert late == {"sak 22/414 a": False, "sak 22/414 b": True}


def test_same_file_twice_is_one_submission(rt: Runtime) -> None:
    raw = make_email()
    first = ingest(rt, raw, FILE, ON_TIME)
    second = ingest(rt, raw, FILE, ON_TIME)
    assert second.duplicate and second.submission_id == first.submission_id
    assert len(submissions(rt)) == 1


def test_same_message_from_two_threads_at_once_is_one_submission(rt: Runtime) -> None:
    raw = make_email()
    results: list[object] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        results.append(ingest(rt, raw, FILE, ON_TIME))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    with Session(rt.engine) as session:
        assert len(session.exec(select(Message)).all()) == 1
        assert len(session.exec(select(Submission)).all()) == 1
        assert len(session.exec(select(Acknowledgement)).all()) == 1


def test_same_message_id_with_other_bytes_gets_no_second_receipt(rt: Runtime) -> None:
    ingest(rt, make_email(message_id="<same@x>", body="a"), Source(kind="imap", mailbox="a"), ON_TIME)
    ingest(rt, make_email(message_id="<same@x>", body="b"), Source(kind="imap", mailbox="b"), ON_TIME)
    subs = submissions(rt)
    assert len(subs) == 2
    assert "duplicate_message" in subs[1]["flags"]  # type: ignore[operator]
    assert subs[1]["acknowledgement"]["status"] == "suppressed"  # type: ignore[index]


def test_second_response_from_the_same_organisation_is_flagged(rt: Runtime) -> None:
    ingest(rt, make_email(sender="Kari <kari@legemiddelverket.no>"), FILE, ON_TIME)
    ingest(rt, make_email(sender="Ola <ola@dmp.no>", subject="Oppdatert høringssvar sak 22/414"), FILE, ON_TIME)
    ingest(rt, make_email(sender="post@helsedir.no"), FILE, ON_TIME)
    flags = {s["sender"]: s["flags"] for s in submissions(rt)}
    assert flags == {
        "kari@legemiddelverket.no": [],
        "ola@dmp.no": ["duplicate_organisation"],
        "post@helsedir.no": [],
    }


def test_duplicate_organisation_names_the_first_earlier_response_and_ignores_auto_replies(rt: Runtime) -> None:
    def at(hour: int) -> datetime:
        return datetime(2022, 9, 28, hour, 0, tzinfo=OSLO)

    away = ingest(rt, make_email(sender="Kari <kari@legemiddelverket.no>",
                                 subject="Automatisk svar: Høringssvar sak 22/414"), FILE, at(8))
    first = ingest(rt, make_email(sender="Ola <ola@dmp.no>"), FILE, at(10))
    # Received before ``first`` but processed after it: "first" goes by the time received.
    earliest = ingest(rt, make_email(sender="Per <per@legemiddelverket.no>"), FILE, at(9))
    with session_scope(rt.engine) as session:
        # A person having looked at the auto-reply does not make it a response.
        for flag in session.exec(select(Flag).where(Flag.submission_id == away.submission_id)):
            flag.resolved_at = datetime.now(UTC)
            session.add(flag)
    later = ingest(rt, make_email(sender="Kari <kari@legemiddelverket.no>"), FILE, at(12))
    with Session(rt.engine) as session:
        refs = {s.id: s.receipt_ref for s in session.exec(select(Submission))}
        details = {(f.submission_id, f.name): f.detail for f in session.exec(select(Flag))}
    assert {key for key in details if key[1] == "duplicate_organisation"} == {
        (earliest.submission_id, "duplicate_organisation"), (later.submission_id, "duplicate_organisation"),
    }
    assert (away.submission_id, "auto_reply") in details
    assert details[(earliest.submission_id, "duplicate_organisation")] == (
        f"Statens legemiddelverk har allerede svart (innsending {first.submission_id}, "
        f"kvittering {refs[first.submission_id]})"
    )
    assert details[(later.submission_id, "duplicate_organisation")] == (
        f"Statens legemiddelverk har allerede svart (innsending {earliest.submission_id}, "
        f"kvittering {refs[earliest.submission_id]})"
    )


def test_public_mail_provider_is_the_person(rt: Runtime) -> None:
    ingest(rt, make_email(sender="Kari Nordmann <kari.nordmann@gmail.com>"), FILE, ON_TIME)
    ingest(rt, make_email(sender="Ola Nordmann <ola.nordmann@gmail.com>"), FILE, ON_TIME)
    ingest(rt, make_email(sender="Per <per@firma.no>"), FILE, ON_TIME)
    orgs = sorted((s["organisation"], s["flags"]) for s in submissions(rt))  # type: ignore[type-var]
    assert orgs == [("Kari Nordmann", []), ("Ola Nordmann", []), ("firma.no", [])]


def test_unmatched_unknown_and_ambiguous(rt: Runtime) -> None:
    ingest(rt, make_email(subject="Høringssvar", body="Se vedlegg"), FILE, ON_TIME)
    ingest(rt, make_email(subject="Høringssvar sak 23/999", sender="a@a.no"), FILE, ON_TIME)
    ingest(rt, make_email(subject="Svar til sak 22/414 og 21/761", sender="b@b.no"), FILE, ON_TIME)
    got = {s["subject"]: (s["case"], s["flags"], s["acknowledgement"]["status"])  # type: ignore[index]
           for s in submissions(rt)}
    assert got == {
        "Høringssvar": (None, ["unmatched"], "pending"),
        "Høringssvar sak 23/999": (None, ["unknown_case"], "pending"),
        "Svar til sak 22/414 og 21/761": (None, ["ambiguous_case"], "pending"),
    }


def test_auto_replies_bounces_and_lists_get_no_receipt(rt: Runtime) -> None:
    cases = [
        make_email(subject="Automatisk svar: Høringssvar sak 22/414", sender="a@a.no"),
        make_email(subject="Out of Office", headers={"Auto-Submitted": "auto-replied"}, sender="b@b.no"),
        make_email(subject="Undeliverable: sak 22/414", sender="MAILER-DAEMON@mx.example.no"),
        make_email(subject="Nyhetsbrev", headers={"List-Id": "<news.example.no>"}, sender="c@c.no"),
        make_email(subject="sak 22/414", headers={"Return-Path": "<>"}, sender="d@d.no"),
        make_email(subject="sak 22/414", headers={"Precedence": "bulk"}, sender="e@e.no"),
    ]
    for raw in cases:
        ingest(rt, raw, FILE, ON_TIME)
    subs = submissions(rt)
    assert len(subs) == len(cases)
    for sub in subs:
        assert "auto_reply" in sub["flags"], sub["subject"]  # type: ignore[operator]
        assert sub["acknowledgement"]["status"] == "suppressed"  # type: ignore[index]


def test_reply_to_a_receipt_is_matched_through_the_thread(rt: Runtime) -> None:
    first = ingest(rt, make_email(), FILE, ON_TIME)
    with Session(rt.engine) as session:
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.submission_id == first.submission_id)).one()
        ack.message_id = "<kvittering-1@ehelse.no>"
        session.add(ack)
        session.commit()
    reply = make_email(subject="Re: Kvittering", body="Takk!", sender="post@helsedir.no",
                       headers={"In-Reply-To": "<kvittering-1@ehelse.no>"})
    ingest(rt, reply, FILE, ON_TIME)
    by_subject = {s["subject"]: s for s in submissions(rt)}
    assert by_subject["Re: Kvittering"]["case"] == "22/414"
    assert by_subject["Re: Kvittering"]["match_source"] == "thread"


def test_reply_to_own_address_is_suppressed_and_flagged(rt: Runtime) -> None:
    ingest(rt, make_email(sender="Postmottak <postmottak@ehelse.no>"), FILE, ON_TIME)
    sub = only(rt)
    assert sub["acknowledgement"]["status"] == "suppressed"  # type: ignore[index]
    assert "suspicious_sender" in sub["flags"]  # type: ignore[operator]


def test_reply_to_header_is_the_receipt_recipient(rt: Runtime) -> None:
    ingest(rt, make_email(headers={"Reply-To": "saksbehandler@legemiddelverket.no"}), FILE, ON_TIME)
    assert only(rt)["acknowledgement"]["to"] == ["saksbehandler@legemiddelverket.no"]  # type: ignore[index]


def test_impersonating_display_name_is_suspicious(rt: Runtime) -> None:
    ingest(rt, make_email(sender="Statens legemiddelverk <slv.post@gmail.com>"), FILE, ON_TIME)
    assert "suspicious_sender" in only(rt)["flags"]  # type: ignore[operator]


def test_failing_message_is_recorded_parked_and_does_not_block_others(rt: Runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import intake.pipeline.prepare as pipeline

    real_parse = pipeline.parse

    def explode(raw: bytes):  # type: ignore[no-untyped-def]
        if b"BOOM" in raw:
            raise RuntimeError("simulated parser crash")
        return real_parse(raw)

    monkeypatch.setattr(pipeline, "parse", explode)
    bad = store_message(rt, make_email(body="BOOM"), FILE, ON_TIME)
    good = store_message(rt, make_email(sender="post@helsedir.no"), FILE, ON_TIME)
    for _ in range(5):
        process_pending(rt)
    with Session(rt.engine) as session:
        bad_row = session.get(Message, bad.id)
        assert bad_row is not None
        assert bad_row.status == "parked"
        assert bad_row.attempts == rt.settings.processing.max_attempts
        assert "simulated parser crash" in (bad_row.last_error or "")
        assert session.get(Message, good.id).status == "processed"  # type: ignore[union-attr]
        assert session.exec(select(AuditLog).where(AuditLog.action == "message.parked")).first() is not None
    monkeypatch.setattr(pipeline, "parse", real_parse)
    assert process_message(rt, bad.id) is None  # parked: only a person's retry processes it
    assert process_message(rt, bad.id, force=True) is not None


def test_crash_after_store_is_finished_by_process_pending(rt: Runtime) -> None:
    stored = store_message(rt, make_email(), FILE, ON_TIME)
    # The process dies here; a restarted one finds the stored message and finishes it.
    assert process_pending(rt) == 1
    assert process_pending(rt) == 0
    assert only(rt)["case"] == "22/414"
    assert process_message(rt, stored.id) is not None


def test_unparseable_outlook_file_is_stored_and_flagged(rt: Runtime) -> None:
    raw = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4
    ingest(rt, raw, FILE, ON_TIME)
    sub = only(rt)
    assert "unreadable" in sub["flags"]  # type: ignore[operator]
    assert sub["acknowledgement"]["status"] == "suppressed"  # type: ignore[index]
    with Session(rt.engine) as session:
        message = session.exec(select(Message)).one()
        assert rt.store.read(message.blob) == raw


def test_every_flag_is_explained_in_the_rule_log(rt: Runtime) -> None:
    ingest(rt, make_email(subject="Høringssvar"), FILE, ON_TIME)
    with Session(rt.engine) as session:
        sub = session.exec(select(Submission)).one()
        rules = {entry["rule"]: entry["hit"] for entry in sub.rule_log or []}
        assert rules["unmatched"] is True and rules["late"] is False
        flag = session.exec(select(Flag)).one()
        assert flag.name == "unmatched" and flag.detail


def test_process_pending_can_leave_the_messages_just_stored_to_whoever_stored_them(rt: Runtime) -> None:
    older = store_message(rt, make_email(message_id="<older@a.no>"), FILE, ON_TIME)
    with Session(rt.engine) as session:
        message = session.get(Message, older.id)
        assert message is not None
        cutoff = message.stored_at + timedelta(microseconds=1)
    store_message(rt, make_email(message_id="<younger@a.no>"), FILE, ON_TIME)
    with Session(rt.engine) as session:
        younger = session.exec(select(Message).where(Message.message_id == "<younger@a.no>")).one()
        younger.stored_at = cutoff + timedelta(seconds=5)
        session.add(younger)
        session.commit()
    assert process_pending(rt, stored_before=cutoff) == 1
    assert process_pending(rt) == 1
