"""Benchmark: IMAP into the database, against a Dovecot this script starts itself.

Figures:
1. messages per second from IMAP into the database (stored and committed,
   cursor advanced) for 1,000 text messages, beside a bare imapclient fetch of
   the same messages over the same server in the same round (the floor), and
   beside two faster fetches for comparison: imapclient with imaplib's debug
   formatting off, and the poller's own fetch without storing;
   and the same with processing (parse, match, flag, receipt row) included;
2. the time of a poll that finds nothing new, in folders of 1,000 and
   20,000 messages: it must not grow with the folder.
Targets: stored rate at least 0.7x the bare fetch (each round's poll against
the same round's fetch, median over the rounds); empty poll at 20,000 at most
1.5x the one at 1,000.

    python bench/imap.py [--database URL] [--messages 1000] [--big 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from imapclient import IMAPClient  # noqa: E402

from intake import workflows  # noqa: E402
from intake.config import MailboxSettings, settings_from_dict  # noqa: E402
from intake.db.engine import make_engine, session_scope, upgrade  # noqa: E402
from intake.runtime import Runtime  # noqa: E402
from intake.sources import cursor  # noqa: E402
from intake.sources.imap import poll_connected, poll_mailbox  # noqa: E402
from intake.sources.imap_connect import connect, disconnect, quiet  # noqa: E402
from intake.sources.imap_fetch import FETCH_ITEMS, fetch_batch  # noqa: E402
from tests.builders import make_email  # noqa: E402
from tests.dovecot import PASSWORD, Dovecot, dovecot_binary  # noqa: E402

# The poller's default batch size; the bare fetch uses the same.
BATCH = int(MailboxSettings.model_fields["batch_size"].default)


def fill_maildir(server: Dovecot, user: str, count: int) -> None:
    """Drops ``count`` messages straight into the user's Maildir (``cur``, where mail that has
    been in a mailbox for a while lives): far faster than APPEND for 20,000. The file names carry
    the size (``S=``) and the size with CRLF line ends (``W=``), as Dovecot's own delivery and
    APPEND name them: without them a SEARCH LARGER has to read every file.)"""
    cur = server.mail / user / "cur"
    for sub in ("new", "cur", "tmp"):
        (server.mail / user / sub).mkdir(parents=True, exist_ok=True)
    stamp = int(time.time())
    for i in range(count):
        raw = make_email(message_id=f"<bench{i}.{user}@bench.example>",
                         body=f"Høringssvar nummer {i}.\n\nMed vennlig hilsen\nBench")
        raw = raw.replace(b"\n", b"\r\n")
        (cur / f"{stamp}.M{i}P{os.getpid()}.bench,S={len(raw)},W={len(raw)}:2,").write_bytes(raw)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("dovecot")
        for path in [server.mail / user, *(server.mail / user).rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)


# The fetches each round measures, beside the poll that stores: imapclient as it comes (the floor
# the target is set against); imapclient with imaplib's debug formatting off, as the poller runs
# it; and the poller's own FETCH reading (intake/sources/imap_fetch.py), without storing.
FETCHES = ("imapclient", "imapclient, debug off", "the poller's fetch")


def bare_fetch(server: Dovecot, user: str, how: str = FETCHES[0]) -> float:
    """Seconds to fetch every message, in the poller's batch size, over a new connection."""
    started = time.perf_counter()
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
        if how != FETCHES[0]:
            quiet(client)
        client.login(user, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        uids = client.search([b"UID", b"1:*"])
        total = 0
        for i in range(0, len(uids), BATCH):
            batch = uids[i : i + BATCH]
            answer = fetch_batch(client, batch) if how == FETCHES[2] else client.fetch(batch, FETCH_ITEMS)
            for item in answer.values():
                total += len(item[b"BODY[]"])
    return time.perf_counter() - started


def runtime(database: str | None, folder: Path, server: Dovecot, user: str) -> Runtime:
    url = database or f"sqlite:///{folder / 'intake.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    box = {"name": user, "host": "127.0.0.1", "port": server.port, "security": "none", "username": user,
           "password": PASSWORD, "batch_size": BATCH}
    settings = settings_from_dict(
        {"database": {"url": url}, "storage": {"path": str(folder / "store")},
         "workflows": {"path": str(REPO / "workflows")}, "extract": {"workers": 0}, "mailboxes": [box]},
        root=folder,
    )
    rt = Runtime.open(settings, extract=False)
    with session_scope(rt.engine) as session:
        workflows.sync(session, settings.workflows.path)
    return rt


