"""Extraction in worker processes, so a hostile file can cost at most one worker, never the daemon.

Each worker is a process started through the forkserver (never forked from our threaded
parent) with the readers already imported. A file is sent to an idle worker once, as
pickled bytes; the worker answers with its Extraction. The parent waits at most the
per-file timeout, then kills and replaces the worker. A worker's address space is capped
with RLIMIT_AS, so a file that needs too much memory fails inside it (MemoryError) or
ends it; either way the file is marked failed and a fresh worker takes its place.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import math
import multiprocessing
import queue
import resource
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from intake.errors import ExtractionInterrupted, ExtractorUnavailable
from intake.extract.base import Extraction, FileInput, WorkerTask
from intake.extract.limits import MIB, Limits
from intake.extract.reader import extract_one

log = logging.getLogger(__name__)
_PRELOAD = ["intake.extract.reader"]
READY = "ready"
# A worker that has not said it is ready by then will not: its start failed.
START_TIMEOUT = 30.0
# Room above the idle worker's own size that the smallest useful memory limit leaves for a file.
HEADROOM = 64 * MIB
_START_LOCK = threading.Lock()
INTERRUPTED = "stopped: the service is shutting down"


def _serve(conn: Connection, limits: Limits) -> None:
    """The worker's loop: read a file, extract it, answer; ``None`` asks it to stop."""
    # Ctrl-C belongs to the parent, which stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cap = limits.memory_mb * MIB
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    at_rest = _address_space()
    if cap < at_rest + HEADROOM:
        # A cap the idle worker already nearly fills would fail every file; say so once, at start.
        conn.send(f"memory limit {cap // MIB} MiB is below what a worker needs ({(at_rest + HEADROOM) // MIB} MiB)")
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    # What the worker starts with (the readers, imported by the forkserver) is never garbage: the
    # collections after each file look only at what the file left behind, which costs a tenth of a
    # millisecond, and never write to the pages shared with the forkserver.
    gc.freeze()
    conn.send(READY)
    while True:
        try:
            file = conn.recv()
        except EOFError:
            return
        if file is None:
            return
        conn.send(extract_one(file, limits))
        del file
        # A DOCX leaves its document in reference cycles whose lxml trees the collector does not
        # count, so it seldom runs: without this a worker grew from 15 to 60 MB over 50 DOCX files.
        gc.collect()


def _address_space() -> int:
    """This process's virtual memory size in bytes, which is what RLIMIT_AS limits."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Starts a worker without multiprocessing importing our ``__main__`` into it.

    A worker needs only this module and the readers, which the forkserver has
    already imported; importing the program that started it (``intake serve``:
    the web app, the database layer, the scheduler) would cost every worker
    tens of MB of memory of its own. Multiprocessing imports ``__main__`` by its
    file or module name, so both are hidden while the worker is started.
    """
    names = vars(sys.modules["__main__"])
    with _START_LOCK:
        saved: dict[str, object] = {key: names[key] for key in ("__file__", "__spec__") if key in names}
        names.pop("__file__", None)
        names["__spec__"] = None
        try:
            yield
        finally:
            names.update(saved)


def _own_limit(file: FileInput) -> float:
    """A task's own, shorter time limit (WorkerTask.seconds); no limit of its own for a file."""
    seconds = file.seconds if isinstance(file, WorkerTask) else None
    return math.inf if seconds is None else seconds


