"""End-to-end benchmark: mail into Dovecot, ``intake serve`` as a real process, receipts into a sink.

Appends N consultation responses (60 % with a PDF form, 20 % with a DOCX form,
20 % text only; one in ten late) to a Dovecot mailbox while the service runs,
waits until every receipt the service planned to send has reached the sink,
and prints messages per second, arrival-to-receipt latency (arrival = APPEND
time) p50/p95, and the peak memory (PSS) and CPU time of the service with its
extraction workers.
Then the floor, in the same run on the same mailbox: one process doing only
the bare imapclient fetch plus pdfplumber/python-docx text extraction.

Targets (issue 7): end-to-end at least 0.8x the floor; cost per message from
N=1,000 to N=10,000 at most 1.2x; peak memory at most 300 MB with a 50 MB
attachment (``--big``).

    python bench/e2e.py [--n 1000] [--database postgresql|sqlite] [--workers 2] [--big]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text

from bench.harness import (
    USER,
    Response,
    RssSampler,
    Service,
    TimedSink,
    create_database,
    make_responses,
    start_dovecot,
    write_config,
)
from intake.db.engine import make_engine
from tests.dovecot import PASSWORD, Dovecot

FETCH_BATCH = 50


def append_all(server: Dovecot, responses: list[Response], appended: dict[str, float]) -> None:
    """APPENDs every response over one connection, noting when each was accepted."""
    with server.client(USER) as client:
        for one in responses:
            client.append("INBOX", one.raw)
            appended[one.message_id] = time.time()


def counts(engine: Engine) -> tuple[int, int, int]:
    """Messages, messages done (processed or parked), receipts to deliver (neither suppressed nor failed)."""
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
        done = conn.execute(text("SELECT count(*) FROM messages WHERE status IN ('processed','parked')")).scalar_one()
        eligible = conn.execute(text("SELECT count(*) FROM acknowledgements WHERE status <> 'suppressed'")
                                ).scalar_one()
    return int(messages), int(done), int(eligible)


def run_service(args: argparse.Namespace, folder: Path, server: Dovecot, responses: list[Response]) -> dict[str, Any]:
    sink = TimedSink().start()
    url, drop = create_database(args.database, folder)
    service = Service(write_config(folder, url, server, sink, args.workers), folder / "serve.log")
    sampler = RssSampler(service)
    appended: dict[str, float] = {}
    try:
        service.start()
        sampler.start()
        wait_for_log(service.log, "intake serving")
        started, bench_cpu = time.time(), time.process_time()
        feeder = threading.Thread(target=append_all, args=(server, responses, appended))
        feeder.start()
        deadline = time.monotonic() + args.timeout
        # One engine for the whole run, asked twice a second: the watching must not cost the
        # machine more than a sliver of what it watches.
        watch = make_engine(url)
        while True:
            # join() returns at once when the feeder is done: sleep, or this loop spins on the database.
            if feeder.is_alive():
                feeder.join(0.5)
            else:
                time.sleep(0.5)
            messages, done, eligible = counts(watch)
            if not feeder.is_alive() and done >= len(responses) and sink.count() >= eligible:
                break
            if service.process is not None and service.process.poll() is not None:
                raise SystemExit(f"intake serve exited: {service.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out: {done}/{len(responses)} processed, {sink.count()}/{eligible} receipts")
        watch.dispose()
        bench_cpu = time.process_time() - bench_cpu
        finished = max(t for times in sink.arrived.values() for t in times)
        latencies = [sink.arrived[mid][0] - appended[mid] for mid in appended if mid in sink.arrived]
        sampler.halt.set()
        sampler.join()
        service.stop()
        q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [0.0] * 19
        return {
            "seconds": finished - started, "messages": messages, "eligible": eligible,
            "receipts": sink.count(), "duplicates": sink.duplicates(),
            "p50": statistics.median(latencies), "p95": q[18], "peak_mb": sampler.peak / 2**20,
            "peak_pss_mb": sampler.peak_pss / 2**20, "peak_parts": sampler.peak_parts,
            "cpu": sampler.cpu_seconds, "cpu_service": sampler.cpu_service, "cpu_bench": bench_cpu,
        }
    finally:
        sampler.halt.set()
        if service.process is not None:
            service.kill()
        sink.stop()
        drop()


def wait_for_log(log: Path, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and needle in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise SystemExit(f"{needle!r} not in {log}: {log.read_text(errors='replace')[-3000:] if log.exists() else ''}")


def extract_text(filename: str, data: bytes) -> str:
    """The floor's extraction: the libraries' plain text, nothing of ours."""
    if filename.lower().endswith(".pdf"):
        import pdfplumber

        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return "\n".join(page.extract_text() or "" for page in pdf.pages)
    if filename.lower().endswith(".docx"):
        import docx

        document = docx.Document(io.BytesIO(data))
        parts = [p.text for p in document.paragraphs]
        parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
        return "\n".join(parts)
    return ""


def floor(server: Dovecot, expected: int) -> tuple[float, float]:
    """Seconds (wall, CPU) for one process to fetch every message and extract the text of its attachments."""
    from imapclient import IMAPClient

    started, cpu_started = time.perf_counter(), time.process_time()
    seen = 0
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        uids = client.search([b"UID", b"1:*"])
        for i in range(0, len(uids), FETCH_BATCH):
            for item in client.fetch(uids[i : i + FETCH_BATCH], [b"BODY.PEEK[]", b"INTERNALDATE"]).values():
                msg = message_from_bytes(item[b"BODY[]"], policy=policy.default)
                for part in msg.iter_attachments():
                    data = part.get_payload(decode=True)
                    if isinstance(data, bytes):
                        extract_text(part.get_filename() or "", data)
                seen += 1
    if seen != expected:
        raise SystemExit(f"floor fetched {seen} messages, expected {expected}")
    return time.perf_counter() - started, time.process_time() - cpu_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="responses to append")
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2, help="extraction workers of the service")
    parser.add_argument("--big", action="store_true", help="add one message with a 50 MB attachment")
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--keep-log", type=Path, help="copy the service's log here at the end")
    args = parser.parse_args()
    responses = make_responses(args.n, big=args.big)
    server = start_dovecot()
    with tempfile.TemporaryDirectory(prefix="intake-e2e-") as tmp:
        try:
            try:
                result = run_service(args, Path(tmp), server, responses)
            finally:
                if args.keep_log and (Path(tmp) / "serve.log").exists():
                    shutil.copy(Path(tmp) / "serve.log", args.keep_log)
            floor_seconds, floor_cpu = floor(server, len(responses))
        finally:
            server.close()
    n = len(responses)
    rate, floor_rate = n / result["seconds"], n / floor_seconds
    kinds = {k: sum(1 for r in responses if r.kind == k) for k in ("pdf", "docx", "text", "big")}
    print(f"\nintake end to end: N={n} ({kinds}), database {args.database}, {args.workers} worker(s), "
          f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    rows = [
        ("messages per second (end to end)", f"{rate:.1f}"),
        ("floor: bare fetch + extraction, msg/s", f"{floor_rate:.1f}"),
        ("end to end / floor (target >= 0.8)", f"{rate / floor_rate:.2f}"),
        ("ms per message (end to end)", f"{1000 * result['seconds'] / n:.2f}"),
        ("ms per message (floor)", f"{1000 * floor_seconds / n:.2f}"),
        ("CPU ms per message, service + workers (not PG, Dovecot)", f"{1000 * result['cpu'] / n:.1f}"),
        ("... of which the service process itself", f"{1000 * result['cpu_service'] / n:.1f}"),
        ("CPU ms per message, floor", f"{1000 * floor_cpu / n:.1f}"),
        ("CPU ms per message of this script meanwhile (APPEND, sink)", f"{1000 * result['cpu_bench'] / n:.1f}"),
        ("latency p50, s (APPEND -> receipt)", f"{result['p50']:.2f}"),
        ("latency p95, s", f"{result['p95']:.2f}"),
        ("peak memory, service + workers, PSS MB (target <= 300)", f"{result['peak_pss_mb']:.0f}"),
        ("peak memory, summed RSS MB (shared pages counted twice)", f"{result['peak_mb']:.0f}"),
        ("receipts arrived / eligible", f"{result['receipts']:.0f} / {result['eligible']:.0f}"),
        ("duplicate receipts", f"{result['duplicates']:.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>12}")
    print(f"  at the memory peak, PSS MB by process: {result['peak_parts']}")


if __name__ == "__main__":
    main()
