"""sqlite connections for the brokers, and what sqlite's errors mean for us.

One place decides how a broker's database is opened (durability pragmas, busy timeout) and
how sqlite's error messages are read: corruption (quarantine the database), lock contention
(:class:`~oiofs.common.exceptions.DbLockTimeout`), a full disk
(:class:`~oiofs.common.exceptions.DiskFileNoSpace`).

The databases use sqlite's rollback journal (``journal_mode=DELETE``) rather than WAL, on
purpose: a committed database is then always one self-contained file, which replication
(copying a whole database to a peer), auditing and quarantine (renaming its directory) can
rely on. Merges are batched, so the extra fsync of the rollback journal is rare.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sqlite3
from collections.abc import Iterator
from typing import Literal

from oiofs.common.hashing import md5

#: sqlite messages that mean the file is not a usable database (quarantine it)
CORRUPTION_MESSAGES = (
    "database disk image is malformed",
    "malformed database schema",
    "file is not a database",
    "file is encrypted or is not a database",
    "no such table",
    "no such column",
)
LOCKED_MESSAGES = ("database is locked", "database table is locked")
FULL_MESSAGES = ("database or disk is full",)

#: default seconds sqlite waits for another process's lock before giving up
DEFAULT_BUSY_TIMEOUT = 25.0
#: the largest number of ``?`` parameters we put in one statement (sqlite's old limit)
SQLITE_ARG_LIMIT = 999
#: the hash of an empty database (XOR of nothing)
EMPTY_HASH = "0" * 32


def connect(path: str, timeout: float = DEFAULT_BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open ``path`` for a broker: autocommit mode, durable commits, rows by index.

    ``synchronous=FULL`` makes every commit fsync the journal and the database before it
    returns, so a merge that answered is on disk. ``isolation_level=None`` leaves
    transactions to the broker (``BEGIN IMMEDIATE`` ... ``COMMIT``), which keeps them short
    and explicit. ``check_same_thread=False``: green threads of one process share it, and
    no transaction is ever left open across a green-thread switch.
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -2048")  # KiB: keep many cached brokers cheap
    except BaseException:
        conn.close()
        raise
    return conn


def is_corruption(err: BaseException) -> bool:
    """True if a sqlite error says the database file itself is bad."""
    if not isinstance(err, sqlite3.DatabaseError):
        return False
    if isinstance(err, sqlite3.OperationalError) and is_locked(err):
        return False
    text = str(err).lower()
    return any(msg in text for msg in CORRUPTION_MESSAGES)


def is_locked(err: BaseException) -> bool:
    """True if a sqlite error is lock contention with another process."""
    text = str(err).lower()
    return isinstance(err, sqlite3.OperationalError) and any(
        msg in text for msg in LOCKED_MESSAGES)


def is_full(err: BaseException) -> bool:
    """True if a sqlite error says the disk is full."""
    return isinstance(err, sqlite3.DatabaseError) and any(
        msg in str(err).lower() for msg in FULL_MESSAGES)


def xor_hashes(old_hex: str, delta: int) -> str:
    """``old_hex`` XOR an integer accumulated from :func:`row_hash` values.

    The hash of a database is the XOR of the hashes of all its rows, so two replicas with
    the same rows have the same hash whatever order the rows came in; XOR-ing the same row
    in again takes it out.
    """
    return "%032x" % (int(old_hex, 16) ^ delta)


def row_hash(name: str, timestamp: str) -> int:
    """The 128-bit contribution of one row to its database's hash."""
    return int(md5(f"{name}-{timestamp}".encode("utf-8", "surrogateescape")).hexdigest(), 16)


# --- preallocation -----------------------------------------------------------------------

_FALLOC_FL_KEEP_SIZE = 1
#: libc once loaded; False where it cannot be (no fallocate then)
_libc: ctypes.CDLL | Literal[False] | None = None


def _fallocate_keep_size(fd: int, length: int) -> bool:
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong,
                                        ctypes.c_longlong]
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    if _libc.fallocate(fd, _FALLOC_FL_KEEP_SIZE, 0, length) != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(err, os.strerror(err))
        return False
    return True


def prealloc_points() -> Iterator[int]:
    """Sizes at which a growing database gets more space reserved (1 MiB, 2, 4... 1 GiB)."""
    point = 1024 * 1024
    while point < 1024 ** 3:
        yield point
        point *= 2
    while True:
        yield point
        point += 1024 ** 3


def preallocate(path: str) -> None:
    """Reserve disk space ahead of a database's size, without changing its size.

    Databases grow a page at a time; reserving the next power-of-two step with
    ``fallocate(KEEP_SIZE)`` keeps them in few extents on spinning disks. Does nothing
    where the file system does not support it.
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return
    target = next(p for p in prealloc_points() if p > size)
    fd = os.open(path, os.O_RDWR)
    try:
        _fallocate_keep_size(fd, target)
    finally:
        os.close(fd)
