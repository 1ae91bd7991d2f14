"""Prometheus metrics: counts from the database, timings from this process."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from intake import metrics
from intake.pipeline.run import ingest
from intake.runtime import Runtime
from intake.store.messages import Source
from tests.builders import make_email


def test_metrics_count_messages_flags_and_receipts(rt: Runtime) -> None:
    when = datetime(2022, 9, 28, 8, 0, tzinfo=UTC)
    ingest(rt, make_email(), Source(kind="file"), when)
    ingest(rt, make_email(subject="Høringssvar", sender="a@firma.no"), Source(kind="file"), when)
    metrics.observe("intake_poll_seconds", 0.25, mailbox="postmottak")
    with Session(rt.engine) as session:
        page = metrics.render(session)
    assert 'intake_messages{status="processed"} 2' in page
    assert 'intake_flags{flag="unmatched",open="true"} 1' in page
    assert 'intake_receipts{status="pending"} 2' in page
    assert 'intake_poll_seconds_count{mailbox="postmottak"}' in page
    assert "# TYPE intake_process_seconds summary" in page
    for line in page.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2


def stage_counts(page: str) -> dict[str, float]:
    prefix = "intake_stage_cpu_seconds_count{stage=\""
    return {line[len(prefix):].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in page.splitlines() if line.startswith(prefix)}


def test_each_stage_of_a_message_adds_its_cpu_time(rt: Runtime) -> None:
    with Session(rt.engine) as session:
        before = stage_counts(metrics.render(session))
    ingest(rt, make_email(), Source(kind="file"), datetime(2022, 9, 28, 8, 0, tzinfo=UTC))
    with Session(rt.engine) as session:
        page = metrics.render(session)
    after = stage_counts(page)
    for stage in ("parse", "extract_wait", "decide"):
        assert after.get(stage, 0) == before.get(stage, 0) + 1, stage
    assert "# TYPE intake_stage_cpu_seconds summary" in page
