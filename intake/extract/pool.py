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
import logging
import multiprocessing
import queue
import resource
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from intake.errors import ExtractorUnavailable
from intake.extract.base import Extraction, FileInput
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
    conn.send(READY)
    while True:
        try:
            file = conn.recv()
        except EOFError:
            return
        if file is None:
            return
        conn.send(extract_one(file, limits))


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


class PoolExtractor:
    """An Extractor running files on ``workers`` processes, from any number of threads at once.

    Files from all callers share the workers first come, first served; ``extract_many``
    runs its own files in parallel and returns them in order.
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
        self._lock = threading.Lock()
        self._closed = False
        try:
            for _ in range(workers):
                self._idle.put(self._start())
        except ExtractorUnavailable:
            self._stop_all()
            raise
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="extract")

    def _start(self) -> _Worker:
        worker = _Worker(self._context, self._limits)
        with self._lock:
            self._all.add(worker)
        return worker

    def _run(self, file: FileInput) -> Extraction:
        worker = self._idle.get()
        if worker is None:
            # The replacement is started by the thread that needs it, so a failing start
            # costs that file, not a thread blocked forever on an empty pool.
            try:
                worker = self._start()
            except ExtractorUnavailable as err:
                self._idle.put(None)
                return Extraction.failed(str(err))
        result, fit = worker.run(file, self._limits.timeout_seconds)
        if fit:
            self._idle.put(worker)
            return result
        with self._lock:
            self._all.discard(worker)
        self._idle.put(None)
        log.warning("extraction of %r stopped its worker: %s; a new one takes its place", file.filename, result.error)
        return result

    def extract_many(self, files: Sequence[FileInput]) -> list[Extraction]:
        if self._closed:
            raise RuntimeError("the extractor is closed")
        return list(self._threads.map(self._run, files))

    def worker_pids(self) -> list[int]:
        """The process ids of the live workers, for operators (and the tests) to watch."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None and w.process.is_alive()]

    def close(self) -> None:
        """Waits for files under way, then stops every worker; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._threads.shutdown(wait=True)
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

    def close(self) -> None:
        return None
