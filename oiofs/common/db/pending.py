"""The pending file: a cheap, durable journal of row updates waiting to go into sqlite.

Every object PUT and DELETE updates a container database (three replicas per client
request), and every container change updates an account database. A sqlite transaction
costs several fsyncs; appending one small entry to ``<db>.pending`` costs one. So updates
are appended here and merged into sqlite in batches: when the file grows past a cap, and
before any read that needs current data (listings, stats).

Format: each entry is ``b":" + base64(json(entry))``. The marker comes *before* each entry,
so an entry torn by a crash in the middle of a write only spoils itself: the next append
starts with a fresh marker. Entries are only ever appended and the file only ever emptied
as a whole (after its content is committed to sqlite), always under an exclusive ``flock``
on the file itself.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import json
import os
from collections.abc import Callable
from typing import Any

from oiofs.common.exceptions import DbLockTimeout, DbNotFound, DiskFileNoSpace, LockTimeout
from oiofs.common.fsutils import flock_exclusive

MARKER = b":"
#: merge into sqlite once the pending file would grow past this many bytes
DEFAULT_PENDING_CAP = 131072


def encode_entry(entry: object) -> bytes:
    """One pending entry (any JSON value) as bytes ready to append."""
    return MARKER + base64.b64encode(
        json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogateescape"))


def decode_entries(data: bytes) -> tuple[list[Any], int]:
    """The entries in a pending file's bytes, and how many were unreadable (torn)."""
    entries = []
    bad = 0
    for chunk in data.split(MARKER):
        if not chunk:
            continue
        try:
            entries.append(json.loads(base64.b64decode(chunk, validate=True).decode(
                "utf-8", "surrogateescape")))
        except (binascii.Error, ValueError):
            bad += 1
    return entries, bad


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    parts: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


class PendingFile:
    """The pending journal of one database.

    ``merge`` callbacks receive a list of decoded entries and must have committed them to
    sqlite durably when they return; only then is the file emptied.
    """

    def __init__(self, path: str, lock_timeout: float = 10.0, cap: int = DEFAULT_PENDING_CAP,
                 fsync: Callable[[int], None] = os.fsync):
        self.path = path
        self.lock_timeout = lock_timeout
        self.cap = cap
        self.fsync = fsync
        #: entries found unreadable by the last flush (torn by a crash)
        self.last_bad_entries = 0

    def _lock(self, fd: int, timeout: float) -> None:
        try:
            flock_exclusive(fd, timeout, f"pending file {self.path}", max_delay=0.02)
        except LockTimeout:
            raise DbLockTimeout(f"pending file {self.path} locked for {timeout}s") from None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            raise DbNotFound(f"{self.path}: the database directory is gone") from None
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFileNoSpace(str(err)) from err
            raise

    def add(self, entry: object, merge: Callable[[list[Any]], None]) -> None:
        """Record ``entry`` durably: one fsynced append, or a merge when over the cap.

        When the file plus this entry would pass ``cap`` bytes, the file's entries and this
        one are merged into sqlite in one transaction instead, and the file is emptied.
        """
        self.add_many([entry], merge)

    def add_many(self, entries: list[Any], merge: Callable[[list[Any]], None]) -> None:
        """Record several ``entries`` durably together, as :meth:`add` does one: one
        append and one fsync for all of them (a batch of rows, ``UPDATE``), or one merge
        when they would pass the cap."""
        if not entries:
            return
        data = b"".join(encode_entry(entry) for entry in entries)
        fd = self._open()
        try:
            appended = False
            self._lock(fd, self.lock_timeout)
            try:
                st = os.fstat(fd)
                if st.st_nlink == 0:
                    # the database was removed (a handoff replicated away) while we waited
                    # for the lock: an append to the unlinked file would be lost
                    raise DbNotFound(f"{self.path} was removed")
                before = st.st_size
                if before + len(data) <= self.cap:
                    try:
                        _write_all(fd, data)
                    except OSError:
                        # do not leave half an entry behind (the disk may be full)
                        os.ftruncate(fd, before)
                        raise
                    appended = True
                else:
                    waiting, self.last_bad_entries = decode_entries(_read_all(fd))
                    merge(waiting + list(entries))
                    # Emptying need not be fsynced: if the truncation is lost in a crash,
                    # the entries are merged again, and merging is idempotent.
                    os.ftruncate(fd, 0)
            except OSError as err:
                if err.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFileNoSpace(str(err)) from err
                raise
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            if appended:
                # fsync outside the lock so that concurrent appenders share one journal
                # commit. Still safe: when fsync returns, our bytes are on disk, or a merge
                # emptied the file after committing them to sqlite (merges commit first).
                self.fsync(fd)
        finally:
            os.close(fd)

    def size(self) -> int:
        """Bytes waiting in the file (0 if there is no file)."""
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def flush(self, merge: Callable[[list[Any]], None], timeout: float | None = None) -> int:
        """Merge every waiting entry into sqlite and empty the file; the number merged.

        Raises :class:`DbLockTimeout` if another process holds the file longer than
        ``timeout`` (default: the lock timeout).
        """
        if not self.size():
            return 0
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        try:
            self._lock(fd, self.lock_timeout if timeout is None else timeout)
            try:
                entries, self.last_bad_entries = decode_entries(_read_all(fd))
                if entries:
                    merge(entries)
                os.ftruncate(fd, 0)  # see add(): losing this truncation is harmless
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return len(entries)
