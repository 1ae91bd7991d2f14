"""Fetching the next batch from the server while the current one is stored.

A poll alternates two kinds of waiting: on the server (FETCH) and on the disk
and database (storing the batch durably). Done one after the other, a poll is
the sum of both; here a thread fetches batch n+1 while the poller stores batch
n, so it is nearer the larger of the two. Only the thread touches the
connection until the iteration ends, and it never runs more than one batch
ahead, so at most two batches are in memory (one, when it is a large message). Nothing about durability
changes: a batch is still stored and committed before the next is handed
over, and a fetched batch that is never stored is simply fetched again by the
next poll.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import cast

from imapclient import IMAPClient

from intake.config import MailboxSettings
from intake.sources.imap_connect import imap_errors
from intake.sources.imap_fetch import Fetch, Spool, fetch_batch

_DONE = object()
# Batches in memory at once: the one being stored and the one being fetched.
AHEAD = 2


@contextmanager
def prefetched(
    box: MailboxSettings,
    client: IMAPClient,
    batches: Sequence[list[int]],
    stop: Callable[[], bool] = lambda: False,
    alone: Callable[[list[int]], bool] = lambda _batch: False,
    spool: Spool | None = None,
) -> Iterator[Iterator[tuple[list[int], Fetch]]]:
    """Yields an iterator of ``(uids, FETCH response)`` per batch, in order, one batch fetched ahead.

    A batch for which ``alone`` is true (a large message) is fetched only once
    the poller is done with everything before it, and nothing is fetched while
    the poller has it, so at most one large message is in memory. A failed
    FETCH is raised (as ``SourceUnavailable``) from the iterator where its
    batch would have come. Leaving the block, early or not, waits for the
    thread, so the connection is the caller's again afterwards. Batches are read with
    ``spool`` (see ``fetch_batch``): a large body goes to disk, not into memory, also when it
    arrived too late for the search that sets large messages apart.
    """
    handed: queue.Queue[object] = queue.Queue()
    # A batch holds one token from its fetch until the poller asks for the next batch; a
    # batch fetched alone holds them all.
    tokens = threading.Semaphore(AHEAD)
    leaving = threading.Event()

    def take(count: int) -> bool:
        taken = 0
        while taken < count:
            if leaving.is_set():
                if taken:
                    tokens.release(taken)
                return False
            if tokens.acquire(timeout=0.1):
                taken += 1
        return True

    def fetch_all() -> None:
        try:
            for batch in batches:
                weight = AHEAD if alone(batch) else 1
                if stop() or not take(weight):
                    break
                with imap_errors(box, f"fetching {len(batch)} message(s)"):
                    response = fetch_batch(client, batch, spool)
                handed.put((batch, response, weight))
                # Not kept by this thread while it waits for its next turn: a large message
                # would stay in memory all the time the poller processes it.
                del response
        except BaseException as err:  # handed to the poller, which raises it
            handed.put(err)
            return
        handed.put(_DONE)

    def received() -> Iterator[tuple[list[int], Fetch]]:
        held = 0
        slot: list[tuple[list[int], Fetch]] = []
        while True:
            if held:
                tokens.release(held)
            got = handed.get()
            if got is _DONE:
                return
            if isinstance(got, BaseException):
                raise got
            batch, response, held = cast(tuple[list[int], Fetch, int], got)
            slot.append((batch, response))
            # No local of this suspended generator may keep the batch alive once the poller lets go.
            del got, batch, response
            yield slot.pop()

    thread = threading.Thread(target=fetch_all, name=f"fetch-{box.name}", daemon=True)
    thread.start()
    try:
        yield received()
    finally:
        leaving.set()
        thread.join()
