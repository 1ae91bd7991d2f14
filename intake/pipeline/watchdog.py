"""The time budget of one message: a message whose preparation runs past it is parked, the next goes on.

Parsing and matching are bounded by the input caps and extraction by the pool's budget,
so this is the last line: whatever else a message manages to make slow, it costs the
service at most ``processing.message_budget_seconds``. A thread cannot be stopped from
outside, so the late preparation is left to end on its own and its result is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from intake.db.audit import record
from intake.db.engine import session_scope
from intake.db.models import Message
from intake.pipeline.prepare import Prepared, prepare_message, submission_of
from intake.runtime import Runtime

log = logging.getLogger(__name__)


class NotParkable(LookupError):
    """The message does not exist or has already become a submission."""


def park(rt: Runtime, message_pk: int, reason: str, *, actor: str = "system") -> None:
    """Parks a stored message for a person: it is not processed again until retried."""
    with session_scope(rt.engine) as session:
        message = session.get(Message, message_pk)
        if message is None:
            raise NotParkable(f"no stored message {message_pk}")
        if submission_of(session, message_pk) is not None:
            raise NotParkable(f"message {message_pk} is already processed")
        message.status = "parked"
        message.last_error = reason[:2000]
        session.add(message)
        record(session, "message.parked", "message", message_pk, {"error": message.last_error, "by": actor})
    log.warning("message %s parked: %s", message_pk, reason)


def over_budget(rt: Runtime, message_pk: int) -> Prepared:
    """Parks a message whose preparation ran past the budget; the answer that says there is nothing to decide."""
    budget = rt.settings.processing.message_budget_seconds
    # NotParkable: another process finished it meanwhile.
    with contextlib.suppress(NotParkable):
        park(rt, message_pk, f"over the processing time budget ({budget:g} s)")
    return Prepared(message_pk, answer=None, final=True)


def wait_prepared(rt: Runtime, message_pk: int, future: Future[Prepared], started: float) -> Prepared:
    """The preparation's result, or the message parked when it is not ready within its budget from ``started``."""
    left = rt.settings.processing.message_budget_seconds - (time.monotonic() - started)
    try:
        return future.result(timeout=max(0.0, left))
    except FutureTimeout:
        return over_budget(rt, message_pk)


def prepare_watched(rt: Runtime, message_pk: int, *, force: bool = False) -> Prepared:
    """``prepare_message`` under the message's time budget."""
    future: Future[Prepared] = Future()

    def run() -> None:
        try:
            future.set_result(prepare_message(rt, message_pk, force=force))
        except BaseException as err:  # handed to the waiting caller, which raises it
            future.set_exception(err)

    started = time.monotonic()
    threading.Thread(target=run, name=f"prepare-{message_pk}", daemon=True).start()
    return wait_prepared(rt, message_pk, future, started)
