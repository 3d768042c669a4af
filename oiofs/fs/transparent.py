"""The statistics and configuration face of a caching store: the seed's ``TransparentStore``.

A mixin over the attributes :class:`~oiofs.fs.caching_store.CachingStore` keeps (``stats``,
``index``, the limits); ``/.oiofs/stats`` and ``/.oiofs/config`` of the mount are made from
these methods. MB is 1,000,000 bytes.
"""

from __future__ import annotations

import time
from typing import Any

from oiofs.fs.cache_index import is_directory
from oiofs.fs.errors import StoreError
from oiofs.fs.stats import MB, ExceptionStats

#: Options of :meth:`TransparentStore.get_configuration`, name -> type.
OPTIONS: dict[str, type] = {
    "cache_expiration": float, "upload_delay": float, "max_upload_delay": float,
    "cache_size_mb": float,
    "hard_cache_size_mb": float, "max_writer_threads": int, "listing_ttl": float,
}


class TransparentStore:
    """Statistics about a cache wrapping a store, and its run-time options."""

    # Provided by the caching store.
    stats: Any
    index: Any
    listings: Any
    hard_cache_size_mb: float
    _claimed: set[str]
    _inflight: set[str]
    _last_heartbeat: float

    @property
    def listing_ttl(self) -> float:
        return self.listings.ttl

    @listing_ttl.setter
    def listing_ttl(self, value: float) -> None:
        self.listings.ttl = value

    def get_number_of_writers(self) -> int:
        raise NotImplementedError

    def is_transfering(self, path: str) -> bool:
        """True while ``path`` is being uploaded or removed."""
        return path in self._claimed

    def get_time_since_heartbeat(self) -> float:
        return time.time() - self._last_heartbeat

    def get_cachesize(self) -> float:
        """Size of the cache in MB."""
        return self.index.total_size / MB

    def get_hard_limit(self) -> float:
        """The hard limit of the cache in MB; past it writes wait."""
        return self.hard_cache_size_mb

    def exceeds_hard_limit(self) -> bool:
        return self.index.total_size > self.hard_cache_size_mb * MB

    def get_dirty_files(self) -> list[str]:
        """Files changed here and not uploaded yet, oldest change first."""
        return [entry.path for entry in self.index.dirty() if not is_directory(entry)]

    def get_pending_directories(self) -> list[str]:
        """Directories made here and not in the wrapped store yet."""
        return [entry.path for entry in self.index.dirty() if is_directory(entry)]

    def get_upload_rate(self) -> float:
        return self.stats.get_upload_rate()

    def get_download_rate(self) -> float:
        return self.stats.get_download_rate()

    def get_uploaded(self) -> float:
        return self.stats.get_uploaded()

    def get_downloaded(self) -> float:
        return self.stats.get_downloaded()

    def get_exception_stats(self) -> dict[str, ExceptionStats]:
        return self.stats.get_exception_stats()

    def get_cache_hits(self) -> int:
        return self.stats.get_cache_hits()

    def get_cache_misses(self) -> int:
        return self.stats.get_cache_misses()

    def get_status_information(self) -> str:
        return (f"{len(self._inflight)} uploads running, {self.index.count_dirty()} dirty, "
                f"{self.get_number_of_writers()} writers wanted")

    # --- configuration --------------------------------------------------------------

    def get_configuration(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in OPTIONS}

    def set_configuration(self, config: dict[str, Any]) -> None:
        unknown = set(config) - set(OPTIONS)
        if unknown:
            raise StoreError(f"unknown options: {sorted(unknown)}")
        for name, value in config.items():
            try:
                value = OPTIONS[name](value)
            except (TypeError, ValueError):
                raise StoreError(f"{name}: not a {OPTIONS[name].__name__}: {value!r}") from None
            if value < 0:
                raise StoreError(f"{name} must not be negative")
            setattr(self, name, value)
