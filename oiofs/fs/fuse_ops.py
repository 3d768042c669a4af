"""The FUSE operations of ``oiofs-mount``, over a :class:`~oiofs.fs.caching_store.CachingStore`.

Open files are the cache's local files: reads and writes are ``pread``/``pwrite`` on them,
so the mount runs at local-disk speed and the writers upload behind it. A file *created*
through the mount starts in memory instead (``INLINE_MAX`` bytes at most): its data goes
into the cache index when it is closed (one append to its close log), so writing a small
file creates no file on the cache's disk (the costliest step of a small write). It moves
to a cached file as soon as it grows past the limit, is fsynced, or the path is opened,
truncated or renamed by anyone else while it is open. A small file the cache holds inline
is read from a snapshot taken at open (close-to-open consistency, as NFS). Store errors
become errnos in one place (:func:`errno_of`). ``/.oiofs/stats`` and ``/.oiofs/config`` are
read-only files made from the store's statistics and options.

What is not supported is refused, never faked: permissions are fixed (files 0644,
directories 0755, owned by the mounting user), so ``chmod`` to another mode and ``chown``
to another owner fail with EPERM; links, special files and extended attributes are not
provided (libfuse answers ENOSYS). ``utimens`` is accepted and ignored: modification
times are the cache's and then the store's (documented in docs/fs.md).
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import mfusepy

from oiofs.fs import paths
from oiofs.fs.caching_store import INLINE_MAX, CachingStore
from oiofs.fs.errors import StoreError
from oiofs.fs.fuse_threads import kept_threads

LOG = logging.getLogger("oiofs.fs.mount")
SPECIAL_DIR = "/.oiofs"
SPECIAL_FILES = ("stats", "config")
FILE_MODE = 0o644
DIR_MODE = 0o755

F = TypeVar("F", bound=Callable[..., Any])


def errno_of(exc: BaseException) -> int:
    """The errno a filesystem call reports for ``exc`` (the one translation point)."""
    if isinstance(exc, StoreError):
        return exc.errno
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    return errno.EIO


def translated(method: F) -> F:
    """Run a FUSE operation, turning every exception into a ``FuseOSError``."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except mfusepy.FuseOSError:
            raise
        except Exception as exc:  # every failure must become an errno
            code = errno_of(exc)
            if code == errno.EIO:
                LOG.exception("%s%r failed", method.__name__, args[1:2])
            raise mfusepy.FuseOSError(code) from None

    return wrapper  # type: ignore[return-value]


@dataclass
class Handle:
    """An open file: its path, the local fd, the data of a new file kept in memory
    (``buffer``), or the snapshot of a special file (``content``)."""

    path: str
    fd: int = -1
    writable: bool = False
    content: bytes | None = None
    buffer: bytearray | None = None
    unsaved: bool = False          # the buffer changed since it was last given to the store


def render_stats(store: CachingStore) -> bytes:
    """The text of ``/.oiofs/stats``: one ``name: value`` per line."""
    lines = [
        f"upload_rate_mb_s: {store.get_upload_rate():.3f}",
        f"download_rate_mb_s: {store.get_download_rate():.3f}",
        f"uploaded_mb: {store.get_uploaded():.3f}",
        f"downloaded_mb: {store.get_downloaded():.3f}",
        f"cache_size_mb: {store.get_cachesize():.3f}",
        f"cache_hard_limit_mb: {store.get_hard_limit():.3f}",
        f"hard_limit_exceeded: {store.exceeds_hard_limit()}",
        f"cache_hits: {store.get_cache_hits()}",
        f"cache_misses: {store.get_cache_misses()}",
        f"dirty_files: {len(store.get_dirty_files())}",
        f"pending_directories: {len(store.get_pending_directories())}",
        f"writers: {store.get_number_of_writers()}",
        f"time_since_heartbeat_s: {store.get_time_since_heartbeat():.1f}",
        f"status: {store.get_status_information()}",
        f"fuse_threads: {kept_threads()}",
    ]
    for name, stats in sorted(store.get_exception_stats().items()):
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stats.lasttime))
        lines.append(f"exception {name}: count={stats.count} last={when} {stats.desc}")
    return ("\n".join(lines) + "\n").encode()


def render_config(store: CachingStore) -> bytes:
    """The text of ``/.oiofs/config``: the store's options, ``name = value``."""
    config = {"store": store.store.get_name(), **store.get_configuration()}
    return "".join(f"{k} = {v}\n" for k, v in sorted(config.items())).encode()


