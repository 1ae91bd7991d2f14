"""Benchmark: the cost of processing one message must not grow with the messages already stored.

For each size N (1,000 and 10,000 by default) a fresh database gets the shipped
workflows and N-200 responses that are already processed, and then 200 more
responses are stored and processed for real (parse, match, organisation, flags,
submission, receipt row; text only, no extraction workers), each timed on its
own. The earlier rows are inserted directly, in the shape the pipeline gives
them (message, submission with its rule log, flags, receipt, organisation,
audit entries), since processing 10,000 one by one would take minutes. The
sizes take turns in the timed part, so a busy machine slows them alike.

The responses, numbered i: one in ten comes from one of five senders who write
again and again (so most of their responses are duplicates, and now and then
one is an out-of-office reply), one in ten from a private address at a public
mail provider, the rest each from a domain of its own; one in ten answers
the invitation (an In-Reply-To we do not know); almost all name case 22/414,
in the subject or only in the body.

Figures: the mean and median milliseconds per message at each N, the medians
of the repeating senders' messages and of the replies on their own (their
lookups are the ones that depend most on what is stored), and the ratio of the
largest N to the smallest. Target: a median at most 1.2x the one at the smallest.

    python bench/process.py [--database POSTGRESQL_URL] [--sizes 1000,10000] [--timed 200]

With ``--database`` each size gets a database of its own, created on that
server and dropped afterwards; without it, a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, text  # noqa: E402
from sqlmodel import Session, SQLModel, col, select  # noqa: E402

from intake import workflows  # noqa: E402
from intake.config import settings_from_dict  # noqa: E402
from intake.db.engine import make_engine, session_scope, upgrade  # noqa: E402
from intake.db.models import (  # noqa: E402
    Acknowledgement,
    AuditLog,
    Case,
    Flag,
    Message,
    Organisation,
    Submission,
)
from intake.decide import organisations  # noqa: E402
from intake.decide.rules import CHAIN  # noqa: E402
from intake.pipeline.run import process_message  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.store.messages import Source, store_message  # noqa: E402
from tests.builders import make_email  # noqa: E402
from tests.pgscratch import scratch_database  # noqa: E402

FIRST = datetime(2022, 9, 20, 8, 0, tzinfo=UTC)
REPEATERS = [
    ("Statsforvalteren i Oslo og Viken", "sfovpost@statsforvalteren.no"),
    ("Statens legemiddelverk", "post@legemiddelverket.no"),
    ("Helsedirektoratet", "postmottak@helsedir.no"),
    ("Kari Nordmann", "kari.nordmann@gmail.com"),
    ("Firma AS", "post@firma.no"),
]
INVITATION = "<invitasjon-22-414@ehelse.no>"
BATCH = 1000


def response(i: int) -> dict[str, Any]:
    """What response number ``i`` is: sender, subject, body and headers, the same on every run."""
    auto = False
    if i % 10 == 0:
        name, address = REPEATERS[(i // 10) % len(REPEATERS)]
        auto = i % 100 == 50
    elif i % 10 == 5:
        name, address = f"Person {i}", f"person{i}@gmail.com"
    else:
        name, address = f"Virksomhet {i}", f"post@virksomhet{i}.no"
    subject, body = "Høringssvar sak 22/414", f"Vedlagt følger vårt høringssvar, nummer {i}.\n\nHilsen\n{name}"
    if i % 20 == 7:
        subject, body = "Høringssvar", f"Saksnummer 22/414.\n\n{body}"
    if auto:
        subject, body = "Automatisk svar: Høringssvar sak 22/414", "Jeg er på ferie til mandag."
    headers = {"In-Reply-To": INVITATION} if i % 10 == 3 else {}
    if auto:
        headers["Auto-Submitted"] = "auto-replied"
    return {"name": name, "address": address, "subject": subject, "body": body, "headers": headers, "auto": auto,
            "message_id": f"<svar{i}@{address.split('@')[1]}>", "received_at": FIRST + timedelta(seconds=30 * i)}


def runtime(url: str, folder: Path) -> Runtime:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    settings = settings_from_dict(
        {"database": {"url": url}, "storage": {"path": str(folder / "store")},
         "workflows": {"path": str(REPO / "workflows")}, "extract": {"workers": 0}},
        root=folder,
    )
    rt = Runtime.open(settings, extract=False)
    with session_scope(rt.engine) as session:
        workflows.sync(session, settings.workflows.path)
    return rt


def insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> list[int]:
    """Inserts many rows at once and returns their ids, in the order of ``rows``."""
    if not rows:
        return []
    table: Any = model.__table__  # type: ignore[attr-defined]
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [row[0] for row in session.execute(statement, rows)]


def prefill(rt: Runtime, count: int) -> None:
    """Adds ``count`` responses as the pipeline leaves them, without running it."""
    with session_scope(rt.engine) as session:
        case_id = session.exec(select(Case.id).where(Case.number == "22/414")).one()
        orgs: dict[str, tuple[int, str]] = {}
        for name, address in REPEATERS:
            org = organisations.resolve(session, sender=address, sender_name=name, case_id=case_id)
            assert org is not None and org.id is not None
            orgs[address] = (org.id, org.name)
    for start in range(0, count, BATCH):
        with session_scope(rt.engine) as session:
            _prefill_batch(session, range(start, min(start + BATCH, count)), case_id, orgs)
    if rt.engine.dialect.name == "postgresql":
        # A database that grew this large has been analysed by autovacuum long since; without
        # statistics the planner takes these fresh tables for empty ones.
        with rt.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()


def _prefill_batch(session: Session, numbers: range, case_id: int, orgs: dict[str, tuple[int, str]]) -> None:
    responses = [response(i) for i in numbers]
    new_orgs = [r for r in responses if r["address"] not in orgs]
    new_ids = insert_rows(session, Organisation, [
        {"key": f"person:{r['address']}", "name": r["name"], "kind": "person", "domains": [],
         "created_at": r["received_at"]} if r["address"].endswith("@gmail.com") else
        {"key": f"domain:{r['address'].split('@')[1]}", "name": r["address"].split("@")[1], "kind": "domain",
         "domains": [r["address"].split("@")[1]], "created_at": r["received_at"]}
        for r in new_orgs
    ])
    for r, org_id in zip(new_orgs, new_ids, strict=True):
        orgs[r["address"]] = (org_id, r["name"] if r["address"].endswith("@gmail.com") else r["address"].split("@")[1])
    message_ids = insert_rows(session, Message, [
        {"sha256": f"{i:064x}", "size": 1000, "blob": "prefilled", "message_id": r["message_id"], "source": "file",
         "received_at": r["received_at"], "stored_at": r["received_at"], "status": "processed", "attempts": 0,
         "processed_at": r["received_at"]}
        for i, r in zip(numbers, responses, strict=True)
    ])
    # The first response of a repeating sender is the original; the later ones are duplicates.
    flags = [["auto_reply"] if r["auto"] else ["duplicate_organisation"] if r["address"] in dict(REPEATERS).values()
             and i >= 10 * len(REPEATERS) else [] for i, r in zip(numbers, responses, strict=True)]
    submission_ids = insert_rows(session, Submission, [
        {"message_ref": message_id, "message_id": r["message_id"], "sender": r["address"], "sender_name": r["name"],
         "subject": r["subject"], "body_text": r["body"], "received_at": r["received_at"], "case_id": case_id,
         "case_number": "22/414", "match_source": "subject", "late": False,
         "organisation_id": orgs[r["address"]][0], "organisation": orgs[r["address"]][1],
         "rule_log": [{"rule": rule.name, "flag": rule.flag, "hit": rule.flag in hit,
                       "detail": "prefilled" if rule.flag in hit else None} for rule in CHAIN],
         "receipt_ref": f"P-{i:08d}", "review_status": "open", "withheld": False,
         "created_at": r["received_at"], "updated_at": r["received_at"]}
        for i, r, message_id, hit in zip(numbers, responses, message_ids, flags, strict=True)
    ])
    insert_rows(session, Flag, [
        {"submission_id": sid, "name": name, "detail": "prefilled", "created_at": r["received_at"]}
        for sid, r, hit in zip(submission_ids, responses, flags, strict=True) for name in hit
    ])
    insert_rows(session, Acknowledgement, [
        {"submission_id": sid, "kind": "on_time", "status": "suppressed" if r["auto"] else "sent",
         "recipients": [r["address"]], "recipient": r["address"], "language": "nb", "attempts": 0 if r["auto"] else 1,
         "message_id": None if r["auto"] else f"<kvittering.{i}@ehelse.no>", "created_at": r["received_at"],
         "updated_at": r["received_at"], "sent_at": None if r["auto"] else r["received_at"]}
        for i, sid, r in zip(numbers, submission_ids, responses, strict=True)
    ])
    insert_rows(session, AuditLog, [
        {"at": r["received_at"], "actor": "system", "action": action, "entity": entity, "entity_id": entity_id}
        for r, mid, sid in zip(responses, message_ids, submission_ids, strict=True)
        for action, entity, entity_id in (("message.stored", "message", mid), ("submission.created", "submission", sid),
                                          ("ack.planned", "acknowledgement", sid))
    ])


@dataclass
class Run:
    """One size: its database with the earlier responses, and the last ones stored, waiting."""

    size: int
    rt: Runtime
    stored: list[tuple[int, int]]  # (response number, stored message id)
    times: dict[int, float] = field(default_factory=dict)

    def process(self, count: int) -> None:
        """Processes the next ``count`` stored messages, timing each one."""
        for i, pk in self.stored[len(self.times):len(self.times) + count]:
            started = time.perf_counter()
            assert process_message(self.rt, pk) is not None
            self.times[i] = (time.perf_counter() - started) * 1000

    def flags(self) -> Counter[str]:
        """The flags the processed messages got."""
        with Session(self.rt.engine) as session:
            return Counter(session.exec(
                select(Flag.name).join(Submission, col(Submission.id) == col(Flag.submission_id))
                .where(col(Submission.message_ref).in_([pk for _, pk in self.stored]))
            ).all())


def prepare(stack: ExitStack, server: str | None, size: int, timed: int) -> Run:
    """A database with ``size - timed`` responses processed and ``timed`` more stored."""
    folder = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    url = stack.enter_context(database(server, folder))
    rt = runtime(url, folder)
    stack.callback(rt.close)
    prefill(rt, size - timed)
    stored = []
    for i in range(size - timed, size):
        r = response(i)
        raw = make_email(sender=f"{r['name']} <{r['address']}>", subject=r["subject"], body=r["body"],
                         headers=r["headers"], message_id=r["message_id"])
        stored.append((i, store_message(rt, raw, Source(kind="file"), r["received_at"]).id))
    return Run(size, rt, stored)


@contextmanager
def database(server: str | None, folder: Path) -> Iterator[str]:
    if server is None:
        yield f"sqlite:///{folder / 'intake.db'}"
        return
    with scratch_database("intake_bench", server) as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a PostgreSQL server's URL (default: SQLite files)")
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated N (default: 1000,10000)")
    parser.add_argument("--timed", type=int, default=200, help="messages timed at each N (default: 200)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with ExitStack() as stack:
        # A few messages first, not counted: the first ones of a process pay for imports and first uses.
        prepare(stack, args.database, 30, 20).process(20)
        runs = [prepare(stack, args.database, size, args.timed) for size in sizes]
        # The sizes take turns, ten messages each, so that the load of a shared machine falls on all alike.
        for _ in range(0, args.timed, 10):
            for run in runs:
                run.process(10)
        for run in runs:
            every = list(run.times.values())
            print(f"N={run.size:>6}: {statistics.mean(every):6.2f} ms mean, {statistics.median(every):6.2f} ms median "
                  f"per message over the last {args.timed}")
            # The kinds whose lookups depend most on what is stored, on their own.
            repeating = statistics.median(ms for i, ms in run.times.items() if i % 10 == 0)
            replies = statistics.median(ms for i, ms in run.times.items() if i % 10 == 3)
            print(f"          medians: {repeating:6.2f} ms repeating senders, {replies:6.2f} ms replies to the"
                  " invitation; flags: " + ", ".join(f"{name} {n}" for name, n in sorted(run.flags().items())))
        print(f"database: {'postgresql' if args.database else 'sqlite'}")
        if len(runs) > 1:
            small, big = runs[0].times.values(), runs[-1].times.values()
            ratio = statistics.median(big) / statistics.median(small)
            print(f"N={runs[-1].size} / N={runs[0].size}: median {ratio:.2f}x, mean "
                  f"{statistics.mean(big) / statistics.mean(small):.2f}x"
                  f"  (target <= 1.20) {'ok' if ratio <= 1.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
