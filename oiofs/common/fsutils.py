"""Durable file-system operations: the one place that knows what must be fsynced.

A write is durable only once the file's data *and* the directory entry that names it have
reached the disk. These helpers do that properly, and translate ``OSError`` into the
:mod:`oiofs.common.exceptions` families where callers need to tell the cases apart.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator

from oiofs.common.exceptions import DiskFileNoSpace, LockTimeout


def fsync(fd: int) -> None:
    """Flush a file's data and metadata to disk (``fdatasync`` is not enough for size)."""
    os.fsync(fd)


def fsync_dir(path: str) -> None:
    """fsync a directory so that entries created or renamed in it survive a crash."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mkdirs(path: str) -> bool:
    """Create ``path`` and its parents if missing; True if it had to create it."""
    try:
        os.makedirs(path)
        return True
    except FileExistsError:
        if not os.path.isdir(path):
            raise
        return False


def mkdirs_durable(path: str, stop_at: str) -> None:
    """Create ``path`` and fsync each new directory's parent up to ``stop_at``.

    Without the parent fsyncs, a crash could lose a freshly created directory and the file
    renamed into it.
    """
    missing = []
    current = path
    while not os.path.isdir(current) and current != stop_at and current != "/":
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            continue
        fsync_dir(os.path.dirname(directory))


def renamer(src: str, dst: str, fsync_parent: bool = True) -> None:
    """Rename ``src`` to ``dst``, creating ``dst``'s directory, and fsync that directory."""
    parent = os.path.dirname(dst)
    mkdirs(parent)
    os.replace(src, dst)
    if fsync_parent:
        fsync_dir(parent)


def write_file_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``: temp file, fsync, rename, fsync the directory.

    Readers see either the old or the new content, never a mix, even after a crash.
    """
    parent = os.path.dirname(path) or "."
    tmp = os.path.join(parent, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFileNoSpace(str(err)) from err
        raise
    fsync_dir(parent)


def remove_file(path: str) -> bool:
    """Unlink ``path``; True if it existed."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def lock_path(directory: str, timeout: float = 10.0, name: str = ".lock") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/name`` for the ``with`` block.

    Raises :class:`LockTimeout` if another process holds it longer than ``timeout``.
    """
    mkdirs(directory)
    lock_file = os.path.join(directory, name)
    fd = os.open(lock_file, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        flock_exclusive(fd, timeout, lock_file)
        yield
    finally:
        os.close(fd)


def flock_exclusive(fd: int, timeout: float, what: str = "file",
                    max_delay: float = 0.05) -> None:
    """Take an exclusive ``flock`` on ``fd``, retrying with backoff for ``timeout`` s.

    Raises :class:`LockTimeout` naming ``what`` if it is still held by another after that.
    ``time.sleep`` is green in servers and daemons (monkey-patched), so other requests go
    on while this one waits.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(f"lock on {what} not taken in {timeout}s") from None
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


def is_no_space(err: OSError) -> bool:
    """True if ``err`` says the disk (or quota) is full."""
    return err.errno in (errno.ENOSPC, errno.EDQUOT)
