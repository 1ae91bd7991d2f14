"""Metrics in Prometheus' text format.

Counts of messages, flags and receipts are read from the database, so every
replica reports the same totals and a restart loses nothing. Timings of this
process (poll latency, processing time) are kept in memory as summaries.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from intake.db.models import Acknowledgement, Flag, MailboxState, Message, OutboxState, utcnow
from intake.receipts.health import problem_of
from intake.receipts.outbox_state import UNCONFIRMED

_lock = threading.Lock()
_summaries: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = defaultdict(lambda: [0.0, 0.0])

HELP = {
    "intake_messages": "Stored raw messages by processing status.",
    "intake_flags": "Flags raised on submissions, by flag and whether a person resolved them.",
    "intake_receipts": "Receipts (acknowledgements) by delivery status.",
    "intake_receipts_unconfirmed": "Receipts handed to the mail server by a process that died before its answer.",
    "intake_outbox_error": "1 when the last delivery run could not hand receipts to the mail server.",
    "intake_outbox_blocked": "1 when the mail server refuses to relay at all (TLS, login, relay access).",
    "intake_mailbox_last_success_age_seconds": "Seconds since the last successful poll of a mailbox folder.",
    "intake_mailbox_error": "1 when the last poll of a mailbox folder failed.",
    "intake_poll_seconds": "Time taken by polls of a mailbox in this process.",
    "intake_process_seconds": "Time taken to process one message in this process.",
    "intake_stage_cpu_seconds": "CPU time this process spent in each stage of a message, in the thread doing it.",
}
# The stages of a message whose CPU time is kept: parse the MIME tree, store the raw bytes and
# the rows, wait for the extraction workers (sending files, reading results), decide (the
# transaction), send the receipt.
STAGES = ("parse", "store", "extract_wait", "decide", "receipt")


def observe(name: str, seconds: float, **labels: str) -> None:
    """Adds one timing to a summary (count and sum), e.g. ``observe("intake_poll_seconds", 0.4, mailbox="a")``."""
    key = (name, tuple(sorted(labels.items())))
    with _lock:
        entry = _summaries[key]
        entry[0] += 1
        entry[1] += seconds


@contextmanager
def cpu_stage(stage: str) -> Iterator[None]:
    """Adds the CPU time of the calling thread inside the block to ``intake_stage_cpu_seconds``."""
    started = time.thread_time()
    try:
        yield
    finally:
        observe("intake_stage_cpu_seconds", time.thread_time() - started, stage=stage)


def _labels(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(session: Session, now: datetime | None = None) -> str:
    """The whole /metrics page."""
    now = now or utcnow()
    lines: list[str] = []

    def gauge(name: str, rows: list[tuple[list[tuple[str, str]], float]], kind: str = "gauge") -> None:
        lines.append(f"# HELP {name} {HELP[name]}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in rows:
            lines.append(f"{name}{_labels(labels)} {value:g}")

    statuses = session.exec(select(Message.status, func.count()).group_by(col(Message.status))).all()
    gauge("intake_messages", [([("status", s)], n) for s, n in statuses])
    flags = session.exec(
        select(Flag.name, col(Flag.resolved_at).is_(None), func.count())
        .group_by(col(Flag.name), col(Flag.resolved_at).is_(None))
    ).all()
    gauge("intake_flags", [([("flag", f), ("open", "true" if is_open else "false")], n) for f, is_open, n in flags])
    receipts = session.exec(
        select(Acknowledgement.status, func.count()).group_by(col(Acknowledgement.status))
    ).all()
    gauge("intake_receipts", [([("status", s)], n) for s, n in receipts])
    unconfirmed = session.exec(
        select(func.count()).select_from(Acknowledgement)
        .where(col(Acknowledgement.last_error).startswith(UNCONFIRMED))
    ).one()
    gauge("intake_receipts_unconfirmed", [([], unconfirmed)])
    outbox = session.exec(select(OutboxState)).first()
    problem = problem_of(outbox)
    gauge("intake_outbox_error", [([], 1.0 if problem else 0.0)])
    gauge("intake_outbox_blocked", [([], 1.0 if problem and outbox and outbox.blocked else 0.0)])
    states = session.exec(select(MailboxState)).all()
    gauge(
        "intake_mailbox_last_success_age_seconds",
        [
            ([("mailbox", m.mailbox), ("folder", m.folder)], (now - m.last_success_at).total_seconds())
            for m in states if m.last_success_at is not None
        ],
    )
    gauge(
        "intake_mailbox_error",
        [
            ([("mailbox", m.mailbox), ("folder", m.folder)],
             1.0 if m.last_error_at and (m.last_success_at is None or m.last_error_at > m.last_success_at) else 0.0)
            for m in states
        ],
    )
    with _lock:
        snapshot = dict(_summaries)
    for name in ("intake_poll_seconds", "intake_process_seconds", "intake_stage_cpu_seconds"):
        lines.append(f"# HELP {name} {HELP[name]}")
        lines.append(f"# TYPE {name} summary")
        for (metric, labels), (count, total) in sorted(snapshot.items()):
            if metric == name:
                lines.append(f"{name}_count{_labels(labels)} {count:g}")
                lines.append(f"{name}_sum{_labels(labels)} {total:.6f}")
    return "\n".join(lines) + "\n"
