"""The kill test: a sender process killed with SIGKILL at random moments while 200 receipts are due.

It is restarted 20 times, then left to finish. The SMTP sink counts what it
accepted: every receipt must end ``sent``, no Message-ID may arrive twice, and a
receipt the sink never saw may only be one the outbox marked as unconfirmed
(the crash window described in docs/receipts.md). The figures are printed.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Callable

import pytest

from intake.receipts.outbox import UNCONFIRMED, deliver_due
from intake.runtime import Runtime
from tests.receipt_helpers import RuntimeFactory, acks, due_receipts, make_rt  # noqa: F401  (fixture)
from tests.smtpsink import Sink

RECEIPTS = 200
RESTARTS = 20


def _sender(rt: Runtime) -> int:
    """Forks a process that delivers due receipts until it is killed; returns its pid."""
    # Forking (rather than starting a new interpreter) keeps each restart cheap; the child opens
    # its own engine and never returns into the test.
    rt.engine.dispose()
    pid = os.fork()
    if pid == 0:
        try:
            mine = Runtime.open(rt.settings, extract=False)
            while True:
                deliver_due(mine)
                time.sleep(0.005)
        finally:
            os._exit(1)
    return pid


def _wait_for(predicate: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.001)


@pytest.mark.slow
def test_sender_killed_at_random_moments_sends_no_receipt_twice(
    make_rt: RuntimeFactory, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    sink = Sink().start()
    try:
        rt = make_rt(**sink.smtp_settings(claim_seconds=0.5, batch_size=10, retry_base_seconds=0))
        due_receipts(rt, RECEIPTS)
        seed = int(os.environ.get("INTAKE_KILL_SEED", time.time_ns() % 1_000_000))
        rng = random.Random(seed)
        per_run = []
        started = time.monotonic()
        for _ in range(RESTARTS):
            before = len(sink.messages)
            pid = _sender(rt)
            # Most kills land at a random moment once it is delivering, so they hit every phase of a
            # send; the others land while it starts, claims and connects.
            if rng.random() < 0.7:
                _wait_for(lambda before=before: len(sink.messages) > before, 5.0)  # type: ignore[misc]
            time.sleep(rng.uniform(0.0, 0.03))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            per_run.append(len(sink.messages) - before)
        # Afterwards one sender runs until nothing is left; leases of the killed ones run out quickly.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(a.status in {"pending", "sending"} for a in acks(rt)):
            deliver_due(rt)
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        rows = acks(rt)
        counts = Counter(d.message["Message-ID"] for d in sink.messages)
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        lost = [a.id for a in rows if counts[a.message_id] == 0]
        unconfirmed = {a.id for a in rows if (a.last_error or "").startswith(UNCONFIRMED)}
        with capsys.disabled():
            print(f"\nkill test (seed {seed}): {RECEIPTS} receipts, {RESTARTS} SIGKILLs, delivered per run "
                  f"{per_run}; {len(counts)} distinct at the sink, {duplicates} duplicates, {len(lost)} lost, "
                  f"{len(unconfirmed)} marked unconfirmed; {elapsed:.1f} s")
        assert duplicates == 0
        assert [a.status for a in rows] == ["sent"] * RECEIPTS
        assert set(lost) <= unconfirmed, "a receipt was lost without being marked unconfirmed"
    finally:
        sink.stop()
