"""Error limiting: skip a failing node for a few seconds, then probe it again.

Only faults of the node count (it refused or timed out, answered 5xx or 507), never the
client's own 4xx. When a node collects ``limit`` errors, each within ``interval`` seconds of
the previous one, it is *suppressed*: requests go to other nodes (handoffs) for
``suppression_time`` seconds. After that the node is offered again, and the first request
actually sent to it is the probe: the others avoid the node while it is in flight; if the
probe works the node is back in full at once, if it fails the node is suppressed for another
``suppression_time``. A node that is down for sure (it refuses connections) is suppressed at
its first error: there is nothing to wait for.

Asking whether a node is limited (:meth:`ErrorLimiter.is_limited`) changes nothing; only
sending to it (:meth:`ErrorLimiter.sending`) starts the probe. Reads ask about every replica
to order them and then send to a few: had the question itself claimed the probe, as it once
did, a read ordering the nodes at the end of each window would extend it without sending
anything, and under steady traffic a node back from an outage stayed avoided for good
(seen in a probe: a container primary got no container PUT for a minute).

This is what avoids Swift's blackouts: Swift skips an error-limited node for a whole
``error_suppression_interval`` (60 s) even after it is back. Here the worst case after a
node returns is ``suppression_time`` seconds during which writes still succeed through
handoffs.

A node can also be avoided from outside: ``drained(addr)`` (the conscience's score 0,
:mod:`oiofs.proxy.scores`) makes :meth:`ErrorLimiter.is_limited` true for every device of
the server at ``addr`` (``ip:port``), with no probe: it stays avoided until its score
rises.

Time is passed in (``now``) so the behaviour is tested without sleeping.

When each node last failed (:meth:`ErrorLimiter.recently_failed`: reads ask a replica
back from an outage last) is kept in anonymous shared memory made before the workers
fork (:class:`SharedFaultTimes`), so a fault seen by one worker counts in all of them;
the error counts and suppression windows stay per worker.
"""

from __future__ import annotations

import mmap
import struct
import time
import zlib
from collections.abc import Callable

_FAULT = struct.Struct("=Qd")  # key fingerprint, time of the last fault


class SharedFaultTimes:
    """``key -> time of its last fault``, one slot per key hash, in a page shared by the
    processes forked after it was made. A key whose slot another key took since is
    forgotten (4096 slots for the few hundred devices of a cluster); no lock: a reader
    that meets a slot being written sees another key's fingerprint, and no fault."""

    def __init__(self, slots: int = 4096):
        self.slots = slots
        self._mem = mmap.mmap(-1, slots * _FAULT.size)  # MAP_SHARED | MAP_ANONYMOUS

    def _slot(self, key: str) -> tuple[int, int]:
        data = key.encode("utf-8", "surrogateescape")
        fingerprint = (zlib.crc32(data) << 32 | zlib.adler32(data)) or 1
        return (fingerprint % self.slots) * _FAULT.size, fingerprint

    def set(self, key: str, when: float) -> None:
        """Record a fault of ``key`` at ``when``."""
        offset, fingerprint = self._slot(key)
        _FAULT.pack_into(self._mem, offset, fingerprint, when)

    def get(self, key: str) -> float | None:
        """When ``key`` last failed, if known.

        >>> times = SharedFaultTimes(8)
        >>> times.set("10.0.0.1:6200/d1", 12.5)
        >>> times.get("10.0.0.1:6200/d1"), times.get("10.0.0.2:6200/d1")
        (12.5, None)
        """
        offset, fingerprint = self._slot(key)
        owner, when = _FAULT.unpack_from(self._mem, offset)
        return when if owner == fingerprint else None


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
        #: when each node last failed (kept after it recovers), shared by the workers
        self._last_fault = SharedFaultTimes()

    @staticmethod
    def key(node: dict) -> str:
        """The identity of a ring node for error limiting."""
        return f"{node['ip']}:{node['port']}/{node['device']}"

    def is_limited(self, key: str, now: float | None = None) -> bool:
        """True if requests should avoid the node now (a question: it changes nothing).

        ``False`` again once a suppression window has ended; the first request then sent
        to the node is the probe (:meth:`sending`).
        """
        if self.drained is not None and self.drained(key.partition("/")[0]):
            return True
        state = self._nodes.get(key)
        if state is None or state.errors < self.limit:
            return False
        now = self.clock() if now is None else now
        return now < state.suppressed_until

    def sending(self, key: str, now: float | None = None) -> None:
        """A request is being sent to the node. If its suppression window has ended, this
        request is the probe: the node is avoided by everyone else until it reports
        (:meth:`success` or :meth:`error`), for at most another ``suppression_time``."""
        state = self._nodes.get(key)
        if state is None or state.errors < self.limit:
            return
        now = self.clock() if now is None else now
        if now >= state.suppressed_until:
            state.suppressed_until = now + self.suppression_time

    def error(self, key: str, now: float | None = None, fatal: bool = False) -> bool:
        """Count a fault of the node; True if it is now suppressed.

        ``fatal`` (connection refused) suppresses at once.
        """
        now = self.clock() if now is None else now
        self._last_fault.set(key, now)
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
        return self.last_fault(key, now) is not None

    def last_fault(self, key: str, now: float | None = None) -> float | None:
        """When the node last failed, if within the last ``interval`` seconds."""
        last = self._last_fault.get(key)
        if last is None:
            return None
        now = self.clock() if now is None else now
        return last if now - last <= self.interval else None

    def fault_order(self, key: str, now: float | None = None) -> float:
        """A sort key putting the nodes that failed latest last (never: first): of
        nodes back from outages, the one back last is the furthest behind."""
        last = self.last_fault(key, now)
        return float("-inf") if last is None else last

    def success(self, key: str) -> None:
        """The node answered: forget its errors (cheap when it had none)."""
        if key in self._nodes:
            del self._nodes[key]

    def errors(self, key: str) -> int:
        """The node's current error count."""
        state = self._nodes.get(key)
        return state.errors if state else 0
