"""The writers of a caching store: upload jobs, the heartbeat, eviction, ``sync``.

A mixin of :class:`~oiofs.fs.caching_store.CachingStore`, split out by concept: this module
decides *when* and *how* cached data reaches the wrapped store; the caching store module
holds the Store interface over the cache. See the caching store's docstring for the
guarantees.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from oiofs.fs.cache_index import (
    MAX_KEPT_BYTES,
    MAX_KEPT_ROWS,
    CacheIndex,
    Entry,
    is_directory,
)
from oiofs.fs.errors import AlreadyExistsError, StoreAccessError
from oiofs.fs.listing_cache import ListingCache
from oiofs.fs.stats import MB, CacheStats
from oiofs.fs.store import dir_metadata
from oiofs.fs.writers import UploadAverages, writer_count

LOG = logging.getLogger("oiofs.fs")
MAX_BACKOFF = 30.0


class WriteBack:
    """Upload jobs on a thread pool, driven by a heartbeat thread or by :meth:`sync`."""

    # Set up by the caching store.
    store: Any
    index: CacheIndex
    stats: CacheStats
    listings: ListingCache
    averages: UploadAverages
    upload_delay: float
    max_upload_delay: float
    last_write: float
    cache_size_mb: float
    hard_cache_size_mb: float
    max_writer_threads: int
    heartbeat_interval: float
    _lock: threading.Lock
    _progress: threading.Condition
    _claimed: set[str]
    _inflight: set[str]
    _open_writes: dict[str, int]
    _open_reads: dict[str, int]
    _retry_after: dict[str, tuple[float, float]]
    _force: int
    _sched_lock: threading.Lock
    _pool: ThreadPoolExecutor
    _last_heartbeat: float
    _stop: threading.Event
    _wake: threading.Event

    # Provided by the caching store (declared here for readers and type checkers).
    _claim: Any
    _make_pending_parents: Any
    exceeds_hard_limit: Any

    # --- the writers ----------------------------------------------------------------

    def _upload(self, path: str, raise_errors: bool = False) -> bool:
        """Upload ``path`` if dirty (a file's data, or a directory made here); True when
        the store holds its latest state. Directories still waiting above it are made
        first."""
        try:
            self._make_pending_parents(path)
        except Exception as exc:
            return self._upload_failed(path, exc, raise_errors)
        with self._claim(path):
            entry = self.index.get(path)
            if entry is None or not entry.dirty:
                return True
            if is_directory(entry):
                return self._make_directory(entry, raise_errors)
            started = time.monotonic()
            self.stats.begin_upload()
            count = 0
            try:
                with self.index.open_data(entry) as fileobject:
                    stored = self.store.store_fileobject(fileobject, path)
                    count = fileobject.tell()
            except FileNotFoundError:
                return False          # replaced or removed meanwhile; the next pass sees it
            except Exception as exc:
                return self._upload_failed(path, exc, raise_errors)
            finally:
                self.stats.end_upload(count)
            self.averages.add(count, time.monotonic() - started)
            with self._lock:
                self._retry_after.pop(path, None)
            remote_modified = stored or time.time()
            if self.index.mark_clean(path, entry.generation, remote_modified):
                self.listings.update(path, {"modified": remote_modified, "bytes": count,
                                            "is_dir": False})
            return True

    def _upload_failed(self, path: str, exc: Exception, raise_errors: bool) -> bool:
        """Record a failed upload of ``path`` and when to try it again; raise ``exc``
        when ``raise_errors``, else False."""
        self.stats.add_exception(exc)
        with self._lock:
            backoff = min(MAX_BACKOFF, 2 * self._retry_after.get(path, (0, 0.5))[1])
            self._retry_after[path] = (time.monotonic() + backoff, backoff)
        LOG.warning("upload of %s failed (%s), retrying in %.1fs", path, exc, backoff)
        if raise_errors:
            raise exc
        return False

    def _make_directory(self, entry: Entry, raise_errors: bool) -> bool:
        """Make the directory of ``entry`` in the store, then drop its row (the store
        now answers for it). Call with its path claimed."""
        try:
            self.store.create_directory(entry.path, known_absent=True)
        except AlreadyExistsError:
            pass                       # made meanwhile by someone else: there all the same
        except Exception as exc:
            return self._upload_failed(entry.path, exc, raise_errors)
        with self._lock:
            self._retry_after.pop(entry.path, None)
        self.index.remove(entry.path)
        self.listings.update(entry.path, dir_metadata(entry.modified))
        return True

    def _job(self, path: str) -> None:
        try:
            self._upload(path)
        except Exception as exc:  # a writer thread must not die silently
            self.stats.add_exception(exc)
            LOG.exception("writer failed on %s", path)
        finally:
            with self._lock:
                self._inflight.discard(path)
                self._progress.notify_all()
            self._wake.set()

    def get_number_of_writers(self) -> int:
        """How many writers should run now (the seed's adaptive rule, :mod:`.writers`)."""
        return writer_count(self.max_writer_threads, *self.averages.averages())

    def run_once(self) -> None:
        """One heartbeat: start writers on dirty entries, evict if over the soft limit."""
        with self._sched_lock:
            self._last_heartbeat = time.time()
            now = time.monotonic()
            with self._lock:
                force = self._force > 0
                busy = len(self._inflight)
            free = self.get_number_of_writers() - busy
            if free > 0:
                cutoff = None if force else self._upload_cutoff()
                free = self._schedule_packed(cutoff, force, free)
                with self._lock:
                    # Enough rows to fill the free writers past the busy and open ones.
                    wanted = free + len(self._inflight) + len(self._open_writes) + 16
                for entry in self.index.dirty(cutoff, wanted):
                    if free <= 0:
                        break
                    if not self._single_upload(entry):
                        continue
                    with self._lock:
                        if not self._startable(entry.path, force, now):
                            continue
                        self._inflight.add(entry.path)
                    free -= 1
                    self._pool.submit(self._job, entry.path)
            self._evict()

    def _upload_cutoff(self) -> float:
        """Files changed before this time may be uploaded now.

        While files are being written (some write within the last ``upload_delay``
        seconds), only files left alone for ``max_upload_delay`` go: uploads would take
        the CPU and disk the writing program is waiting for (an untar of many small files
        finishes sooner, and the uploads follow as soon as it pauses). A cache past its
        soft size limit uploads at the normal pace whatever happens.
        """
        now = time.time()
        writing = now - self.last_write < self.upload_delay
        if writing and self.index.total_size <= self.cache_size_mb * MB:
            return now - self.max_upload_delay
        return now - self.upload_delay

    def _startable(self, path: str, force: bool, now: float) -> bool:
        """May a writer take ``path`` now? (Call with ``self._lock`` held.)"""
        return not (path in self._inflight or self._open_writes.get(path)
                    or (not force and self._retry_after.get(path, (0, 0))[0] > now))

    def _single_upload(self, entry: Entry) -> bool:
        """Is ``entry`` uploaded as an object of its own? (A subclass may pack some.)"""
        return True

    def _schedule_packed(self, cutoff: float | None, force: bool, free: int) -> int:
        """Start writers on entries uploaded together; returns the writers left free."""
        return free

    def _evict(self) -> None:
        soft = self.cache_size_mb * MB
        while self.index.total_size > soft:
            victims = self.index.clean_lru(64)
            removed = 0
            for entry in victims:
                if self.index.total_size <= soft:
                    break
                with self._lock:
                    if (entry.path in self._claimed or self._open_writes.get(entry.path)
                            or self._open_reads.get(entry.path)):
                        continue
                self.index.remove(entry.path)
                removed += 1
            if not removed:
                return

    def _heartbeat_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
                self.index.write_logged(MAX_KEPT_BYTES, MAX_KEPT_ROWS)
                self.index.checkpoint_some()
            except Exception as exc:  # keep the heartbeat alive
                self.stats.add_exception(exc)
                LOG.exception("heartbeat failed")
            self._wake.wait(self.heartbeat_interval)
            self._wake.clear()

    def _throttle(self, max_wait: float = 60.0) -> None:
        """Past the hard limit, wait (forcing uploads) until the cache is back under it."""
        if not self.exceeds_hard_limit():
            return
        deadline = time.monotonic() + max_wait
        with self._lock:
            self._force += 1
        try:
            while self.exceeds_hard_limit() and time.monotonic() < deadline:
                self.run_once()
                with self._lock:
                    self._progress.wait(0.2)
                if not self.index.count_dirty() and not self._inflight:
                    self.run_once()   # evict what the last uploads made clean
                    return            # whatever is left is open: nothing more to free
        finally:
            with self._lock:
                self._force -= 1

    def sync(self, timeout: float | None = None) -> None:
        """Upload every dirty entry not open for writing; return when all are stored.

        Raises :class:`StoreAccessError` when some are still dirty after ``timeout``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._force += 1
        try:
            while True:
                with self._lock:
                    rows = self.index.dirty(limit=len(self._open_writes) + 1)
                    pending = [e for e in rows if not self._open_writes.get(e.path)]
                if not pending and not self._inflight:
                    return
                if deadline is not None and time.monotonic() > deadline and pending:
                    raise StoreAccessError(f"{self.index.count_dirty()} files not uploaded, "
                                           f"e.g. {pending[0].path}")
                self.run_once()
                with self._lock:
                    if self._inflight:
                        self._progress.wait(0.5)
                if not self._inflight:
                    time.sleep(0.05)  # failed uploads: do not spin
        finally:
            with self._lock:
                self._force -= 1