class _Worker:
    """One worker process and our end of its pipe; used by one thread at a time."""

    def __init__(self, context: multiprocessing.context.BaseContext, limits: Limits) -> None:
        ours, theirs = context.Pipe(duplex=True)
        self.conn = ours
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(theirs, limits), name="intake-extract", daemon=True
        )
        with _main_module_hidden():
            self.process.start()
        # The child holds its own copy; closing ours lets EOF reach us when it dies.
        theirs.close()
        try:
            answer = ours.recv() if ours.poll(START_TIMEOUT) else None
        except (EOFError, OSError):
            answer = None
        if answer != READY:
            reason = answer if isinstance(answer, str) else self._death()
            self.kill()
            raise ExtractorUnavailable(f"an extraction worker did not start: {reason}")

    def run(self, file: FileInput, timeout: float) -> tuple[Extraction, bool]:
        """The file's extraction, and whether this worker is still fit for the next file."""
        try:
            self.conn.send(file)
            if not self.conn.poll(timeout):
                self.kill()
                return Extraction.failed(f"timeout after {timeout:g} s"), False
            result = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return Extraction.failed(self._death()), False
        if not isinstance(result, Extraction):
            self.kill()
            return Extraction.failed("worker answered nonsense"), False
        return result, True

    def _death(self) -> str:
        self.process.join(timeout=5)
        code = self.process.exitcode
        if code is None:
            self.kill()
            return "worker stopped answering"
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            return f"worker crashed ({name})"
        return f"worker crashed (exit code {code})"

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self, grace: float) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=grace)
        self.kill()


@dataclass
class _Job:
    """One caller's files (one message's attachments), their results, and the message's budget."""

    files: Sequence[FileInput]
    budget: float
    arrived: int
    results: list[Extraction | None]
    waiting: deque[int]
    running: int = 0
    started: int = 0
    # Set when its first file starts: time spent waiting for a worker is not the message's.
    deadline: float | None = None

    def finished(self) -> bool:
        return not self.waiting and self.running == 0