class OiofsOperations(mfusepy.Operations):
    """The filesystem callbacks; thread-safe (libfuse calls them from several threads)."""

    use_ns = True     # utimens gets nanoseconds (the float form is deprecated)

    def __init__(self, store: CachingStore, unmount_timeout: float | None = None) -> None:
        self.store = store
        self.unmount_timeout = unmount_timeout
        self.mounted_at = time.time()
        self.uid, self.gid = os.getuid(), os.getgid()
        self._handles: dict[int, Handle] = {}
        self._buffered: dict[str, Handle] = {}     # path -> its in-memory new file
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # --- helpers --------------------------------------------------------------------

    def _special(self, path: str) -> bytes | None:
        if path == SPECIAL_DIR + "/stats":
            return render_stats(self.store)
        if path == SPECIAL_DIR + "/config":
            return render_config(self.store)
        return None

    def _is_special(self, path: str) -> bool:
        return paths.is_under(path, SPECIAL_DIR)

    def _stat(self, is_dir: bool, size: int, modified: float) -> dict[str, Any]:
        mode = (stat.S_IFDIR | DIR_MODE) if is_dir else (stat.S_IFREG | FILE_MODE)
        return {"st_mode": mode, "st_nlink": 2 if is_dir else 1, "st_size": size,
                "st_mtime": modified, "st_ctime": modified, "st_atime": modified,
                "st_uid": self.uid, "st_gid": self.gid, "st_blksize": 4096,
                "st_blocks": (size + 511) // 512}

    def _add(self, handle: Handle, fi: Any) -> int:
        with self._lock:
            fh = next(self._ids)
            self._handles[fh] = handle
        fi.fh = fh
        return 0

    def _handle(self, fi: Any) -> Handle:
        try:
            return self._handles[fi.fh]
        except KeyError:
            raise mfusepy.FuseOSError(errno.EBADF) from None

    def _spill(self, path: str) -> None:
        """Move the in-memory new file at ``path`` (if any) to a cached file, so that
        every other handle sees the same data."""
        with self._lock:
            handle = self._buffered.pop(path, None)
            if handle is None or handle.buffer is None:
                return
            local = self.store.spill_inline(path, bytes(handle.buffer))
            handle.fd = os.open(local, os.O_RDWR)
            handle.buffer, handle.unsaved = None, False

    def _refuse_special(self, path: str) -> None:
        if self._is_special(path):
            raise mfusepy.FuseOSError(errno.EACCES)

    # --- metadata -------------------------------------------------------------------

    @translated
    def getattr(self, path: str, fh: Any = None) -> dict[str, Any]:
        if path.startswith(SPECIAL_DIR) and self._is_special(path):
            return self._special_stat(path)
        meta = self.store.get_metadata(path)
        size = meta["bytes"]
        buffered = self._buffered.get(path)
        if buffered is not None and buffered.buffer is not None:
            size = len(buffered.buffer)
        return self._stat(meta["is_dir"], size, meta["modified"] or self.mounted_at)

    def _special_stat(self, path: str) -> dict[str, Any]:
        if path == SPECIAL_DIR:
            return self._stat(True, 0, self.mounted_at)
        content = self._special(path)
        if content is None:
            raise mfusepy.FuseOSError(errno.ENOENT)
        return self._stat(False, len(content), time.time()) | {"st_mode": stat.S_IFREG | 0o444}

    @translated
    def readdir(self, path: str, fh: Any) -> list[str]:
        if path == SPECIAL_DIR:
            return [".", "..", *SPECIAL_FILES]
        names = [paths.name(p) for p in self.store.get_directory_listing_with_metadata(path)]
        if path == "/":
            names.append(SPECIAL_DIR[1:])
        return [".", "..", *names]

    @translated
    def statfs(self, path: str) -> dict[str, int]:
        bsize = 4096
        try:
            total, free = self.store.get_overall_space(), self.store.get_free_space()
        except (StoreError, NotImplementedError):
            st = os.statvfs(self.store.index.cache_dir)
            total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
        return {"f_bsize": bsize, "f_frsize": bsize, "f_blocks": total // bsize,
                "f_bfree": free // bsize, "f_bavail": free // bsize, "f_namemax": 255}

    # The three attribute changes tar makes for every file it extracts. They answer from
    # what they are given, with no lookup: libfuse calls getattr right after each one
    # (which reports a path that is gone), and the kernel only sends them for a path it
    # has just looked up.

    @translated
    def chmod(self, path: str, mode: int) -> int:
        if self._is_special(path):
            is_dir = path == SPECIAL_DIR
        else:
            is_dir = self.store.get_metadata(path)["is_dir"]
        if stat.S_IMODE(mode) != (DIR_MODE if is_dir else FILE_MODE):
            raise mfusepy.FuseOSError(errno.EPERM)
        return 0

    @translated
    def chown(self, path: str, uid: int, gid: int) -> int:
        if uid not in (-1, self.uid, 0xFFFFFFFF) or gid not in (-1, self.gid, 0xFFFFFFFF):
            raise mfusepy.FuseOSError(errno.EPERM)
        return 0

    @translated
    def utimens(self, path: str, times: Any = None) -> int:
        return 0

    # --- namespace ------------------------------------------------------------------

    @translated
    def mkdir(self, path: str, mode: int) -> int:
        self._refuse_special(path)
        self.store.create_directory(path)
        return 0

    @translated
    def fsyncdir(self, path: str, datasync: int, fh: Any) -> int:
        # The directories made so far (held in the cache index until their writer
        # makes them in the store) and every closed file survive a power loss.
        self.store.sync_directories()
        return 0

    @translated
    def rmdir(self, path: str) -> int:
        self._refuse_special(path)
        self.store.delete(path, is_dir=True)
        return 0

    @translated
    def unlink(self, path: str) -> int:
        self._refuse_special(path)
        self._spill(path)
        self.store.delete(path)
        return 0

    @translated
    def rename(self, old: str, new: str) -> int:
        self._refuse_special(old)
        self._refuse_special(new)
        for path in [p for p in self._buffered if p in (old, new) or paths.is_under(p, old)]:
            self._spill(path)
        self.store.move(old, new)
        with self._lock:        # open handles follow their file (their release records it)
            for handle in self._handles.values():
                if paths.is_under(handle.path, old):
                    handle.path = paths.rebase(handle.path, old, new)
        return 0

    # --- files ----------------------------------------------------------------------

    @translated
    def create(self, path: str, mode: int, fi: Any = None) -> int:
        self._refuse_special(path)
        self._spill(path)
        self.store.create_file(path, inline=True)
        handle = Handle(path, writable=True, buffer=bytearray(), unsaved=True)
        with self._lock:
            self._buffered[path] = handle
        return self._add(handle, fi)

    def _writable_handle(self, path: str, local: str, fi: Any) -> int:
        """A write handle on the cache file ``local`` the store opened for writing (the
        store's write hold is released if the file cannot be opened)."""
        try:
            fd = os.open(local, os.O_RDWR)
        except OSError:
            self.store.release_write(path)
            raise
        return self._add(Handle(path, fd, writable=True), fi)

    @translated
    def open(self, path: str, fi: Any) -> int:
        flags = fi.flags
        content = self._special(path) if self._is_special(path) else None
        if content is not None:
            if flags & (os.O_WRONLY | os.O_RDWR):
                raise mfusepy.FuseOSError(errno.EACCES)
            fi.direct_io = 1       # the content changes: never from the page cache
            return self._add(Handle(path, content=content), fi)
        self._spill(path)
        if flags & (os.O_WRONLY | os.O_RDWR):
            local = self.store.open_for_write(path, truncate=bool(flags & os.O_TRUNC))
            return self._writable_handle(path, local, fi)
        data = self.store.read_inline(path)
        if data is not None:     # a small file, held in the cache index: read from memory
            return self._add(Handle(path, content=data), fi)
        local = self.store.open_read(path)
        try:
            fd = os.open(local, os.O_RDONLY)
        except OSError:
            self.store.release_read(path)
            raise
        return self._add(Handle(path, fd), fi)

    @translated
    def read(self, path: str, size: int, offset: int, fi: Any) -> bytes:
        handle = self._handle(fi)
        if handle.content is not None:
            return handle.content[offset:offset + size]
        with self._lock:
            if handle.buffer is not None:
                return bytes(handle.buffer[offset:offset + size])
        return os.pread(handle.fd, size, offset)

    @translated
    def write(self, path: str, data: bytes, offset: int, fi: Any) -> int:
        handle = self._handle(fi)
        if not handle.writable:
            raise mfusepy.FuseOSError(errno.EBADF)
        with self._lock:
            buffer = handle.buffer
            if buffer is not None:
                end = offset + len(data)
                if end <= INLINE_MAX:
                    if offset > len(buffer):
                        buffer.extend(bytes(offset - len(buffer)))
                    buffer[offset:end] = data
                    handle.unsaved = True
                    return len(data)
                self._spill(handle.path)
        return os.pwrite(handle.fd, data, offset)

    @translated
    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        self._refuse_special(path)
        self._spill(path)
        self.store.truncate(path, length)
        return 0

    @translated
    def flush(self, path: str, fi: Any) -> int:
        # close() waits for flush, not for release: what a closed file holds must be in
        # the index by then (a cache file's data already is in the file).
        handle = self._handle(fi)
        with self._lock:
            if handle.buffer is not None and handle.unsaved:
                self.store.save_inline(handle.path, bytes(handle.buffer))
                handle.unsaved = False
        return 0

    @translated
    def fsync(self, path: str, datasync: int, fi: Any) -> int:
        handle = self._handle(fi)
        if handle.buffer is not None:
            self._spill(handle.path)
        if handle.writable:
            self.store.fsync_file(handle.path, handle.fd)
        return 0

    @translated
    def release(self, path: str, fi: Any) -> int:
        with self._lock:
            handle = self._handles.pop(fi.fh, None)
            if handle is not None and handle.buffer is not None:
                self._buffered.pop(handle.path, None)
                if handle.unsaved:
                    self.store.save_inline(handle.path, bytes(handle.buffer))
                self.store.release_inline(handle.path)
                return 0
        if handle is None or handle.content is not None:
            return 0
        os.close(handle.fd)
        if handle.writable:
            self.store.release_write(handle.path)
        else:
            self.store.release_read(handle.path)
        return 0

    def destroy(self, path: str) -> None:
        """Unmounted: upload everything dirty, then stop (``fusermount3 -u`` lands here)."""
        LOG.info("unmounting: uploading %d dirty files", len(self.store.get_dirty_files()))
        self.store.close(self.unmount_timeout)
