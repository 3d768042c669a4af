""":class:`CachingStore`: the seed's write-back caching store.

(Past 600 lines on purpose: :class:`CachingStore` is the one class with the whole
:class:`~oiofs.fs.store.Store` surface and the FUSE layer's file-level methods. What it
builds on already lives apart: the writers (upload jobs, eviction, ``sync``) in
:mod:`~oiofs.fs.write_back`, how many of them in :mod:`~oiofs.fs.writers`, the index in
:mod:`~oiofs.fs.cache_index`, the close log in :mod:`~oiofs.fs.close_log`, listings in
:mod:`~oiofs.fs.listing_cache`.)

Writes go to files in a local cache directory and return at once; a pool of writer threads
uploads dirty entries to the wrapped store once they have been left alone for
``upload_delay`` seconds (or at once on :meth:`CachingStore.sync`). Reads fill the cache.

Guarantees:

- A dirty entry is never dropped: eviction takes clean entries only, least recently used
  first, when the cache passes ``cache_size_mb``; past ``hard_cache_size_mb`` writes wait
  for the writers (the seed's "writes slow down").
- Every change is in the index (:mod:`oiofs.fs.cache_index`) before it is in the data, so a
  killed process leaves its changes dirty, and the next :class:`CachingStore` over the same
  cache directory uploads them.
- A clean entry older than ``cache_expiration`` is checked against the wrapped store before
  it is served; a newer version there replaces it (the seed's rule). Dirty entries are
  always served from the cache.
- A new directory is written back like file contents: :meth:`create_directory` records
  it in the index (through the close log: it survives a killed process) and the writers
  make it in the wrapped store, before anything below it. Every other directory
  operation (rmdir, rename) reaches the wrapped store before it returns; a directory
  still waiting for its writer is made there first when one of them needs it.

The FUSE layer uses the file-level methods (:meth:`local_file`, :meth:`create_file`,
:meth:`open_for_write`, :meth:`release_write`, :meth:`fsync_file`) to read and write the
cached files in place; everything else is the :class:`~oiofs.fs.store.Store` interface.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from oiofs.fs import paths
from oiofs.fs.cache_index import DIRECTORY, INLINE, CacheIndex, Entry, is_directory
from oiofs.fs.errors import (
    AlreadyExistsError,
    DirectoryNotEmptyError,
    InvalidPathValueError,
    IsADirectoryStoreError,
    NoSuchFilesystemObjectError,
    NotADirectoryStoreError,
    StoreAccessError,
    StoreError,
)
from oiofs.fs.listing_cache import ListingCache
from oiofs.fs.stats import CacheStats
from oiofs.fs.store import Metadata, Store, dir_metadata
from oiofs.fs.transparent import TransparentStore
from oiofs.fs.write_back import WriteBack
from oiofs.fs.writers import UploadAverages

LOG = logging.getLogger("oiofs.fs")
CHUNK = 1 << 20
#: files up to this size are kept inline in the cache index (no cache file)
INLINE_MAX = 128 * 1024
MAX_BACKOFF = 30.0

class CachingStore(WriteBack, TransparentStore, Store):
    """A write-back cache in ``cache_dir`` in front of ``store`` (see the module docstring).

    ``start=False`` runs no heartbeat thread: uploads then happen in :meth:`run_once` and
    :meth:`sync` only, which tests use to drive time explicitly.
    """

    def __init__(self, store: Store, cache_dir: str, *, cache_expiration: float = 30.0,
                 upload_delay: float = 1.0, max_upload_delay: float = 30.0,
                 cache_size_mb: float = 2000.0,
                 hard_cache_size_mb: float | None = None, max_writer_threads: int = 8,
                 listing_ttl: float = 10.0, heartbeat_interval: float = 0.2,
                 start: bool = True) -> None:
        self.store = store
        self.index = CacheIndex(cache_dir)
        self.stats = CacheStats()
        self.listings = ListingCache(listing_ttl)
        self.averages = UploadAverages()
        self.cache_expiration = cache_expiration
        self.upload_delay = upload_delay
        self.max_upload_delay = max(upload_delay, max_upload_delay)
        self.last_write = 0.0            # time.time() of the last write activity
        self.cache_size_mb = cache_size_mb
        self.hard_cache_size_mb = hard_cache_size_mb or 2 * cache_size_mb
        self.max_writer_threads = max(1, max_writer_threads)
        self.heartbeat_interval = heartbeat_interval
        self._lock = threading.Lock()
        self._progress = threading.Condition(self._lock)
        self._claimed: set[str] = set()
        self._inflight: set[str] = set()
        self._open_writes: dict[str, int] = {}
        self._open_reads: dict[str, int] = {}
        self._retry_after: dict[str, tuple[float, float]] = {}
        self._force = 0
        self._sched_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.max_writer_threads, "oiofs-writer")
        self._last_heartbeat = time.time()
        self._stop = threading.Event()
        self._wake = threading.Event()
        removed, lost = self.index.remove_orphans()
        for path in lost:
            self.stats.add_exception(StoreError(f"dirty cache entry {path} lost its data"))
        if removed or lost:
            LOG.warning("cache %s: %d orphan files removed, %d entries lost",
                        cache_dir, removed, len(lost))
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._heartbeat_loop, daemon=True,
                                            name="oiofs-heartbeat")
            self._thread.start()

    # --- path claims: one upload, delete or rename of a path at a time --------------

    @contextlib.contextmanager
    def _claim(self, *claimed: str) -> Iterator[None]:
        with self._lock:
            while any(p in self._claimed for p in claimed):
                self._progress.wait()
            self._claimed.update(claimed)
        try:
            yield
        finally:
            with self._lock:
                self._claimed.difference_update(claimed)
                self._progress.notify_all()

    # --- what the wrapped store holds -----------------------------------------------

    def _remote_listing(self, directory: str) -> dict[str, Metadata]:
        listing = self.listings.get(directory)
        if listing is None:
            listing = self._store_listing(directory)
            self.listings.set(directory, listing)
        return listing

    def _store_listing(self, directory: str) -> dict[str, Metadata]:
        """The wrapped store's listing of ``directory``. A directory made here and not
        in the store yet lists as empty without a request: it was absent when it was
        made, and nothing of this cache goes below it before it is made (only what
        another client put under that name since would be missed, as within the
        listing's TTL)."""
        entry = self.index.peek(directory)
        if is_directory(entry):
            return {}
        return self.store.get_directory_listing_with_metadata(directory)

    def _remote_meta(self, path: str) -> Metadata | None:
        """The store's metadata of ``path`` from its parent's listing; None if absent."""
        known, meta = self.listings.lookup(path)
        if known:
            return meta
        try:
            return self._remote_listing(paths.parent(path)).get(path)
        except (NoSuchFilesystemObjectError, NotADirectoryStoreError):
            return None

    # --- the Store interface: metadata and listings ---------------------------------

    def get_name(self) -> str:
        return f"cached {self.store.get_name()}"

    def account_info(self) -> str:
        return self.store.account_info()

    def get_overall_space(self) -> int:
        return self.store.get_overall_space()

    def get_used_space(self) -> int:
        return self.store.get_used_space()

    def get_free_space(self) -> int:
        return self.store.get_free_space()

    def get_max_filesize(self) -> int:
        return self.store.get_max_filesize()

    def get_cache_expiration(self) -> float:
        return self.cache_expiration

    def _entry_meta(self, entry: Entry) -> Metadata:
        if is_directory(entry):
            return dir_metadata(entry.modified)
        size = entry.size
        if entry.file and self._open_writes.get(entry.path):
            with contextlib.suppress(FileNotFoundError):
                size = os.path.getsize(self.index.data_path(entry))
        return {"modified": entry.modified, "bytes": size, "is_dir": False}

    def get_metadata(self, path: str) -> Metadata:
        paths.check(path)
        if path == "/":
            return dir_metadata()
        entry = self.index.peek(path)
        if entry is not None:
            return self._entry_meta(entry)
        meta = self._remote_meta(path)
        if meta is None:
            raise NoSuchFilesystemObjectError(f"no such file or directory: {path}")
        return meta

    def get_directory_listing_with_metadata(self, directory: str) -> dict[str, Metadata]:
        paths.check(directory)
        if directory != "/" and not self.get_metadata(directory)["is_dir"]:
            raise NotADirectoryStoreError(f"not a directory: {directory}")
        out = dict(self._remote_listing(directory))
        for entry in self.index.children(directory):
            out[entry.path] = self._entry_meta(entry)
        return out

    # --- reads ----------------------------------------------------------------------

    def local_file(self, path: str) -> str:
        """The cached file holding ``path``'s data, downloaded first if needed."""
        return self.index.data_path(self._fresh_entry(path))

    def read_inline(self, path: str) -> bytes | None:
        """``path``'s content if the cache holds it inline (a small file), downloaded
        first if needed, with the freshness rules of :meth:`local_file`; ``None`` when it
        is in a cached file (use :meth:`local_file`)."""
        entry = self._fresh_entry(path)
        return None if entry.file else self.index.inline_content(path)

    def _fresh_entry(self, path: str) -> Entry:
        paths.check(path)
        entry = self.index.get(path)
        now = time.time()
        if is_directory(entry):
            raise IsADirectoryStoreError(f"{path} is a directory")
        if entry is not None:
            fresh = now - entry.updated < self.cache_expiration
            if entry.dirty or fresh or path in self._inflight or self._open_writes.get(path):
                self.stats.hit()
                self.index.touch(path, accessed=now)
                return entry
            # A clean, expired entry: the wrapped store's newer version replaces it.
            try:
                remote = self._store_metadata(path)
            except NoSuchFilesystemObjectError:
                self.index.remove(path)
                self.listings.update(path, None)
                raise
            if remote["modified"] <= entry.remote_modified:
                self.stats.hit()
                self.index.touch(path, updated=now, accessed=now)
                return entry
        self.stats.miss()
        return self._download(path)

    def _store_metadata(self, path: str) -> Metadata:
        """The wrapped store's current metadata of ``path`` (one request, no cache)."""
        return self.store.get_metadata(path)

    def _download(self, path: str) -> Entry:
        """Fetch ``path`` from the wrapped store into the cache: inline when it is small
        (no cache file), else into a new cache file."""
        with self._claim(path):
            entry = self.index.get(path)
            if entry is not None and (entry.dirty or
                                      time.time() - entry.updated < self.cache_expiration):
                return entry                         # filled while we waited
            # The parent's cached listing tells size and time without a HEAD per file.
            known, listed = self.listings.lookup(path)
            meta = listed if known and listed is not None else self._store_metadata(path)
            if meta["is_dir"]:
                raise IsADirectoryStoreError(f"{path} is a directory")
            small = meta["bytes"] <= INLINE_MAX
            new = self.index.new_entry(path, dirty=False, size=0, in_store=True,
                                       remote_modified=meta["modified"],
                                       file=INLINE if small else None)
            target = "" if small else self.index.data_path(new)
            self.stats.begin_download()
            count = 0
            data: bytes | None = None
            try:
                if small:
                    buffer = io.BytesIO()
                    count = self.store.read_into(path, buffer)
                    data = buffer.getvalue()
                    if count > INLINE_MAX:       # it grew since it was listed
                        new.file = self.index.new_file()
                        with open(self.index.data_path(new), "wb") as out:
                            out.write(data)
                        data = None
                else:
                    with open(target, "wb") as out:
                        count = self.store.read_into(path, out)
            except BaseException as exc:
                if target:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(target)
                self.stats.add_exception(exc)
                raise
            finally:
                self.stats.end_download(count)
            new.size = count
            if entry is not None:
                self.index.remove(path)
            self.index.put(new, data=data)
            return new

    def iter_file(self, path_to_file: str) -> Iterator[bytes]:
        local = self.local_file(path_to_file)
        with open(local, "rb") as fileobject:
            while chunk := fileobject.read(CHUNK):
                yield chunk

    # --- writes ---------------------------------------------------------------------

    def _check_parent(self, path: str) -> None:
        parent = paths.parent(path)
        if parent != "/" and not self.get_metadata(parent)["is_dir"]:
            raise NotADirectoryStoreError(f"not a directory: {parent}")

    def _new_dirty(self, path: str, inline: bool = False) -> Entry:
        """A new dirty entry, empty: inline, or with an empty data file (file first, then
        row)."""
        remote = self._remote_meta(path)
        old = self.index.peek(path)
        if (remote is not None and remote["is_dir"]) or is_directory(old):
            raise IsADirectoryStoreError(f"{path} is a directory")
        entry = self.index.new_entry(path, dirty=True, in_store=remote is not None,
                                     file=INLINE if inline else None)
        if not inline:
            os.close(os.open(self.index.data_path(entry),
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
        old = self.index.get(path)
        if old is not None:
            entry.in_store = entry.in_store or old.in_store
            entry.generation = old.generation + 1
            self.index.remove(path)
        # An inline file's row is committed with its data when it is closed.
        self.index.put(entry, commit=not inline)
        return entry

    def store_fileobject(self, fileobject: IO[bytes], path: str,
                         interrupt_event: Any = None) -> float:
        paths.check(path)
        self._check_parent(path)
        self._throttle()
        entry = self._new_dirty(path)
        size = 0
        with open(self.index.data_path(entry), "r+b") as out:
            while chunk := fileobject.read(CHUNK):
                if interrupt_event is not None and interrupt_event.is_set():
                    raise StoreError(f"store of {path} interrupted")
                out.write(chunk)
                size += len(chunk)
        self.index.mark_changed(path, size)
        if self.upload_delay == 0:
            self._wake.set()
        return time.time()

    def create_file(self, path: str, inline: bool = False) -> str:
        """Create an empty file at ``path`` open for writing; returns its cached file.

        ``inline``: the caller keeps the data in memory and hands it over with
        :meth:`save_inline` then :meth:`release_inline` (or :meth:`spill_inline` to go on
        in a file); no file is created and ``""`` is returned.
        """
        paths.check(path)
        self._check_parent(path)
        self._throttle()
        entry = self._new_dirty(path, inline)
        self.last_write = time.time()
        with self._lock:
            self._open_writes[path] = self._open_writes.get(path, 0) + 1
        return "" if inline else self.index.data_path(entry)

    def save_inline(self, path: str, data: bytes) -> None:
        """``data`` is now the content of ``path``, a file created inline and still open
        (kept in the index, through its close log: it survives a killed process)."""
        self.index.store_inline(path, data)
        self.last_write = time.time()

    def release_inline(self, path: str) -> None:
        """The writer of a file created inline is done (its data given by
        :meth:`save_inline`); the writers may upload it."""
        self._end_write(path)

    def spill_inline(self, path: str, data: bytes) -> str:
        """A file created inline goes on in a cached file: returns it, holding ``data``.
        The caller still holds the write (pair with :meth:`release_write`)."""
        if not self.index.store_inline(path, data):
            raise NoSuchFilesystemObjectError(f"no such file: {path}")
        entry = self.index.get(path)
        if entry is None:
            raise NoSuchFilesystemObjectError(f"no such file: {path}")
        return self.index.data_path(entry)

    def open_for_write(self, path: str, truncate: bool = False) -> str:
        """Make ``path``'s cached file writable (dirty first); pair with release_write."""
        self._throttle()
        if self.index.get(path) is None:
            if truncate:
                self._check_parent(path)
                self._new_dirty(path)
            else:
                self.local_file(path)
        entry = self.index.get(path)
        if entry is None:
            raise NoSuchFilesystemObjectError(f"no such file: {path}")
        local = self.index.data_path(entry)
        with self._lock:
            self._open_writes[path] = self._open_writes.get(path, 0) + 1
        if truncate:
            os.truncate(local, 0)
        self.index.mark_changed(path, 0 if truncate else entry.size)
        return local

    def release_write(self, path: str) -> None:
        """A writer of ``path`` is done: record size and time; the writers may upload."""
        entry = self.index.get(path)
        if entry is not None:
            size = os.path.getsize(self.index.data_path(entry))
            self.index.mark_changed(path, size)
        self._end_write(path)

    def _end_write(self, path: str) -> None:
        self.last_write = time.time()
        with self._lock:
            left = self._open_writes.get(path, 1) - 1
            if left > 0:
                self._open_writes[path] = left
            else:
                self._open_writes.pop(path, None)
        if self.upload_delay == 0:
            self._wake.set()       # else the next heartbeat is soon enough

    def truncate(self, path: str, length: int) -> None:
        """Set ``path``'s size to ``length`` in the cache (dirty)."""
        local = self.open_for_write(path, truncate=(length == 0))
        try:
            os.truncate(local, length)
        finally:
            self.release_write(path)

    def fsync_file(self, path: str, fd: int | None = None) -> None:
        """Make what was written to ``path`` survive a crash: data and index on disk."""
        entry = self.index.get(path)
        if entry is None:
            return
        if fd is not None:
            os.fsync(fd)
        else:
            with open(self.index.data_path(entry), "rb") as fileobject:
                os.fsync(fileobject.fileno())
        self.index.mark_changed(path, os.path.getsize(self.index.data_path(entry)))
        self.index.checkpoint()

    def create_directory(self, directory: str, *, known_absent: bool = False) -> None:
        """Create ``directory``: recorded in the index when this returns (a killed process
        keeps it), made in the wrapped store by the writers, written back like a file.

        Nothing may be at that path: the index and the parent's listing (cached for
        ``listing_ttl``, one listing request otherwise) are checked, unless
        ``known_absent``. Its writer asks the store for nothing more than the directory
        itself (an object store's marker, one PUT)."""
        paths.check(directory)
        self._check_parent(directory)
        if self.index.peek(directory) is not None:
            raise AlreadyExistsError(f"already exists: {directory}")
        if not known_absent and self._remote_meta(directory) is not None:
            raise AlreadyExistsError(f"already exists: {directory}")
        self.index.put_logged(self.index.new_entry(directory, dirty=True, file=DIRECTORY))
        self.last_write = time.time()
        self.listings.set(directory, {})   # the store has nothing below it
        if self.upload_delay == 0:
            self._wake.set()

    def sync_directories(self) -> None:
        """Make the directories created so far (and every closed file) survive a power
        loss, not only a killed process: the ``fsync`` of a directory."""
        self.index.checkpoint()

    def _make_pending_parents(self, path: str) -> None:
        """Make in the wrapped store the directories above ``path`` that are still
        waiting for their writer, outermost first (a local store needs them before
        anything goes inside)."""
        pending = []
        parent = paths.parent(path)
        while parent != "/":
            entry = self.index.peek(parent)
            if is_directory(entry):
                pending.append(parent)
            parent = paths.parent(parent)
        for directory in reversed(pending):
            self._upload(directory, raise_errors=True)

    def delete(self, path: str, is_dir: bool = False) -> None:
        paths.check(path)
        if path == "/":
            raise InvalidPathValueError("cannot delete /")
        entry = self.index.get(path)
        if is_directory(entry):
            self._delete_pending_directory(path)
            return
        if entry is None and (is_dir or self.get_metadata(path)["is_dir"]):
            if self.get_directory_listing_with_metadata(path):
                raise DirectoryNotEmptyError(f"directory not empty: {path}")
            self.store.delete(path, is_dir=True)
            self.listings.update(path, None)
            return
        with self._claim(path):
            entry = self.index.remove(path)
            remote = self._remote_meta(path)
            if entry is None and remote is None:
                raise NoSuchFilesystemObjectError(f"no such file: {path}")
            if remote is not None or (entry is not None and entry.in_store):
                try:
                    self.store.delete(path)
                except NoSuchFilesystemObjectError:
                    if entry is None:
                        raise
            self.listings.update(path, None)

    def _delete_pending_directory(self, path: str) -> None:
        """rmdir of a directory made here: dropped from the index, and from the store
        too if its writer made it there meanwhile."""
        if self.get_directory_listing_with_metadata(path):
            raise DirectoryNotEmptyError(f"directory not empty: {path}")
        with self._claim(path):
            entry = self.index.peek(path)
            if is_directory(entry):
                self.index.remove(path)
            else:                      # its writer made it in the store meanwhile
                self.store.delete(path, is_dir=True)
            self.listings.update(path, None)

    def move(self, path_to_src: str, path_to_dest: str) -> None:
        src, dest = paths.check(path_to_src), paths.check(path_to_dest)
        if src == dest:
            return
        if "/" in (src, dest) or paths.is_under(dest, src):
            raise InvalidPathValueError(f"cannot move {src} to {dest}")
        self._check_parent(dest)
        target = self.index.peek(dest)
        if is_directory(target):
            raise IsADirectoryStoreError(f"{dest} is a directory")
        if self.get_metadata(src)["is_dir"]:
            self._move_dir(src, dest)
            self._move_holds(src, dest)
            return
        with self._claim(*sorted((src, dest))):
            entry = self.index.get(src)
            remote_src = self._remote_meta(src)
            if entry is None and remote_src is None:
                raise NoSuchFilesystemObjectError(f"no such file: {src}")
            if entry is not None and (entry.dirty or remote_src is None):
                # Not in the store yet (or an older version is): upload under the new name.
                in_store_dest = self._remote_meta(dest) is not None
                self.index.rename(src, dest, dirty=True)
                self.index.touch(dest, in_store=int(in_store_dest))
                if remote_src is not None or entry.in_store:
                    with contextlib.suppress(NoSuchFilesystemObjectError):
                        self.store.delete(src)
                self.listings.update(src, None)   # dest's listing entry is unchanged
            else:
                self._make_pending_parents(dest)
                self.store.move(src, dest)
                if entry is not None:
                    self.index.rename(src, dest, dirty=False)
                else:
                    self.index.remove(dest)
                self.listings.update(src, None)
                self.listings.update(dest, remote_src)
            self._move_holds(src, dest)
        self._wake.set()

    def _move_holds(self, src: str, dest: str) -> None:
        """Files open for reading or writing below ``src`` stay held under their new
        names (their writers release them there)."""
        with self._lock:
            for holds in (self._open_writes, self._open_reads):
                for path in [p for p in holds if paths.is_under(p, src)]:
                    holds[paths.rebase(path, src, dest)] = holds.pop(path)

    def _move_dir(self, src: str, dest: str) -> None:
        # Make src in the store if it is waiting to be, and upload what is dirty below it
        # (each upload makes the directories above it first), so the store moves
        # complete files.
        self._upload(src, raise_errors=True)
        for entry in self.index.under(src):
            if entry.dirty:
                self._upload(entry.path, raise_errors=True)
        self._make_pending_parents(dest)
        self.store.move(src, dest)
        for entry in self.index.under(src):
            self.index.rename(entry.path, paths.rebase(entry.path, src, dest), dirty=False)
        self.listings.drop_under(src)
        self.listings.drop_under(dest)
        self.listings.update(src, None)
        self.listings.update(dest, dir_metadata(time.time()))

    def flush(self) -> None:
        self.sync()

    def close(self, timeout: float | None = None) -> None:
        """Upload everything dirty, stop the writers and close the index.

        With ``timeout``, files still dirty after it (the store is unreachable) stay in
        the cache directory for the next mount to upload; that is logged, not raised.
        """
        try:
            self.sync(timeout)
        except StoreAccessError as exc:
            LOG.error("closing with files not uploaded (kept in %s for the next mount): %s",
                      self.index.cache_dir, exc)
        finally:
            self._stop.set()
            self._wake.set()
            if self._thread is not None:
                self._thread.join()
            self._pool.shutdown(wait=True)
            self.index.checkpoint()
            self.index.close()
            self.store.close()

    # --- reads by the FUSE layer: keep open files out of eviction -------------------

    def open_read(self, path: str) -> str:
        local = self.local_file(path)
        with self._lock:
            self._open_reads[path] = self._open_reads.get(path, 0) + 1
        return local

    def release_read(self, path: str) -> None:
        with self._lock:
            left = self._open_reads.get(path, 1) - 1
            if left > 0:
                self._open_reads[path] = left
            else:
                self._open_reads.pop(path, None)

    def reconnect(self) -> None:
        self.store.reconnect()