def empty_poll_ms(rt: Runtime, rounds: int = 15) -> tuple[float, float]:
    """Median milliseconds of a poll that finds nothing: as ``poll --once`` does it (connect, log
    in, poll, log out) and as the daemon does it (over its kept connection)."""
    box = rt.settings.mailboxes[0]
    fresh, kept = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        result = poll_mailbox(rt, box)
        fresh.append(time.perf_counter() - started)
        assert result.new == 0, result
    client = connect(box)
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            result = poll_connected(rt, box, client)
            cursor.record_poll(rt.engine, box.name, box.folder)
            kept.append(time.perf_counter() - started)
            assert result.new == 0, result
    finally:
        disconnect(client)
    return statistics.median(fresh) * 1000, statistics.median(kept) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file per run)")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--big", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=9, help="fetch and store rounds; medians are printed")
    args = parser.parse_args()
    if args.database:
        print("note: --database must point at an empty database of its own", file=sys.stderr)
    binary = dovecot_binary()
    if binary is None:
        sys.exit("dovecot is not installed (Debian package dovecot-imapd)")
    server = Dovecot(binary)
    server.start()
    work = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    try:
        rounds = [f"small{r}" for r in range(args.rounds)]
        for user in (*rounds, "processed", "big"):
            fill_maildir(server, user, args.big if user == "big" else args.messages)
        # Let Dovecot index the folders first, so neither side pays for that.
        for user in (*rounds, "processed", "big"):
            bare_fetch(server, user) if user != "big" else None
            with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
                client.login(user, PASSWORD)
                client.select_folder("INBOX", readonly=True)
        # Each round: the fetches of a folder, then a poll storing that folder into the database.
        fetches: dict[str, list[float]] = {how: [] for how in FETCHES}
        stores: list[float] = []
        for user in rounds:
            for how in FETCHES:
                fetches[how].append(bare_fetch(server, user, how))
            rt = runtime(args.database, work / user, server, user)
            started = time.perf_counter()
            result = poll_mailbox(rt, rt.settings.mailboxes[0], process=False)
            stores.append(time.perf_counter() - started)
            assert result.stored == args.messages, result
            if user == rounds[-1]:
                small_empty = empty_poll_ms(rt)
            rt.close()
        stored = statistics.median(stores)

        rt = runtime(args.database, work / "processed", server, "processed")
        started = time.perf_counter()
        result = poll_mailbox(rt, rt.settings.mailboxes[0])
        processed = time.perf_counter() - started
        assert result.processed == args.messages, result
        rt.close()

        rt = runtime(args.database, work / "big", server, "big")
        result = poll_mailbox(rt, rt.settings.mailboxes[0], process=False)
        assert result.stored == args.big, result
        big_empty = empty_poll_ms(rt)
        rt.close()
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)

    n = args.messages
    growth = big_empty[0] / small_empty[0]
    kept_growth = big_empty[1] / small_empty[1]
    print(f"database: {args.database or 'sqlite (fresh file)'}; batch size {BATCH}; nproc {os.cpu_count()}; "
          f"medians of {args.rounds} rounds")
    for how, times in fetches.items():
        print(f"fetch of {n}, {how + ':':<22} {n / statistics.median(times):6.0f} msg/s  "
              f"({statistics.median(times):.3f} s; rounds {', '.join(f'{x:.3f}' for x in times)})")
    print(f"IMAP into the database:            {n / stored:6.0f} msg/s  ({stored:.3f} s; rounds "
          f"{', '.join(f'{x:.3f}' for x in stores)})")
    # Each round's poll against the fetches of the same round, so that the machine's drift over
    # the run (it varies by a third here) does not fall on one side only.
    for i, (how, times) in enumerate(fetches.items()):
        ratio = statistics.median(t / s for t, s in zip(times, stores, strict=True))
        verdict = f"  (target >= 0.70) {'ok' if ratio >= 0.7 else 'MISSED'}" if i == 0 else ""
        print(f"  = {ratio:.2f}x the rate of {how} (median of the rounds' ratios){verdict}")
    print(f"... and processed too:      {n / processed:8.0f} msg/s  ({processed:.2f} s)")
    print(f"empty poll, {n:>6} messages: {small_empty[0]:7.1f} ms new connection, "
          f"{small_empty[1]:6.1f} ms kept connection (medians of 15)")
    print(f"empty poll, {args.big:>6} messages: {big_empty[0]:7.1f} ms new connection, "
          f"{big_empty[1]:6.1f} ms kept connection  = {growth:.2f}x / {kept_growth:.2f}x"
          f"  (target <= 1.50) {'ok' if max(growth, kept_growth) <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
