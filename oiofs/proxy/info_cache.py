"""A short-lived cache of container and account information, shared-invalidated.

Every object request needs its container's policy, ACLs and CORS settings; asking the
container servers each time would double the work of a small GET. So answers are kept in
process memory for ``ttl`` seconds (a few).

Proxy workers are separate processes, each with its own cache, and a change made through
one worker (a new ACL, a deleted container) must not stay invisible to the others for the
whole TTL. They share a small table of *generation counters* in anonymous shared memory,
made before the workers fork: changing a container bumps the counter of its slot, and a
cached entry is only used while its slot's counter is unchanged. Reading a counter is one
``unpack_from`` on the shared page; no lock is needed, because a lost increment still
changes the value every reader compares against.
"""

from __future__ import annotations

import mmap
import struct
import time
import zlib

_COUNTER = struct.Struct("=Q")


class InfoCache:
    """``key -> info`` for ``ttl`` seconds, invalidated across forked workers."""

    def __init__(self, ttl: float = 5.0, slots: int = 4096, max_entries: int = 100000,
                 clock=time.monotonic):
        self.ttl = ttl
        self.slots = slots
        self.max_entries = max_entries
        self.clock = clock
        # MAP_SHARED|MAP_ANONYMOUS: the same physical page in every forked worker.
        self._gens = mmap.mmap(-1, slots * _COUNTER.size)
        self._entries: dict[str, tuple] = {}

    def _slot(self, key: str) -> int:
        return (zlib.crc32(key.encode("utf-8", "surrogateescape")) % self.slots) * \
            _COUNTER.size

    def generation(self, key: str) -> int:
        """The current generation of ``key``'s slot; read it *before* fetching the info."""
        return _COUNTER.unpack_from(self._gens, self._slot(key))[0]

    def get(self, key: str):
        """The cached info, or ``None`` if absent, expired or invalidated."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        info, expires, offset, gen = entry
        if self.clock() < expires and _COUNTER.unpack_from(self._gens, offset)[0] == gen:
            return info
        self._entries.pop(key, None)
        return None

    def set(self, key: str, info, generation: int) -> None:
        """Cache ``info`` fetched after ``generation`` was read (see :meth:`generation`)."""
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # rare; cheaper than tracking recency on every hit
        self._entries[key] = (info, self.clock() + self.ttl, self._slot(key), generation)

    def invalidate(self, key: str) -> None:
        """Forget ``key`` here and in every other worker."""
        offset = self._slot(key)
        value = _COUNTER.unpack_from(self._gens, offset)[0]
        _COUNTER.pack_into(self._gens, offset, (value + 1) & 0xFFFFFFFFFFFFFFFF)
        self._entries.pop(key, None)

    def clear_local(self) -> None:
        """Forget every entry of this worker (the admin ``flush_cache``, fired in each)."""
        self._entries.clear()

    def status(self) -> dict:
        """This worker's entry count and the TTL, for the admin ``cache_status``."""
        return {"entries": len(self._entries), "ttl": self.ttl,
                "max_entries": self.max_entries}

    def invalidate_local(self, key: str) -> None:
        """Forget ``key`` in this worker only (the next lookup asks the servers)."""
        self._entries.pop(key, None)
