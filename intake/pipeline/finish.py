"""Decides prepared messages, a few at a time in one transaction: match, flag, submission, receipt row.

A crash at any point leaves either no submission (and the message is processed
again later) or a whole one. A batch is all or nothing: when one of its messages
fails, each is decided again in a transaction of its own. An error is recorded on the message with an
attempt count; after ``processing.max_attempts`` it is parked for a person.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from intake import metrics
from intake.db.audit import gathered, record
from intake.db.engine import reading, session_scope
from intake.db.models import Acknowledgement, Attachment, Flag, Message, Submission, UTCDateTime, utcnow
from intake.db.rows import insert_rows, insert_values
from intake.decide import authres, organisations
from intake.decide.follow_up import suggested_parent
from intake.decide.matching import MatchResult, match
from intake.decide.reference import Reference
from intake.decide.rules import RuleContext, run_chain
from intake.decide.thread import thread_case, thread_parent
from intake.extract.attachments import Unpacked, add_rows, db_text, extraction_errors, flatten, read_form_answers
from intake.mail.mime import ParsedMessage
from intake.pipeline.prepare import Prepared, submission_of
from intake.receipts.plan import plan_receipt, write_planned
from intake.receipts.render import Known
from intake.runtime import Runtime

log = logging.getLogger(__name__)


# The one flag a later decision of the same batch reads (an auto-reply is nobody's first response,
# intake/decide/earlier.py): written with its submission, so that the next decision sees it.
READ_IN_BATCH = frozenset({"auto_reply"})


@dataclass
class _Later:
    """Rows nothing reads before the commit, written together at the end of a batch."""

    files: list[Attachment] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class _Outcome:
    submission_id: int
    case: str | None
    match_source: str | None
    flags: list[str]
    attachments: int
    receipt: Acknowledgement


def finish_message(rt: Runtime, prepared: Prepared) -> int | None:
    """Decides a prepared message in one transaction: match, flag, submission, receipt row."""
    return finish_batch(rt, [prepared])[0]


def finish_batch(rt: Runtime, batch: Sequence[Prepared]) -> list[int | None]:
    """Decides prepared messages in order, in one transaction; each one's submission id (None: failed or parked).

    A batch costs one transaction where each message alone cost one of its own, and every
    decision sees the ones before it, as when they come one by one. When any message of
    the batch fails, nothing of it is kept and each is decided again on its own, so that
    a failure is recorded only on its own message and costs the others one more try.
    """
    answers: dict[int, int | None] = {}
    live: list[Prepared] = []
    for prepared in batch:
        if prepared.final:
            answers[id(prepared)] = prepared.answer
        elif prepared.error is not None:
            _record_failure(rt, prepared.message_pk, prepared.error)
            answers[id(prepared)] = None
        else:
            live.append(prepared)
    if len(live) > 1:
        try:
            answers.update(_decide_and_log(rt, live))
        except Exception as err:  # one of them failed: each again on its own
            log.info("a batch of %d messages failed (%s: %s); deciding each on its own",
                     len(live), type(err).__name__, str(err)[:200])
            answers.update((id(p), _finish_alone(rt, p)) for p in live)
    elif live:
        answers[id(live[0])] = _finish_alone(rt, live[0])
    return [answers[id(p)] for p in batch]


def _finish_alone(rt: Runtime, prepared: Prepared) -> int | None:
    """One message in a transaction of its own; its failure is recorded on it, and the caller goes on."""
    try:
        return _decide_and_log(rt, [prepared])[id(prepared)]
    except IntegrityError as err:
        # Two processes decided the same message at once; the first commit won.
        with Session(rt.engine) as session:
            winner = submission_of(session, prepared.message_pk)
        if winner is None:
            _record_failure(rt, prepared.message_pk, err)
        return winner
    except Exception as err:  # the per-message boundary: record, park after a few tries, go on
        _record_failure(rt, prepared.message_pk, err)
        return None


def _decide_and_log(rt: Runtime, live: Sequence[Prepared]) -> dict[int, int | None]:
    """Decides ``live`` in one transaction, then logs one line per message; raises on any failure."""
    # Time spent waiting for its turn after preparing is left out of the timings.
    decide_started = time.monotonic()
    with metrics.cpu_stage("decide"):
        outcomes = _decide_together(rt, live)
    # The batch's time, shared out: what one message's decision cost.
    share = (time.monotonic() - decide_started) / len(live)
    for prepared, outcome in zip(live, outcomes, strict=True):
        assert prepared.clock is not None
        clock = [*prepared.clock, prepared.clock[-1] + share]
        # One line per message, key=value, so that log tools can filter by case or flag.
        log.info(
            "processed message=%s submission=%s case=%s match=%s flags=%s attachments=%s batch=%d "
            "parse_ms=%.0f extract_ms=%.0f decide_ms=%.0f total_ms=%.0f",
            prepared.message_pk, outcome.submission_id, outcome.case or "-", outcome.match_source or "-",
            ",".join(outcome.flags) or "-", outcome.attachments, len(live),
            *((b - a) * 1000 for a, b in itertools.pairwise(clock)), (clock[-1] - clock[0]) * 1000,
        )
        metrics.observe("intake_process_seconds", clock[-1] - clock[0])
    return {id(p): o.submission_id for p, o in zip(live, outcomes, strict=True)}


def _decide_together(rt: Runtime, live: Sequence[Prepared]) -> list[_Outcome]:
    """Matches every message (reads only), then writes all their decisions in one transaction."""
    parsed = [p.parsed for p in live if p.parsed is not None]
    assert len(parsed) == len(live)
    texts = [_texts(p.unpacked or []) for p in live]
    # Matching reads only, before the write transaction opens: its reads are short, and it takes no lock.
    with reading(rt.engine) as session:
        reference = rt.reference.current(session)
        threads = [thread_case(session, one) for one in parsed]
    results = [_match(p, t, reference, thread) for p, t, thread in zip(live, texts, threads, strict=True)]
    # Rows nothing reads before the commit are written together at the end: files, most flags,
    # receipts, audit entries.
    later = _Later()
    with session_scope(rt.engine) as session, gathered(session):
        outcomes = [_decide(rt, session, p, r, reference, t, later)
                    for p, r, t in zip(live, results, texts, strict=True)]
        insert_rows(session, later.files)
        insert_values(session, Flag, later.flags)
        write_planned(session, [o.receipt for o in outcomes])
        session.connection().execute(_PROCESSED, [{"pk": p.message_pk, "now": utcnow()} for p in live])
    return outcomes


def _sender_auth(
    rt: Runtime, parsed: ParsedMessage, own_check: authres.SenderAuthentication | None, source: str | None
) -> authres.SenderAuthentication:
    """Our border's word on the From domain; where it says nothing, our own DKIM and DMARC check's."""
    processing = rt.settings.processing
    # Exchange Online's header has no id to tell it from a forged one, only its place on top; mail
    # handed to our own receiver did not come through Exchange Online, so there it proves nothing.
    border = authres.sender_authentication(
        parsed.header_all("authentication-results"), processing.authserv_id, organisations.domain_of(parsed.sender),
        m365=processing.trust_m365 and source != "smtp",
    )
    if border.status == "none" and own_check is not None:
        return own_check
    return border


def _record_failure(rt: Runtime, message_pk: int, err: Exception) -> None:
    reason = f"{type(err).__name__}: {err}"[:2000]
    with session_scope(rt.engine) as session:
        message = session.get(Message, message_pk)
        assert message is not None
        message.attempts += 1
        message.last_error = reason
        message.status = "parked" if message.attempts >= rt.settings.processing.max_attempts else "failed"
        session.add(message)
        record(session, f"message.{message.status}", "message", message_pk, {"error": reason,
                                                                            "attempts": message.attempts})
    log.error("message %s failed (attempt %s): %s", message_pk, message.attempts, reason, exc_info=err)


def _texts(unpacked: list[Unpacked]) -> list[str]:
    extractions = [a.extraction for a in flatten(unpacked)]
    return [db_text(e.text) or "" for e in extractions if e is not None and e.text]


def _match(prepared: Prepared, texts: list[str], reference: Reference, thread: str | None) -> MatchResult:
    parsed = prepared.parsed
    assert parsed is not None
    return match(
        [("subject", [parsed.subject or ""]), ("body", [parsed.body_text]), ("attachment", texts)],
        known=reference.cases.__contains__,
        thread_case=thread,
    )


def _decide(
    rt: Runtime,
    session: Session,
    prepared: Prepared,
    result: MatchResult,
    reference: Reference,
    texts: list[str],
    later: _Later,
) -> _Outcome:
    """The decision's writes: the rules run first, so the submission is written once, whole."""
    parsed, unpacked, message_pk = prepared.parsed, prepared.unpacked, prepared.message_pk
    assert parsed is not None and unpacked is not None and prepared.received_at is not None
    received_at = prepared.received_at
    attachments = flatten(unpacked)
    case = reference.cases.get(result.case) if result.case else None
    # A reply to a response or to its receipt is part of that response (the same message stored
    # again is not: it is the same submission, or a duplicate_message).
    parent = thread_parent(session, parsed)
    organisation = organisations.resolve(
        session, sender=parsed.sender, sender_name=parsed.sender_name, case_id=case.id if case else None,
        invited=reference.invited, bodies=reference.bodies,
    )
    ctx = RuleContext(
        session=session, parsed=parsed, match=result, case=case, organisation=organisation,
        received_at=received_at, message_pk=message_pk, invited=reference.invited, own_addresses=rt.own_addresses,
        follow_up_of=parent,
        extraction_errors=extraction_errors(unpacked),
        documents=[("Emnefeltet", parsed.subject), ("E-postteksten", parsed.body_text),
                   *((a.part.filename, a.extraction.text) for a in attachments if a.extraction is not None)],
        sender_auth=_sender_auth(rt, parsed, prepared.own_check, prepared.source),
    )
    hits, rule_log = run_chain(ctx)
    flags = {hit.flag: hit.detail for hit in hits}
    submission = Submission(
        message_ref=message_pk,
        message_id=parsed.message_id,
        mailbox=prepared.mailbox,
        sender=parsed.sender,
        sender_name=parsed.sender_name,
        reply_to=parsed.reply_to,
        subject=parsed.subject,
        body_text=db_text(parsed.body_text),
        sent_date=parsed.date,
        received_at=received_at,
        case_id=case.id if case else None,
        case_number=result.case or (result.found[0] if len(result.found) == 1 else None),
        match_source=result.source if case else None,
        organisation_id=organisation.id if organisation else None,
        organisation=organisation.name if organisation else None,
        receipt_ref="K-" + (prepared.sha256 or "")[:10].upper(),
        follow_up_of=parent,
        late="late" in flags,
        rule_log=rule_log,
        form=read_form_answers(case.form.get("questions", []), texts) if case and case.form and texts else None,
    )
    if parent is None and case is not None and organisation is not None:
        submission.follow_up_suggested = suggested_parent(session, submission, parsed)
    insert_rows(session, [submission])
    assert submission.id is not None
    files = add_rows(session, submission.id, unpacked, None, later=later.files)
    rows = [{"submission_id": submission.id, "name": hit.flag, "detail": hit.detail} for hit in hits]
    insert_values(session, Flag, [row for row in rows if row["name"] in READ_IN_BATCH])
    later.flags.extend(row for row in rows if row["name"] not in READ_IN_BATCH)
    # The receipt's text is written now, from what is at hand, rather than read back when it goes.
    known = Known(case=case, attachments=[f for f in files if not f.inline], flags=flags,
                  person=organisation.kind == "person" if organisation is not None else None,
                  deadline=ctx.own_deadline)
    receipt = plan_receipt(session, submission, case, flags, rt.own_addresses, smtp=rt.settings.smtp,
                           text=(rt.settings.workflows.path, known), has_files=bool(files))
    record(session, "submission.created", "submission", submission.id,
           {"case": case.number if case else None, "flags": sorted(flags), "match": result.source})
    session.flush()
    return _Outcome(submission.id, case.number if case else None, submission.match_source, sorted(flags),
                    len(attachments), receipt)


# Run for every message: built once, since building a statement costs more than running it.
_MESSAGES: Any = Message.__table__  # type: ignore[attr-defined]
_PROCESSED = (
    update(_MESSAGES).where(_MESSAGES.c.id == bindparam("pk"))
    .values(status="processed", processed_at=bindparam("now", type_=UTCDateTime), last_error=None)
)
