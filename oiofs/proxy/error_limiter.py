"""Error limiting: skip a failing node for a few seconds, then probe it again.

Only faults of the node count (it refused or timed out, answered 5xx or 507), never the
client's own 4xx. When a node collects ``limit`` errors, each within ``interval`` seconds of
the previous one, it is *suppressed*: requests go to other nodes (handoffs) for
``suppression_time`` seconds. After that one request is let through as a probe while the
others still avoid the node; if the probe works the node is back in full at once, if it
fails the node is suppressed for another ``suppression_time``. A node that is down for sure
(it refuses connections) is suppressed at its first error: there is nothing to wait for.

This is what avoids Swift's blackouts: Swift skips an error-limited node for a whole
``error_suppression_interval`` (60 s) even after it is back. Here the worst case after a
node returns is ``suppression_time`` seconds during which writes still succeed through
handoffs.

A node can also be avoided from outside: ``drained(addr)`` (the conscience's score 0,
:mod:`oiofs.proxy.scores`) makes :meth:`ErrorLimiter.is_limited` true for every device of
the server at ``addr`` (``ip:port``), with no probe: it stays avoided until its score
rises.

Time is passed in (``now``) so the behaviour is tested without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class _NodeState:
    __slots__ = ("errors", "last_error", "suppressed_until")

    def __init__(self):
        self.errors = 0
        self.last_error = 0.0
        self.suppressed_until = 0.0


class ErrorLimiter:
    """Per-node error counts and suppression windows (keys are ``ip:port/device``)."""

    def __init__(self, limit: int = 10, interval: float = 60.0,
                 suppression_time: float = 3.0, clock=time.monotonic,
                 drained: Callable[[str], bool] | None = None):
        self.limit = max(1, limit)
        #: ``drained(ip:port)``: True for a server to avoid whatever its errors
        self.drained = drained
        self.interval = interval
        self.suppression_time = suppression_time
        self.clock = clock
        self._nodes: dict[str, _NodeState] = {}
        #: when each node last failed (kept after it recovers; one entry per node)
        self._last_fault: dict[str, float] = {}

    @staticmethod
    def key(node: dict) -> str:
        """The identity of a ring node for error limiting."""
        return f"{node['ip']}:{node['port']}/{node['device']}"

    def is_limited(self, key: str, now: float | None = None) -> bool:
        """True if requests should avoid the node now.

        When a suppression window has just ended, the first caller gets ``False`` (it is
        the probe) and the window is extended for everyone else until the probe reports.
        """
        if self.drained is not None and self.drained(key.partition("/")[0]):
            return True
        state = self._nodes.get(key)
        if state is None or state.errors < self.limit:
            return False
        now = self.clock() if now is None else now
        if now < state.suppressed_until:
            return True
        state.suppressed_until = now + self.suppression_time  # this caller probes
        return False

    def error(self, key: str, now: float | None = None, fatal: bool = False) -> bool:
        """Count a fault of the node; True if it is now suppressed.

        ``fatal`` (connection refused) suppresses at once.
        """
        now = self.clock() if now is None else now
        self._last_fault[key] = now
        state = self._nodes.get(key)
        if state is None:
            state = self._nodes[key] = _NodeState()
        elif now - state.last_error > self.interval:
            state.errors = 0
        state.errors = self.limit if fatal else state.errors + 1
        state.last_error = now
        if state.errors >= self.limit:
            state.suppressed_until = now + self.suppression_time
            return True
        return False

    def recently_failed(self, key: str, now: float | None = None) -> bool:
        """True if the node had a fault within the last ``interval`` seconds, even if
        it answers again: back from an outage, its copies may be behind."""
        last = self._last_fault.get(key)
        if last is None:
            return False
        now = self.clock() if now is None else now
        return now - last <= self.interval

    def success(self, key: str) -> None:
        """The node answered: forget its errors (cheap when it had none)."""
        if key in self._nodes:
            del self._nodes[key]

    def errors(self, key: str) -> int:
        """The node's current error count."""
        state = self._nodes.get(key)
        return state.errors if state else 0
