"""Request rates shared by the forked workers of one server, without memcached.

OpenStack Swift's ratelimit keeps, per key (an account, a container), the time at which
the next request may run in memcached, so that every worker and every proxy counts
against the same limit. oiofs has no memcached; :class:`SharedRateTable` keeps the same
"next available time" per key in anonymous shared memory made before the workers fork
(the same page in every worker), changed under a lock that the workers share. So the
limit holds for all workers of one proxy; separate proxies count separately.

The table is a fixed number of slots (a key's slot is found by its hash, with a few
probes); when every probed slot is taken by a key that is still limited, the one
that frees soonest is taken over (its key starts afresh).

The arithmetic is Swift's (times in ``1/clock_accuracy`` seconds): a request of a key
limited to ``rate`` per second moves the key's next available time by ``1/rate``; if
that time is more than ``rate_buffer`` seconds in the past it restarts from now (an idle
key may burst that much); the request must sleep until its turn, and if that is more
than ``max_sleep`` seconds away it is refused instead (the time is given back).
"""

from __future__ import annotations

import mmap
import multiprocessing
import struct
import time
import zlib
from collections.abc import Callable

_SLOT = struct.Struct("=QQ")  # key fingerprint, next available time (clock ticks)
_PROBES = 8


class MaxSleepExceeded(Exception):
    """The request would have to wait longer than allowed (Swift answers 498)."""

    def __init__(self, need: float):
        super().__init__(f"Max Sleep Time Exceeded: {need:.2f}")
        self.need = need


class SharedRateTable:
    """Per-key request rates, shared by the processes forked after it was made."""

    def __init__(self, slots: int = 4096, clock_accuracy: int = 1000,
                 rate_buffer: float = 5.0, max_sleep: float = 60.0,
                 clock: Callable[[], float] = time.time):
        self.slots = slots
        self.accuracy = clock_accuracy
        self.rate_buffer = rate_buffer
        self.max_sleep = max_sleep
        self.clock = clock
        self._mem = mmap.mmap(-1, slots * _SLOT.size)  # MAP_SHARED | MAP_ANONYMOUS
        self._lock = multiprocessing.get_context("fork").Lock()

    @staticmethod
    def _fingerprint(key: str) -> int:
        data = key.encode("utf-8", "surrogateescape")
        return (zlib.crc32(data) << 32 | zlib.adler32(data)) or 1

    def _find(self, fingerprint: int, now: int) -> tuple[int, int]:
        """``(offset, next available time)`` of a key's slot (0 for a new key)."""
        first = fingerprint % self.slots
        best = None
        for probe in range(_PROBES):
            offset = ((first + probe) % self.slots) * _SLOT.size
            owner, running = _SLOT.unpack_from(self._mem, offset)
            if owner == fingerprint:
                return offset, running
            if owner == 0 or running < now:  # free, or its key is not limited any more
                _SLOT.pack_into(self._mem, offset, fingerprint, 0)
                return offset, 0
            if best is None or running < best[1]:
                best = (offset, running)
        assert best is not None
        _SLOT.pack_into(self._mem, best[0], fingerprint, 0)
        return best[0], 0

    def sleep_time(self, key: str, rate: float) -> float:
        """Seconds the caller must sleep before serving a request of ``key``, limited to
        ``rate`` requests per second; :class:`MaxSleepExceeded` if too long."""
        now = int(round(self.clock() * self.accuracy))
        per_request = int(round(self.accuracy / rate))
        fingerprint = self._fingerprint(key)
        with self._lock:
            offset, running = self._find(fingerprint, now)
            running += per_request
            need = 0
            if now - running > self.rate_buffer * self.accuracy:
                running = now + per_request
            else:
                need = max(running - now - per_request, 0)
            if self.max_sleep * self.accuracy - need <= self.accuracy * 0.01:
                # refused: the time is given back
                _SLOT.pack_into(self._mem, offset, fingerprint, running - per_request)
                raise MaxSleepExceeded(need / self.accuracy)
            _SLOT.pack_into(self._mem, offset, fingerprint, running)
        return need / self.accuracy
