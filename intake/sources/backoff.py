"""Capped exponential backoff with jitter, for reconnecting to a mailbox."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from ``base`` up to ``cap`` seconds, each drawn between half and all of it.

    The jitter keeps several replicas (or several mailboxes on one server) from
    reconnecting in lockstep after a shared outage; the lower bound of half the
    step keeps every retry a real wait.
    """

    def __init__(self, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """Counts one more failure and returns how long to wait before the next attempt."""
        self.failures += 1
        step = min(self.cap, self.base * 2 ** min(self.failures - 1, 30))
        return self._rng.uniform(step / 2, step)

    def reset(self) -> None:
        self.failures = 0