class PoolExtractor:
    """An Extractor running files on ``workers`` processes, from any number of threads at once.

    Each ``extract_many`` call is one message: its files beyond ``max_attachments`` are not
    read, and all of its files together get ``message_budget_seconds`` (a file is given the
    per-file timeout or what is left of the budget, whichever is less). Messages share the
    workers fairly: the next free worker takes a file of the message with the fewest files
    running (then the one with the fewest started, then the earlier), and with more than one
    worker no message holds them all, so a message that arrives behind four slow PDFs is read
    at once, not after them. A message's budget starts with its first file, not while it waits.
    """

    def __init__(self, workers: int, limits: Limits) -> None:
        """Starts the workers now, so a pool that cannot work fails at start (ExtractorUnavailable)."""
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self._limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        # One entry per slot: an idle worker, or None where a worker died and none replaces it yet.
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self._all: set[_Worker] = set()
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: list[_Job] = []
        self._arrivals = itertools.count()
        wanted = limits.workers_per_message
        self._per_message = min(workers, wanted) if wanted else max(1, workers - 1)
        self._closed = False
        self._interrupted = False
        try:
            for _ in range(workers):
                self._idle.put(self._start())
        except ExtractorUnavailable:
            self._stop_all()
            raise
        self._threads = [threading.Thread(target=self._dispatch, name=f"extract-{n}", daemon=True)
                         for n in range(workers)]
        for thread in self._threads:
            thread.start()

    def _start(self) -> _Worker:
        worker = _Worker(self._context, self._limits)
        with self._lock:
            self._all.add(worker)
        return worker

    def _next(self) -> tuple[_Job, int] | None:
        """The fairest file to read next, taken off its job; None when the pool is closing. Holds the lock."""
        while not self._closed:
            ready = [job for job in self._jobs if job.waiting and job.running < self._per_message]
            if ready:
                # Fewest running, then fewest started: a message that has had no turn yet goes
                # before one that has had its turns, whichever came first.
                job = min(ready, key=lambda j: (j.running, j.started, j.arrived))
                job.running += 1
                job.started += 1
                if job.deadline is None:
                    job.deadline = time.monotonic() + job.budget
                return job, job.waiting.popleft()
            self._changed.wait()
        return None

    def _dispatch(self) -> None:
        while True:
            with self._changed:
                taken = self._next()
            if taken is None:
                return
            job, index = taken
            assert job.deadline is not None
            left = job.deadline - time.monotonic()
            if self._interrupted:
                result = Extraction.failed(INTERRUPTED)
            elif left <= 0:
                result = Extraction.failed(f"{self._budget_spent()} before this file")
            else:
                try:
                    file = job.files[index]
                    result = self._run(file, min(self._limits.timeout_seconds, left, _own_limit(file)))
                except Exception as err:  # a dispatcher that died would leave its message waiting for ever
                    log.exception("extraction of %r failed in the pool", job.files[index].filename)
                    result = Extraction.failed(f"extraction failed: {type(err).__name__}")
                if left < self._limits.timeout_seconds and (result.error or "").startswith("timeout after"):
                    result.error = self._budget_spent()
            with self._changed:
                job.results[index] = result
                job.running -= 1
                self._changed.notify_all()

    def _budget_spent(self) -> str:
        return f"the message's extraction time ({self._limits.message_budget_seconds:g} s) was spent"

    def _run(self, file: FileInput, timeout: float) -> Extraction:
        worker = self._idle.get()
        if worker is None:
            # The replacement is started by the thread that needs it, so a failing start
            # costs that file, not a thread blocked forever on an empty pool.
            try:
                worker = self._start()
            except ExtractorUnavailable as err:
                self._idle.put(None)
                return Extraction.failed(str(err))
        with self._lock:
            self._busy.add(worker)
        result, fit = worker.run(file, timeout)
        with self._lock:
            self._busy.discard(worker)
        if self._interrupted:
            fit, result = False, Extraction.failed(INTERRUPTED)
        if fit:
            self._idle.put(worker)
            return result
        with self._lock:
            self._all.discard(worker)
        worker.kill()
        self._idle.put(None)
        log.warning("extraction of %r stopped its worker: %s; a new one takes its place", file.filename, result.error)
        return result

    def extract_many(self, files: Sequence[FileInput]) -> list[Extraction]:
        """The files' extractions in order; raises ExtractionInterrupted when the pool was stopped meanwhile."""
        if self._closed:
            raise RuntimeError("the extractor is closed")
        # Work of our own (archive renditions) is held to the per-file limits only.
        ours = any(isinstance(f, WorkerTask) for f in files)
        cap = len(files) if ours else self._limits.max_attachments
        budget = math.inf if ours else self._limits.message_budget_seconds
        job = _Job(files=files, budget=budget,
                   arrived=next(self._arrivals), results=[None] * len(files),
                   waiting=deque(range(min(len(files), cap))))
        for index in range(cap, len(files)):
            job.results[index] = Extraction.failed(f"more than {cap} attachments: not read")
        with self._changed:
            self._jobs.append(job)
            self._changed.notify_all()
            while not job.finished() and not self._closed:
                self._changed.wait()
            self._jobs.remove(job)
        if self._interrupted or not job.finished():
            raise ExtractionInterrupted("extraction was stopped: the service is shutting down")
        return [r if r is not None else Extraction.failed(INTERRUPTED) for r in job.results]

    def worker_pids(self) -> list[int]:
        """The process ids of the live workers, for operators (and the tests) to watch."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None and w.process.is_alive()]

    def interrupt(self) -> None:
        """Stops the files under way at once (their workers are killed) and fails every waiting caller.

        For shutting down: a message whose extraction was interrupted is not decided, and is
        processed again on the next start.
        """
        with self._changed:
            self._interrupted = True
            busy = list(self._busy)
            for job in self._jobs:
                job.waiting.clear()
            self._changed.notify_all()
        for worker in busy:
            # Only the process: the thread waiting on its pipe sees it die and cleans up.
            if worker.process.is_alive():
                worker.process.kill()

    def close(self) -> None:
        """Waits for files under way, then stops every worker; safe to call twice."""
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join()
        self._stop_all()

    def _stop_all(self) -> None:
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop(grace=2.0)

    def __enter__(self) -> PoolExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExtractor:
    """An Extractor without workers (``workers = 0``): no time or memory bounds; for tests and tools."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits

    def extract_many(self, files: Sequence[FileInput]) -> list[Extraction]:
        return [extract_one(file, self._limits) for file in files]

    def interrupt(self) -> None:
        return None

    def close(self) -> None:
        return None
