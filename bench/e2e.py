"""End-to-end benchmark: mail into Dovecot, ``intake serve`` as a real process, receipts into a sink.

Appends N consultation responses (60 % with a PDF form, 20 % with a DOCX form,
20 % text only; one in ten late) to a Dovecot mailbox while the service runs,
waits until every receipt the service planned to send has reached the sink,
and prints messages per second, arrival-to-receipt latency (arrival = APPEND
time) p50/p95, and the peak memory (PSS) and CPU time of the service with its
extraction workers.
The service process's own CPU time per message is split by stage (parse, store,
extract wait, decide, receipt; the rest is polling, fetching and threads), read
from its /metrics page before it stops; beside it the CPU of the PostgreSQL
backends serving its database and of Dovecot, which share the machine's cores.
Two figures say where the time goes: the wall time of the one thread that decides
(from the service's log; it is the pipeline's narrowest point, so its time per
message is about the run's), and the share of the run in which some task waited
for a core (Linux's pressure stall information), which says how crowded the
cores were, and so how far apart two runs on a shared machine may lie.
Then two floors, in the same run on the same mailbox: one process doing only the
bare imapclient fetch plus text extraction, floor A with pdfplumber and
python-docx (the floor before PDFium), floor B with pypdfium2 and python-docx.
Then a steady load on a fresh mailbox with IMAP IDLE: arrivals at a steady rate
(20 msg/s for 2 minutes unless told otherwise), with arrival-to-receipt p50/p95.

Targets: end-to-end at least 5x floor A and 0.8x floor B; the service process at
most 10 ms CPU per message; p95 at most 5 s at a steady 20 msg/s; peak PSS at
most 250 MB with a 50 MB attachment (``--big``); cost per message from N=1,000 to
N=10,000 at most 1.2x. The load average is printed with the figures.

    python bench/e2e.py [--n 1000] [--database postgresql|sqlite] [--workers 2] [--big]
                        [--rate 20] [--steady-seconds 120]   (--steady-seconds 0: no steady run)
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
import tomllib
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text

from bench.harness import (
    USER,
    Response,
    RssSampler,
    ServerCpu,
    Service,
    TimedSink,
    cpu_of,
    create_database,
    make_responses,
    start_dovecot,
    tree_pids,
    write_config,
)
from intake.db.engine import make_engine
from intake.metrics import STAGES
from tests.dovecot import PASSWORD, Dovecot

FETCH_BATCH = 50


def append_all(server: Dovecot, responses: list[Response], appended: dict[str, float], rate: float = 0) -> None:
    """APPENDs every response over one connection, noting when each was accepted.

    With a ``rate`` (messages per second) the appends keep to a steady schedule; without, as fast as they go.
    """
    started = time.monotonic()
    with server.client(USER) as client:
        for number, one in enumerate(responses):
            if rate:
                time.sleep(max(0.0, started + number / rate - time.monotonic()))
            client.append("INBOX", one.raw)
            appended[one.message_id] = time.time()


def stage_cpu(config: Path) -> dict[str, float]:
    """CPU seconds of the service process by stage so far, from its /metrics page."""
    port = tomllib.loads(config.read_text(encoding="utf-8"))["web"]["port"]
    deadline = time.monotonic() + 60
    while True:  # the web server may still be starting beside the poller
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
                page = response.read().decode("utf-8")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    prefix = 'intake_stage_cpu_seconds_sum{stage="'
    return {line[len(prefix):].split('"', 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in page.splitlines() if line.startswith(prefix)}


def cpu_pressure() -> float | None:
    """Microseconds so far in which some runnable task waited for a core (/proc/pressure/cpu), None without PSI."""
    try:
        line = Path("/proc/pressure/cpu").read_text(encoding="ascii").splitlines()[0]
    except (OSError, IndexError):
        return None
    return float(line.rsplit("total=", 1)[1])


def decider_busy(log: Path) -> tuple[float, float]:
    """From the service's log: the decider's wall time on its batches (seconds) and the mean batch size.

    Each ``processed`` line carries its share of its batch's decision time (``decide_ms``), so
    their sum is the time the one thread that decides spent deciding.
    """
    shares, sizes = 0.0, []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if " processed message=" not in line:
            continue
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        shares += float(fields.get("decide_ms", 0)) / 1000
        sizes.append(int(fields.get("batch", 1)))
    return shares, (len(sizes) / sum(1 / size for size in sizes) if sizes else 0.0)


def counts(engine: Engine) -> tuple[int, int, int]:
    """Messages, messages done (processed or parked), receipts to deliver (neither suppressed nor failed)."""
    with engine.connect() as conn:
        messages = conn.execute(text("SELECT count(*) FROM messages")).scalar_one()
        done = conn.execute(text("SELECT count(*) FROM messages WHERE status IN ('processed','parked')")).scalar_one()
        eligible = conn.execute(text("SELECT count(*) FROM acknowledgements WHERE status <> 'suppressed'")
                                ).scalar_one()
    return int(messages), int(done), int(eligible)


def run_service(args: argparse.Namespace, folder: Path, server: Dovecot, responses: list[Response],
                rate: float = 0) -> dict[str, Any]:
    sink = TimedSink().start()
    url, drop = create_database(args.database, folder)
    config = write_config(folder, url, server, sink, args.workers, idle=bool(rate))
    service = Service(config, folder / "serve.log")
    sampler = RssSampler(service)
    servers = ServerCpu(url.rsplit("/", 1)[-1] if args.database == "postgresql" else None,
                        server.process.pid if server.process is not None else None)
    appended: dict[str, float] = {}
    try:
        service.start()
        sampler.start()
        wait_for_log(service.log, "intake serving")
        # Start-up (imports, migrations, workers) is paid once, not per message: left out.
        assert service.process is not None
        tree = tree_pids(service.process.pid)
        start_cpu, start_service = cpu_of(tree), cpu_of([service.process.pid])
        start_stages = stage_cpu(config)
        servers.sample()
        start_servers = servers.seconds()
        servers.start()
        started, bench_cpu, pressure = time.time(), time.process_time(), cpu_pressure()
        feeder = threading.Thread(target=append_all, args=(server, responses, appended, rate))
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
        after = cpu_pressure()
        waited = (after - pressure) / 1e6 / (time.time() - started) if after is not None and pressure is not None \
            else None
        latencies = [sink.arrived[mid][0] - appended[mid] for mid in appended if mid in sink.arrived]
        # Once more after the last receipt, so that the service's CPU is all counted.
        time.sleep(0.5)
        stages = {k: v - start_stages.get(k, 0.0) for k, v in stage_cpu(config).items()}
        sampler.halt.set()
        sampler.join()
        servers.halt.set()
        servers.join()
        postgres, dovecot = (b - a for a, b in zip(start_servers, servers.seconds(), strict=True))
        service.stop()
        deciding, batch = decider_busy(service.log)
        q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [0.0] * 19
        return {
            "seconds": finished - started, "messages": messages, "eligible": eligible,
            "receipts": sink.count(), "duplicates": sink.duplicates(),
            "p50": statistics.median(latencies), "p95": q[18], "peak_mb": sampler.peak / 2**20,
            "peak_pss_mb": sampler.peak_pss / 2**20, "peak_parts": sampler.peak_parts,
            "cpu": sampler.cpu_seconds - start_cpu, "cpu_service": sampler.cpu_service - start_service,
            "cpu_bench": bench_cpu, "cpu_postgres": postgres, "cpu_dovecot": dovecot,
            "stages": stages, "deciding": deciding, "batch": batch, "cpu_waited": waited,
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


def extract_text(filename: str, data: bytes, pdf_reader: str) -> str:
    """The floor's extraction: the libraries' plain text, nothing of ours (``pdf_reader``: pdfplumber or pdfium)."""
    if filename.lower().endswith(".pdf") and pdf_reader == "pdfium":
        import pypdfium2

        document = pypdfium2.PdfDocument(data)
        try:
            return "\n".join(document[n].get_textpage().get_text_range() for n in range(len(document)))
        finally:
            document.close()
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


def floor(server: Dovecot, expected: int, pdf_reader: str) -> tuple[float, float]:
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
                        extract_text(part.get_filename() or "", data, pdf_reader)
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
    parser.add_argument("--rate", type=float, default=20, help="steady load: messages per second")
    parser.add_argument("--steady-seconds", type=float, default=120,
                        help="steady load: for how long (0: no steady run; shorter on a loaded machine)")
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--keep-log", type=Path, help="copy the service's log here at the end")
    args = parser.parse_args()
    load_before = os.getloadavg()
    responses = make_responses(args.n, big=args.big)
    server = start_dovecot()
    with tempfile.TemporaryDirectory(prefix="intake-e2e-") as tmp:
        try:
            try:
                result = run_service(args, Path(tmp), server, responses)
            finally:
                if args.keep_log and (Path(tmp) / "serve.log").exists():
                    shutil.copy(Path(tmp) / "serve.log", args.keep_log)
            floor_a, floor_a_cpu = floor(server, len(responses), "pdfplumber")
            floor_b, floor_b_cpu = floor(server, len(responses), "pdfium")
        finally:
            server.close()
    load_burst = os.getloadavg()
    steady: dict[str, Any] | None = None
    if args.steady_seconds > 0:
        steady_responses = make_responses(max(2, round(args.rate * args.steady_seconds)), seed=11)
        server = start_dovecot()
        with tempfile.TemporaryDirectory(prefix="intake-e2e-steady-") as tmp:
            try:
                steady = run_service(args, Path(tmp), server, steady_responses, rate=args.rate)
            finally:
                server.close()
    report(args, responses, result, (floor_a, floor_a_cpu), (floor_b, floor_b_cpu), steady,
           (load_before, load_burst, os.getloadavg()))


def report(args: argparse.Namespace, responses: list[Response], result: dict[str, Any],
           floor_a: tuple[float, float], floor_b: tuple[float, float], steady: dict[str, Any] | None,
           loads: tuple[tuple[float, float, float], ...]) -> None:
    n = len(responses)
    rate = n / result["seconds"]
    rate_a, rate_b = n / floor_a[0], n / floor_b[0]
    kinds = {k: sum(1 for r in responses if r.kind == k) for k in ("pdf", "docx", "text", "big")}
    print(f"\nintake end to end: N={n} ({kinds}), database {args.database}, {args.workers} worker(s), "
          f"nproc {os.cpu_count()}")
    print("  load average (1, 5, 15 min) at the start / after the burst and floors / at the end: "
          + " / ".join(", ".join(f"{x:.2f}" for x in load) for load in loads))
    stages = result["stages"]
    counted = sum(stages.get(stage, 0.0) for stage in STAGES)
    rows = [
        ("messages per second (end to end)", f"{rate:.1f}"),
        ("floor A: bare fetch + pdfplumber + python-docx, msg/s", f"{rate_a:.1f}"),
        ("floor B: bare fetch + pypdfium2 + python-docx, msg/s", f"{rate_b:.1f}"),
        ("end to end / floor A (target >= 5)", f"{rate / rate_a:.2f}"),
        ("end to end / floor B (target >= 0.8)", f"{rate / rate_b:.2f}"),
        ("ms per message (end to end)", f"{1000 * result['seconds'] / n:.2f}"),
        ("ms per message (floor A / floor B)", f"{1000 * floor_a[0] / n:.2f} / {1000 * floor_b[0] / n:.2f}"),
        ("CPU ms per message, service + workers (not PG, Dovecot)", f"{1000 * result['cpu'] / n:.1f}"),
        ("... of which the service process itself (target <= 10)", f"{1000 * result['cpu_service'] / n:.1f}"),
        *((f"...... {stage}", f"{1000 * stages.get(stage, 0.0) / n:.2f}") for stage in STAGES),
        ("...... the rest (polling, IMAP fetch, threads)", f"{1000 * (result['cpu_service'] - counted) / n:.2f}"),
        ("the decider's wall time on its batches, ms per message", f"{1000 * result['deciding'] / n:.2f}"),
        ("... messages per decided batch (harmonic mean)", f"{result['batch']:.1f}"),
        ("share of the run some task waited for a core (PSI)",
         "n/a" if result["cpu_waited"] is None else f"{100 * result['cpu_waited']:.0f} %"),
        ("CPU ms per message, floor A / floor B", f"{1000 * floor_a[1] / n:.1f} / {1000 * floor_b[1] / n:.1f}"),
        ("CPU ms per message of this script meanwhile (APPEND, sink)", f"{1000 * result['cpu_bench'] / n:.1f}"),
        ("CPU ms per message of PostgreSQL (this database) / Dovecot",
         f"{1000 * result['cpu_postgres'] / n:.1f} / {1000 * result['cpu_dovecot'] / n:.1f}"),
        ("burst latency p50, s (APPEND -> receipt)", f"{result['p50']:.2f}"),
        ("burst latency p95, s", f"{result['p95']:.2f}"),
        ("peak memory, service + workers, PSS MB (target <= 250)", f"{result['peak_pss_mb']:.0f}"),
        ("peak memory, summed RSS MB (shared pages counted twice)", f"{result['peak_mb']:.0f}"),
        ("receipts arrived / eligible", f"{result['receipts']:.0f} / {result['eligible']:.0f}"),
        ("duplicate receipts", f"{result['duplicates']:.0f}"),
    ]
    if steady is not None:
        rows += [
            (f"steady {args.rate:g} msg/s for {args.steady_seconds:g} s with IDLE: messages",
             f"{steady['messages']:.0f}"),
            ("steady latency p50, s (APPEND -> receipt)", f"{steady['p50']:.2f}"),
            ("steady latency p95, s (target <= 5)", f"{steady['p95']:.2f}"),
            ("steady: service process CPU ms per message", f"{1000 * steady['cpu_service'] / steady['messages']:.1f}"),
            ("steady receipts arrived / eligible", f"{steady['receipts']:.0f} / {steady['eligible']:.0f}"),
        ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>12}")
    print(f"  at the memory peak, PSS MB by process: {result['peak_parts']}")


if __name__ == "__main__":
    main()
