"""Fault injection: mail keeps arriving while the service, Dovecot, the SMTP server and PostgreSQL fail.

While N responses are appended to the mailbox over a stretch of time, the
service is killed with SIGKILL (with its extraction workers) at random moments
and started again; Dovecot is killed mid-poll and started again; the SMTP sink
is stopped for a while; PostgreSQL is crashed (``pg_ctl -m immediate``) and
started again. PostgreSQL is restarted only when it is the run's private
server (bench/private_pg.py), never the machine's shared one.

Then, with everything up, the run waits for the service to settle and reports:
messages stored (all, each once), receipts delivered (all the service planned,
that is all not suppressed), duplicate receipts (target 0), and the longest
stall: the longest time in which work was outstanding and neither a message
was processed nor a receipt arrived (a deliberate outage counts).

    python bench/faults.py [--n 500] [--kills 10] [--sink-pause 60] [--database private|postgresql|sqlite]
                           [--seed 1 | --seeds 1,2,3]

With ``--seeds`` the whole run is repeated once per seed, and passes only if every run does.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.harness import (
    USER,
    Response,
    Service,
    TimedSink,
    create_database,
    make_responses,
    start_dovecot,
    write_config,
)
from intake.db.engine import make_engine
from tests.dovecot import Dovecot


@dataclass
class Plan:
    n: int = 500
    kills: int = 10
    sink_pause: float = 60.0
    dovecot_pause: float = 3.0
    pg_pause: float = 3.0
    database: str = "private"  # private (restarted) | postgresql (shared, not restarted) | sqlite
    workers: int = 2
    feed_seconds: float = 120.0
    settle_timeout: float = 600.0
    seed: int = 1


@dataclass
class Report:
    appended: int = 0
    stored: int = 0
    distinct_message_ids: int = 0
    submissions: int = 0
    eligible: int = 0
    delivered: int = 0
    duplicates: int = 0
    unconfirmed: int = 0
    longest_stall: float = 0.0
    longest_receipt_stall: float = 0.0
    kills: int = 0
    seconds: float = 0.0
    events: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.stored == self.appended == self.distinct_message_ids == self.submissions
                and self.delivered == self.eligible and self.duplicates == 0)

    def table(self) -> str:
        rows = [
            ("messages appended", self.appended), ("messages stored (rows)", self.stored),
            ("distinct Message-IDs stored", self.distinct_message_ids), ("submissions", self.submissions),
            ("receipts eligible (not suppressed)", self.eligible), ("receipts delivered", self.delivered),
            ("duplicate receipts (target 0)", self.duplicates),
            ("receipts marked unconfirmed", self.unconfirmed), ("kill -9 rounds", self.kills),
            ("longest stall (nothing processed or sent), s", f"{self.longest_stall:.1f}"),
            ("longest wait with a receipt due, s", f"{self.longest_receipt_stall:.1f}"),
            ("run, s", f"{self.seconds:.1f}"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"  {k:<{width}}  {v!s:>8}" for k, v in rows)


def db_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            def one(sql: str) -> int:
                return int(conn.execute(text(sql)).scalar_one())

            return {
                "stored": one("SELECT count(*) FROM messages"),
                "distinct": one("SELECT count(DISTINCT message_id) FROM messages"),
                "done": one("SELECT count(*) FROM messages WHERE status IN ('processed','parked')"),
                "submissions": one("SELECT count(*) FROM submissions"),
                "eligible": one("SELECT count(*) FROM acknowledgements WHERE status <> 'suppressed'"),
                "unconfirmed": one("SELECT count(*) FROM acknowledgements WHERE last_error LIKE '%unconfirmed%'"),
            }
    finally:
        engine.dispose()


class Feeder(threading.Thread):
    """Appends the responses in small bursts over ``seconds``; holds ``lock`` while appending,
    so Dovecot is never killed in the middle of an APPEND (which would be the sender's problem)."""

    def __init__(self, server: Dovecot, responses: list[Response], seconds: float, lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.server, self.responses, self.seconds, self.lock = server, responses, seconds, lock
        self.appended = 0

    def run(self) -> None:
        bursts = max(1, int(self.seconds / 0.5))
        size = max(1, -(-len(self.responses) // bursts))
        started = time.monotonic()
        for k, i in enumerate(range(0, len(self.responses), size)):
            time.sleep(max(0.0, started + k * self.seconds / bursts - time.monotonic()))
            with self.lock, self.server.client(USER) as client:
                for one in self.responses[i : i + size]:
                    client.append("INBOX", one.raw)
                    self.appended += 1


class StallWatch(threading.Thread):
    """Notes the longest time without progress (a message processed or a receipt arriving)."""

    def __init__(self, url: str, sink: TimedSink, feeder: Feeder) -> None:
        super().__init__(daemon=True)
        self.url, self.sink, self.feeder = url, sink, feeder
        self.halt = threading.Event()
        self.longest = 0.0
        self.longest_receipts = 0.0

    def run(self) -> None:
        last_progress, seen = time.monotonic(), (-1, -1)
        last_receipt, receipts = time.monotonic(), -1
        engine = make_engine(self.url)
        while not self.halt.wait(0.25):
            try:
                with engine.connect() as conn:
                    done = int(conn.execute(text(
                        "SELECT count(*) FROM messages WHERE status IN ('processed','parked')")).scalar_one())
                    eligible = int(conn.execute(text(
                        "SELECT count(*) FROM acknowledgements WHERE status <> 'suppressed'")).scalar_one())
            except Exception:  # the database is down: no progress can be seen
                done, eligible = seen[0], self.sink.count() + 1
            now = time.monotonic()
            current = (done, self.sink.count())
            outstanding = done < self.feeder.appended or current[1] < eligible
            if current != seen or not outstanding:
                last_progress, seen = now, current
            self.longest = max(self.longest, now - last_progress)
            # Receipts alone: the SMTP outage shows here, while messages keep being processed.
            if current[1] != receipts or current[1] >= eligible:
                last_receipt, receipts = now, current[1]
            self.longest_receipts = max(self.longest_receipts, now - last_receipt)
        engine.dispose()


def schedule(plan: Plan, rnd: random.Random, private_pg: bool) -> list[tuple[float, str]]:
    """When each fault happens, spread over the feeding time."""
    span = plan.feed_seconds
    events = [(rnd.uniform(0.05, 0.95) * span, "kill") for _ in range(plan.kills)]
    t = rnd.uniform(0.2, 0.4) * span
    events += [(t, "dovecot_stop"), (t + plan.dovecot_pause, "dovecot_start")]
    t = rnd.uniform(0.3, 0.6) * span
    events += [(t, "sink_stop"), (t + plan.sink_pause, "sink_start")]
    if private_pg:
        t = rnd.uniform(0.6, 0.8) * span
        events += [(t, "pg_stop"), (t + plan.pg_pause, "pg_start")]
    return sorted(events)


def run_faults(plan: Plan, folder: Path, *, admin_url: str | None = None) -> Report:
    """Runs the plan and returns the report; ``admin_url`` overrides the shared PostgreSQL's."""
    rnd = random.Random(plan.seed)
    responses = make_responses(plan.n, seed=plan.seed)
    report = Report(appended=plan.n)
    pg = None
    if plan.database == "private":
        from bench.private_pg import PrivatePostgres

        pg = PrivatePostgres()
        pg.start()
        admin_url = pg.admin_url
    server = start_dovecot()
    sink = TimedSink().start()
    kind = "sqlite" if plan.database == "sqlite" else "postgresql"
    url, drop = create_database(kind, folder, *([admin_url] if admin_url else []))
    service = Service(write_config(folder, url, server, sink, plan.workers), folder / "serve.log")
    lock = threading.Lock()
    feeder = Feeder(server, responses, plan.feed_seconds, lock)
    watch = StallWatch(url, sink, feeder)
    started = time.monotonic()
    try:
        service.start()
        feeder.start()
        watch.start()
        for at, action in schedule(plan, rnd, pg is not None):
            time.sleep(max(0.0, started + at - time.monotonic()))
            report.events.append(f"{time.monotonic() - started:6.1f}s {action}")
            if action == "kill":
                service.kill()
                report.kills += 1
                time.sleep(rnd.uniform(0.0, 1.0))
                service.start()
            elif action == "dovecot_stop":
                lock.acquire()
                server.stop()
            elif action == "dovecot_start":
                server.start()
                lock.release()
            elif action == "sink_stop":
                sink.stop()
            elif action == "sink_start":
                sink.start()
            elif action == "pg_stop" and pg is not None:
                pg.stop("immediate")
            elif action == "pg_start" and pg is not None:
                pg.start()
        feeder.join()
        deadline = time.monotonic() + plan.settle_timeout
        while time.monotonic() < deadline:
            counts = db_counts(url)
            if counts["done"] >= plan.n and sink.count() >= counts["eligible"]:
                break
            time.sleep(0.5)
        # A little longer, so a late duplicate would still be seen.
        time.sleep(3)
        watch.halt.set()
        watch.join()
        service.stop()
        counts = db_counts(url)
        report.stored, report.distinct_message_ids = counts["stored"], counts["distinct"]
        report.submissions, report.eligible = counts["submissions"], counts["eligible"]
        report.unconfirmed = counts["unconfirmed"]
        report.delivered, report.duplicates = sink.count(), sink.duplicates()
        report.longest_stall = watch.longest
        report.longest_receipt_stall = watch.longest_receipts
        report.seconds = time.monotonic() - started
        return report
    finally:
        watch.halt.set()
        service.kill()
        sink.stop()
        drop()
        server.close()
        if pg is not None:
            pg.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--sink-pause", type=float, default=60.0)
    parser.add_argument("--feed-seconds", type=float, default=120.0)
    parser.add_argument("--database", choices=["private", "postgresql", "sqlite"], default="private")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", default="", help="comma-separated seeds, one run each, e.g. 1,2,3")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()] or [args.seed]
    failed = []
    for seed in seeds:
        plan = Plan(n=args.n, kills=args.kills, sink_pause=args.sink_pause, feed_seconds=args.feed_seconds,
                    database=args.database, workers=args.workers, seed=seed)
        with tempfile.TemporaryDirectory(prefix="intake-faults-") as tmp:
            report = run_faults(plan, Path(tmp))
        print("\n".join(report.events))
        print(f"\nintake under faults: N={plan.n}, seed {seed}, database {plan.database}, nproc {os.cpu_count()}, "
              f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(report.table())
        print("OK" if report.ok else "FAILED", flush=True)
        if not report.ok:
            failed.append(seed)
    if len(seeds) > 1:
        print(f"{len(seeds) - len(failed)} of {len(seeds)} seeds OK" + (f"; failed: {failed}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
