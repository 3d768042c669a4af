"""What a caching store believes the wrapped store's directories hold, for a while.

One listing call fills a directory's entry; ``getattr`` of every child is then answered
from it (``ls -l`` of a directory costs one listing, not a request per file). Local changes
(an upload finished, a delete, a mkdir) are applied to the cached listing at once, so the
cache stays right about what this mount did; what other clients did shows after ``ttl``.
"""

from __future__ import annotations

import threading
import time

from oiofs.fs import paths
from oiofs.fs.store import Metadata


class ListingCache:
    """Directory path -> (when fetched, child path -> metadata); thread-safe."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._dirs: dict[str, tuple[float, dict[str, Metadata]]] = {}

    def get(self, directory: str) -> dict[str, Metadata] | None:
        """The cached listing of ``directory`` (a copy), or None when absent or expired."""
        with self._lock:
            item = self._dirs.get(directory)
            if item is None:
                return None
            if time.monotonic() - item[0] > self.ttl:
                del self._dirs[directory]
                return None
            return dict(item[1])

    def lookup(self, path: str) -> tuple[bool, Metadata | None]:
        """(known, metadata): known is False when the parent's listing is not cached."""
        with self._lock:
            item = self._dirs.get(paths.parent(path))
            if item is None or time.monotonic() - item[0] > self.ttl:
                return False, None
            return True, item[1].get(path)

    def set(self, directory: str, listing: dict[str, Metadata]) -> None:
        with self._lock:
            self._dirs[directory] = (time.monotonic(), dict(listing))

    def update(self, path: str, meta: Metadata | None) -> None:
        """Record that ``path`` now has ``meta`` in the store (None: it is gone)."""
        with self._lock:
            item = self._dirs.get(paths.parent(path))
            if item is not None:
                if meta is None:
                    item[1].pop(path, None)
                else:
                    item[1][path] = meta
            if meta is None:
                self._dirs.pop(path, None)

    def drop_under(self, directory: str) -> None:
        """Forget ``directory`` and everything below it."""
        with self._lock:
            for key in [k for k in self._dirs if paths.is_under(k, directory)]:
                del self._dirs[key]

    def clear(self) -> None:
        with self._lock:
            self._dirs.clear()
