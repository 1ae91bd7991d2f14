"""Deliver: sends due receipts from the outbox table, each at most once.

A receipt row moves ``pending`` -> ``sending`` -> ``sent`` (or back to
``pending`` with a later ``next_attempt_at`` on a temporary failure, or to
``failed`` with the server's reply). Three rules keep one receipt from going
out twice while any number of processes run this, and any of them may die:

1. A process first *claims* a batch of due rows: a random token and a lease
   (``claimed_until``), written only where no live lease exists. Another
   process skips them until the lease runs out.
2. It sends everything up to the last step (for SMTP: all of DATA but the
   final dot), then commits the *hand-off*: ``status='sending'`` only where the
   row is still ``pending`` and still carries its token. Only after that commit
   does it take the last step. A row is handed off at most once, so it is
   delivered at most once; a process that lost its claim gets no hand-off and
   drops the connection, which makes the server discard the message.
3. A row found in ``sending`` with its lease run out was handed off by a process
   that died before it recorded the answer. It is never sent again: it is marked
   ``sent`` with ``last_error`` saying the delivery is unconfirmed. Only our own
   crash leaves a receipt so: when the *server* closes the connection after the
   final dot without a reply, it has not taken the message (RFC 5321 §6.1), and
   the receipt is retried with the same Message-ID.

A relay that refuses every receipt (TLS or a login required, relay access
denied) stops the run with the receipts still due, and makes the outbox
unhealthy (``intake/receipts/health.py``).

The row transitions are in ``intake/receipts/outbox_state.py``. ``docs/receipts.md``
describes the one window left (a crash between the hand-off commit and writing
the final dot) and what it costs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.errors import MessageError
from email.parser import BytesHeaderParser

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from intake import metrics
from intake.db.engine import reading
from intake.db.models import Acknowledgement, Letter, Message, Submission, utcnow
from intake.errors import (
    PermanentDeliveryError,
    RelayRefused,
    StorageError,
    TemplateError,
    TemporaryDeliveryError,
    TransportUnavailable,
    UnconfirmedDelivery,
)
from intake.mail.mime import message_ids
from intake.receipts import outbox_state as state
from intake.receipts.caps import cap_wait
from intake.receipts.compose import MAX_REFERENCES, Envelope, build_receipt
from intake.receipts.health import record_run
from intake.receipts.outbox_state import UNCONFIRMED, backoff, settle_abandoned
from intake.receipts.plan import new_message_id
from intake.receipts.render import Rendered, render_receipt
from intake.receipts.transport import Transport, make_transport
from intake.runtime import Runtime

log = logging.getLogger(__name__)
# Only the top of a stored message is read for its References: first a little, then up to this.
FIRST_BYTES = 16 * 1024
HEAD_BYTES = 256 * 1024
__all__ = ["UNCONFIRMED", "DeliveryReport", "backoff", "deliver_due", "settle_abandoned"]


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` call did; ``error`` says why nothing could be tried at all."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    unconfirmed: int = 0
    skipped: int = 0
    waiting: int = 0
    # A clerk's letters to senders, sent after the receipts (intake/receipts/letters.py).
    letters: int = 0
    error: str | None = None
    # The server refused to relay at all (TLS, login, relay permission): a person must act.
    blocked: bool = False
    ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"receipts: {self.sent} sent, {self.retrying} to retry, {self.failed} failed, "
                f"{self.unconfirmed} unconfirmed, {self.waiting} waiting for an hourly cap")
        return f"{text}; {self.error}" if self.error else text


def deliver_due(rt: Runtime, *, transport: Transport | None = None, limit: int | None = None) -> DeliveryReport:
    """Sends every receipt that is due now (up to ``limit``) and reports what happened."""
    with metrics.cpu_stage("receipt"):
        return _deliver_due(rt, transport, limit)


def _deliver_due(rt: Runtime, transport: Transport | None, limit: int | None) -> DeliveryReport:
    smtp = rt.settings.smtp
    report = DeliveryReport()
    report.unconfirmed += settle_abandoned(rt.engine)
    transport = transport or make_transport(smtp)
    # Each receipt is tried once a run. One that went or failed is no longer due; the others
    # (waiting, to retry at once, taken by another process) are left out of this run's later
    # batches by id. Leaving out every id tried made each batch's query as long as the run so far.
    tried, again = 0, set[int]()
    talked = False
    try:
        while limit is None or tried < limit:
            batch = min(smtp.batch_size, limit - tried) if limit is not None else smtp.batch_size
            due = state.due_ids(rt.engine, again, batch)
            if not due:
                break
            # Connect before claiming anything: when the server is down, no row is touched.
            try:
                transport.connect()
            except TransportUnavailable as err:
                report.error, report.blocked = str(err), isinstance(err, RelayRefused)
                break
            talked = True
            token = uuid.uuid4().hex
            claimed = state.claim(rt.engine, due, token, smtp)
            tried += len(due)
            again.update(set(due) - set(claimed))
            # The batch's rows are read at once, and its steps share one connection: each receipt
            # used to take a connection (and a round trip to check it) for each of its three steps.
            rows = _claimed(rt, claimed)
            with state.steps(rt.engine) as conn:
                for position, ack_id in enumerate(claimed):
                    try:
                        if not _deliver_one(rt, conn, transport, rows.get(ack_id), token, report):
                            again.add(ack_id)
                    except TransportUnavailable as err:
                        # A relay refusal concerns every receipt: this one and the rest stay due, untouched.
                        report.error, report.blocked = str(err), isinstance(err, RelayRefused)
                        state.release(rt.engine, claimed[position:], token)
                        break
            if report.error:
                break
        if not report.error and limit is None:
            report.error, report.blocked = _letters(rt, transport, report)
    finally:
        transport.close()
    if report.error or talked:
        record_run(rt.engine, report.error, blocked=report.blocked)
    if report.error:
        log.warning("%s", report)
    elif report.sent or report.failed or report.retrying or report.unconfirmed or report.waiting:
        log.info("%s", report)
    return report


def _letters(rt: Runtime, transport: Transport, report: DeliveryReport) -> tuple[str | None, bool]:
    """Delivers the due letters on the same connection; the error (and whether it is a relay refusal)."""
    from intake.receipts.letters import deliver_letters

    with Session(rt.engine) as session:
        due = session.exec(select(Letter.id).where(col(Letter.status).in_(("pending", "sending")))).first()
    if due is None:
        return None, False
    try:
        transport.connect()
        sent, _ = deliver_letters(rt, transport)
    except TransportUnavailable as err:
        return str(err), isinstance(err, RelayRefused)
    report.letters += sent
    return None, False


def original_references(rt: Runtime, blob: str | None) -> list[str]:
    """The References of the message a receipt answers, read from the top of its stored bytes."""
    if blob is None:
        return []
    try:
        # Only the head: reading the whole message held a 50 MB attachment in memory to send its receipt.
        # Most headers end within the first few kilobytes; a longer one is read again, whole.
        raw = rt.store.read_head(blob, FIRST_BYTES)
        if len(raw) == FIRST_BYTES and b"\n\n" not in raw and b"\n\r\n" not in raw:
            raw = rt.store.read_head(blob, HEAD_BYTES)
    except (StorageError, OSError):
        return []
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    parsed = BytesHeaderParser(policy=policy.compat32).parsebytes(head)
    values = [str(v) for v in parsed.get_all("References", [])][:5]
    return [mid for value in values for mid in message_ids(value[:20_000])][-MAX_REFERENCES:]


# The receipts claimed, each with the Message-ID it answers and where that message's bytes are; built once.
_CLAIMED = (
    select(Acknowledgement, col(Submission.message_id), col(Message.blob))
    .join(Submission, col(Submission.id) == col(Acknowledgement.submission_id))
    .join(Message, col(Message.id) == col(Submission.message_ref), isouter=True)
    .where(col(Acknowledgement.id).in_(bindparam("ids", expanding=True)))
)
_Claimed = tuple[Acknowledgement, str | None, str | None]


def _claimed(rt: Runtime, ids: list[int]) -> dict[int, _Claimed]:
    """The claimed rows by id, read once for the batch (each is fenced by its token again at the hand-off)."""
    if not ids:
        return {}
    with reading(rt.engine) as session:
        return {ack.id: (ack, in_reply_to, blob) for ack, in_reply_to, blob in session.execute(_CLAIMED, {"ids": ids})}


def _envelope(rt: Runtime, session: Session, ack: Acknowledgement, in_reply_to: str | None,
              blob: str | None) -> tuple[Envelope, Rendered]:
    """The receipt as it goes, with its texts: those written when it was planned, or rendered now."""
    smtp = rt.settings.smtp
    if ack.subject and ack.body_text is not None and ack.body_html is not None:
        rendered = Rendered(ack.subject, ack.body_text, ack.body_html)
    else:
        submission = session.get(Submission, ack.submission_id)
        assert submission is not None
        rendered = render_receipt(session, ack, submission, smtp, rt.settings.workflows.path)
    envelope = build_receipt(
        from_address=smtp.from_address, from_name=smtp.from_name, recipient=ack.recipient or "",
        # A row planned elsewhere without one gets its Message-ID now; the hand-off stores it
        # before the message can be delivered.
        message_id=ack.message_id or new_message_id(smtp.from_address),
        in_reply_to=in_reply_to, subject=rendered.subject,
        text=rendered.text, html=rendered.html, date=utcnow(),
        references=original_references(rt, blob),
    )
    return envelope, rendered


def _deliver_one(rt: Runtime, conn: state.Steps, transport: Transport, row: _Claimed | None, token: str,
                 report: DeliveryReport) -> bool:
    """Delivers one claimed receipt; True when it is settled (sent, failed or unconfirmed), not due again."""
    smtp = rt.settings.smtp
    ack, in_reply_to, blob = row if row is not None else (None, None, None)
    if ack is None or ack.id is None or ack.claim_token != token or ack.status != "pending":
        report.skipped += 1
        return False
    ack_id = ack.id
    # Opened only when a cap is to be counted or a text to be written: reading the row needed none.
    # Closed before the row is written, so that SQLite's one writer is never this thread twice.
    problem: str | None = None
    with Session(rt.engine) as session:
        wait = cap_wait(session, ack, smtp, utcnow())
        if wait is None:
            try:
                envelope, rendered = _envelope(rt, session, ack, in_reply_to, blob)
            except (TemplateError, ValueError, MessageError) as err:
                problem = str(err)
    if wait is not None:
        state.postpone(rt.engine, ack_id, token, wait.until, wait.reason)
        report.waiting += 1
        return False
    if problem is not None:
        state.finish(conn, ack_id, token, "failed", error=problem, count=True)
        report.failed += 1
        return True
    cleanups: list[Callable[[], None]] = []

    def handoff() -> None:
        cleanups.append(
            state.handoff(conn, ack_id, token, envelope, rendered.subject, rendered.text, rendered.html, smtp)
        )

    try:
        try:
            reply = transport.send(envelope, handoff)
        finally:
            for cleanup in cleanups:
                cleanup()
    except state.ClaimLost:
        report.skipped += 1
        return False
    except TemporaryDeliveryError as err:
        if state.retry(rt.engine, ack_id, token, str(err), smtp):
            report.retrying += 1
            return False
        report.failed += 1
    except PermanentDeliveryError as err:
        state.finish(conn, ack_id, token, "failed", error=err.reply or str(err), count=not cleanups)
        report.failed += 1
    except UnconfirmedDelivery as err:
        state.finish(conn, ack_id, token, "sent", error=f"{UNCONFIRMED} ({err})")
        report.unconfirmed += 1
    else:
        state.finish(conn, ack_id, token, "sent", reply=reply)
        report.sent += 1
        report.ids.append(ack_id)
    return True
