"""The daemon behind ``intake serve``: scheduled polling, receipts, the SMTP receiver and the web UI.

One APScheduler job per mailbox at its ``poll_interval_seconds`` (never two
runs of one at once, missed runs coalesced); a job that finishes messages left
stored by a crash or a failure; a job that delivers due receipts; a heartbeat
line. SIGTERM or SIGINT finishes the message in hand, closes every connection
and returns, so the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from intake.archive.job import fill_drop_folder
from intake.db.locks import named_lock
from intake.db.models import Message, utcnow
from intake.errors import IntakeError
from intake.pipeline.run import process_message, process_pending
from intake.receipts.outbox import deliver_due
from intake.runtime import Runtime
from intake.sources.health import mailbox_health
from intake.sources.smtp import SmtpReceiver
from intake.sources.worker import MailboxWorker
from intake.web.server import build_server

log = logging.getLogger(__name__)
PENDING_EVERY_SECONDS = 300
# Messages this process stored in the last minute are its poller's or receiver's to finish.
PENDING_GRACE_SECONDS = 60
# A run that finds nothing due costs two small queries, so a short interval is cheap; at 30 s the
# wait for the next run was most of a receipt's latency (bench/e2e.py).
DELIVER_EVERY_SECONDS = 2
HEARTBEAT_EVERY_SECONDS = 60


def serve(rt: Runtime, *, stop: threading.Event | None = None) -> None:
    """Runs the daemon until SIGTERM/SIGINT (or ``stop`` is set), then shuts it down cleanly."""
    stop = stop or threading.Event()
    restore = _on_signals(stop)
    daemon = Daemon(rt, stop)
    try:
        daemon.start()
        while not stop.wait(1.0):
            pass
    finally:
        daemon.shutdown()
        restore()


class Daemon:
    """The parts of ``serve``, started and stopped together (tests drive it without signals)."""

    def __init__(self, rt: Runtime, stop: threading.Event) -> None:
        self.rt = rt
        self.stop = stop
        self.started = time.monotonic()
        self.started_at = utcnow()
        # APScheduler logs every run of every job at INFO; the heartbeat and our own lines say
        # what matters, and its warnings (a job overrunning its interval) still come through.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        self.workers = [MailboxWorker(rt, box, stop) for box in rt.settings.mailboxes]
        self.receiver: Any = None
        self.web: Any = None
        self.web_thread: threading.Thread | None = None

    def start(self) -> None:
        now = datetime.now(UTC)
        for worker in self.workers:
            box = worker.box
            self.scheduler.add_job(worker.run, "interval", seconds=box.poll_interval_seconds,
                                   id=f"mailbox:{box.name}", name=f"poll {box.name}/{box.folder}", next_run_time=now)
        self.scheduler.add_job(self._guarded("pending", self._process_pending), "interval",
                               seconds=PENDING_EVERY_SECONDS, id="pending", next_run_time=now)
        self.scheduler.add_job(self._guarded("outbox", lambda: deliver_due(self.rt)), "interval",
                               seconds=DELIVER_EVERY_SECONDS, id="deliver", next_run_time=now)
        self.scheduler.add_job(self.heartbeat, "interval", seconds=HEARTBEAT_EVERY_SECONDS, id="heartbeat")
        archive = self.rt.settings.archive
        if archive.path is not None and archive.mode != "manual":
            self.scheduler.add_job(self._guarded("archive", lambda: fill_drop_folder(self.rt)), "interval",
                                   seconds=archive.interval_seconds, id="archive", next_run_time=now)
        self.scheduler.start()
        if self.rt.settings.receiver.enabled:
            self._start_receiver()
        self._start_web()
        log.info("intake serving: %d mailbox(es), receiver %s", len(self.workers),
                 "on" if self.receiver else "off")

    def _start_receiver(self) -> None:
        receiver = SmtpReceiver(self.rt, on_stored=self._process_soon)
        receiver.start()
        self.receiver = receiver

    def _process_soon(self, message_pk: int) -> None:
        if not self.stop.is_set():
            self.scheduler.add_job(process_message, args=[self.rt, message_pk], id=f"message:{message_pk}",
                                   replace_existing=True)

    def _start_web(self) -> None:
        self.web = build_server(self.rt)
        self.web_thread = threading.Thread(target=self.web.run, name="web", daemon=True)
        self.web_thread.start()
        settings = self.rt.settings.web
        log.info("web UI on http://%s:%s/", settings.host, settings.port)

    def _process_pending(self) -> None:
        # Everything stored before this process started is left over; of what came later, only
        # what its own poller or receiver has had a minute to finish.
        cutoff = max(self.started_at, utcnow() - timedelta(seconds=PENDING_GRACE_SECONDS))
        done = process_pending(self.rt, stored_before=cutoff)
        if done:
            log.info("finished %d stored message(s) left from before", done)

    def _guarded(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        """Runs ``job`` only in the one process that holds the lock ``name``; logs instead of raising."""

        def run() -> None:
            if self.stop.is_set():
                return
            lock = named_lock(self.rt.engine, self.rt.settings.storage.path, name)
            try:
                if not lock.acquire():
                    return
                try:
                    job()
                finally:
                    lock.release()
            except (IntakeError, SQLAlchemyError) as err:
                log.error("%s: %s", name, str(err).strip().splitlines()[0] if str(err).strip() else err)

        return run

    def heartbeat(self) -> None:
        """One line a minute, so an operator (or a log alert) can tell the daemon is alive."""
        try:
            health = mailbox_health(self.rt)
            with Session(self.rt.engine) as session:
                waiting = session.exec(
                    select(func.count()).select_from(Message).where(col(Message.status).in_(["stored", "failed"]))
                ).one()
        except SQLAlchemyError as err:
            log.error("heartbeat: database unreachable: %s", str(err).strip().splitlines()[0])
            return
        boxes = ", ".join(f"{h['name']} {'ok' if h['healthy'] else 'STALE'}" for h in health) or "none"
        log.info("heartbeat: up %.0f min; mailboxes: %s; messages waiting: %d",
                 (time.monotonic() - self.started) / 60, boxes, waiting)

    def shutdown(self) -> None:
        """Stops taking mail, lets running jobs finish the message in hand, closes connections."""
        self.stop.set()
        log.info("intake stopping: finishing the message in hand")
        if self.receiver is not None:
            self.receiver.stop()
        # Files under way are stopped rather than waited for (a slow one may take minutes);
        # their messages stay stored and are processed on the next start.
        if self.rt.extractor is not None:
            self.rt.extractor.interrupt()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        for worker in self.workers:
            worker.close()
        if self.web is not None and self.web_thread is not None:
            self.web.should_exit = True
            self.web_thread.join(timeout=10)
        log.info("intake stopped")


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Turns SIGTERM and SIGINT into ``stop``; returns how to put the old handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
