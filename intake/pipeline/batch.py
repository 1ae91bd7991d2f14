"""Processes stored messages with extraction overlapped and decisions in order, a few per transaction.

Processing one message after the other leaves the extraction workers idle while
a message is decided and all but one idle while one attachment is extracted; on
two cores that made the service half as fast as a bare fetch-and-extract loop
(bench/e2e.py). Here up to three times as many messages as there are workers are
prepared (read, parsed, attachments extracted) in threads ahead of the ones
being decided, so a worker never waits for a decision to get its next file, while the
decisions (match, flags, submission, receipt row) stay sequential and in order
in the calling thread: no two transactions of this process race for the same
organisation or rate limit. The messages already prepared when the decider is
free are decided together, in one transaction (``finish.finish_batch``): a
decision spent most of its time waiting for its dozen statements and its
commit, each a turn given up to the other threads. The window is small so that
at most a few parsed messages are held in memory at once.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from intake.pipeline.finish import finish_batch
from intake.pipeline.prepare import Prepared, prepare_message
from intake.pipeline.watchdog import prepare_watched, wait_prepared
from intake.runtime import Runtime

# At most this many prepared messages are decided in one transaction (``finish_batch``).
DECIDED_TOGETHER = 8


def prepare_ahead(rt: Runtime) -> int:
    """How many messages to prepare ahead: three per extraction worker, none without workers.

    Two kept every worker busy; the third makes the decider's batches larger, and a batch of
    six cost the decider about a sixth less CPU a message than one of four.
    """
    return 3 * rt.settings.extract.workers if rt.extractor is not None else 0


def process_many(
    rt: Runtime,
    message_pks: Iterable[int],
    *,
    stop: threading.Event | None = None,
    done: Callable[[int, int | None], None] | None = None,
) -> list[int | None]:
    """Processes the messages in order; returns each one's submission id (None: failed or parked).

    ``message_pks`` may be a generator that stores the next messages as it is
    asked for them (a poll's fetched batches): it is advanced only when the
    window has room, so the messages of one batch are prepared while the last
    ones of the batch before are decided. With ``stop`` set no new message is
    started; those already prepared are decided, the rest stay stored for
    ``process_pending``. ``done`` is called after each decision with the
    message and its result.
    """
    ahead = prepare_ahead(rt)
    results: list[int | None] = []
    todo: Iterator[int] = iter(message_pks)

    def decide(batch: list[Prepared]) -> None:
        for prepared, result in zip(batch, finish_batch(rt, batch), strict=True):
            results.append(result)
            if done is not None:
                done(prepared.message_pk, result)

    if ahead < 2:
        for pk in todo:
            if stop is not None and stop.is_set():
                break
            decide([prepare_watched(rt, pk)])
        return results
    window: deque[tuple[int, float, Future[Prepared]]] = deque()
    # Not a with-block: leaving it would wait for a preparation that ran past its budget.
    pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="prepare")

    def top_up() -> None:
        while len(window) < ahead and not (stop is not None and stop.is_set()):
            following = next(todo, None)
            if following is None:
                return
            window.append((following, time.monotonic(), pool.submit(prepare_message, rt, following)))

    try:
        while True:
            top_up()
            if not window:
                break
            pk, started, future = window.popleft()
            batch = [wait_prepared(rt, pk, future, started)]
            # Whatever is ready behind it goes along, in order; nothing waits for a batch to fill.
            while window and len(batch) < DECIDED_TOGETHER and window[0][2].done():
                pk, started, future = window.popleft()
                batch.append(wait_prepared(rt, pk, future, started))
            # The next ones are prepared while these are decided.
            top_up()
            decide(batch)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results
