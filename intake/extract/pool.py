"""Extraction in worker processes, so a hostile file can cost at most one worker, never the daemon.

Each worker is a process started through the forkserver (never forked from our threaded
parent) with the readers already imported. A file is sent to an idle worker once, as
pickled bytes; the worker answers with its Extraction. The parent waits at most the
per-file timeout, then kills and replaces the worker. A worker's address space is capped
with RLIMIT_AS, so a file that needs too much memory fails inside it (MemoryError) or
ends it; either way the file is marked failed and a fresh worker takes its place.
Workers run at a lower CPU priority than the service (``NICENESS``).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import math
import multiprocessing
import os
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
# How much lower a worker's CPU priority is than the service's. A file's text can wait a few
# milliseconds; the service's decisions, the database's answers and the web pages for staff are
# what a person waits for. When the cores are busy, they now get one first (bench/e2e.py, two
# cores: 54 against 52 messages a second, the medians of three runs each, with less spread).
NICENESS = 10


def _serve(conn: Connection, limits: Limits) -> None:
    """The worker's loop: read a file, extract it, answer; ``None`` asks it to stop."""
    # Ctrl-C belongs to the parent, which stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
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
    # The caller waits on this (with the pool's lock) for its job to finish or for a free worker.
    done: threading.Condition
    caller_waiting: bool = False
    running: int = 0
    started: int = 0
    # Set when its first file starts: time spent waiting for a worker is not the message's.
    deadline: float | None = None

    def finished(self) -> bool:
        return not self.waiting and self.running == 0


@dataclass
class _Turn:
    """A file taken off its job together with the worker slot it runs in (None: start a new worker)."""

    job: _Job
    index: int
    slot: _Worker | None


