"""Holding a daemon's work to a rate: files, bytes or requests per second.

The auditor limits files and bytes read, the object updater pendings replayed, the expirer
rows handled: each makes one :class:`RateLimiter` per pass and calls ``wait`` after each
unit of work, so that the servers beside it keep their share of the disks and network.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """Holds a long-run rate of at most ``rate`` units per second by sleeping.

    Call :meth:`wait` after consuming ``amount`` units; it sleeps as long as needed so that
    everything consumed so far took at least ``total / rate`` seconds. Time spent doing the
    work itself counts, and so do up to ``burst`` seconds of idle time later on. A rate
    of 0 or less means no limit. ``clock`` and ``sleep`` can be driven by tests.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep, burst: float = 1.0):
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.burst = burst
        self._next: float | None = None

    def wait(self, amount: float = 1.0) -> float:
        """Account for ``amount`` units; the seconds slept."""
        if self.rate <= 0 or amount <= 0:
            return 0.0
        now = self.clock()
        # no credit at the start: a short pass must not run faster than the rate either
        start = now if self._next is None else max(self._next, now - self.burst)
        self._next = start + amount / self.rate
        delay = self._next - now
        if delay > 0:
            self.sleep(delay)
            return delay
        return 0.0
