"""The daemon's side of one mailbox: a kept connection, backoff on failure, IDLE, the stale alarm.

``MailboxWorker.run`` is the scheduler's job for the mailbox, run every
``poll_interval_seconds`` and never twice at once. It takes the mailbox's
cross-process lock, polls over its kept connection (reconnecting when needed),
and with ``idle = true`` waits in IMAP IDLE for the rest of the interval so new
mail is picked up within a second or two. It never raises: every failure is
one log line, a backoff delay and a row in ``MailboxState``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from imapclient import IMAPClient
from sqlalchemy.exc import SQLAlchemyError

from intake.config import MailboxSettings
from intake.db.locks import mailbox_lock
from intake.db.models import utcnow
from intake.errors import IntakeError, TokenUnavailable
from intake.runtime import Runtime
from intake.sources import cursor
from intake.sources.backoff import Backoff
from intake.sources.health import problem_of
from intake.sources.imap import PollResult, poll_connected
from intake.sources.imap_connect import IMAP_ERRORS, connect, describe, disconnect

log = logging.getLogger(__name__)
IDLE_CHECK_SECONDS = 1.0


class MailboxWorker:
    def __init__(self, rt: Runtime, box: MailboxSettings, stop: threading.Event,
                 *, backoff: Backoff | None = None) -> None:
        self.rt = rt
        self.box = box
        self.stop = stop
        self.backoff = backoff or Backoff(base=min(2.0, box.poll_interval_seconds), cap=300.0)
        self.client: IMAPClient | None = None
        self.retry_at = 0.0
        self.started_at: datetime = utcnow()
        self._idle_unsupported_logged = False

    def run(self) -> None:
        """One scheduled turn: poll (retrying within the interval), then IDLE, then the stale check."""
        if self.stop.is_set():
            return
        turn_ends = time.monotonic() + self.box.poll_interval_seconds * 0.9
        lock = mailbox_lock(self.rt.engine, self.rt.settings.storage.path, self.box.name)
        try:
            if not lock.acquire():
                # Another replica is polling this mailbox; our connection would only idle beside it.
                log.debug("mailbox %s: polled by another process", self.box.name)
                self._drop()
                return
        except IntakeError as err:
            log.warning("mailbox %s: cannot take the poller lock: %s", self.box.name, err)
            return
        try:
            while not self.stop.is_set() and time.monotonic() >= self.retry_at:
                if self._poll_until_quiet():
                    if self.box.idle:
                        self._idle(turn_ends)
                    break
                if self.retry_at >= turn_ends:
                    break
                self.stop.wait(max(0.0, self.retry_at - time.monotonic()))
        finally:
            lock.release()
            self._alarm()

    def close(self) -> None:
        self._drop()

    def _poll_until_quiet(self) -> bool:
        """Polls until a poll finds nothing new; False when one failed.

        Mail that came while a poll worked through its messages is fetched at once, not a turn
        later: a burst is worked off in one go (the service stood idle for most of a turn
        between two polls of a full mailbox, bench/e2e.py).
        """
        while not self.stop.is_set():
            result = self._poll()
            if result is None:
                return False
            if not result.new:
                break
        return True

    def _poll(self) -> PollResult | None:
        """One poll over the kept connection; None when it failed (logged, and the backoff set)."""
        try:
            if self.client is None:
                self.client = connect(self.box)
            result = poll_connected(self.rt, self.box, self.client, stop=self.stop)
            cursor.record_poll(self.rt.engine, self.box.name, self.box.folder)
        except (IntakeError, SQLAlchemyError) as err:
            self._failed(err)
            return None
        except Exception as err:  # the daemon's boundary: a surprise from a library must not stop polling
            log.exception("mailbox %s: unexpected error while polling", self.box.name)
            self._failed(err)
            return None
        if self.backoff.failures:
            log.info("mailbox %s: polling again after %d failed attempt(s)", self.box.name, self.backoff.failures)
        self.backoff.reset()
        self.retry_at = 0.0
        return result

    def _failed(self, err: BaseException) -> None:
        self._drop()
        delay = self.backoff.next_delay()
        self.retry_at = time.monotonic() + delay
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        level = logging.ERROR if isinstance(err, TokenUnavailable) else logging.WARNING
        if not reason.startswith(f"mailbox {self.box.name}:"):
            reason = f"mailbox {self.box.name}: {reason}"
        log.log(level, "%s; retrying in %.0f s (attempt %d)", reason, delay, self.backoff.failures)
        try:
            cursor.record_poll(self.rt.engine, self.box.name, self.box.folder, reason)
        except SQLAlchemyError as db_err:
            log.warning("mailbox %s: cannot record the failure: %s", self.box.name, describe(db_err))

    def _idle(self, until: float) -> None:
        """Waits in IDLE until ``until``, polling as soon as the server announces new mail."""
        client = self.client
        if client is None:
            return
        try:
            if b"IDLE" not in client.capabilities():
                if not self._idle_unsupported_logged:
                    log.warning("mailbox %s: the server has no IDLE; polling every %s s instead",
                                self.box.name, self.box.poll_interval_seconds)
                    self._idle_unsupported_logged = True
                return
            while not self.stop.is_set() and time.monotonic() < until - IDLE_CHECK_SECONDS:
                if self._wait_in_idle(client, until):
                    if not self._poll_until_quiet():
                        return
                    client = self.client
                    if client is None:
                        return
        except IMAP_ERRORS as err:
            self._failed(err)

    def _wait_in_idle(self, client: IMAPClient, until: float) -> bool:
        """True when the server said something changed (new mail) before ``until``."""
        client.idle()
        try:
            while not self.stop.is_set() and time.monotonic() < until - IDLE_CHECK_SECONDS:
                for response in client.idle_check(timeout=IDLE_CHECK_SECONDS):
                    if len(response) > 1 and response[1] in (b"EXISTS", b"RECENT"):
                        return True
            return False
        finally:
            client.idle_done()

    def _alarm(self) -> None:
        """The loud line operators asked for: once per interval while the mailbox is stale."""
        try:
            state = cursor.state_of(self.rt.engine, self.box.name, self.box.folder)
        except SQLAlchemyError as err:
            log.error("mailbox %s: cannot read its state: %s", self.box.name, describe(err))
            return
        problem = problem_of(self.box, state, utcnow(), self.started_at)
        if problem:
            log.error("%s", problem)

    def _drop(self) -> None:
        client, self.client = self.client, None
        disconnect(client)
