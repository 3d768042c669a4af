"""Statistics of a store wrapped by a cache: the seed's ``TransparentStore`` interface.

Rates count wall time while at least one transfer runs, so parallel uploads are not
counted twice: ten 1 MB files uploaded in parallel in one second make 10 MB/s. MB is
1,000,000 bytes, as in the seed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

MB = 1_000_000
KEEP_EXCEPTIONS = 5


@dataclass
class ExceptionStats:
    """How often one kind of exception happened and when last."""

    name: str
    exception_list: list[BaseException] = field(default_factory=list)
    desc: str = ""
    count: int = 1
    lasttime: float = field(default_factory=time.time)


def add_exception(exception: BaseException, exceptions_log: dict[str, ExceptionStats],
                  name: str | None = None, desc: str | None = None,
                  count: int | None = None, lasttime: float | None = None
                  ) -> dict[str, ExceptionStats]:
    """Record ``exception`` in ``exceptions_log`` (name -> stats) and return the log.

    ``name`` defaults to the exception's class name and ``desc`` to its text; a known name
    has its count raised by one (or set to ``count``) and its time set to now (or
    ``lasttime``). Only the last few exception instances are kept.
    """
    name = name or type(exception).__name__
    desc = desc if desc is not None else str(exception)
    lasttime = time.time() if lasttime is None else lasttime
    stats = exceptions_log.get(name)
    if stats is None:
        exceptions_log[name] = ExceptionStats(name, [exception], desc, count or 1, lasttime)
        return exceptions_log
    stats.exception_list = (stats.exception_list + [exception])[-KEEP_EXCEPTIONS:]
    stats.desc = desc
    stats.count = count if count is not None else stats.count + 1
    stats.lasttime = lasttime
    return exceptions_log


class _TransferMeter:
    """Bytes moved and wall time during which at least one transfer ran."""

    def __init__(self) -> None:
        self.bytes = 0
        self.busy_seconds = 0.0
        self._active = 0
        self._since = 0.0

    def start(self, now: float) -> None:
        if self._active == 0:
            self._since = now
        self._active += 1

    def stop(self, now: float, nbytes: int) -> None:
        self._active -= 1
        self.bytes += nbytes
        if self._active == 0:
            self.busy_seconds += now - self._since

    def rate(self, now: float) -> float:
        busy = self.busy_seconds + (now - self._since if self._active else 0.0)
        return self.bytes / MB / busy if busy > 0 else 0.0


class CacheStats:
    """Counters a caching store keeps; thread-safe.

    The transfer methods are used as ``begin``/``end`` pairs around each upload and
    download; :meth:`add_exception` records a failure.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._up = _TransferMeter()
        self._down = _TransferMeter()
        self.exceptions_log: dict[str, ExceptionStats] = {}
        self.cache_hits = 0
        self.cache_misses = 0

    def begin_upload(self) -> None:
        with self._lock:
            self._up.start(time.monotonic())

    def end_upload(self, nbytes: int) -> None:
        with self._lock:
            self._up.stop(time.monotonic(), nbytes)

    def begin_download(self) -> None:
        with self._lock:
            self._down.start(time.monotonic())

    def end_download(self, nbytes: int) -> None:
        with self._lock:
            self._down.stop(time.monotonic(), nbytes)

    def add_exception(self, exception: BaseException) -> None:
        with self._lock:
            add_exception(exception, self.exceptions_log)

    def hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def miss(self) -> None:
        with self._lock:
            self.cache_misses += 1

    # The seed's TransparentStore interface.

    def get_upload_rate(self) -> float:
        """Upload rate in MB/s."""
        with self._lock:
            return self._up.rate(time.monotonic())

    def get_download_rate(self) -> float:
        """Download rate in MB/s."""
        with self._lock:
            return self._down.rate(time.monotonic())

    def get_uploaded(self) -> float:
        """Data uploaded to the store, in MB."""
        return self._up.bytes / MB

    def get_downloaded(self) -> float:
        """Data downloaded from the store, in MB."""
        return self._down.bytes / MB

    def get_exception_stats(self) -> dict[str, ExceptionStats]:
        """Exception name -> :class:`ExceptionStats`."""
        with self._lock:
            return dict(self.exceptions_log)

    def get_cache_hits(self) -> int:
        """Files read while they were cached."""
        return self.cache_hits

    def get_cache_misses(self) -> int:
        """Files read while they were not cached."""
        return self.cache_misses
