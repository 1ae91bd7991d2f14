"""Fetching the next batch from the server while the current one is stored.

A poll alternates two kinds of waiting: on the server (FETCH) and on the disk
and database (storing the batch durably). Done one after the other, a poll is
the sum of both; here a thread fetches batch n+1 while the poller stores batch
n, so it is nearer the larger of the two. Only the thread touches the
connection until the iteration ends, and it never runs more than one batch
ahead, so at most two batches are in memory. Nothing about durability
changes: a batch is still stored and committed before the next is handed
over, and a fetched batch that is never stored is simply fetched again by the
next poll.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from imapclient import IMAPClient

from intake.config import MailboxSettings
from intake.sources.imap_connect import imap_errors

Fetch = dict[int, dict[bytes, Any]]
_DONE = object()


@contextmanager
def prefetched(
    box: MailboxSettings,
    client: IMAPClient,
    batches: Sequence[list[int]],
    items: Sequence[bytes],
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Iterator[tuple[list[int], Fetch]]]:
    """Yields an iterator of ``(uids, FETCH response)`` per batch, in order, one batch fetched ahead.

    A failed FETCH is raised (as ``SourceUnavailable``) from the iterator where
    its batch would have come. Leaving the block, early or not, waits for the
    thread, so the connection is the caller's again afterwards.
    """
    handed: queue.Queue[object] = queue.Queue(maxsize=1)
    leaving = threading.Event()

    def fetch_all() -> None:
        try:
            for batch in batches:
                if leaving.is_set() or stop():
                    break
                with imap_errors(box, f"fetching {len(batch)} message(s)"):
                    response = client.fetch(batch, list(items))
                while not leaving.is_set():
                    try:
                        handed.put((batch, response), timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as err:  # handed to the poller, which raises it
            _put_last(handed, leaving, err)
            return
        _put_last(handed, leaving, _DONE)

    def received() -> Iterator[tuple[list[int], Fetch]]:
        while True:
            got = handed.get()
            if got is _DONE:
                return
            if isinstance(got, BaseException):
                raise got
            yield cast(tuple[list[int], Fetch], got)

    thread = threading.Thread(target=fetch_all, name=f"fetch-{box.name}", daemon=True)
    thread.start()
    try:
        yield received()
    finally:
        leaving.set()
        thread.join()


def _put_last(handed: queue.Queue[object], leaving: threading.Event, value: object) -> None:
    while not leaving.is_set():
        try:
            handed.put(value, timeout=0.1)
            return
        except queue.Full:
            continue