class PoolExtractor:
    """An Extractor running files on ``workers`` processes, from any number of threads at once.

    Each ``extract_many`` call is one message: its files beyond ``max_attachments`` are not
    read, and all of its files together get ``message_budget_seconds`` (a file is given the
    per-file timeout or what is left of the budget, whichever is less). Messages share the
    workers fairly: the next free worker takes a file of the message with the fewest files
    running (then the one with the fewest started, then the earlier), and with more than one
    worker no message holds them all, so a message that arrives behind four slow PDFs is read
    at once, not after them. A message's budget starts with its first file, not while it waits.

    A file and a free worker are taken together, under one lock, by whichever thread finds the
    pair: the caller itself when its own message is the fairest (a message of one file then
    costs no hand-off between threads, which is most of the pool's cost for a file of a few
    milliseconds), else one of the pool's threads, one per worker, woken one at a time and
    only when there is such a pair.
    """

    def __init__(self, workers: int, limits: Limits) -> None:
        """Starts the workers now, so a pool that cannot work fails at start (ExtractorUnavailable)."""
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self._limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)
        # One entry per free slot: an idle worker, or None where a worker died and none replaces it yet.
        self._idle: list[_Worker | None] = []
        self._all: set[_Worker] = set()
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        # The pool's threads wait here for a file and a free worker; close waits here for the files under way.
        self._work = threading.Condition(self._lock)
        self._jobs: list[_Job] = []
        self._arrivals = itertools.count()
        self._under_way = 0
        wanted = limits.workers_per_message
        self._per_message = min(workers, wanted) if wanted else max(1, workers - 1)
        self._closed = False
        self._interrupted = False
        try:
            for _ in range(workers):
                self._idle.append(self._start())
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

    def _fairest(self) -> _Job | None:
        """The job whose file the next free worker should take, if any. Holds the lock."""
        ready = [job for job in self._jobs if job.waiting and job.running < self._per_message]
        # Fewest running, then fewest started: a message that has had no turn yet goes
        # before one that has had its turns, whichever came first.
        return min(ready, key=lambda j: (j.running, j.started, j.arrived)) if ready else None

    def _take(self, own: _Job | None = None) -> _Turn | None:
        """The fairest file and a free slot, taken off the pool; with ``own``, only that job's. Holds the lock."""
        if self._closed or not self._idle:
            return None
        job = self._fairest()
        if job is None or (own is not None and job is not own):
            return None
        job.running += 1
        job.started += 1
        if job.deadline is None:
            job.deadline = time.monotonic() + job.budget
        self._under_way += 1
        return _Turn(job, job.waiting.popleft(), self._idle.pop())

    def _wake_one(self) -> None:
        """Wakes one thread when a file and a free worker wait for each other. Holds the lock.

        The file's own caller when it is waiting, so that its answer needs no hand-off back;
        else one of the pool's threads. Whoever takes the pair calls this again for the next.
        """
        job = self._fairest() if self._idle and not self._closed else None
        if job is None:
            return
        if job.caller_waiting:
            job.caller_waiting = False
            job.done.notify()
        else:
            self._work.notify()

    def _dispatch(self) -> None:
        while True:
            with self._work:
                turn = self._take()
                while turn is None and not self._closed:
                    self._work.wait()
                    turn = self._take()
                if turn is None:
                    return
                # More pairs than this one (a message of many files on many workers): pass the word on.
                self._wake_one()
            self._serve(turn)

    def _serve(self, turn: _Turn) -> None:
        """Reads one taken file in its slot, then gives the slot back and records the result. Without the lock."""
        job, index = turn.job, turn.index
        assert job.deadline is not None
        left = job.deadline - time.monotonic()
        slot = turn.slot
        if self._interrupted:
            result = Extraction.failed(INTERRUPTED)
        elif left <= 0:
            result = Extraction.failed(f"{self._budget_spent()} before this file")
        else:
            try:
                file = job.files[index]
                result, slot = self._run(slot, file, min(self._limits.timeout_seconds, left, _own_limit(file)))
            except Exception as err:  # a file whose error escaped would leave its message waiting for ever
                log.exception("extraction of %r failed in the pool", job.files[index].filename)
                result = Extraction.failed(f"extraction failed: {type(err).__name__}")
            if left < self._limits.timeout_seconds and (result.error or "").startswith("timeout after"):
                result.error = self._budget_spent()
        with self._lock:
            self._idle.append(slot)
            job.results[index] = result
            job.running -= 1
            self._under_way -= 1
            if job.finished():
                job.done.notify()
            if self._closed and self._under_way == 0:
                self._work.notify_all()
        # No wake-up here: this thread looks for the next pair itself (see _dispatch, extract_many).

    def _budget_spent(self) -> str:
        return f"the message's extraction time ({self._limits.message_budget_seconds:g} s) was spent"

    def _run(self, slot: _Worker | None, file: FileInput, timeout: float) -> tuple[Extraction, _Worker | None]:
        """The file's extraction, and what its slot holds afterwards: the worker if still fit, else None."""
        worker = slot
        if worker is None:
            # The replacement is started by the thread that needs it, so a failing start
            # costs that file, not a thread blocked forever on an empty pool.
            try:
                worker = self._start()
            except ExtractorUnavailable as err:
                return Extraction.failed(str(err)), None
        with self._lock:
            self._busy.add(worker)
        result, fit = worker.run(file, timeout)
        with self._lock:
            self._busy.discard(worker)
        if self._interrupted:
            fit, result = False, Extraction.failed(INTERRUPTED)
        if fit:
            return result, worker
        with self._lock:
            self._all.discard(worker)
        worker.kill()
        log.warning("extraction of %r stopped its worker: %s; a new one takes its place", file.filename, result.error)
        return result, None

    def extract_many(self, files: Sequence[FileInput]) -> list[Extraction]:
        """The files' extractions in order; raises ExtractionInterrupted when the pool was stopped meanwhile."""
        if self._closed:
            raise RuntimeError("the extractor is closed")
        # Work of our own (archive renditions) is held to the per-file limits only.
        ours = any(isinstance(f, WorkerTask) for f in files)
        cap = len(files) if ours else self._limits.max_attachments
        budget = math.inf if ours else self._limits.message_budget_seconds
        job = _Job(files=files, budget=budget, arrived=next(self._arrivals), results=[None] * len(files),
                   waiting=deque(range(min(len(files), cap))), done=threading.Condition(self._lock))
        for index in range(cap, len(files)):
            job.results[index] = Extraction.failed(f"more than {cap} attachments: not read")
        with self._lock:
            self._jobs.append(job)
            try:
                while not job.finished() and not self._closed:
                    turn = self._take(own=job)
                    if turn is not None:
                        # Our own file on a free worker: read here rather than handed to a pool thread.
                        self._wake_one()
                        self._lock.release()
                        try:
                            self._serve(turn)
                        finally:
                            self._lock.acquire()
                        continue
                    self._wake_one()
                    job.caller_waiting = True
                    job.done.wait()
                    job.caller_waiting = False
            finally:
                self._jobs.remove(job)
                # The slot our last file freed may be another message's turn.
                self._wake_one()
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
        with self._lock:
            self._interrupted = True
            busy = list(self._busy)
            for job in self._jobs:
                job.waiting.clear()
                job.done.notify_all()
        for worker in busy:
            # Only the process: the thread waiting on its pipe sees it die and cleans up.
            if worker.process.is_alive():
                worker.process.kill()

    def close(self) -> None:
        """Waits for files under way, then stops every worker; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._work.notify_all()
            for job in self._jobs:
                job.done.notify_all()
            # Callers read files of their own too, not only the pool's threads.
            while self._under_way:
                self._work.wait()
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
